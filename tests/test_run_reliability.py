"""Whole-run reliability through the CLI: a grid whose power flows fail is a failed run, named and counted."""
from __future__ import annotations

import json

import pytest

from vppfed.cli import main


@pytest.mark.slow
def test_a_grid_whose_power_flows_do_not_converge_fails_the_run_naming_the_bus_federate(tmp_path, capsys):
    # GIVEN te30 with its background load scaled far past what the 9-bus grid can carry
    out = tmp_path / "run"
    # WHEN run for half an hour
    code = main(["run", "te30", "--hours", "0.5", "--set", "bulk.scale=100000", "--out", str(out), "--no-progress"])
    # THEN it fails (not "ok"), naming pypower, the count and the first time, in the message and in summary.json
    err = capsys.readouterr().err
    assert code == 1
    first = err.strip().splitlines()[0]
    assert "'pypower'" in first and "power flows did not converge" in first and "the first at t=" in first
    summary = json.loads((out / ".vppfed" / "summary.json").read_text())
    assert summary["failed"] == "pypower" and not summary["ok"]
    report = summary["reports"]["pypower"]
    assert report["pf_nonconverged"] > 0 and report["first_nonconverged_s"] is not None


@pytest.mark.slow
def test_a_run_counts_non_converged_power_flows_below_the_limit(tmp_path):
    # GIVEN the same grid with the limit raised to every flow WHEN run THEN it finishes and the summary counts them
    out = tmp_path / "run"
    code = main(["run", "te30", "--hours", "0.25", "--set", "bulk.scale=100000", "--set",
                 "bulk.max_nonconverged_share=1", "--out", str(out), "--no-progress"])
    assert code == 0
    report = json.loads((out / ".vppfed" / "summary.json").read_text())["reports"]["pypower"]
    assert report["pf_nonconverged"] > 0 and "did not converge" in report["say"]
