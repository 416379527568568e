"""Neighbourhood as HELICS federates: the case builds, negotiates in co-simulation time and leaves a run record."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vppfed.configs.case import build_case
from vppfed.federates.neighbourhood.inputs import load_neighbourhood
from vppfed.errors import UserError

CASES = Path(__file__).resolve().parents[1] / "cases"


def _description(tmp_path: Path, optimizer: str = "milp") -> dict:
    return {
        "case": {"name": "nbtest", "root": "NBT", "start": "2016-04-10 00:00:00", "timezone": "UTC0", "hours": 24,
                 "seed": 2, "period_s": 60, "metrics_interval_s": 3600, "market_period_s": 3600},
        "neighbourhood": {"optimizer": optimizer, "generate": {"name": "t", "seed": 3, "houses": 4}},
    }


def test_case_builds_three_federates_with_one_endpoint_per_household_and_producer(tmp_path):
    built = build_case(_description(tmp_path), tmp_path / "case")
    assert [f.name for f in built.federates] == ["nb_manager", "nb_producers", "nb_consumers"]
    nb = load_neighbourhood(built.directory / "neighbourhood")
    consumers = json.loads((built.directory / "NBT_nb_consumers.json").read_text())
    producers = json.loads((built.directory / "NBT_nb_producers.json").read_text())
    assert len(consumers["endpoints"]) == len(nb.house_ids())
    assert len(producers["endpoints"]) == len({e.producer_id for e in nb.producer_events})
    setup = json.loads((built.directory / "neighbourhood_setup.json").read_text())
    assert setup["settings"]["length_s"] == 24 * 3600 and setup["seed"] == 2


def test_section_errors_name_the_field(tmp_path):
    desc = _description(tmp_path)
    desc["neighbourhood"]["optimizer"] = "genetic"
    with pytest.raises(UserError, match=r"neighbourhood.optimizer: must be one of"):
        build_case(desc, tmp_path / "bad")
    desc = _description(tmp_path)
    desc["neighbourhood"]["folder"] = str(tmp_path / "missing")
    desc["neighbourhood"]["generate"] = None
    with pytest.raises(UserError, match=r"neighbourhood.folder: .*missing is not a folder"):
        build_case(desc, tmp_path / "bad2")


def test_builtin_case_accepts_runs_and_optimizer_overrides(tmp_path):
    built = build_case(CASES / "neighbourhood" / "case.yaml", tmp_path / "c",
                       overrides={"neighbourhood.optimizer": "TNC", "case.seed": 5})
    setup = json.loads((built.directory / "neighbourhood_setup.json").read_text())
    assert setup["optimizer"] == "TNC" and setup["seed"] == 5


@pytest.mark.slow
def test_helics_negotiation_gives_every_job_a_contract_and_leaves_scores_in_the_run_folder(tmp_path):
    from vppfed.summaries.neighbourhood import summarize
    from vppfed.launcher import Launcher

    built = build_case(_description(tmp_path), tmp_path / "run")
    summary = Launcher(built.runner, timeout=240).run()
    assert summary.ok, summary.table()
    line = summarize(built.directory)
    assert line and line.startswith("neighbourhood (milp): self-consumption")
    record = json.loads((built.directory / "neighbourhood_run.json").read_text())
    nb = load_neighbourhood(built.directory / "neighbourhood")
    jobs = {j.key: j for j in nb.jobs}
    contracts = record["contracts"] + record["pending_contracts"]
    assert sorted(c["job_key"] for c in contracts) == sorted(jobs)
    for c in contracts:
        job = jobs[c["job_key"]]
        # negotiation happens in co-simulation time: agreed after the job was posted, started inside its window
        assert job.reg_time_s < c["agreed_s"] <= c["start_s"] + 1e-9
        assert job.est_s <= c["start_s"] <= job.lst_s
    t = record["totals"]
    assert t["pv_wh"] + t["grid_wh"] == pytest.approx(t["consumption_wh"], abs=1e-3)
    scores = json.loads((built.directory / "neighbourhood_scores.json").read_text())["scores"]
    assert scores == record["scores_after"] and any(v != 10.0 for v in scores.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "nothing is written outside the run folder"
    metrics = json.loads((built.directory / "neighbourhood_NBT_metrics.json").read_text())
    assert "jobs_posted" in metrics["Metadata"]


@pytest.mark.slow
def test_helics_runs_with_the_same_seed_and_scores_give_the_same_contracts(tmp_path):
    from vppfed.launcher import Launcher

    contracts = []
    for name in ("a", "b"):
        desc = _description(tmp_path / name, optimizer="TNC")
        (tmp_path / name).mkdir()
        built = build_case(desc, tmp_path / name / "run")
        assert Launcher(built.runner, timeout=240).run().ok
        contracts.append((built.directory / "neighbourhood_contracts.json").read_bytes())
    assert contracts[0] == contracts[1]


def test_scores_come_from_scores_file_or_the_previous_run_of_a_batch_never_from_the_input(tmp_path):
    """GIVEN a batch folder WHEN run_01 is built THEN it starts from run_00's final scores; run_00 starts fresh."""
    from vppfed.errors import UserError

    batch = tmp_path / "batch"
    batch.mkdir()
    first = build_case(_description(tmp_path), batch / "run_00")
    assert json.loads((first.directory / "neighbourhood_setup.json").read_text())["initial_scores"] == {}
    (first.directory / "neighbourhood_scores.json").write_text('{"scores": {"pv_producer[57]:[207]": 7.0}, '
                                                              '"failed": false}')
    second = build_case(_description(tmp_path), batch / "run_01")
    setup = json.loads((second.directory / "neighbourhood_setup.json").read_text())
    assert setup["initial_scores"] == {"pv_producer[57]:[207]": 7.0}
    desc = _description(tmp_path)
    desc["neighbourhood"]["scores_file"] = str(first.directory / "neighbourhood_scores.json")
    named = build_case(desc, tmp_path / "named")
    assert json.loads((named.directory / "neighbourhood_setup.json").read_text())["initial_scores"] == \
        {"pv_producer[57]:[207]": 7.0}
    desc["neighbourhood"]["scores_file"] = str(tmp_path / "none.json")
    with pytest.raises(UserError, match=r"none.json: producer scores file not found"):
        build_case(desc, tmp_path / "bad")
