"""COHDA on the generated feeder: device schedules, the cohda: section and (slow) the feeder running the plan."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from vppfed.errors import UserError
from vppfed.federates.cohda.devices import (BatterySpec, EvSpec, IntervalAverager, PlanSetup, battery_schedules,
                                            ev_schedules, flat_target, home_windows)
from vppfed.federates.cohda.instance import load_instance

CASE = Path(__file__).resolve().parents[1] / "cases" / "cohda-feeder" / "case.yaml"


def test_battery_schedules_stay_within_limits_and_give_back_what_they_store():
    spec = BatterySpec("b", capacity_kwh=13.5, power_kw=5.0, soc0=0.5, soc_min=0.2, soc_max=0.9, efficiency=0.9)
    s = battery_schedules(spec, 96, 0.25, 12, np.random.default_rng(3))
    assert s.shape == (12, 96) and not s[0].any()                       # option 0: idle
    assert all(np.abs(row).any() for row in s[1:])                       # the others do something
    for row in s:
        assert spec.feasible(row, 0.25)
        e = spec.energy_path(row, 0.25)
        assert e[-1] == pytest.approx(0.5 * 13.5, abs=1e-9)             # energy neutral after losses
    again = battery_schedules(spec, 96, 0.25, 12, np.random.default_rng(3))
    assert np.array_equal(s, again)


def test_ev_schedules_deliver_the_need_only_while_the_car_is_home():
    spec = EvSpec("ev", power_kw=7.2, windows=((70, 90),), need_kwh=(9.5,))
    s = ev_schedules(spec, 96, 0.25, 10, np.random.default_rng(1))
    assert (s <= 0).all()
    np.testing.assert_allclose(-s.sum(axis=1) * 0.25, 9.5)              # same energy in every option
    assert not s[:, :70].any() and not s[:, 90:].any()                   # nothing outside the window
    assert s[0, 70] == pytest.approx(-7.2)                               # option 0 charges on arrival
    assert len({row.tobytes() for row in s}) > 3
    short = EvSpec("ev", 7.2, ((94, 96),), (20.0,))
    np.testing.assert_allclose(ev_schedules(short, 96, 0.25, 3, np.random.default_rng(0))[:, 94:], -7.2)


def test_home_windows_cover_whole_intervals_at_home_from_each_arrival():
    start = datetime(2013, 7, 1, 0, 0)
    # arrives 18:32, stays 12.4 h (leaves 06:56): first whole 15-min interval 18:45 = interval 75
    assert home_windows(1832, 44640, start, 96, 900) == [(75, 96)]
    assert home_windows(1832, 44640, start, 192, 900) == [(75, 123), (171, 192)]
    assert home_windows(1832, 44640, datetime(2013, 7, 1, 20, 0), 16, 900) == []   # already home: full


def test_interval_averager_closes_intervals_in_order():
    avg = IntervalAverager(2, 900, 3)
    out = []
    for t in range(0, 2700, 300):
        out += avg.add(t, [t / 300, 1.0])
    out += avg.finish()
    assert [k for k, _ in out] == [0, 1, 2]
    np.testing.assert_allclose(out[0][1], [1.0, 1.0])
    np.testing.assert_allclose(out[2][1], [7.0, 1.0])


def test_flat_target_is_the_devices_mean_power():
    s = np.zeros((2, 3, 4))
    s[0, :, 1] = -8.0
    np.testing.assert_allclose(flat_target(s), -2.0)
    np.testing.assert_allclose(flat_target(s, 1.5), 1.5)


def test_cohda_section_builds_the_instance_and_wires_the_devices(tmp_path):
    from vppfed.configs.case import build_case

    built = build_case(CASE, tmp_path / "case", {"case.hours": 6, "case.start": "2013-07-01 14:00:00"})
    d = built.directory
    inst = load_instance(d / "cohda_instance.npz")
    setup = PlanSetup.from_json(json.loads((d / "cohda_devices.json").read_text()))
    n = len(setup.devices)
    assert inst.schedules.shape == (n, 10, 24) and setup.intervals == 24 and setup.res_s == 900
    assert {dev.kind for dev in setup.devices} == {"battery", "ev"}
    assert not inst.init.any()                                          # start from the uncontrolled devices
    feeder = json.loads((d / "cohda-feeder_gridlabd.json").read_text())
    written = {(s["info"]["object"], s["info"]["property"]) for s in feeder["subscriptions"]
               if s["key"].startswith("cohda_vpp/")}
    assert written == {(dev.obj, "P_Out" if dev.kind == "battery" else "maximum_charge_rate")
                       for dev in setup.devices}
    again = build_case(CASE, tmp_path / "again", {"case.hours": 6, "case.start": "2013-07-01 14:00:00"})
    assert (again.directory / "cohda_instance.npz").read_bytes() == (d / "cohda_instance.npz").read_bytes()


@pytest.mark.parametrize("override,match", [
    ({"cohda.interval_s": 90}, "multiple of the feeder's step"),
    ({"case.hours": 1.1}, "whole number"),
    ({"cohda.target": "file"}, "target_file"),
    ({"cohda.devices": ["water_heaters"]}, "devices"),
])
def test_cohda_section_rejects_bad_input_naming_the_field(tmp_path, override, match):
    from vppfed.configs.case import build_case

    with pytest.raises(UserError, match=match):
        build_case(CASE, tmp_path / "bad", override)


def test_cohda_section_reads_a_target_file(tmp_path):
    from vppfed.configs.case import build_case

    target = tmp_path / "target.csv"
    target.write_text("interval,kW\n" + "".join(f"{k},{-3.0 - k % 2}\n" for k in range(8)))
    built = build_case(CASE, tmp_path / "case", {"case.hours": 2, "cohda.target": "file",
                                                 "cohda.target_file": str(target)})
    np.testing.assert_allclose(load_instance(built.directory / "cohda_instance.npz").target, [-3, -4] * 4)


@pytest.mark.slow
def test_feeder_runs_the_negotiated_plan(tmp_path):
    """GIVEN the cohda-feeder case from 14:00 for 5 h (EVs come home from 16:30)
    WHEN it runs
    THEN the plan beats the uncontrolled devices, the feeder delivers it, and the figures are drawn."""
    from vppfed.cli import main
    from vppfed.postprocess.cohda_plots import load_feeder_run, plot_run

    out = tmp_path / "run"
    assert main(["run", str(CASE), "--hours", "5", "--set", "case.start='2013-07-01 14:00:00'", "--out", str(out),
                 "--no-progress"]) == 0
    run = load_feeder_run(out)
    st = run.stats()
    assert run.plan["terminated"] and st["intervals"] == 20
    assert st["plan_error_kw"] < 0.6 * st["baseline_error_kw"]
    assert st["tracking_error_kw"] < 0.05
    kinds = np.array(run.plan["kinds"])
    assert (run.achieved[kinds == "ev"] < -1.0).any() and (np.abs(run.achieved[kinds == "battery"]) > 1.0).any()
    paths = plot_run(out, tmp_path / "figs")
    assert {p.name for p in paths} >= {"cohda_feeder_target.png", "cohda_feeder_devices.pdf"}


def test_feeder_target_flattens_the_forecast_load(tmp_path):
    from vppfed.configs.sections.cohda import feeder_target
    from vppfed.federates.metrics import MetricsWriter

    label = "2013-07-01 00:00:00 PDT"
    run = tmp_path / "run"
    w = MetricsWriter(run, "substation", "x", [("real_power_avg", "W")], label)
    load_kw = [10.0, 30.0, 20.0, 40.0]                       # per 15-min interval, 3 samples of 300 s each
    for i, kw in enumerate(np.repeat(load_kw, 3)):
        w.write(300 * (i + 1), {"network_node": [kw * 1000.0]})
    w.close()
    schedules = np.zeros((2, 2, 4))
    schedules[0, 0, 1] = 4.0                                  # the uncontrolled devices fed in 4 kW in interval 1
    schedules[1, :, :] = -1.0                                 # and drew 1 kW all the time
    target = feeder_target(run, schedules, label, 900, 4, "case.yaml: cohda")
    other = np.array(load_kw) + np.array([-1.0, 3.0, -1.0, -1.0])
    np.testing.assert_allclose(target, other - other.mean() + (0.5 - 1.0))
    with pytest.raises(UserError, match="starts at"):
        feeder_target(run, schedules, "2013-07-02 00:00:00 PDT", 900, 4, "case.yaml: cohda")
    with pytest.raises(UserError, match="covers"):
        feeder_target(run, schedules, label, 900, 6, "case.yaml: cohda")
