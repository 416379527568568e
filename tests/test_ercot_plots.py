"""Figures of a multi-feeder run: the DC flow estimate, the figures on synthetic metrics, and the scaling curves."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vppfed.configs.bulk_ercot8 import Ercot8Params, build_ercot8_dict, write_ercot8_model
from vppfed.federates.metrics import MetricsWriter
from vppfed.postprocess.ercot_plots import dc_flows, is_multi_feeder_run, plot_run, plot_scaling, read_bench


def test_dc_flows_balance_every_bus_and_follow_reactances():
    # GIVEN 1000 MW injected at bus 6 and taken at bus 3 (the swing bus) WHEN solved THEN every non-swing bus is
    # balanced and the flows leaving bus 6 add up to 1000 MW
    pp = build_ercot8_dict(Ercot8Params(), None)
    ends, flows = dc_flows(pp, {6: 1000.0, 3: -1000.0})
    net = {b: 0.0 for b in range(1, 9)}
    for (a, b), f in zip(ends, flows):
        net[a] -= f
        net[b] += f
    for bus in (1, 2, 4, 5, 6, 7, 8):
        expected = -1000.0 if bus == 6 else 0.0
        assert net[bus] == pytest.approx(expected, abs=1e-6)
    assert net[3] == pytest.approx(1000.0, abs=1e-6)
    # bus 7 is a dead end: nothing flows on its corridor
    assert all(abs(f) < 1e-6 for (a, b), f in zip(ends, flows) if 7 in (a, b))


def synthetic_run(run_dir: Path, buses=(2, 3)) -> None:
    """Metrics files of a 2-bus, 2 h multi-feeder run (numbers made up, layout real)."""
    params = Ercot8Params(hours=2, feeder_buses=list(buses))
    write_ercot8_model(params, run_dir)
    doc = json.loads((run_dir / "ercot8_pp.json").read_text())
    start = "2013-07-01 00:00:00"
    times = range(0, 7201, 300)
    bus = MetricsWriter(run_dir, "bus", "ercot8", [("LMP_P", "USD/kwh"), ("PD", "MW"), ("Vang", "deg")], start)
    gen = MetricsWriter(run_dir, "gen", "ercot8", [("Pgen", "MW"), ("Qgen", "MVAR"), ("LMP_P", "USD/kwh")], start)
    for t in times:
        bus.write(t, {str(b): [0.03 + 0.001 * b, 1000.0 * b, 0.0] for b in buses})
        gen.write(t, {str(i + 1): [float(g[9] + 1.0), 0.0, 0.03] for i, g in enumerate(doc["gen"])})
    bus.close()
    gen.close()
    gens = {str(i + 1): {"genfuel": f[0], "gentype": "generator"} for i, f in enumerate(doc["genfuel"])}
    (run_dir / "model_dict.json").write_text(json.dumps({"generators": gens}))
    for b in buses:
        folder = run_dir / f"Bus{b}"
        folder.mkdir()
        sub = MetricsWriter(folder, "substation", f"Bus{b}", [("real_power_avg", "W")], start + " CDT")
        for t in times:
            sub.write(t, {"network_node": [20000.0 + 10.0 * t]})
        sub.close()


@pytest.mark.slow  # four PNG+PDF figures: several seconds on a busy 2-core machine
def test_plot_run_draws_the_multi_feeder_figures(tmp_path):
    synthetic_run(tmp_path)
    assert is_multi_feeder_run(tmp_path)
    written = plot_run(tmp_path, tmp_path / "figs")
    stems = sorted({p.stem for p in written})
    assert stems == ["ercot_bus_diagram", "ercot_feeder_load", "ercot_generation_by_fuel", "ercot_lmp_by_bus"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_plot_run_ignores_other_runs(tmp_path):
    (tmp_path / "bus_te30_metrics.json").write_text("{}")
    assert plot_run(tmp_path, tmp_path / "figs") == []


@pytest.mark.slow
def test_scaling_curves_from_benchmark_lines(tmp_path):
    rows = []
    for layout in ("groups", "root"):
        for f in (1, 2, 4, 8):
            for h in ((5, 10) if layout == "groups" else (10,)):
                rows.append({"figure": "ercot_scaling", "feeders": f, "houses_per_feeder": h, "layout": layout,
                             "profiled": False, "ok": True, "wall_s_per_sim_h": 0.5 * f * (1 + h / 10)})
    rows.append({"figure": "ercot_scaling", "feeders": 2, "houses_per_feeder": 10, "layout": "groups",
                 "profiled": True, "ok": True, "wall_s_per_sim_h": 3.0, "helics_wait_share": 0.4,
                 "helics_call_share": 0.02, "broker_cpu_share": 0.1})
    path = tmp_path / "bench_ercot.jsonl"
    path.write_text("not json\n" + "\n".join(json.dumps(r) for r in rows) + "\n")
    assert len(read_bench([path])) == len(rows)
    written = plot_scaling(read_bench([path]), tmp_path / "figs")
    assert {p.name for p in written} == {"ercot_scaling.png", "ercot_scaling.pdf"}
    # plot_run finds the benchmark output in a folder too
    assert {p.name for p in plot_run(tmp_path, tmp_path / "figs2")} == {"ercot_scaling.png", "ercot_scaling.pdf"}
    assert plot_scaling([], tmp_path / "none") == []
