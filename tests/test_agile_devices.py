"""Units that are GridLAB-D devices (pure core and case building, no HELICS run): readings -> unit state, unit power
-> setpoints, availability, lossy buckets, the device portfolio drawn from a generated feeder, the vpp section."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vppfed.configs.case import build_case
from vppfed.configs.feeder_glm import FeederSpec, write_feeder
from vppfed.configs.vpp_devices import (BatteryInverters, DeviceSelection, EvChargers, WaterHeaters, device_units,
                                        read_glm_objects)
from vppfed.errors import UserError
from vppfed.federates.agile.aggregator import Aggregator
from vppfed.federates.agile.devices import (BATTERY_INVERTER, EV_CHARGER, WATER_HEATER, Device, DeviceBank,
                                            read_devices_json)
from vppfed.federates.agile.portfolio import make_portfolio
from vppfed.federates.agile.protocol import apply_command
from vppfed.federates.agile.signal import SignalInput
from vppfed.federates.agile.unit_host import Measurement, UnitHost

CASES = Path(__file__).resolve().parents[1] / "cases"
TS = 60 / 3600  # h, one-minute steps


def bucket_device() -> Device:
    return Device("Bkt-1", BATTERY_INVERTER, "ibat_h1", "ibat_h1/P_Out",
                  {"soc": "gld_7/bat_h1/state_of_charge", "power": "gld_7/ibat_h1/VA_Out"}, 13.5, 0.9)


def ev_device() -> Device:
    return Device("Bat-1", EV_CHARGER, "ev_h1", "ev_h1/maximum_charge_rate",
                  {"location": "gld_7/ev_h1/vehicle_location", "stored": "gld_7/ev_h1/battery_capacity",
                   "power": "gld_7/ev_h1/actual_charge_rate"}, 8.58, 0.9)


def heater_device() -> Device:
    return Device("Bak-1", WATER_HEATER, "wh_h1", "wh_h1/re_override", {"power": "gld_7/wh_h1/actual_load"})


# ----------------------------------------------------------------------------------------------------- DeviceBank
def test_battery_inverter_energy_is_the_measured_soc_and_its_setpoint_is_minus_p_out_in_watts():
    bank = DeviceBank([bucket_device()], TS)
    bank.receive("gld_7/bat_h1/state_of_charge", 0.6)
    bank.receive("gld_7/ibat_h1/VA_Out", complex(-4000.0, 0.0))   # GridLAB-D: negative = charging
    m = bank.measure()
    assert m.E[0] == pytest.approx(0.6 * 13.5) and m.P_meas[0] == pytest.approx(4.0) and m.available[0]
    assert bank.setpoints(np.array([-2.5])) == [("ibat_h1/P_Out", 2500.0)]   # giving back 2.5 kW = discharge
    assert bank.setpoints(np.array([-2.5])) == []                            # unchanged: nothing to publish
    assert bank.setpoints(np.array([-2.5]), force=True) == [("ibat_h1/P_Out", 2500.0)]


def test_ev_is_away_until_home_then_syncs_energy_on_arrival_and_integrates_the_measured_rate():
    bank = DeviceBank([ev_device()], TS)
    assert not bank.initial_availability()[0]
    for target, value in (("gld_7/ev_h1/vehicle_location", "WORK"), ("gld_7/ev_h1/battery_capacity", 8.58),
                          ("gld_7/ev_h1/actual_charge_rate", 0.0)):
        bank.receive(target, value)
    m = bank.measure()
    assert not m.available[0] and math.isnan(m.E[0])
    bank.receive("gld_7/ev_h1/vehicle_location", "HOME")
    bank.receive("gld_7/ev_h1/battery_capacity", 5.0)      # the charger updates its SOC when the car arrives
    m = bank.measure()
    assert m.available[0] and m.E[0] == pytest.approx(5.0 / 0.9) and m.P_meas[0] == 0.0
    assert bank.setpoints(np.array([3.6])) == [("ev_h1/maximum_charge_rate", 3600.0)]
    bank.receive("gld_7/ev_h1/actual_charge_rate", 3600.0)
    bank.receive("gld_7/ev_h1/battery_capacity", 5.0)      # stale while charging: must not reset the count
    m = bank.measure()
    assert m.P_meas[0] == pytest.approx(3.6) and m.E[0] == pytest.approx(5.0 / 0.9 + TS * 3.6)


def test_water_heater_boost_switches_the_override_and_counts_only_its_own_load():
    bank = DeviceBank([heater_device()], TS)
    assert bank.setpoints(np.array([4.5]), force=True) == [("wh_h1/re_override", "OV_ON")]
    bank.receive("gld_7/wh_h1/actual_load", 4.41)
    assert bank.measure().P_meas[0] == pytest.approx(4.41)
    # a bakery's round-off remainder after its last full step must not keep the element on
    assert bank.setpoints(np.array([1e-9])) == [("wh_h1/re_override", "OV_NORMAL")]
    bank.receive("gld_7/wh_h1/actual_load", 4.41)           # the thermostat's own cycle: base load, not the VPP's
    assert bank.measure().P_meas[0] == 0.0


def test_a_reading_nobody_asked_for_is_an_error():
    with pytest.raises(KeyError):
        DeviceBank([bucket_device()], TS).receive("gld_7/other/state_of_charge", 0.5)


# ------------------------------------------------------------------------------------------ host and aggregator
def test_lossy_bucket_gives_back_only_what_keeps_its_real_energy_above_emin():
    # GIVEN a 5 kW bucket near Emin whose real battery loses 10 % of what it gives back
    p = make_portfolio([("Bkt-1", 0, 3.0, 5.0, -5.0, 12.0, 2.7, -1, -1)])
    host = UnitHost(p, Ts=TS, available=np.array([True]), discharge_efficiency=np.array([0.9]))
    real_E = 3.0
    for k in range(1, 40):
        # WHEN it is told to give back 5 kW every step and its real energy is measured each step
        cmd = [{"type": "dispatch", "unit": "Bkt-1", "k": k, "P": -5.0}]
        host.step(k, cmd, Measurement(np.array([real_E]), np.array([True]), np.array([np.nan])))
        real_E += TS * host.P[0] / 0.9 if host.P[0] < 0 else TS * host.P[0]
        # THEN the real energy never passes Emin
        assert real_E >= 2.7 - 1e-12
    assert host.P[0] > -1e-6  # and it has stopped giving back


def test_unavailable_unit_takes_nothing_even_when_forced():
    p = make_portfolio([("Bat-1", 0, 0.0, 1.0, 0, 5.0, 0, 5, -1)])   # must fill 5 kWh by step 5: forced now
    E, cmd, run = np.zeros(1), np.zeros(1), np.zeros(1, dtype=bool)
    assert apply_command(p, 1, E, cmd, run)[0][0] == 1.0
    assert apply_command(p, 1, E, cmd, run, available=np.array([False]))[0][0] == 0.0


def test_aggregator_leaves_an_unavailable_unit_out_and_takes_it_in_when_it_reports_available():
    p = make_portfolio([("Bkt-1", 0, 0.0, 1.0, -1.0, 4.0, -4.0, -1, -1), ("Bat-1", 0, 0.0, 2.0, 0, 6.0, 0, 20, -1)])
    host = UnitHost(p, available=np.array([True, False]))
    agg = Aggregator()
    for m in host.registrations():
        agg.receive(m)
    cmds, s1 = agg.step(1, 2.5)
    assert {c["unit"] for c in cmds} == {"Bkt-1"} and s1.unavailable == 1 and s1.fixed == 0.0
    assert s1.planned == pytest.approx(1.0)          # only the bucket's 1 kW: the EV is away
    agg.receive({"type": "report", "unit": "Bat-1", "k": 1, "E": 1.0, "P": 0.0, "running": False, "avail": True})
    cmds, s2 = agg.step(2, 2.5)
    bat = [c for c in cmds if c["unit"] == "Bat-1"]
    assert s2.unavailable == 0 and bat and bat[0]["P"] == pytest.approx(2.0)


# --------------------------------------------------------------------------------------------- signal input
def test_signal_input_scales_offsets_adds_own_power_and_waits_for_a_value():
    si = SignalInput(target="gld_7/distribution_load", type="complex", scale=-0.001, offset=110.0, add_own=True,
                     initial=3.0, settle_steps=2)
    assert si.value(None, 5.0, 5) == 3.0                              # nothing received yet
    assert si.value(complex(90000, 2000), 5.0, 2) == 3.0              # still settling
    assert si.value(complex(90000, 2000), 5.0, 3) == pytest.approx(110 - 90 + 5)
    assert SignalInput("x/y", part="abs").value(complex(3, 4), 0.0, 1) == pytest.approx(5.0)


def test_signal_input_smoothing_is_an_exponential_average():
    si = SignalInput("x/y", smoothing=0.25)
    assert si.value(8.0, 0.0, 1) == 8.0
    assert si.value(0.0, 0.0, 2) == pytest.approx(6.0)
    assert si.value(0.0, 0.0, 3) == pytest.approx(4.5)


def test_step_clock_grants_each_side_once_per_step_and_not_at_the_stop_time():
    from vppfed.federates.agile.adapter import AGGREGATOR_LEAD_S, HOST_LEAD_S, StepClock

    agg, host = StepClock(60, AGGREGATOR_LEAD_S), StepClock(60, HOST_LEAD_S)
    assert [agg.time_of(k) for k in (1, 2)] == [1.0, 61.0] and [host.time_of(k) for k in (1, 2)] == [2.0, 62.0]
    assert agg.next_time(0.0) == 1.0 and agg.next_time(1.0) == 61.0 and host.next_time(2.0) == 62.0
    assert host.step_of(122.0) == 3 and host.step_of(180.0) is None
    with pytest.raises(ValueError):
        StepClock(2, 2)


# ------------------------------------------------------------------------------------ portfolio from a feeder
@pytest.fixture()
def feeder(tmp_path):
    spec = FeederSpec(houses=8, seed=3, start="2013-07-01 16:00:00", stop="2013-07-01 20:00:00", period_s=15,
                      battery_fraction=0.5, ev_fraction=0.5, water_heater_fraction=0.5, pv_fraction=0.0)
    return write_feeder(spec, tmp_path, "f"), tmp_path / "f.glm"


def test_glm_objects_keep_their_enclosing_object_as_parent(feeder):
    generated, glm = feeder
    objs = read_glm_objects(glm)
    bat = generated.inventory.batteries[0]
    assert objs[bat]["class"] == "battery" and objs[bat]["parent"] == generated.inventory.battery_inverters[0]
    assert objs[generated.inventory.water_heaters[0]]["heating_element_capacity"] == "4.5 kW"


def test_device_units_take_ratings_and_states_from_the_feeder_model(feeder):
    generated, glm = feeder
    inv = generated.inventory
    sel = DeviceSelection(BatteryInverters(soc_min=0.2, soc_max=0.9), EvChargers(), WaterHeaters(boost_min=15))
    units = device_units(sel, inv, glm, 60, 240, seed=4, where="case.yaml: vpp")
    p = make_portfolio(units.rows)
    n_b, n_e, n_w = len(inv.battery_inverters), len(inv.ev_chargers), len(inv.water_heaters)
    assert n_b and n_e and n_w and len(p) == n_b + n_e + n_w
    b, e, w = p.subset([0]), p.subset([n_b]), p.subset([n_b + n_e])
    assert (b.names[0], b.E0[0], b.Emax[0], b.Emin[0], b.Pmax[0], b.Pmin[0]) == ("Bkt-1", 6.75, 12.15, 2.7, 5.0, -5.0)
    assert units.efficiency[0] == pytest.approx(0.97 * math.sqrt(0.86))
    size = 33.0 / 3.846                                      # mileage_classification / mileage_efficiency, kWh
    assert e.names[0] == "Bat-1" and e.Emax[0] == pytest.approx(size / 0.9, abs=1e-6) and e.Pmax[0] == 7.2
    assert e.Tend[0] == 240                                  # default deadline: the end of the case
    assert w.names[0] == "Bak-1" and w.Trun[0] == 15 and w.Emax[0] == pytest.approx(4.5 * 15 / 60)
    tend = p.Tend[p.kind == 2]
    assert np.all((tend >= 60) & (tend <= 240))             # deadline_h [1, 4] in 60 s steps
    again = device_units(sel, inv, glm, 60, 240, seed=4, where="x")
    assert again.rows == units.rows                          # same seed, same deadlines


def test_device_units_refuse_a_type_the_feeder_does_not_have(tmp_path):
    spec = FeederSpec(houses=4, seed=1, battery_fraction=0.0, pv_fraction=0.0)
    generated = write_feeder(spec, tmp_path, "f")
    with pytest.raises(UserError, match=r"devices\.battery_inverters: the feeder has none.*battery_fraction"):
        device_units(DeviceSelection(battery_inverters=BatteryInverters()), generated.inventory, tmp_path / "f.glm",
                     60, 10, 0, "case.yaml: vpp")


# --------------------------------------------------------------------------------------------- vpp section
def test_vpp_feeder_case_wires_the_devices_through_the_feeder(tmp_path):
    built = build_case(CASES / "vpp-feeder" / "case.yaml", tmp_path / "vf")
    d = built.directory
    gld = json.loads((d / "vpp-feeder_gridlabd.json").read_text())
    feeder_pubs = {f"gld_7/{p['key']}" for p in gld["publications"]}
    feeder_subs = {s["key"]: s["info"] for s in gld["subscriptions"]}
    devices = read_devices_json(d / "vpp_devices.json")
    names = [ln.split(",")[0] for ln in (d / "vpp_params.csv").read_text().splitlines()[1:]]
    assert [dev.unit for dev in devices] == names
    for h in (0, 1):
        cfg = json.loads((d / f"vpp-feeder_vpp_host{h}.json").read_text())
        assert {s["key"] for s in cfg["subscriptions"]} <= feeder_pubs          # every reading is published
        for pub in cfg["publications"]:                                         # every setpoint is written
            info = feeder_subs[f"vpp_host{h}/{pub['key']}"]
            assert pub["key"] == f"{info['object']}/{info['property']}"
    props = {info["property"] for info in feeder_subs.values()}
    assert props == {"P_Out", "maximum_charge_rate", "re_override"}
    agg = json.loads((d / "vpp-feeder_vpp_aggregator.json").read_text())
    assert agg["subscriptions"] == [{"key": "gld_7/distribution_load", "type": "complex"}]
    runner = json.loads((d / "runner.json").read_text())
    agg_exec = next(f["exec"] for f in runner["federates"] if f["name"] == "vpp_aggregator")
    assert "--start-label '2013-07-01 16:00:00 PDT'" in agg_exec and "--stop 14400" in agg_exec


def test_case_horizon_must_be_a_whole_number_of_steps(tmp_path):
    with pytest.raises(UserError, match=r"6000.12 s, not a whole number of 60 s steps.*use 1\.666666667 h \(100 steps\)"):
        build_case(CASES / "agile-phase1" / "case.yaml", tmp_path / "p1",
                   overrides={"case.hours": 1.6667, "vpp.step_s": 60})
    built = build_case(CASES / "agile-phase1" / "case.yaml", tmp_path / "p1",
                       overrides={"case.hours": 1.666666667, "vpp.step_s": 60})    # as suggested: 100 steps
    runner = json.loads(built.runner.read_text())
    assert all("--stop 6000 " in f["exec"] for f in runner["federates"])


def test_dispatch_step_must_be_a_multiple_of_the_feeder_period(tmp_path):
    with pytest.raises(UserError, match=r"vpp\.step_s: 50 s must be a multiple of the feeder's period"):
        build_case(CASES / "vpp-feeder" / "case.yaml", tmp_path / "vf", overrides={"vpp.step_s": 50, "case.hours": 1})


def test_signal_input_from_the_feeder_needs_a_feeder(tmp_path):
    raw = {"case": {"name": "x", "hours": 1}, "vpp": {"params": str(tmp_path / "p.csv"), "step_s": 60,
                                                      "signal_input": {"target": "feeder"}}}
    (tmp_path / "p.csv").write_text("Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun\nBkt-1,0,0,1,-1,4,-4,-1,-1\n")
    with pytest.raises(UserError, match="need a feeder: section"):
        build_case(raw, tmp_path / "x")
