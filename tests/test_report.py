"""The run report (``vppfed report``): key figures on full data, thinning, damaged runs, several runs, CLI.

The browser checks of the written page are in ``test_report_browser.py``; :func:`make_run` builds the synthetic
run folders both use (metrics written by the project's own :class:`MetricsWriter`, in the layout of a te30 run).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vppfed.cli import main
from vppfed.federates.metrics import MetricsWriter
from vppfed.postprocess.report import build_report, write_run_report
from vppfed.postprocess.report_data import load_run
from vppfed.postprocess.report_figures import MAX_POINTS, thin

HOUSE_COLUMNS = [("total_load_avg", "kW"), ("hvac_load_avg", "kW"), ("air_temperature_min", "degF"),
                 ("air_temperature_max", "degF"), ("air_temperature_avg", "degF"),
                 ("air_temperature_setpoint_cooling", "degF"), ("air_temperature_setpoint_heating", "degF")]
START = "2013-07-01 00:00:00 PDT"


def make_run(run_dir: Path, *, hours: float = 2.0, step_s: int = 300, houses: int = 4, feeder_kw: float = 100.0,
             spike_at: int | None = None, finished: bool = True) -> Path:
    """A run folder as ``vppfed run te30`` leaves it: case.yaml, runner.json, summary.json, logs and metrics of the
    substation, houses, bus (LMP) and the bulk system (convergence). ``spike_at``: index of a one-sample 10x
    feeder spike (to check that key figures use the full data)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    times = np.arange(step_s, int(hours * 3600) + 1, step_s)
    (run_dir / "case.yaml").write_text(f"case: {{name: synth, hours: {hours}, seed: 3, start: '2013-07-01 00:00:00', "
                                       f"description: synthetic run}}\n", encoding="utf-8")
    feds = [{"name": "gld_7", "exec": "python -m vppfed.federates.feeder --config x.json"},
            {"name": "pypower", "exec": "python -m vppfed.federates.bulk --config y.json"}]
    (run_dir / "runner.json").write_text(json.dumps({"name": "synth", "federates": feds}), encoding="utf-8")
    (run_dir / "gld_7.log").write_text("INFO all good\nWARNING feeder: voltage low at node 12\n", encoding="utf-8")
    (run_dir / "pypower.log").write_text("INFO solved\n", encoding="utf-8")
    if finished:
        (run_dir / ".vppfed").mkdir(exist_ok=True)
        summary = {"ok": True, "wall_seconds": 12.5, "simulated_seconds": hours * 3600, "stop_seconds": hours * 3600,
                   "federates": [{"name": f["name"], "status": "ok", "returncode": 0, "wall_s": 12.0,
                                  "log": str(run_dir / f"{f['name']}.log")} for f in feds],
                   "failed": None, "reason": "", "port": 1}
        (run_dir / ".vppfed" / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    phase = 2 * np.pi * times / 86400.0
    sub = MetricsWriter(run_dir, "substation", "SYN", [("real_power_max", "W"), ("real_power_avg", "W"),
                                                        ("real_power_losses_avg", "W")], START)
    house = MetricsWriter(run_dir, "house", "SYN", HOUSE_COLUMNS, START)
    bus = MetricsWriter(run_dir, "bus", "SYN", [("LMP_P", "USD/kwh"), ("Vmag", "pu")], START)
    sysm = MetricsWriter(run_dir, "sys", "SYN", [("Ploss", "MW"), ("Converged", "")], START)
    for i, t in enumerate(times):
        kw = feeder_kw * (1.0 + 0.3 * np.sin(phase[i])) * (10.0 if i == spike_at else 1.0)
        sub.write(t, {"network_node": [kw * 1100.0, kw * 1000.0, kw * 20.0]})
        house.write(t, {f"house_{h}": [2.0 + h, 1.0 + h, 74.0 + h - 0.5, 74.5 + h, 74.0 + h, 76.0, 68.0]
                        for h in range(houses)})
        bus.write(t, {"7": [0.02 + 0.01 * np.sin(phase[i]), 1.0]})
        sysm.write(t, {"1": [0.5, 0 if i == 3 else 1]})
    for writer in (sub, house, bus, sysm):
        writer.close()
    return run_dir


# --------------------------------------------------------------------------------------------- key figures
def test_key_figures_use_the_full_data_while_charts_thin(tmp_path: Path) -> None:
    # GIVEN a week at 60 s (10 080 samples) with one 10x spike of the feeder load
    run_dir = make_run(tmp_path / "long", hours=168, step_s=60, houses=2, spike_at=5003)
    # WHEN it is read for the report
    run = load_run(run_dir)
    figures = {(k.area, k.name): k.value for k in run.key_figures}
    # THEN the peak is the spike (from the full data), the energy the integral of the interval means,
    peak = figures[("feeder", "peak real power")]
    expected = 100.0 * (1 + 0.3 * np.sin(2 * np.pi * 5004 * 60 / 86400.0)) * 10 * 1.1
    assert peak == pytest.approx(expected, rel=1e-6)
    m = run.families["substation"]
    assert figures[("feeder", "energy")] == pytest.approx(np.sum(m.column("real_power_avg")) / 1000 / 60, rel=1e-6)
    assert figures[("bulk grid", "non-converged power flows")] == 1
    assert figures[("bulk grid", "LMP max")] == pytest.approx(30.0, abs=0.01)
    # houses 0 and 1 sit at 74 and 75 degF (cooling 76 + 2): never outside the band
    assert figures[("houses", "hours outside comfort band")] == 0
    # AND the thinned chart series keeps the spike but has at most MAX_POINTS points
    x, y = thin(m.hours(), m.column("real_power_avg")[:, 0])
    assert len(x) <= MAX_POINTS < len(m.times)
    assert np.nanmax(y) == np.nanmax(m.column("real_power_avg"))
    assert np.all(np.diff(x) > 0)


def test_hours_outside_comfort_band_counts_each_house_interval(tmp_path: Path) -> None:
    # house_3 is at 77 degF: 1 degF over the cooling set point 76, inside the 2 degF margin; house_5 at 79 is out
    run = load_run(make_run(tmp_path / "r", hours=2, houses=6))
    figures = {(k.area, k.name): k.value for k in run.key_figures}
    assert figures[("houses", "hours outside comfort band")] == pytest.approx(2.0)
    assert figures[("houses", "air temperature max")] == pytest.approx(79.5)


# --------------------------------------------------------------------------------------------- the page
def test_report_of_one_run_is_self_contained(tmp_path: Path) -> None:
    out = build_report([make_run(tmp_path / "r")], tmp_path / "r.html")
    page = out.read_text(encoding="utf-8")
    assert "<script src=" not in page and "https://" not in page.split("Bokeh", 1)[0]
    assert "cdn.bokeh.org" not in page
    assert "synthetic run" in page and "finished" in page
    assert "WARNING feeder: voltage low at node 12" in page       # a warning line of a federate log
    assert "peak real power" in page and "hours outside comfort band" in page
    assert 1.0e6 < out.stat().st_size < 2.5e6                      # Bokeh core + widgets, no MathJax


def test_damaged_run_says_what_is_missing(tmp_path: Path) -> None:
    # GIVEN a run killed mid-write: no summary, the house file cut mid-line, a binary bus file, an empty sys file
    run_dir = make_run(tmp_path / "bad", finished=False)
    house = run_dir / "house_SYN_metrics.json"
    text = house.read_bytes()
    house.write_bytes(text[: len(text) - 150])
    (run_dir / "bus_SYN_metrics.json").write_bytes(b"\x89PNG\x00\xff garbage")
    (run_dir / "sys_SYN_metrics.json").write_text("", encoding="utf-8")
    (run_dir / "case.yaml").write_text("case: [unclosed", encoding="utf-8")
    # WHEN the report is written
    out = build_report([run_dir], tmp_path / "bad.html")
    page = out.read_text(encoding="utf-8")
    # THEN it names each missing piece
    assert "no .vppfed/summary.json" in page
    assert "house_SYN_metrics.json: file cut short" in page
    assert "bus_SYN_metrics.json: unreadable" in page
    assert "sys_SYN_metrics.json: unreadable" in page
    assert "case.yaml: unreadable" in page
    assert "metrics up to" in page                                 # how far the partial run got
    # AND still has the charts of what is readable
    assert "Feeder real power" in page and "House air temperature" in page


def test_folder_with_no_run_gives_a_report_and_no_charts(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    page = build_report([tmp_path / "empty"], tmp_path / "e.html").read_text(encoding="utf-8")
    assert "no-charts" in page and "no case.yaml" in page


def test_write_run_report_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_dir = make_run(tmp_path / "r")
    assert write_run_report(run_dir) == run_dir / "report.html"
    (run_dir / "report.html").unlink()
    (run_dir / "report.html").mkdir()                 # cannot be written: a warning, no exception
    assert write_run_report(run_dir) is None
    assert "no report written" in caplog.text


def test_run_report_of_seeded_repetitions_compares_them(tmp_path: Path) -> None:
    for i, kw in enumerate((100.0, 120.0)):
        make_run(tmp_path / "batch" / f"run_{i:02d}", feeder_kw=kw)
    page = write_run_report(tmp_path / "batch")
    assert page == tmp_path / "batch" / "report.html"
    assert "run_01 - run_00" in page.read_text(encoding="utf-8")


def test_several_runs_share_axes_and_list_differences(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", feeder_kw=100.0)
    more = make_run(tmp_path / "more", feeder_kw=150.0, hours=3)
    page = build_report([base, more], tmp_path / "cmp.html", ["base", "more"]).read_text(encoding="utf-8")
    assert "more - base" in page
    run_a, run_b = load_run(base), load_run(more)
    peak = {r.label: next(k.value for k in r.key_figures if k.name == "peak real power") for r in (run_a, run_b)}
    assert f"{peak['more'] - peak['base']:.3g}" in page
    assert "base: total" in page and "more: total" in page     # both runs' lines in one chart


# --------------------------------------------------------------------------------------------- CLI
def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    assert main(["report", str(a)]) == 0
    assert (a / "report.html").exists()
    assert main(["report", str(a), str(b), "--labels", "x,y", "--out", str(tmp_path / "c.html")]) == 0
    assert (tmp_path / "c.html").exists()
    assert main(["report", str(a), str(b), "--labels", "x", "--out", str(tmp_path / "d.html")]) == 2
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "--labels: 1 labels for 2 runs" in err and "nope: not a folder" in err
