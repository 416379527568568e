"""The manager closed around a GridLAB-D-style LI_ION battery: peak shaving, estimates, guards, policies."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vppfed.federates.battery.config import BatteryConfig
from vppfed.federates.battery.manager import BatteryManager, StepInput, string_current
from vppfed.federates.battery.market import setpoint_from_price
from vppfed.federates.battery.plant import LiIonPlant, internal_power, li_ion_ocv, ocv_table
from vppfed.federates.battery.state_machine import BatteryState

V_NOM, E_WH, P_MAX = 480.0, 13500.0, 5000.0
PERIOD = 300.0


def config(**kwargs) -> BatteryConfig:
    base = dict(capacity_ah=E_WH / V_NOM, nominal_voltage_v=V_NOM, max_charge_w=P_MAX, max_discharge_w=P_MAX,
                coulombic_efficiency=0.97, soc_initial=0.5, soc_low=0.2, soc_high=0.95, soc_hysteresis=0.05,
                v_empty=li_ion_ocv(0.02, V_NOM), v_full=li_ion_ocv(0.999, V_NOM), ocv_table=ocv_table(V_NOM),
                rest_min_s=600.0, period_s=PERIOD, charge_below_w=8000.0, discharge_above_w=14000.0,
                idle_rest_s=0.0, reconcile_warn=0.05, degradation_cost=0.005)  # the core defaults before issue 17 (sections and core now share the section's)
    base.update(kwargs)
    cfg = BatteryConfig(**base)
    cfg.validate()
    return cfg


def day_load(days: int = 1, seed: int = 0) -> np.ndarray:
    """Feeder load [W] per 5 min: night trough, evening peak (~18.5 kW at 19:00), a little noise."""
    hours = np.arange(days * 288) * PERIOD / 3600.0 % 24
    rng = np.random.default_rng(seed)
    base = 9000 + 3000 * np.sin((hours - 9) / 24 * 2 * np.pi) + 7000 * np.exp(-((hours - 19) / 1.5) ** 2)
    return base + rng.normal(0, 200, hours.size)


def simulate(cfg: BatteryConfig, loads: np.ndarray, soc0: float = 0.5, eta_rt: float = 0.86,
             manager: BatteryManager | None = None, feed_soc: bool = False, ready: bool = False):
    plant = LiIonPlant(E_WH, V_NOM, P_MAX, eta_rt, soc0)
    manager = manager or BatteryManager(cfg)
    if ready:  # rested long enough to start at once, but not yet recalibrated
        manager.machine.entered_at_s = -1e4
    command, delivered = 0.0, None
    rows = []
    for k, load in enumerate(loads):
        t = k * PERIOD
        if k > 0:
            delivered, _ = plant.step(command, PERIOD)
        voltage = li_ion_ocv(plant.soc, V_NOM)  # IR-compensated (rest-equivalent) string voltage
        net = load - (delivered or 0.0)
        out = manager.step(StepInput(t_s=t, hour=t / 3600 % 24, load_w=net, delivered_w=delivered,
                                     voltage_v=voltage, measured_soc=plant.soc if feed_soc else None))
        command = out.command_w
        rows.append((net, plant.soc, out))
    return manager, plant, rows


def test_threshold_policy_shaves_the_evening_peak_and_cycles_through_all_states():
    cfg = config()
    loads = day_load()
    manager, plant, rows = simulate(cfg, loads)
    net = np.array([r[0] for r in rows])
    assert net.max() < loads.max() - 2500  # 2.5 kW off the ~17.7 kW peak despite the one-step control lag
    states = {r[2].state for r in rows}
    assert states == {BatteryState.CHARGE, BatteryState.REST, BatteryState.SELL}
    causes = {t.cause for t in manager.machine.transitions}
    assert "policy_discharge" in causes and ("soc_low" in causes or "policy_charge" in causes)
    assert all(cfg.soc_low - 0.03 <= r[1] <= cfg.soc_high + 0.03 for r in rows)


def test_estimate_drifts_without_anchors_and_recalibration_pulls_it_back():
    # GIVEN a counter that thinks 0.97 one-way while the cells lose ~7 % each way (round trip 0.86)
    cfg_free = config(ocv_table=[], v_empty=0.0, v_full=1e6)  # nothing to anchor a rest to
    _, plant_free, rows_free = simulate(cfg_free, day_load(2))
    drift = max(abs(r[2].soc_estimate - r[1]) for r in rows_free)
    cfg = config()
    manager, plant, rows = simulate(cfg, day_load(2))
    recal = [r[2].recalibration for r in rows if r[2].recalibration is not None]
    # THEN rests recalibrate from the OCV table and the estimate stays close; without them it drifts
    assert len(recal) >= 2 and all(e.cause == "ocv" for e in recal)
    assert drift > 0.03
    assert abs(rows[-1][2].soc_estimate - plant.soc) < 0.02
    for e in recal:
        assert e.soc_after == pytest.approx([r[1] for r in rows if r[2].recalibration is e][0], abs=1e-9)


def test_voltage_limit_stops_charging_when_the_estimate_is_wrong():
    # GIVEN the manager believes 50 % but the battery is nearly full
    cfg = config(charge_below_w=1e6, discharge_above_w=1e7)
    manager, plant, rows = simulate(cfg, np.full(24, 5000.0), soc0=0.995, ready=True)
    breach = [t for t in manager.machine.transitions if t.cause == "voltage_full"]
    assert breach, "charging must stop at the voltage limit"
    k = [r[2].t_s for r in rows].index(breach[0].t_s)
    assert rows[k][2].command_w == 0.0  # the very step of the breach commands nothing


def test_refused_command_is_not_acknowledged():
    cfg = config(charge_below_w=1e6, discharge_above_w=1e7, v_full=1e6, soc_high=1.0, soc_hysteresis=0.0)
    manager, plant, rows = simulate(cfg, np.full(10, 5000.0), soc0=1.0, ready=True)
    # GIVEN a full battery the manager believes half full, WHEN it commands a charge the inverter refuses,
    # THEN the command is marked unacknowledged, and the rest that follows recalibrates the estimate to full
    assert rows[0][2].acked is None and rows[0][2].command_w < 0
    assert rows[1][2].acked is False and rows[1][2].soc_estimate == pytest.approx(0.5)
    assert manager.machine.transitions[-1].cause == "soc_high"
    assert rows[-1][2].soc_estimate == pytest.approx(1.0) and rows[-1][2].acked is True


def test_reconcile_gain_pulls_the_estimate_to_the_measured_soc():
    cfg = config(ocv_table=[], reconcile_gain=1.0)
    _, plant, rows = simulate(cfg, day_load(), feed_soc=True)
    assert abs(rows[-1][2].soc_estimate - plant.soc) < 0.01


def test_schedule_policy_uses_forecast_and_then_yesterday():
    loads = day_load(2, seed=1)
    exact = dict(coulombic_efficiency=1.0, conversion_efficiency=math.sqrt(0.86))  # GridLAB-D's loss, each way
    cfg = config(policy="schedule", forecast_w=list(day_load(1, seed=1)), **exact)
    manager, _, rows = simulate(cfg, loads)
    net = np.array([r[0] for r in rows])
    threshold_rows = simulate(config(**exact), loads)[2]
    net_rule = np.array([r[0] for r in threshold_rows])
    # GIVEN a perfect forecast, THEN the LP schedule does no worse than hand-set thresholds and holds its target
    # through the peak (the last minutes miss it: GridLAB-D's losses grow with power, the LP's are constant)
    assert net[:288].max() <= net_rule[:288].max()
    peak_hours = slice(17 * 12, 19 * 12 + 9)
    assert net[peak_hours].max() < manager.schedule_peak_w + 1000  # one-step lag on a 700 W/step ramp
    # without a forecast the first day falls back to the rule and the second is planned from the first
    manager, _, rows = simulate(config(policy="schedule", **exact), loads)
    assert manager.schedule_peak_w is not None and len(manager.yesterday) == 288
    net2 = np.array([r[0] for r in rows])
    assert net2[288:].max() < loads[288:].max() - 3000


def test_market_policy_follows_the_cleared_price():
    prices = [0.10] * 6 + [0.15] * 10 + [0.40] * 5 + [0.15] * 3
    cfg = config(policy="market", price_forecast=prices, rest_min_s=0.0)
    manager = BatteryManager(cfg)
    out = manager.step(StepInput(t_s=0.0, hour=2.0, load_w=5000.0, cleared_price=0.02))
    assert out.bid is not None and len(out.bid) == 4
    expected = 1000 * setpoint_from_price(out.bid, 0.02)
    assert out.state is BatteryState.CHARGE and expected < 0 and out.command_w == pytest.approx(expected)
    out = manager.step(StepInput(t_s=150.0, hour=2.05, load_w=5000.0, cleared_price=-1.0))
    assert out.command_w == pytest.approx(-P_MAX)
    out = manager.step(StepInput(t_s=300.0, hour=18.0, load_w=5000.0, cleared_price=0.90))
    assert out.state is BatteryState.REST  # reversal goes through REST
    out = manager.step(StepInput(t_s=600.0, hour=18.1, load_w=5000.0, cleared_price=0.90))
    assert out.state is BatteryState.SELL and out.command_w == pytest.approx(P_MAX)


def test_time_must_increase():
    manager = BatteryManager(config())
    manager.step(StepInput(t_s=0.0, hour=0.0, load_w=1.0))
    with pytest.raises(ValueError, match="must increase"):
        manager.step(StepInput(t_s=0.0, hour=0.0, load_w=1.0))


def test_internal_power_reference_vector():
    kwargs = dict(nominal_voltage_v=480.0, rated_power_w=5000.0, round_trip_efficiency=0.86)
    assert internal_power(5000.0, 0.5, **kwargs)[0] == pytest.approx(4636.809, abs=1e-3)
    assert internal_power(-5000.0, 0.5, **kwargs)[0] == pytest.approx(-5391.639, abs=1e-3)
    assert internal_power(5000.0, 0.5, **kwargs)[0] == pytest.approx(5000 * math.sqrt(0.86))
    for p_out, soc in ((-5000.0, 0.528622), (5000.0, 0.466718)):
        plant = LiIonPlant(13500.0, 480.0, 5000.0, 0.86, 0.5)
        plant.step(p_out, 300.0)
        assert plant.soc == pytest.approx(soc, abs=1e-6)


def test_string_current_applies_conversion_losses_each_way():
    assert string_current(4800.0, 480.0, 0.8) == pytest.approx(-12.5)
    assert string_current(-4800.0, 480.0, 0.8) == pytest.approx(8.0)
