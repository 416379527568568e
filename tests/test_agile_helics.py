"""The agile VPP federates over real HELICS (lead's launcher): the same results as the in-process network
simulation, a signal taken from the feeder's publication, and the VPP dispatching the devices of a GridLAB-D feeder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vppfed.configs.case import build_case
from vppfed.federates.agile.link import LinkConfig
from vppfed.federates.agile.netsim import run_network
from vppfed.federates.agile.portfolio import read_params_csv
from vppfed.federates.agile.signal import read_signal_csv
from vppfed.federates.agile.simulate import simulate
from vppfed.launcher import Launcher
from vppfed.postprocess.agile_plots import plot_run
from vppfed.postprocess.agile_run import feasible_steps, load_agile_run, tracking_stats
from vppfed.formats.metrics import load_if_present

CASES = Path(__file__).resolve().parents[1] / "cases"


def run_case(description, folder: Path, overrides: dict | None = None, timeout: float = 300):
    built = build_case(description, folder, overrides=overrides or {})
    summary = Launcher(built.runner, timeout=timeout).run()
    assert summary.ok, summary.table()
    return built


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["agile-phase1", "agile-phase3"])
def test_helics_run_equals_the_in_process_network(tmp_path, phase):
    # the phase cases draw their portfolio and signal (no reference data needed)
    built = run_case(CASES / phase / "case.yaml", tmp_path / phase, {"case.hours": 0.5})
    p = read_params_csv(built.directory / "vpp_params.csv")
    sig = read_signal_csv(built.directory / "vpp_signal.csv")
    steps = 50  # 0.5 h of 36 s steps
    run = load_agile_run(built.directory)
    assert run is not None and run.units == list(p.names) and run.steps == steps
    assert run.start_time == "2013-07-01 00:00:00 PDT"
    raw = json.loads((built.directory / "runner.json").read_text())
    agg_exec = next(f["exec"] for f in raw["federates"] if f["name"] == "vpp_aggregator").split()
    seed = int(agg_exec[agg_exec.index("--seed") + 1])
    if phase == "agile-phase1":
        expected = simulate(p, sig[:steps], rules="strict", record_units=True)
        view = expected.energy
    else:
        expected = run_network(p, sig[:steps], hosts=3, seed=seed, uplink=LinkConfig(0.3, 1, 1),
                               downlink=LinkConfig(0.3, 0, 1))
        view = expected.view_energy
    assert np.array_equal(run.unit["P"], expected.power) and np.array_equal(run.unit["E"], expected.energy)
    assert np.array_equal(run.view["E"], view)                      # the aggregator's view, step by step
    assert np.array_equal(run.agg["signal"], sig[:steps])
    names = {f.name for f in plot_run(built.directory, tmp_path / "fig") if f.suffix == ".png"}
    views = {"agile_views.png"} if phase == "agile-phase3" else set()   # a perfect network has nothing to show
    assert names == {"agile_tracking.png", "agile_type_stack.png", "agile_unit_energy.png"} | views


@pytest.mark.slow
def test_signal_follows_the_feeders_distribution_load(tmp_path):
    # GIVEN a small feeder whose substation load is recorded every 15 s and a VPP told to follow
    # 20 kW - (feeder load - its own power)
    params = tmp_path / "params.csv"
    params.write_text("Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun\nBkt-1,0,0,5,-5,50,-50,-1,-1\n"
                      "Bat-1,0,0,2,0,40,0,30,-1\n", encoding="utf-8")
    raw = {"case": {"name": "follow", "start": "2013-07-01 16:00:00", "hours": 0.25, "seed": 2, "period_s": 15,
                    "metrics_interval_s": 15},
           "feeder": {"houses": 3, "pv_fraction": 0.0, "metrics_sample_s": 15},
           "vpp": {"params": str(params), "step_s": 60, "ts_h": 60 / 3600,
                   "signal_input": {"target": "feeder", "type": "complex", "part": "real", "scale": -0.001,
                                    "offset": 20.0, "add_own": True, "initial": 1.5}}}
    # WHEN it runs over HELICS
    built = run_case(raw, tmp_path / "run")
    run = load_agile_run(built.directory)
    load = load_if_present(built.directory, "substation")
    load_w = dict(zip(load.times.tolist(), load.column("real_power_avg")[:, 0]))
    # THEN the signal of step k is 20 - load((k-1) * 60 s) / 1000 + the VPP's planned power of step k-1
    sig, planned = run.agg["signal"], run.agg["planned"]
    assert run.steps == 15 and sig[0] == 1.5                      # nothing published before the first step
    expected = [20.0 - load_w[(k - 1) * 60] / 1000.0 + planned[k - 2] for k in range(2, 16)]
    assert np.allclose(sig[1:], expected, rtol=0, atol=1e-6)
    assert np.ptp(sig[1:]) > 0.1                                   # the load moved, and the signal with it


@pytest.mark.slow
def test_vpp_feeder_units_track_the_signal_and_stay_within_their_limits(tmp_path):
    # GIVEN the vpp-feeder case over its first 1.5 h (90 steps of 60 s; the first EVs arrive after 17:00)
    built = run_case(CASES / "vpp-feeder" / "case.yaml", tmp_path / "vf", {"case.hours": 1.5}, timeout=600)
    run = load_agile_run(built.directory)
    st = tracking_stats(run)
    # THEN no unit ever left its power or energy limits (real energies read from GridLAB-D)
    assert st.within_limits, st
    # AND on every step whose signal was feasible (and the aggregator knew which EVs were home) the measured power
    # of the devices followed it within 0.05 kW + 3 % of the water heaters' boost power (their 4.5 kW elements draw
    # 4.39-4.48 kW at the feeder's voltage, measured), and the large majority of steps were feasible
    sig, delivered = run.agg["signal"], run.delivered
    feasible = feasible_steps(run)
    boost = np.sum(run.unit["P"][:, run.kind_mask("Bak")], axis=1)
    assert feasible.sum() >= 0.8 * run.steps
    assert np.all(np.abs(sig - delivered)[feasible] <= 0.05 + 0.03 * boost[feasible])
    # AND every device type took part: boosts ran, batteries moved, an EV charged after coming home
    for prefix in ("Bkt", "Bat", "Bak"):
        assert np.nanmax(np.abs(run.unit["P_meas"][:, run.kind_mask(prefix)])) > 1.0, prefix
    ev = run.kind_mask("Bat")
    assert np.any(run.unit["avail"][:, ev] == 0) and np.any(run.unit["avail"][-1, ev] == 1)
