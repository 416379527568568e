"""Repeated seeded runs: files per run, reproducibility, persisted scores and physically consistent metrics."""
from __future__ import annotations

import json

import pytest

from vppfed.federates.neighbourhood.model import GRID
from vppfed.federates.neighbourhood.negotiation import SCORES_FILE, ScoreBoard
from vppfed.federates.neighbourhood.runs import run_many
from vppfed.federates.neighbourhood.simulation import RunSettings, simulate_run

from neighbourhood_helpers import small_neighbourhood_in


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nb")
    return small_neighbourhood_in(folder), folder


def test_runs_write_one_file_per_run_and_a_summary(small, tmp_path):
    nb, _ = small
    summary = run_many(nb, RunSettings(optimizer="milp"), runs=2, seed=3, out_dir=tmp_path / "out")
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["run_000.json", "run_001.json", "settings.json", "summary.json", "timings.jsonl"]
    assert summary["runs"] == 2 and len((tmp_path / "out" / "timings.jsonl").read_text().splitlines()) == 2
    run = json.loads((tmp_path / "out" / "run_000.json").read_text())
    assert {c["job_id"] for c in run["contracts"]} | {c["job_id"] for c in run["pending_contracts"]} \
        == {j.job_id for j in nb.jobs}


def test_same_seed_same_bytes(small, tmp_path):
    nb, _ = small
    for name in ("a", "b"):
        run_many(nb, RunSettings(optimizer="TNC", niter=3), runs=2, seed=8, out_dir=tmp_path / name)
    for name in ("run_000.json", "run_001.json", "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_scores_persist_in_the_neighbourhood_folder_between_runs(small, tmp_path):
    nb, folder = small
    path = folder / SCORES_FILE
    run_many(nb, RunSettings(optimizer="milp"), runs=1, seed=1, out_dir=tmp_path / "o1", scores_path=path,
             reset_scores=True)
    after_first = ScoreBoard.load(path).scores
    assert after_first and any(v != 10.0 for v in after_first.values())
    record = json.loads((tmp_path / "o1" / "run_000.json").read_text())
    assert record["scores_after"] == after_first
    run_many(nb, RunSettings(optimizer="milp"), runs=1, seed=1, out_dir=tmp_path / "o2", scores_path=path)
    assert ScoreBoard.load(path).scores != after_first, "the second batch must start from the saved scores"


def test_metrics_are_physically_consistent(small, tmp_path):
    nb, _ = small
    run_many(nb, RunSettings(optimizer="milp"), runs=1, seed=2, out_dir=tmp_path / "m")
    run = json.loads((tmp_path / "m" / "run_000.json").read_text())
    t = run["totals"]
    assert t["pv_wh"] + t["grid_wh"] == pytest.approx(t["consumption_wh"], abs=1e-3)
    assert 0.0 <= t["pv_wh"] <= t["production_wh"] + 1e-6
    assert 0.0 <= t["self_consumption"] <= 1.0 and 0.0 <= t["self_sufficiency"] <= 1.0
    assert t["pv_contract_wh"] + t["grid_contract_wh"] == pytest.approx(t["consumption_wh"], abs=1e-3)
    assert sum(h["consumption_wh"] for h in run["houses"].values()) == pytest.approx(t["consumption_wh"], abs=1e-3)
    assert sum(h["pv_wh"] for h in run["houses"].values()) == pytest.approx(t["pv_wh"], abs=1e-3)
    assert sum(run["profiles"]["pv_wh"]) <= t["pv_wh"] + 1e-3
    assert t["n_contracts"] == len(run["contracts"])
    assert t["n_grid_contracts"] == sum(c["producer_id"] == GRID for c in run["contracts"])


def test_contracts_start_inside_their_windows_and_not_before_agreement(small):
    nb, _ = small
    result = simulate_run(nb, RunSettings(optimizer="SLSQP", niter=3), ScoreBoard(), seed=4)
    jobs = {j.job_id: j for j in nb.jobs}
    for c in result.contracts + result.pending:
        job = jobs[c.job_id]
        assert c.agreed_s <= c.start_s
        assert job.est_s <= c.start_s <= job.lst_s


def test_no_producers_means_every_job_goes_to_the_grid(small):
    nb, _ = small
    from dataclasses import replace
    result = simulate_run(replace(nb, producer_events=[]), RunSettings(), ScoreBoard(), seed=0)
    assert result.contracts and all(c.producer_id == GRID for c in result.contracts)


def test_run_settings_reject_unknown_optimiser_with_the_field_name():
    from vppfed.configs.validate import parse_dataclass
    from vppfed.errors import UserError
    with pytest.raises(UserError, match=r"case.yaml: neighbourhood.optimizer: must be one of"):
        parse_dataclass(RunSettings, {"optimizer": "genetic"}, "case.yaml: neighbourhood")
