"""Postprocess only reads the neighbourhood run record; the top layer joins the federates' parts into it first.

(issue 17 leftovers: figures and the report used to join the parts themselves through the federate core.)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from vppfed.federates.neighbourhood import protocol as p
from vppfed.formats.neighbourhood import RECORD_FILE, read_run_record
from vppfed.summaries.neighbourhood import join_run_records


def _parts(folder: Path) -> None:
    """The parts a co-simulated run leaves: one 1 kWh job of house 1 supplied by house 2's PV (2 kWh predicted)."""
    folder.mkdir(parents=True, exist_ok=True)
    job = {"id": "pv[2]:[9];j", "job_id": "j", "job_key": "j", "house": "1", "producer_id": "pv[2]:[9]",
           "start_s": 0.0, "agreed_s": 0.0, "energy_wh": 1000.0,
           "profile": {"times_s": [0.0, 3600.0], "cumulative_wh": [0.0, 1000.0]}}
    files = {
        p.CONTRACTS_FILE: {"contracts": [job], "failed": False},
        p.PRODUCERS_FILE: {"production": {"pv[2]:[9]": {"times_s": [0.0, 3600.0], "cumulative_wh": [0.0, 2000.0]}},
                           "producer_house": {"pv[2]:[9]": "2"}, "n_requests": 1, "n_accepted": 1},
        p.SCORES_PART: {"scores": {"pv[2]:[9]": 9.0}},
        p.SETUP_FILE: {"length_s": 3600.0, "houses": ["1", "2"], "optimizer": "milp", "seed": 0},
    }
    for name, doc in files.items():
        (folder / name).write_text(json.dumps(doc))


def test_join_writes_the_record_where_parts_are_and_postprocess_reads_it(tmp_path):
    # GIVEN a run folder and a batch sub-run with parts but no record, and a folder that is no neighbourhood run
    _parts(tmp_path / "run")
    _parts(tmp_path / "run" / "run_00")
    (tmp_path / "other").mkdir()
    assert read_run_record(tmp_path / "run") is None   # postprocess joins nothing itself
    # WHEN the top layer joins them
    join_run_records(tmp_path / "run")
    join_run_records(tmp_path / "other")
    # THEN the record is the one assemble_run_record computes, and the reader returns it as written
    expected = p.assemble_run_record(tmp_path / "run", write=False)
    for folder in (tmp_path / "run", tmp_path / "run" / "run_00"):
        assert read_run_record(folder) == json.loads(json.dumps(expected))
    assert read_run_record(tmp_path / "run")["totals"]["pv_wh"] == pytest.approx(1000.0)
    assert not list((tmp_path / "other").iterdir())
    # ... and an existing record is left as it is
    (tmp_path / "run" / RECORD_FILE).write_text('{"kept": 1}')
    join_run_records(tmp_path / "run")
    assert read_run_record(tmp_path / "run") == {"kept": 1}
    (tmp_path / "run" / RECORD_FILE).write_text("{not json")
    assert read_run_record(tmp_path / "run") is None


def test_report_key_figures_come_from_the_record(tmp_path):
    from vppfed.postprocess.report_data import RunData, _neighbourhood

    _parts(tmp_path)
    run = RunData(label="r", run_dir=tmp_path)
    run.families["neighbourhood"] = None
    assert _neighbourhood(run) == []          # parts alone: the report shows no neighbourhood figures
    join_run_records(tmp_path)
    figures = {f.name: f.value for f in _neighbourhood(run)}
    assert figures["self-consumption"] == pytest.approx(50.0)   # 1 of the 2 predicted kWh used
    assert np.isfinite(figures["PV share"])


def test_plot_and_report_commands_join_first(tmp_path, monkeypatch):
    from vppfed.commands import plot, report

    _parts(tmp_path / "a")
    _parts(tmp_path / "b")
    monkeypatch.setattr("vppfed.postprocess.figures.plot_run", lambda run_dir, out=None: [Path("x.png")])
    monkeypatch.setattr("vppfed.postprocess.report.build_report", lambda runs, out, labels: Path(__file__))
    plot.cmd_plot(argparse.Namespace(run_dir=tmp_path / "a", out=None))
    report.cmd_report(argparse.Namespace(runs=[tmp_path / "b"], out=None, labels=None))
    assert (tmp_path / "a" / RECORD_FILE).exists() and (tmp_path / "b" / RECORD_FILE).exists()
