"""Schedulers a producer uses to place its accepted jobs against its prediction.

* :class:`BasinHopping`: the optimisers PySSMic users know, ``scipy.optimize.basinhopping`` around a local
  ``minimize`` (L-BFGS-B, SLSQP or TNC) with the user's finite-difference step ``eps`` and tolerance ``tol``. The
  objective is piecewise constant in the start times (starts snap to options), so the gradient-based local step mostly
  stops where it starts and the hops do the searching.
* :class:`MilpScheduler`: the exact discrete schedule. One binary per (job, start option), one continuous overshoot
  variable per slot where the jobs could exceed the prediction; minimising the total overshoot minimises the
  objective (see :mod:`.objective`). Solved by HiGHS through ``scipy.optimize.milp``.
* :class:`FiftyFifty`: PySSMic's coin flip (keeps the proposed starts, rejects half the requests).

Every scheduler returns option indices for :class:`~.objective.SlotObjective`, so their results are evaluated by the
same function.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import optimize, sparse

from vppfed.federates.neighbourhood.objective import SlotObjective

log = logging.getLogger(__name__)

SCIPY_METHODS = ("L-BFGS-B", "SLSQP", "TNC")
OPTIMISERS = ("milp", *SCIPY_METHODS, "fifty_fifty")


class Scheduler(Protocol):
    """What a producer needs from a scheduler."""

    name: str
    reject_probability: float

    def solve(self, objective: SlotObjective, x0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Option index per free job (``x0`` is the proposal: current schedule plus the new job's random start)."""


@dataclass
class BasinHopping:
    """scipy basin-hopping with a bounded local minimiser.

    Parameters
    ----------
    method : str
        ``"L-BFGS-B"``, ``"SLSQP"`` or ``"TNC"``.
    eps : float
        Finite-difference step of the local minimiser's numerical Jacobian, s (PySSMic's "Step size").
    tol : float
        Termination tolerance of the local minimiser (PySSMic's "Tolerance").
    niter : int
        Basin-hopping iterations.
    stepsize : float
        Maximum random displacement of a hop, s. scipy's default 0.5 s would never leave a one-minute option, so the
        default is 15 minutes.
    """

    method: str = "L-BFGS-B"
    eps: float = 1e-4
    tol: float = 100.0
    niter: int = 20
    stepsize: float = 900.0
    reject_probability: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in SCIPY_METHODS:
            raise ValueError(f"method must be one of {', '.join(SCIPY_METHODS)}, got {self.method!r}")

    @property
    def name(self) -> str:
        """The method's name as users type it."""
        return self.method

    def solve(self, objective: SlotObjective, x0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Basin-hop from the proposal and return the best option indices found."""
        starts0 = objective.starts_from_indices(x0)
        bounds = [(job.first_s, job.last_s) for job in objective.free]
        kwargs = {"method": self.method, "bounds": bounds, "tol": self.tol, "options": {"eps": self.eps}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = optimize.basinhopping(objective.value_of_starts, starts0, niter=self.niter,
                                           stepsize=self.stepsize, minimizer_kwargs=kwargs,
                                           rng=np.random.default_rng(rng.integers(2**63)))
        best = objective.indices_from_starts(result.x)
        return best if objective.value(best) <= objective.value(x0) else np.asarray(x0, dtype=int)


@dataclass
class FiftyFifty:
    """PySSMic's ``fifty_fifty``: keep the proposal as it is; the producer rejects with probability 0.5."""

    reject_probability: float = 0.5
    name: str = "fifty_fifty"

    def solve(self, objective: SlotObjective, x0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the proposal unchanged."""
        return np.asarray(x0, dtype=int)


@dataclass
class MilpScheduler:
    """Exact schedule over the start options as a MILP solved by HiGHS.

    Parameters
    ----------
    time_limit_s : float
        Wall-clock limit per solve, s; on timeout the best schedule found (or the proposal) is used.
    mip_rel_gap : float
        Relative optimality gap HiGHS stops at (on the overshoot energy).
    """

    time_limit_s: float = 30.0
    mip_rel_gap: float = 1e-7
    reject_probability: float = 0.0
    name: str = "milp"

    def solve(self, objective: SlotObjective, x0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Solve the MILP; return the proposal if it is already as good (so contracts move only when it pays)."""
        x0 = np.asarray(x0, dtype=int)
        rows, cols, vals, offsets, maxima = [], [], [], [0], np.zeros(objective.n_slots)
        for j, job in enumerate(objective.free):
            r, c, v = self._job_columns(objective, j, offsets[-1])
            job_max = np.zeros(objective.n_slots)
            np.maximum.at(job_max, r, v)
            maxima += job_max
            rows.append(r), cols.append(c), vals.append(v)
            offsets.append(offsets[-1] + job.count)
        capacity = objective.production - objective.base
        tight = np.flatnonzero(maxima > capacity + 1e-9)
        if tight.size == 0:
            return x0
        n_x = offsets[-1]
        row_of_slot = np.full(objective.n_slots, -1)
        row_of_slot[tight] = np.arange(tight.size)
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        v = np.concatenate(vals)
        keep = row_of_slot[r] >= 0
        a_slots = sparse.coo_matrix((np.concatenate([v[keep], -np.ones(tight.size)]),
                                     (np.concatenate([row_of_slot[r[keep]], np.arange(tight.size)]),
                                      np.concatenate([c[keep], n_x + np.arange(tight.size)]))),
                                    shape=(tight.size, n_x + tight.size)).tocsr()
        job_of_column = np.repeat(np.arange(len(objective.free)), np.diff(offsets))
        a_assign = sparse.csr_matrix((np.ones(n_x), (job_of_column, np.arange(n_x))),
                                     shape=(len(objective.free), n_x + tight.size))
        cost = np.concatenate([np.zeros(n_x), np.ones(tight.size)])
        integrality = np.concatenate([np.ones(n_x), np.zeros(tight.size)])
        upper = np.concatenate([np.ones(n_x), np.full(tight.size, np.inf)])
        result = optimize.milp(
            cost, integrality=integrality, bounds=optimize.Bounds(np.zeros(n_x + tight.size), upper),
            constraints=[optimize.LinearConstraint(a_slots, -np.inf, capacity[tight]),
                         optimize.LinearConstraint(a_assign, 1.0, 1.0)],
            options={"time_limit": self.time_limit_s, "mip_rel_gap": self.mip_rel_gap, "disp": False})
        if result.x is None:
            log.warning("MILP found no schedule (%s); keeping the proposal", result.message)
            return x0
        if result.status != 0:
            log.warning("MILP stopped early (%s); using its best schedule", result.message)
        best = np.array([int(np.argmax(result.x[offsets[j]:offsets[j + 1]])) for j in range(len(objective.free))])
        return x0 if objective.value(x0) <= objective.value(best) else best

    @staticmethod
    def _job_columns(objective: SlotObjective, j: int, column0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sparse (slot, column, Wh) entries of every start option of free job ``j``, vectorised over options."""
        job = objective.free[j]
        starts = job.starts_s
        slot = objective.slot_s
        k_a = np.floor((starts + job.profile.times_s[0]) / slot).astype(int) - objective.k0
        k_b = np.maximum(np.ceil((starts + job.profile.times_s[-1]) / slot).astype(int) - objective.k0, k_a + 1)
        width = int((k_b - k_a).max())
        edge_index = np.minimum(k_a[:, None] + np.arange(width + 1), objective.n_slots)
        cumulative = job.profile.at(objective.edges_s[edge_index] - starts[:, None])
        energy = np.diff(cumulative, axis=1)
        slots = k_a[:, None] + np.arange(width)
        columns = np.broadcast_to(column0 + np.arange(job.count)[:, None], slots.shape)
        mask = (energy != 0.0) & (slots < objective.n_slots)
        return slots[mask], columns[mask], energy[mask]


def make_scheduler(name: str, eps: float = 1e-4, tol: float = 100.0, niter: int = 20, stepsize: float = 900.0,
                   time_limit_s: float = 30.0, mip_rel_gap: float = 1e-7) -> Scheduler:
    """Scheduler by the name users type (case-insensitive): milp, L-BFGS-B, SLSQP, TNC or fifty_fifty."""
    key = name.strip().lower()
    for method in SCIPY_METHODS:
        if key == method.lower():
            return BasinHopping(method=method, eps=eps, tol=tol, niter=niter, stepsize=stepsize)
    if key == "milp":
        return MilpScheduler(time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    if key in ("fifty_fifty", "fifty-fifty"):
        return FiftyFifty()
    raise ValueError(f"unknown optimiser {name!r} (choose from {', '.join(OPTIMISERS)})")
