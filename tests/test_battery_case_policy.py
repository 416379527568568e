"""Core behaviour the peak-shaving case relies on: PV export in the LP, multi-day forecasts, the peak window,
no charging above the target, and the resume point of the federate (last step in both state file and metrics)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vppfed.federates.battery.config import BatteryConfig
from vppfed.federates.battery.adapter import last_metrics_time
from vppfed.federates.battery.manager import BatteryManager, StepInput
from vppfed.federates.battery.peak_shaving import optimal_schedule
from vppfed.federates.battery.persistence import StateStore
from vppfed.federates.metrics import MetricsWriter

PERIOD = 3600.0  # 1-h periods keep the vectors readable


def config(**kwargs) -> BatteryConfig:
    base = dict(capacity_ah=10000.0 / 400.0, nominal_voltage_v=400.0, max_charge_w=3000.0, max_discharge_w=3000.0,
                coulombic_efficiency=1.0, soc_initial=0.0, soc_low=0.0, soc_high=1.0, soc_hysteresis=0.0,
                rest_min_s=0.0, period_s=PERIOD, policy="schedule",
                idle_rest_s=0.0, reconcile_warn=0.05, degradation_cost=0.005)  # the core defaults before issue 17 (sections and core now share the section's)
    base.update(kwargs)
    cfg = BatteryConfig(**base)
    cfg.validate()
    return cfg


def test_lp_stays_feasible_when_pv_exports_and_never_adds_export():
    # GIVEN a midday export of 8 kW, more than the 3 kW the battery can absorb
    load = np.array([2.0, -8.0, -8.0, 1.0, 6.0, 7.0])
    sched = optimal_schedule(load, 1.0, e0=0.0, e_max=4.0, p_ch=3.0, p_dis=3.0)
    # THEN it charges from the export, shaves the evening and never discharges into an export
    assert sched.charge[1] + sched.charge[2] == pytest.approx(4.0)
    assert sched.peak == pytest.approx(4.5)
    assert np.all(sched.discharge - sched.charge <= np.maximum(load, 0.0) + 1e-9)
    assert np.all(np.diff(np.concatenate([[0.0], sched.energy])) == pytest.approx(sched.charge - sched.discharge))


def test_lp_charges_in_the_valley_and_early():
    load = np.array([1.0, 1.0, 0.5, 1.0, 5.0])
    sched = optimal_schedule(load, 1.0, e0=0.0, e_max=2.0, p_ch=2.0, p_dis=2.0)
    assert sched.peak == pytest.approx(3.0)
    assert sched.charge.tolist() == pytest.approx([0.0, 0.0, 2.0, 0.0, 0.0])
    sched = optimal_schedule(np.array([1.0, 1.0, 1.0, 1.0, 5.0]), 1.0, e0=0.0, e_max=2.0, p_ch=2.0, p_dis=2.0)
    assert sched.charge.tolist() == pytest.approx([2.0, 0.0, 0.0, 0.0, 0.0])


def test_lp_scales_to_one_minute_steps():
    minutes = np.arange(1440)
    load = 30 + 50 * np.exp(-((minutes / 60 - 18) / 2.0) ** 2)
    sched = optimal_schedule(load, 1 / 60, e0=20.0, e_min=15.0, e_max=70.0, p_ch=30.0, p_dis=30.0,
                             eta_c=0.9, eta_d=0.9)
    assert 30.0 < sched.peak < 80.0
    assert sched.energy.min() >= 15.0 - 1e-6 and sched.energy.max() <= 70.0 + 1e-6


def run_days(cfg: BatteryConfig, loads: list[float]) -> tuple[BatteryManager, list]:
    manager = BatteryManager(cfg)
    outs = []
    for k, load in enumerate(loads):
        t = (k + 1) * PERIOD
        outs.append(manager.step(StepInput(t_s=t, hour=(t / 3600.0) % 24, load_w=load)))
    return manager, outs


def test_multi_day_forecast_plans_each_day_from_its_own_day():
    day1 = [1000.0] * 18 + [5000.0] * 2 + [1000.0] * 4
    day2 = [1000.0] * 18 + [9000.0] * 2 + [1000.0] * 4
    cfg = config(forecast_w=day1 + day2)
    manager = BatteryManager(cfg)
    assert manager.day_forecast(0) == day1 and manager.day_forecast(1) == day2
    manager.yesterday = [7.0] * 24
    assert manager.day_forecast(2) == [7.0] * 24  # beyond the forecast: yesterday's measured load
    manager, outs = run_days(cfg, (day1 + day2)[1:])  # steps end at 47 h, still day 2
    assert manager.day_index == 1
    # day 2 planned from day 2's forecast: 2 h of 9 kW with a 3 kW inverter -> 6 kW (day 1 alone would give 2 kW)
    assert manager.schedule_peak_w == pytest.approx(6000.0, abs=1.0)


def test_no_planned_charge_inside_the_peak_window_and_no_charge_above_the_target():
    # GIVEN a forecast whose evening has a dip between two peaks
    forecast = [1000.0] * 16 + [6000.0, 2000.0, 6000.0] + [1000.0] * 5
    cfg = config(forecast_w=forecast, soc_initial=0.0, capacity_ah=3000.0 / 400.0)
    manager = BatteryManager(cfg)
    manager.step(StepInput(t_s=PERIOD, hour=1.0, load_w=1000.0))
    target = manager.schedule_peak_w
    window = [k for k, v in enumerate(forecast) if v > target]
    assert window and all(manager.schedule_charge_w[k] == 0.0 for k in range(window[0], window[-1] + 1))
    # WHEN the load comes in above the forecast at a planned charging hour, THEN the charge stops at the target
    manager = BatteryManager(config(forecast_w=[1000.0] * 10 + [3000.0] * 6 + [6000.0] * 2 + [1000.0] * 6,
                                    capacity_ah=4000.0 / 400.0, load_includes_battery=False))
    out = manager.step(StepInput(t_s=PERIOD, hour=1.0, load_w=1000.0))
    planned = manager.schedule_charge_w[1]
    assert planned > 0 and out.command_w == pytest.approx(-planned)
    high = manager.schedule_peak_w - 500.0
    out = manager.step(StepInput(t_s=2 * PERIOD, hour=2.0, load_w=high))
    assert -out.command_w <= 500.0 + 1e-6


def test_charge_below_tops_up_beyond_the_plan():
    cfg = config(forecast_w=[1000.0] * 20 + [4000.0] * 4, charge_below_w=1500.0, capacity_ah=20000.0 / 400.0)
    manager, outs = run_days(cfg, [1000.0] * 6)
    planned = sum(manager.schedule_charge_w[:7])
    assert -sum(o.command_w for o in outs) > planned  # opportunistic charging at 1 kW < 1.5 kW


def test_state_keeps_the_day_index_through_a_resume(tmp_path):
    cfg = config(forecast_w=[1000.0] * 48)
    store = StateStore.create(tmp_path / "s.sqlite", cfg.fingerprint(), keep_steps=4)
    manager = BatteryManager(cfg, store)
    for k in range(30):
        t = (k + 1) * PERIOD
        manager.step(StepInput(t_s=t, hour=(t / 3600.0) % 24, load_w=1000.0))
    resumed = BatteryManager.resume(cfg, store)
    assert resumed.day_index == manager.day_index == 1
    assert len(store.commands()) == 30  # every command kept for the replay
    with pytest.raises(Exception, match="no saved battery step at or before"):
        BatteryManager.resume(cfg, store, at_or_before_s=20 * PERIOD)  # only the last 4 full states are kept
    assert BatteryManager.resume(cfg, store, at_or_before_s=27 * PERIOD).t_s == 27 * PERIOD
    store.close()


def test_last_metrics_time_ignores_a_torn_last_sample(tmp_path):
    writer = MetricsWriter(tmp_path, "battery", "R", [("soc", "pu")], "2013-07-01 00:00:00")
    assert last_metrics_time(writer.path) is None
    for t in (60, 120, 180):
        writer.write(t, {"b": [0.5]})
    writer.close()
    assert last_metrics_time(writer.path) == 180.0
    text = writer.path.read_text()
    writer.path.write_text(text[: text.rindex('"180"') + 9])  # killed in the middle of the last line
    assert last_metrics_time(writer.path) == 120.0
    assert last_metrics_time(tmp_path / "missing.json") is None
    json.loads(text)  # the intact file was valid JSON


def test_a_negative_zero_command_survives_the_state_file(tmp_path):
    # SQLite hands an integral REAL back as 0.0 even when -0.0 was written: the checksum must still match
    store = StateStore.create(tmp_path / "s.sqlite", "fp")
    store.save(1, 60.0, {"last_command_w": -0.0})
    store.save(2, 120.0, {"last_command_w": -1500.0})
    store.close()
    store = StateStore.open_existing(tmp_path / "s.sqlite", "fp")
    assert store.commands() == {60.0: 0.0, 120.0: -1500.0}
    store.close()


def test_an_active_state_ends_after_the_policy_idled_for_idle_rest_s():
    from vppfed.federates.battery.state_machine import BatteryState, Observation, StateMachine

    cfg = config(idle_rest_s=1800.0, rest_min_s=0.0, soc_low=0.1, soc_high=0.9)
    machine = StateMachine(cfg, entered_at_s=-1.0)
    assert machine.step(Observation(0.0, 18.0, 0.5, None, 1000.0)) is BatteryState.SELL
    for t in (600.0, 1200.0):  # a dip in the evening peak: SELL waits at 0 W
        assert machine.step(Observation(t, 18.0, 0.5, None, 0.0)) is BatteryState.SELL
    assert machine.step(Observation(1500.0, 18.0, 0.5, None, 500.0)) is BatteryState.SELL  # resets the idle clock
    assert machine.step(Observation(2000.0, 18.0, 0.5, None, 0.0)) is BatteryState.SELL
    assert machine.step(Observation(3700.0, 18.0, 0.5, None, 0.0)) is BatteryState.SELL
    assert machine.step(Observation(3800.0, 18.0, 0.5, None, 0.0)) is BatteryState.REST
    assert machine.transitions[-1].cause == "policy_idle"
    again = StateMachine.from_dict(cfg, machine.to_dict())
    assert again.to_dict() == machine.to_dict()
