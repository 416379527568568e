"""Reading an agile-VPP run folder (the federates' metrics) and drawing its figures, on a small folder written here
with the federates' own metrics layout (the HELICS runs that write real ones are in test_agile_helics.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vppfed.cli import main
from vppfed.federates.agile.adapter import AGGREGATOR_COLUMNS, UNIT_COLUMNS, VIEW_COLUMNS
from vppfed.federates.metrics import MetricsWriter
from vppfed.postprocess.agile_plots import plot_run
from vppfed.postprocess.agile_run import load_agile_run, tracking_stats

STEP = 60
UNITS = ("Bkt-1", "Bat-1", "Bak-1")
LIMITS = {"Bkt-1": (-1.0, 1.0, -2.0, 2.0), "Bat-1": (0.0, 1.0, 0.0, 3.0), "Bak-1": (0.0, 1.0, 0.0, 2.0)}


def write_run(folder: Path, view_offset: float = 0.0, e_bat: float = 0.0) -> None:
    """Four steps; signal 1, 2, 0, -1; the units deliver 1, 2, 0, -0.5; host 0 has the bucket, host 1 the rest."""
    signal = [1.0, 2.0, 0.0, -1.0]
    p = {"Bkt-1": [0.0, 0.0, 0.0, -0.5], "Bat-1": [1.0, 1.0, 0.0, 0.0], "Bak-1": [0.0, 1.0, 0.0, 0.0]}
    e = {"Bkt-1": [0.0, 0.0, 0.0, 0.0], "Bat-1": [e_bat, 1.0, 2.0, 2.0], "Bak-1": [0.0, 0.0, 1.0, 1.0]}
    start = "2013-07-01 16:00:00 PDT"
    agg = MetricsWriter(folder, "vpp", "t", AGGREGATOR_COLUMNS, start)
    view = MetricsWriter(folder, "vppview", "t", VIEW_COLUMNS, start)
    hosts = [MetricsWriter(folder, "vppunit", f"t_host{h}", UNIT_COLUMNS, start) for h in (0, 1)]
    for k in range(1, 5):
        t = (k - 1) * STEP
        agg.write(t, {"vpp": [k, STEP, STEP / 3600, signal[k - 1], 0, 0, -1.0, 2.0, 3, 0, 0, 3, 0]})
        view.write(t, {u: [k, e[u][k - 1] + view_offset, p[u][k - 1], 1, 1] for u in UNITS})
        for h, units in ((0, ["Bkt-1"]), (1, ["Bat-1", "Bak-1"])):
            hosts[h].write(t, {u: [k, p[u][k - 1], e[u][k - 1], p[u][k - 1], 1, *LIMITS[u]] for u in units})
    for w in [agg, view, *hosts]:
        w.close()


def test_run_folder_reads_into_aligned_arrays_and_tracking_statistics(tmp_path):
    write_run(tmp_path)
    run = load_agile_run(tmp_path)
    assert run.units == ["Bak-1", "Bat-1", "Bkt-1"]                 # natural order without a params file
    assert run.steps == 4 and run.step_s == STEP and not run.abstract_steps
    assert np.allclose(run.hours, [0, 1 / 60, 2 / 60, 3 / 60])
    assert np.allclose(run.delivered, [1.0, 2.0, 0.0, -0.5])
    st = tracking_stats(run)
    assert st.mean_abs_error == pytest.approx(0.125) and st.max_abs_error == pytest.approx(0.5)
    assert st.feasible_steps == 4 and st.within_limits and st.worst_excess == 0.0


def test_a_unit_outside_its_limits_is_reported(tmp_path):
    write_run(tmp_path, e_bat=3.25)                                  # Bat-1 above its Emax of 3 at step 1
    st = tracking_stats(load_agile_run(tmp_path))
    assert not st.within_limits and st.worst_excess == pytest.approx(0.25)


def test_folder_without_vpp_metrics_gives_no_run_and_no_figures(tmp_path):
    assert load_agile_run(tmp_path) is None
    assert plot_run(tmp_path, tmp_path / "fig") == []


@pytest.mark.slow
@pytest.mark.parametrize("offset, figures", [(0.0, 3), (0.2, 4)])
def test_plot_run_draws_the_agile_figures_and_the_views_only_when_they_differ(tmp_path, offset, figures):
    write_run(tmp_path, view_offset=offset)
    written = plot_run(tmp_path, tmp_path / "fig")
    names = sorted(p.name for p in written if p.suffix == ".png")
    expected = ["agile_tracking.png", "agile_type_stack.png", "agile_unit_energy.png"]
    assert names == sorted(expected + (["agile_views.png"] if figures == 4 else []))
    assert all(p.stat().st_size > 5000 for p in written)
    assert len([p for p in written if p.suffix == ".pdf"]) == figures


def test_vppfed_plot_command_finds_the_agile_figures(tmp_path, capsys):
    write_run(tmp_path)
    assert main(["plot", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # every agile figure (the views equal the truth here, so no views figure) is written beside the run and named
    for name in ("agile_tracking", "agile_type_stack", "agile_unit_energy"):
        for ext in ("png", "pdf"):
            assert (tmp_path / "figures" / f"{name}.{ext}").stat().st_size > 1000
        assert f"{name}.png" in out
    assert not (tmp_path / "figures" / "agile_views.png").exists() and "agile_views" not in out
