"""The neighbourhood beside the GridLAB-D feeder: job power for the houses, PV measured at the inverters, wiring."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vppfed.configs.case import build_case
from vppfed.federates.neighbourhood.inputs import load_neighbourhood
from vppfed.errors import UserError
from vppfed.federates.neighbourhood.feeder_link import MeasuredProduction, household_job_power_kw, map_households
from vppfed.federates.neighbourhood.model import Contract, Profile
from vppfed.formats.neighbourhood import job_power_series_kw

CASES = Path(__file__).resolve().parents[1] / "cases"


def _contract(house: str, start: float, minutes: list[float], producer: str = "grid", job: str = "j") -> Contract:
    """A contract whose load draws ``minutes[k]`` Wh in minute k after ``start``."""
    profile = Profile(60.0 * np.arange(len(minutes) + 1), np.concatenate([[0.0], np.cumsum(minutes)]))
    return Contract(f"{producer};{job}", job, house, producer, start, 0.0, profile)


# ------------------------------------------------------------------------------------------------ pure core


def test_job_power_is_the_energy_of_each_interval_over_its_length():
    # GIVEN two jobs of household 1 (one starting mid-minute) and one of household 2
    contracts = [_contract("1", 30.0, [10.0, 20.0, 30.0], job="a"), _contract("1", 120.0, [5.0], job="b"),
                 _contract("2", 0.0, [60.0, 60.0], job="c")]
    # WHEN the power is taken minute by minute
    edges = 60.0 * np.arange(6)
    series = job_power_series_kw([c.to_dict() for c in contracts], ["1", "2", "3"], edges)  # the record's form
    # THEN each interval holds the energy drawn in it (time-linear inside a load minute), in kW
    assert series[0] == pytest.approx(np.array([5.0, 15.0, 25.0 + 5.0, 15.0, 0.0]) * 0.06)
    assert series[1] == pytest.approx([3.6, 3.6, 0.0, 0.0, 0.0])
    assert not series[2].any()
    # ... energy is conserved on any grid, and the single-interval form gives the same numbers
    fine = job_power_series_kw([c.to_dict() for c in contracts], ["1", "2"], np.arange(0.0, 400.0, 7.0))
    assert (fine * 7.0 / 3.6).sum() == pytest.approx(60.0 + 5.0 + 120.0)
    assert household_job_power_kw(contracts, ["1", "2", "3"], 120.0, 180.0) == pytest.approx(
        {"1": series[0, 2], "2": 0.0, "3": 0.0})
    with pytest.raises(ValueError):
        household_job_power_kw(contracts, ["1"], 60.0, 60.0)


def test_measured_production_holds_each_published_power_until_the_next():
    # GIVEN a PV output published at 60 s (1 kW), 180 s (3 kW, twice) and 300 s (0 W)
    m = MeasuredProduction()
    for t, w in ((60.0, 1000.0), (180.0, 2000.0), (180.0, 3000.0), (300.0, 0.0)):
        m.update(t, w)
    profile = m.profile(600.0)
    # THEN the cumulative energy is exact at every publication time and flat after the last
    assert profile.times_s.tolist() == [0.0, 60.0, 180.0, 300.0, 600.0]
    assert profile.cumulative_wh == pytest.approx([0.0, 0.0, 1000 * 120 / 3600, 1000 * 120 / 3600 + 100.0,
                                                   1000 * 120 / 3600 + 100.0])
    assert m.energy_wh == pytest.approx(profile.cumulative_wh[-1])
    with pytest.raises(ValueError, match="before the previous"):
        m.update(200.0, 1.0)


def test_households_go_to_houses_in_order_and_producers_need_a_pv_inverter():
    houses = ["H0", "H1", "H2"]
    pv = {"H0": "inv_H0", "H2": "inv_H2"}
    mapping = map_households(["57", "58", "59"], houses, {"pv[57]:[1]": "57", "pv[59]:[3]": "59"}, pv)
    assert mapping.houses == {"57": "H0", "58": "H1", "59": "H2"}
    assert mapping.pv_inverters == {"pv[57]:[1]": "inv_H0", "pv[59]:[3]": "inv_H2"}
    with pytest.raises(ValueError, match=r"producer pv\[58\]:\[2\] \(household 58\) is on feeder house H1"):
        map_households(["57", "58"], houses, {"pv[58]:[2]": "58"}, pv)
    with pytest.raises(ValueError, match="4 households but the feeder only 3 houses"):
        map_households(["1", "2", "3", "4"], houses, {}, pv)


def test_run_record_reports_self_consumption_with_predicted_and_with_feeder_pv(tmp_path):
    from vppfed.summaries.neighbourhood import summarize
    from vppfed.federates.neighbourhood import protocol as p

    # GIVEN one producer predicting 2 kW for an hour, one 1 kWh job it supplies, and the feeder measuring 0.5 kW
    job = _contract("1", 0.0, [1000.0 / 60] * 60, producer="pv[2]:[9]")
    hour = Profile(np.array([0.0, 3600.0]), np.array([0.0, 2000.0]))
    files = {
        p.CONTRACTS_FILE: {"contracts": [job.to_dict()], "failed": False},
        p.PRODUCERS_FILE: {"production": {"pv[2]:[9]": hour.to_dict()}, "producer_house": {"pv[2]:[9]": "2"},
                           "n_requests": 1, "n_accepted": 1},
        p.SCORES_PART: {"scores": {"pv[2]:[9]": 9.0}},
        p.SETUP_FILE: {"length_s": 3600.0, "houses": ["1", "2"], "optimizer": "milp", "seed": 0,
                       "feeder": {"federate": "gld_7", "houses": {"1": "H0", "2": "H1"},
                                  "pv_inverters": {"pv[2]:[9]": "inv_H1"}, "lead_s": 60.0}},
        p.FEEDER_PV_FILE: {"production": {"pv[2]:[9]": {"times_s": [0.0, 3600.0], "cumulative_wh": [0.0, 500.0]}}},
    }
    for name, doc in files.items():
        (tmp_path / name).write_text(json.dumps(doc))
    # WHEN the parts are joined
    record = p.assemble_run_record(tmp_path)
    # THEN the predicted split is kept and the feeder part uses the measured PV
    t, f = record["totals"], record["feeder"]["totals"]
    assert t["production_wh"] == pytest.approx(2000.0) and t["pv_wh"] == pytest.approx(1000.0)
    assert t["self_consumption"] == pytest.approx(0.5)
    assert f["production_wh"] == pytest.approx(500.0) and f["pv_wh"] == pytest.approx(500.0)
    assert f["grid_wh"] == pytest.approx(500.0) and f["self_consumption"] == pytest.approx(1.0)
    assert record["feeder"]["feeder_houses"] == {"1": "H0", "2": "H1"}
    assert record["feeder"]["houses"]["1"]["pv_wh"] == pytest.approx(500.0)
    line = summarize(tmp_path)
    assert "predicted PV 2.00 kWh: self-consumption 50.0 %" in line
    assert "feeder PV 0.50 kWh: self-consumption 100.0 %" in line
    # ... and a batch of runs (run_NN/) reports the mean both ways
    for run in ("run_00", "run_01"):
        (tmp_path / "batch" / run).mkdir(parents=True)
        for name in files:
            (tmp_path / "batch" / run / name).write_bytes((tmp_path / name).read_bytes())
    batch = summarize(tmp_path / "batch")
    assert "over 2 runs (milp): self-consumption 50.00 ± 0.00 %" in batch
    assert "with the feeder's PV: self-consumption 100.00 ± 0.00 %, PV 0.50 ± 0.00 kWh" in batch


# ------------------------------------------------------------------------------------------------ case wiring


def _description(tmp_path: Path, hours: float = 3.0, **feeder_spec) -> dict:
    """4 households on a 4-house feeder around noon; jobs posted and started within the first 2.5 h."""
    return {
        "case": {"name": "nbf", "root": "NBFT", "start": "2016-04-10 10:00:00", "timezone": "MST+7", "hours": hours,
                 "seed": 4, "period_s": 60, "metrics_interval_s": 60, "market_period_s": 60},
        "feeder": {"houses": 4, "pv_fraction": 1.0, "step_s": 60, "metrics_sample_s": 60,
                   "spec": {"job_loads": True, "plug_load_kw": [0.0, 0.0], **feeder_spec}},
        "neighbourhood": {
            "feeder": True, "optimizer": "milp", "hop_s": 60,
            "generate": {"name": "noon", "seed": 5, "houses": 4, "pv_share": 0.5, "sunrise_h": 0.0, "sunset_h": 6.0,
                         "pv_peak_w": [3500.0, 4500.0], "earliest_h": [0.2, 1.2], "registration_lead_h": [0.0, 0.3],
                         "appliances": [
                             {"name": "washing_machine", "energy_wh": [600.0, 1200.0], "duration_min": [30, 60],
                              "window_h": [0.5, 1.0], "per_day": 3.0},
                             {"name": "ev_charger", "energy_wh": [3000.0, 5000.0], "duration_min": [45, 75],
                              "window_h": [0.25, 1.0], "per_day": 1.0}]}},
    }


def test_feeder_case_wires_job_power_into_the_houses_and_pv_into_the_consumers(tmp_path):
    built = build_case(_description(tmp_path), tmp_path / "case")
    d = built.directory
    setup = json.loads((d / "neighbourhood_setup.json").read_text())
    gld = json.loads((d / "NBFT_gridlabd.json").read_text())
    consumers = json.loads((d / "NBFT_nb_consumers.json").read_text())
    nb = load_neighbourhood(d / "neighbourhood")
    households = nb.house_ids()
    # households sit on the feeder houses in order; the feeder writes each one's job power into <house>_jobs
    assert setup["feeder"]["houses"] == {h: f"F1_house_B{i}" for i, h in enumerate(households)}
    subs = {s["key"]: s["info"] for s in gld["subscriptions"]}
    for i, h in enumerate(households):
        assert subs[f"nb_consumers/job_power_{h}"] == {"object": f"F1_house_B{i}_jobs", "property": "base_power"}
    assert [p["key"] for p in consumers["publications"]] == [f"job_power_{h}" for h in households]
    # every producer's PV comes from its house's inverter, published by the feeder and read by nb_consumers
    producers = {e.producer_id: e.house for e in nb.producer_events}
    assert producers and set(setup["feeder"]["pv_inverters"]) == set(producers)
    pubs = {f"gld_7/{p['key']}": p["info"] for p in gld["publications"]}
    for pid, target in setup["feeder"]["pv_targets"].items():
        house = setup["feeder"]["houses"][producers[pid]]
        assert pubs[target] == {"object": f"inv_{house}", "property": "VA_Out"}
    assert sorted(s["key"] for s in consumers["subscriptions"]) == sorted(setup["feeder"]["pv_targets"].values())
    # the consumers see the feeder's step before acting, the feeder sees theirs one step later
    assert consumers["wait_for_current_time_update"] is True and setup["feeder"]["lead_s"] == 60.0
    # the generated neighbourhood starts at the case start (10:00 MST)
    assert nb.t0_unix == 1460307600.0


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("feeder"), r"neighbourhood.feeder: true needs a feeder: section"),
    (lambda d: d["feeder"]["spec"].pop("job_loads"), r"neighbourhood.feeder: the feeder has no job loads; set "
                                                      r"feeder.spec.job_loads: true"),
    (lambda d: d["neighbourhood"].update(hop_s=30), r"neighbourhood.hop_s: must equal the feeder's step \(60 s\)"),
    (lambda d: d["feeder"].update(houses=3), r"neighbourhood.feeder: the neighbourhood has 4 households but the "
                                             r"feeder only 3 houses"),
    (lambda d: d["feeder"].update(pv_fraction=0.0), r"neighbourhood.feeder: producer .* has no PV inverter"),
])
def test_feeder_coupling_errors_name_the_field(tmp_path, change, message):
    desc = _description(tmp_path)
    change(desc)
    with pytest.raises(UserError, match=message):
        build_case(desc, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_builtin_neighbourhood_feeder_case_builds_twelve_households_on_twelve_houses(tmp_path):
    built = build_case(CASES / "neighbourhood-feeder" / "case.yaml", tmp_path / "c")
    assert [f.name for f in built.federates] == ["gld_7", "nb_manager", "nb_producers", "nb_consumers"]
    setup = json.loads((built.directory / "neighbourhood_setup.json").read_text())
    assert len(setup["feeder"]["houses"]) == 12 and setup["settings"]["length_s"] == 86400.0
    assert setup["feeder"]["pv_inverters"]


# ------------------------------------------------------------------------------------------------ co-simulation


@pytest.mark.slow
def test_job_loads_appear_in_the_feeder_house_loads_and_pv_is_measured_at_the_inverters(tmp_path):
    from vppfed.summaries.neighbourhood import summarize
    from vppfed.launcher import Launcher
    from vppfed.formats.metrics import load_if_present
    from vppfed.postprocess.neighbourhood_feeder_plots import plot_run

    # GIVEN 4 households on a 4-house feeder without plug loads, 3 h around noon, metrics every 60 s step
    built = build_case(_description(tmp_path), tmp_path / "run")
    # WHEN the feeder and the neighbourhood run together
    summary = Launcher(built.runner, timeout=600).run()
    assert summary.ok, summary.table()
    d = built.directory
    line = summarize(d)   # joins the federates' parts into neighbourhood_run.json
    record = json.loads((d / "neighbourhood_run.json").read_text())
    setup = json.loads((d / "neighbourhood_setup.json").read_text())
    households = setup["houses"]
    contracts = record["contracts"] + record["pending_contracts"]
    houses = load_if_present(d, "house")
    times = houses.times.astype(float)
    assert np.all(np.diff(times) == 60.0)
    # a row at T is the feeder's state after stepping to T, which holds over [T, T + 60)
    expected = job_power_series_kw(contracts, households, np.concatenate([times, [times[-1] + 60.0]]))
    total, hvac = houses.column("total_load_avg"), houses.column("hvac_load_avg")
    tol = lambda kw: 0.02 + 0.01 * np.abs(kw)  # noqa: E731 - total_load (kVA) and hvac_load (kW) round differently
    rises = 0
    for i, h in enumerate(households):
        j = houses.uids.index(setup["feeder"]["houses"][h])
        without_hvac = total[:, j] - hvac[:, j]
        # THEN the house's load without its HVAC is its job power at every step (no plug loads in this feeder) ...
        assert np.all(np.abs(without_hvac - expected[i]) <= tol(expected[i])), h
        # ... and at each contract start the house's load rises by the job's power, in the step after the start
        for c in (c for c in map(Contract.from_dict, contracts) if c.house == h and 120.0 <= c.start_s < times[-1] - 120.0):
            before = int(np.searchsorted(times, np.floor(c.start_s / 60.0) * 60.0 - 60.0))
            after = before + 2
            rise = without_hvac[after] - without_hvac[before]
            job_rise = expected[i, after] - expected[i, before]
            own = float(np.diff(c.profile.at(np.array([times[after], times[after] + 60.0]) - c.start_s))[0]) * 0.06
            assert rise == pytest.approx(job_rise, abs=tol(job_rise)), (h, c.job_id)
            rises += own > 0.1
            # the raw total load rises too, unless the air conditioner switched off in those two minutes
            if abs(hvac[after, j] - hvac[before, j]) < 0.05:
                assert total[after, j] - total[before, j] == pytest.approx(job_rise, abs=tol(job_rise))
    assert rises >= 8
    # the PV the consumers measured is the inverters' output as the feeder's own metrics saw it
    inverters = load_if_present(d, "inverter")
    pv = json.loads((d / "neighbourhood_feeder_pv.json").read_text())
    inside = inverters.times < times[-1]
    for pid, inverter in setup["feeder"]["pv_inverters"].items():
        metered = inverters.column("real_power_avg")[inside, inverters.uids.index(inverter)].sum() * 60.0 / 3600.0
        measured = pv["production"][pid]["cumulative_wh"][-1]
        assert metered > 1000.0 and measured == pytest.approx(metered, rel=1e-6), pid
    f = record["feeder"]["totals"]
    assert f["production_wh"] == pytest.approx(sum(p["cumulative_wh"][-1] for p in pv["production"].values()))
    assert f["pv_wh"] + f["grid_wh"] == pytest.approx(record["totals"]["consumption_wh"], abs=1e-3)
    assert "feeder PV" in line and "predicted PV" in line
    # no contract starts before its consumer could have told the feeder (one step after it was agreed)
    assert all(c.start_s >= c.agreed_s + 60.0 - 1e-9 for c in map(Contract.from_dict, contracts))
    names = {p.name for p in plot_run(d)}
    assert {"neighbourhood_feeder_load.png", "neighbourhood_feeder_houses.png"} <= names
