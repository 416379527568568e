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


@pytest.mark.slow
def test_runs_write_one_file_per_run_and_a_summary(small, tmp_path):
    nb, _ = small
    summary = run_many(nb, RunSettings(optimizer="milp"), runs=2, seed=3, out_dir=tmp_path / "out")
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [SCORES_FILE, "run_000.json", "run_001.json", "settings.json", "summary.json"]
    assert summary["runs"] == 2 and len(summary["wall_s"]) == 2
    run = json.loads((tmp_path / "out" / "run_000.json").read_text())
    assert {c["job_key"] for c in run["contracts"]} | {c["job_key"] for c in run["pending_contracts"]} \
        == {j.key for j in nb.jobs}
    run_many(nb, RunSettings(optimizer="milp"), runs=1, seed=3, out_dir=tmp_path / "t", timings=True)
    assert len((tmp_path / "t" / "timings.jsonl").read_text().splitlines()) == 1


def test_same_seed_same_bytes(small, tmp_path):
    nb, _ = small
    for name in ("a", "b"):
        run_many(nb, RunSettings(optimizer="TNC", niter=3), runs=2, seed=8, out_dir=tmp_path / name)
    for name in ("run_000.json", "run_001.json", "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.slow
def test_scores_go_to_the_output_folder_and_are_read_back_only_when_given(small, tmp_path):
    nb, folder = small
    before = sorted(p.name for p in folder.rglob("*"))
    run_many(nb, RunSettings(optimizer="milp"), runs=1, seed=1, out_dir=tmp_path / "o1")
    after_first = ScoreBoard.load(tmp_path / "o1" / SCORES_FILE).scores
    assert after_first and any(v != 10.0 for v in after_first.values())
    record = json.loads((tmp_path / "o1" / "run_000.json").read_text())
    assert record["scores_after"] == after_first
    assert sorted(p.name for p in folder.rglob("*")) == before, "the neighbourhood folder is only read"
    # the same batch again: fresh scores again, the same bytes
    run_many(nb, RunSettings(optimizer="milp"), runs=1, seed=1, out_dir=tmp_path / "o1b")
    for name in ("run_000.json", "summary.json", "settings.json", SCORES_FILE):
        assert (tmp_path / "o1" / name).read_bytes() == (tmp_path / "o1b" / name).read_bytes(), name
    # told to: the batch starts from the earlier scores
    run_many(nb, RunSettings(optimizer="milp"), runs=1, seed=1, out_dir=tmp_path / "o2",
             initial_scores=tmp_path / "o1" / SCORES_FILE)
    assert json.loads((tmp_path / "o2" / "settings.json").read_text())["initial_scores"] == after_first
    assert ScoreBoard.load(tmp_path / "o2" / SCORES_FILE).scores != after_first


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
    assert set(run["solver_limits"]) == {"milp_solves", "exact_without_milp", "node_limit", "time_limit"}
    assert t["n_grid_contracts"] == sum(c["producer_id"] == GRID for c in run["contracts"])


def test_contracts_start_inside_their_windows_and_not_before_agreement(small):
    nb, _ = small
    result = simulate_run(nb, RunSettings(optimizer="SLSQP", niter=3), ScoreBoard(), seed=4)
    jobs = {j.key: j for j in nb.jobs}
    for c in result.contracts + result.pending:
        job = jobs[c.job_key]
        assert c.agreed_s <= c.start_s
        assert job.est_s <= c.start_s <= job.lst_s


def test_no_producers_means_every_job_goes_to_the_grid(small):
    nb, _ = small
    from dataclasses import replace
    result = simulate_run(replace(nb, producer_events=[]), RunSettings(), ScoreBoard(), seed=0)
    assert result.contracts and all(c.producer_id == GRID for c in result.contracts)


def test_run_settings_reject_unknown_optimiser_with_the_field_name():
    from vppfed.io import parse_dataclass
    from vppfed.errors import UserError
    with pytest.raises(UserError, match=r"case.yaml: neighbourhood.optimizer: must be one of"):
        parse_dataclass(RunSettings, {"optimizer": "genetic"}, "case.yaml: neighbourhood")


@pytest.mark.slow
def test_a_repeated_job_id_never_drops_a_job_from_a_producer(tmp_path):
    """GIVEN every job posted twice under the same id (as PySSMic's less_producers_test does) WHEN negotiated
    THEN every posted job ends with exactly one contract and a producer holds both jobs of an id."""
    from dataclasses import replace

    nb, _ = small_neighbourhood_in(tmp_path / "nb"), None
    twice = replace(nb, jobs=nb.jobs + [replace(j, key=f"{j.job_id}#2") for j in nb.jobs])
    for optimizer in ("milp", "TNC"):
        result = simulate_run(twice, RunSettings(optimizer=optimizer, niter=3), ScoreBoard(), seed=1)
        keys = sorted(c.job_key for c in result.contracts + result.pending)
        assert keys == sorted(j.key for j in twice.jobs), optimizer
        by_producer: dict = {}
        for c in result.contracts + result.pending:
            if c.producer_id != GRID:
                by_producer.setdefault((c.producer_id, c.job_id), []).append(c.job_key)
        assert any(len(v) == 2 for v in by_producer.values()), "some producer should hold both jobs of an id"
