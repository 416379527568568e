"""Repeated seeded runs of one neighbourhood, written one file per run as they finish.

Layout of an output folder::

    settings.json        the run settings, neighbourhood and seed
    run_000.json ...     per run: contracts, metrics (totals, per house, profiles), scores after the run, timing
    summary.json         mean/std/min/max over the runs so far (rewritten after every run)
    timings.jsonl        wall-clock time per run (kept apart so the files above are byte-reproducible)

Producer scores carry over from run to run, as in PySSMic, and are saved in the neighbourhood folder after every run
(``producer_scores.json``), so a batch started from the same scores file and seed writes the same bytes.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from vppfed.federates.neighbourhood.metrics import run_metrics, summarise
from vppfed.federates.neighbourhood.model import Neighbourhood
from vppfed.federates.neighbourhood.negotiation import SCORES_FILE, ScoreBoard
from vppfed.federates.neighbourhood.simulation import RunResult, RunSettings, simulate_run

log = logging.getLogger(__name__)


def write_json(path: Path, data: object) -> None:
    """Write JSON and flush it to disk before returning (atomic rename, so readers never see half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, separators=(",", ":"))
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
        "contracts": [c.to_dict() for c in result.contracts],
        "pending_contracts": [c.to_dict() for c in result.pending],
        "scores_after": dict(scores.scores),
        **metrics.to_dict(),
    }


def run_many(neighbourhood: Neighbourhood, settings: RunSettings, runs: int, seed: int, out_dir: Path,
             scores_path: Path | None = None, reset_scores: bool = False) -> dict:
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
        Output folder (created).
    scores_path : Path, optional
        Producer scores file; None keeps scores in memory only.
    reset_scores : bool
        Start from fresh scores even if the file exists.

    Returns
    -------
    dict
        The summary (also in ``summary.json``).
    """
    if runs < 1:
        raise ValueError("runs must be >= 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "settings.json", {"neighbourhood": neighbourhood.name, "runs": runs, "seed": seed,
                                           "t0_unix": neighbourhood.t0_unix, "settings": asdict(settings)})
    scores = ScoreBoard() if reset_scores or scores_path is None else ScoreBoard.load(scores_path)
    records = []
    summary: dict = {}
    (out_dir / "timings.jsonl").write_text("", encoding="utf-8")
    for i in range(runs):
        result = simulate_run(neighbourhood, settings, scores, run_seed(seed, i))
        record = run_record(result, neighbourhood, settings, i, scores)
        write_json(out_dir / f"run_{i:03d}.json", record)
        if scores_path is not None:
            scores.save(scores_path)
        records.append(record)
        summary = summarise(records)
        summary.update({"optimizer": settings.optimizer, "neighbourhood": neighbourhood.name, "seed": seed})
        write_json(out_dir / "summary.json", summary)
        with open(out_dir / "timings.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"run": i, "wall_s": result.wall_s,
                                 "solve_s": float(sum(r.solve_s for r in result.requests))}) + "\n")
            fh.flush()
        log.info("run %d/%d: self-consumption %s, grid %.0f Wh", i + 1, runs,
                 record["totals"]["self_consumption"], record["totals"]["grid_wh"])
    return summary


def default_scores_path(folder: Path | None) -> Path | None:
    """``<neighbourhood folder>/producer_scores.json`` (None for neighbourhoods not read from a folder)."""
    return None if folder is None else Path(folder) / SCORES_FILE
