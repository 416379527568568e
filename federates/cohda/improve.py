"""Improvement beyond COHDA's 1-opt fixed point: pairwise (2-agent) exchanges, evaluated in numpy.

COHDA stops where no single agent can improve the candidate. Changing two agents at once escapes many of those
points: for a pair (i, j) all M x M joint choices are scored in one expression from the running aggregate. Pairs are
all pairs when there are at most ``max_pairs`` of them, otherwise the overlay's edges (agents that talk to each other
anyway) plus seeded random pairs; rounds repeat until a round improves by less than ``rel_tol`` or ``max_rounds``
is reached.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from vppfed.federates.cohda.objectives import Objective

log = logging.getLogger(__name__)


@dataclass
class ImproveStats:
    """What the improvement did: rounds, accepted moves, objective before and after, seconds."""

    rounds: int
    moves: int
    before: float
    after: float
    seconds: float


def pairwise_improve(schedules: np.ndarray, selection: np.ndarray, objective: Objective, edges: np.ndarray,
                     seed: int = 0, extra_pairs: float = 5.0, max_rounds: int = 20, max_pairs: int = 20000,
                     rel_tol: float = 1e-9) -> tuple[np.ndarray, ImproveStats]:
    """Improve ``selection`` by joint 2-agent changes (returns a new selection and stats).

    Parameters
    ----------
    schedules : ndarray (N, M, T), kW
    selection : ndarray (N,) of schedule indices
    objective : the global objective (minimised)
    edges : (E, 2) overlay edges used as pairs
    extra_pairs : number of additional random pairs per round, as a multiple of N (large N only)
    max_pairs : up to this many pairs in total, every pair is tried each round
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    n, m, _ = schedules.shape
    sel = np.array(selection, dtype=np.int64)
    x = schedules[np.arange(n), sel].sum(axis=0)
    before = float(objective.evaluate(x))
    cur = before
    moves = 0
    rounds = 0
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    all_pairs = None
    if n * (n - 1) // 2 <= max_pairs:
        a, b = np.triu_indices(n, 1)
        all_pairs = np.stack([a, b], axis=1)
    for rounds in range(1, max_rounds + 1):
        if all_pairs is not None:
            pairs = all_pairs
        else:
            pairs = np.concatenate([edges, rng.integers(0, n, size=(int(extra_pairs * n), 2))])
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        pairs = pairs[rng.permutation(len(pairs))]
        start = cur
        for i, j in pairs:
            base = x - schedules[i, sel[i]] - schedules[j, sel[j]]
            vals = objective.evaluate(base + schedules[i][:, None, :] + schedules[j][None, :, :])
            flat = int(np.argmin(vals))
            v = float(vals.flat[flat])
            if v < cur - 1e-9 * max(1.0, abs(cur)):
                a, b = divmod(flat, m)
                sel[i], sel[j] = a, b
                x = base + schedules[i, a] + schedules[j, b]
                cur = v
                moves += 1
        if start - cur <= rel_tol * max(1.0, abs(start)):
            break
    # re-sum once to drop accumulated rounding
    after = float(objective.evaluate(schedules[np.arange(n), sel].sum(axis=0)))
    return sel, ImproveStats(rounds, moves, before, after, time.perf_counter() - t0)
