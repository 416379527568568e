"""Repeated seeded runs of one neighbourhood, written one file per run as they finish.

Layout of an output folder::

    settings.json        the run settings, neighbourhood, seed and the scores file the batch started from
    run_000.json ...     per run: contracts, metrics (totals, per house, profiles), scores after the run
    summary.json         mean/std/min/max over the runs so far (rewritten after every run)
    producer_scores.json the producer scores after the latest run (rewritten after every run)
    timings.jsonl        only when asked: wall-clock time per run (the one output that differs run to run)

Producer scores carry over from run to run within a batch, as in PySSMic. A batch starts from fresh scores unless
it is given earlier ones (``initial_scores``, e.g. another batch's ``producer_scores.json``); the neighbourhood
folder is never written. So the same command twice writes the same bytes.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from vppfed.federates.neighbourhood.metrics import run_metrics, summarise
from vppfed.federates.neighbourhood.model import Neighbourhood
from vppfed.federates.neighbourhood.negotiation import SCORES_FILE, ScoreBoard
from vppfed.federates.neighbourhood.simulation import RunResult, RunSettings, simulate_run
from vppfed.io import atomic_write_text

log = logging.getLogger(__name__)


def write_json(path: Path, data: object) -> None:
    """Write JSON and flush it to disk before returning (atomic rename, so readers never see half a file)."""
    atomic_write_text(path, json.dumps(data, separators=(",", ":")) + "\n")


def run_seed(seed: int, run: int) -> np.random.SeedSequence:
    """Seed of run ``run`` of a batch seeded with ``seed`` (independent streams per run)."""
    return np.random.SeedSequence([int(seed), int(run)])


def run_record(result: RunResult, neighbourhood: Neighbourhood, settings: RunSettings, run: int,
               scores: ScoreBoard) -> dict:
    """Everything a run file holds."""
    metrics = run_metrics(result, settings.length_s, neighbourhood.house_ids(), slot_s=60.0)
    return {
        "run": run,
        "optimizer": settings.optimizer,
        "n_requests": len(result.requests),
        "n_accepted": sum(r.accepted for r in result.requests),
        "solver_limits": result.solver_limits,
        "contracts": [c.to_dict() for c in result.contracts],
        "pending_contracts": [c.to_dict() for c in result.pending],
        "scores_after": dict(scores.scores),
        **metrics.to_dict(),
    }


def run_many(neighbourhood: Neighbourhood, settings: RunSettings, runs: int, seed: int, out_dir: Path,
             initial_scores: Path | None = None, timings: bool = False) -> dict:
    """Run ``runs`` seeded runs and write one file per run plus a running summary.

    Parameters
    ----------
    neighbourhood : Neighbourhood
        The loaded neighbourhood.
    settings : RunSettings
        Optimiser and decision settings.
    runs : int
        Number of runs (>= 1).
    seed : int
        Batch seed; run ``i`` uses ``SeedSequence([seed, i])``.
    out_dir : Path
        Output folder (created); the scores after each run go to ``out_dir/producer_scores.json``.
    initial_scores : Path, optional
        Scores to start from (a ``producer_scores.json`` of an earlier batch); None starts fresh.
    timings : bool
        Also write ``timings.jsonl`` (wall-clock seconds per run, which differ from run to run).

    Returns
    -------
    dict
        The summary (also in ``summary.json``); ``wall_s`` lists each run's wall-clock time.
    """
    if runs < 1:
        raise ValueError("runs must be >= 1")
    scores = ScoreBoard() if initial_scores is None else load_scores(initial_scores)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "settings.json", {"neighbourhood": neighbourhood.name, "runs": runs, "seed": seed,
                                           "t0_unix": neighbourhood.t0_unix, "settings": asdict(settings),
                                           "initial_scores": dict(scores.scores)})
    scores_out = out_dir / SCORES_FILE
    records = []
    summary: dict = {}
    walls: list[float] = []
    if timings:
        (out_dir / "timings.jsonl").write_text("", encoding="utf-8")
    for i in range(runs):
        result = simulate_run(neighbourhood, settings, scores, run_seed(seed, i))
        record = run_record(result, neighbourhood, settings, i, scores)
        write_json(out_dir / f"run_{i:03d}.json", record)
        scores.save(scores_out)
        records.append(record)
        summary = summarise(records)
        summary.update({"optimizer": settings.optimizer, "neighbourhood": neighbourhood.name, "seed": seed})
        write_json(out_dir / "summary.json", summary)
        walls.append(result.wall_s)
        if timings:
            with open(out_dir / "timings.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"run": i, "wall_s": result.wall_s,
                                     "solve_s": float(sum(r.solve_s for r in result.requests))}) + "\n")
                fh.flush()
        log.info("run %d/%d: self-consumption %s, grid %.0f Wh", i + 1, runs,
                 record["totals"]["self_consumption"], record["totals"]["grid_wh"])
    return {**summary, "wall_s": walls}


def load_scores(path: Path) -> ScoreBoard:
    """Scores from a ``producer_scores.json`` (a run's or a case's); a missing or unreadable file is a UserError."""
    from vppfed.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: producer scores file not found")
    try:
        return ScoreBoard.load(path)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: not a producer scores file (expected {{\"scores\": {{producer: score}}}}): "
                        f"{exc}") from None
