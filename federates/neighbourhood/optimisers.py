"""Schedulers a producer uses to place its accepted jobs against its prediction.

* :class:`BasinHopping`: the optimisers PySSMic users know, ``scipy.optimize.basinhopping`` around a local
  ``minimize`` (L-BFGS-B, SLSQP or TNC) with the user's finite-difference step ``eps`` and tolerance ``tol``. The
  objective is piecewise constant in the start times (starts snap to options), so the gradient-based local step mostly
  stops where it starts and the hops do the searching.
* :class:`MilpScheduler`: the exact discrete schedule: least total overshoot, which minimises the objective (see
  :mod:`.objective`). By default a branch and bound with a combinatorial bound (:mod:`.exact`, compiled); the MILP
  form solved by HiGHS (highspy) is the other engine. Both stop at a node limit, so a result never depends on the
  machine.
* :class:`FiftyFifty`: PySSMic's coin flip (keeps the proposed starts, rejects half the requests).

Every scheduler returns option indices for :class:`~.objective.SlotObjective`, so their results are evaluated by the
same function.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Protocol

import highspy
import numpy as np
from scipy import optimize, sparse

from vppfed.federates.neighbourhood.exact import branch_and_bound, descent, neighbourhood_search
from vppfed.federates.neighbourhood.objective import SlotObjective

log = logging.getLogger(__name__)

SCIPY_METHODS = ("L-BFGS-B", "SLSQP", "TNC")
OPTIMISERS = ("milp", *SCIPY_METHODS, "fifty_fifty")


class Scheduler(Protocol):
    """What a producer needs from a scheduler."""

    name: str
    reject_probability: float

    def solve(self, objective: SlotObjective, x0: np.ndarray, rng: np.random.Generator,
              accept_below_wh: float | None = None) -> np.ndarray:
        """Option index per free job (``x0`` is the proposal: current schedule plus the new job's random start).

        ``accept_below_wh`` is the overshoot (Wh) at or below which the producer will accept the new job; a
        scheduler may use it to stop searching where the answer is decided."""


class _BoundedStep:
    """Basin-hopping displacement kept inside the bounds (TNC's numerical gradient refuses points outside them).

    ``stepsize`` is an attribute so basin-hopping can adapt it, as it does for its own step.
    """

    def __init__(self, lower: np.ndarray, upper: np.ndarray, stepsize: float, rng: np.random.Generator) -> None:
        self.lower, self.upper, self.stepsize, self.rng = lower, upper, stepsize, rng

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x + self.rng.uniform(-self.stepsize, self.stepsize, np.shape(x)), self.lower, self.upper)


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

    def solve(self, objective: SlotObjective, x0: np.ndarray, rng: np.random.Generator,
              accept_below_wh: float | None = None) -> np.ndarray:
        """Basin-hop from the proposal and return the best option indices found (``accept_below_wh`` unused)."""
        starts0 = objective.starts_from_indices(x0)
        bounds = [(job.first_s, job.last_s) for job in objective.free]
        kwargs = {"method": self.method, "bounds": bounds, "tol": self.tol, "options": {"eps": self.eps}}
        hop_rng = np.random.default_rng(rng.integers(2**63))
        step = _BoundedStep(np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds]), self.stepsize,
                            hop_rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = optimize.basinhopping(objective.value_of_starts, starts0, niter=self.niter,
                                           minimizer_kwargs=kwargs, take_step=step, rng=hop_rng)
        best = objective.indices_from_starts(result.x)
        return best if objective.value(best) <= objective.value(x0) else np.asarray(x0, dtype=int)


@dataclass
class FiftyFifty:
    """PySSMic's ``fifty_fifty``: keep the proposal as it is; the producer rejects with probability 0.5."""

    reject_probability: float = 0.5
    name: str = "fifty_fifty"

    def solve(self, objective: SlotObjective, x0: np.ndarray, rng: np.random.Generator,
              accept_below_wh: float | None = None) -> np.ndarray:
        """Return the proposal unchanged."""
        return np.asarray(x0, dtype=int)


def _new_highs():
    """A HiGHS instance without highspy's Python wrapper, whose constructor prints a banner on stdout."""
    try:
        from highspy._core import _Highs  # the solver class the public wrapper derives from
    except ImportError:  # pragma: no cover - other highspy layouts
        return highspy.Highs()
    return _Highs()


def coordinate_descent(objective: SlotObjective, x0: np.ndarray, max_passes: int = 50) -> np.ndarray:
    """Move one job at a time to its best option given the others until no move lowers the overshoot.

    Each move evaluates every option of the job at once (vectorised), so a pass costs about one objective
    evaluation per option. Exact for a single free job; a warm start for the MILP otherwise.
    """
    x = np.asarray(x0, dtype=int).copy()
    for _ in range(max_passes):
        improved = False
        for j in range(len(objective.free)):
            over = objective.option_overshoots(j, x)
            best = int(np.argmin(over))
            if over[best] < over[x[j]] - 1e-9:
                x[j] = best
                improved = True
        if not improved:
            break
    return x


def _placements(objective: SlotObjective, j: int, lo: int, hi: int) -> np.ndarray:
    """Wh per slot ``lo..hi-1`` of free job ``j`` at each of its options, ``(M, hi - lo)`` (zeros outside the job)."""
    k_a, energy = objective.option_energies(j)
    out = np.zeros((energy.shape[0], hi - lo))
    cols = k_a[:, None] + np.arange(energy.shape[1]) - lo
    inside = (cols >= 0) & (cols < hi - lo)
    rows = np.broadcast_to(np.arange(energy.shape[0])[:, None], cols.shape)
    np.add.at(out, (rows[inside], cols[inside]), energy[inside])
    return out


def _slot_range(objective: SlotObjective, j: int) -> tuple[int, int]:
    """Slots free job ``j`` can touch over all its options: ``[lo, hi)``."""
    k_a, energy = objective.option_energies(j)
    return int(k_a.min()), min(int(k_a.max()) + energy.shape[1], objective.n_slots)


def pair_descent(objective: SlotObjective, x0: np.ndarray, max_passes: int = 20,
                 max_cells: int = 4_000_000) -> np.ndarray:
    """Coordinate descent, then move two jobs at once to their best pair of options until no move helps.

    Only pairs whose slot ranges overlap are scanned: for two jobs that never share a slot the pair move is the sum
    of two single moves, which coordinate descent has already ruled out. A pair scan evaluates all ``M_j x M_k``
    option pairs at once on the slots the two jobs can touch, so the result is exact for up to two free jobs and a
    stronger warm start for the MILP otherwise. Deterministic (no randomness, ties keep the current options).

    Parameters
    ----------
    objective : SlotObjective
        The producer's objective.
    x0 : numpy.ndarray
        Starting option indices.
    max_passes : int
        Passes over all pairs (each pass ends with a coordinate-descent pass).
    max_cells : int
        Largest ``M_j x M_k x slots`` array one scan builds; larger pairs are scanned in chunks of options.
    """
    x = coordinate_descent(objective, x0)
    n = len(objective.free)
    if n < 2:
        return x
    ranges = [_slot_range(objective, j) for j in range(n)]
    pairs = [(j, k) for j in range(n) for k in range(j + 1, n)
             if ranges[j][0] < ranges[k][1] and ranges[k][0] < ranges[j][1]]
    placements: dict[tuple[int, int, int], np.ndarray] = {}
    for _ in range(max_passes):
        improved = False
        for j, k in pairs:
            lo, hi = min(ranges[j][0], ranges[k][0]), max(ranges[j][1], ranges[k][1])
            active = np.ones(n, dtype=bool)
            active[[j, k]] = False
            rest = (objective.consumption(x, active) - objective.production)[lo:hi]
            pj = placements.get((j, lo, hi))
            if pj is None:
                pj = placements[(j, lo, hi)] = _placements(objective, j, lo, hi)
            pk = placements.get((k, lo, hi))
            if pk is None:
                pk = placements[(k, lo, hi)] = _placements(objective, k, lo, hi)
            current = float(np.maximum(rest + pj[x[j]] + pk[x[k]], 0.0).sum())
            chunk = max(1, max_cells // max(1, pk.shape[0] * (hi - lo)))
            best, best_a, best_b = current, -1, -1
            for a0 in range(0, pj.shape[0], chunk):
                total = np.maximum(rest + pj[a0:a0 + chunk, None, :] + pk[None, :, :], 0.0).sum(axis=2)
                flat = int(np.argmin(total))
                a, b = divmod(flat, total.shape[1])
                if total[a, b] < best - 1e-9:
                    best, best_a, best_b = float(total[a, b]), a0 + a, b
            if best_a >= 0:
                x[j], x[k] = best_a, best_b
                improved = True
        if not improved:
            break
        x = coordinate_descent(objective, x)
    return x


# HiGHS's sub-MIP heuristics (RINS, RENS) and feasibility jump cost seconds at the root node of these models, whose
# LP bound is weak (a job split over its options smooths the consumption), and found nothing better than the pair
# descent's warm start (measured on 23 producer solves of a generated neighbourhood); without them the root node costs
# milliseconds and the node limit bounds the work.
HIGHS_OPTIONS: dict[str, float | int | bool] = {
    "mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False,
    "mip_heuristic_run_feasibility_jump": False, "mip_heuristic_run_root_reduced_cost": False,
    # strong branching took most of the simplex iterations; pseudocost branching explores 4x the nodes in that work
    "mip_pscost_minreliable": 0,
    # cut separation below the root and the root restart took most of the remaining time for no better schedule
    "mip_allow_cut_separation_at_nodes": False, "mip_allow_restart": False,
}


@dataclass
class MilpScheduler:
    """Exact schedule over the start options (the ``milp`` optimiser): least energy drawn above the prediction.

    Two engines solve the same problem (one option per job; minimise the total overshoot, which ranks schedules
    exactly as :meth:`~.objective.SlotObjective.value` does):

    * ``"search"`` (default): coordinate descent, then :func:`~.exact.neighbourhood_search` (groups of ``group``
      overlapping jobs re-solved exactly) for an incumbent, then the depth-first branch and bound of
      :mod:`.exact`, whose combinatorial bound (each unassigned job at its best option alone, and the energy that
      cannot fit into the free capacity the jobs can reach) is far tighter than the MILP's LP bound. Measured on the
      25 producer solves recorded from a generated 20-job neighbourhood (2026-12-07, 2 cores at load 10-16): 0.25
      CPU s in all against about 6 CPU s for HiGHS (1000 nodes); of the 6 solves HiGHS searched, 4 equal, 1 better
      (0 vs 56 Wh overshoot), 1 worse (1557 vs 1534 Wh; the node limit bound). Whole runs of 20-200 jobs: see
      ``benchmarks/bench_neighbourhood.py``. On PySSMic's ``less_producers_test`` (one producer, up to 29 jobs x 33
      options, oversubscribed) no bound proves optimality in reach (HiGHS's own bound after 60 s is still 11-36 %
      below its best schedule), so the node limit binds in most solves there and it is the limit that sets the
      time (see ``max_evals``).
    * ``"highs"``: a MILP (a binary per job and option, a continuous overshoot per slot that can exceed the
      prediction) solved by HiGHS (highspy) from the :func:`pair_descent` schedule, with the options of
      :data:`HIGHS_OPTIONS`. Its LP bound is weak (a job split over its options smooths the consumption), so it
      rarely proves optimality; kept to cross-check the search.

    The search is skipped when the incumbent is optimal already: for one free job (coordinate descent tried every
    option) or when it draws nothing above the prediction (the overshoot cannot be negative). A search cut short by
    the node limit still returns a schedule at least as good as its incumbent.

    ``limits`` counts, over the scheduler's life (one run), the solves skipped as already optimal
    (``exact_without_milp``), the searches (``milp_solves``, either engine) and the searches a node or time limit
    stopped; runs report it (``solver_limits``), so a result a limit decided is never silent.

    Parameters
    ----------
    max_nodes : int
        Node limit per solve (search: options tried, 2-25 microseconds each by size; HiGHS: branch-and-bound nodes, a
        few milliseconds each, so pass about 1000 with ``engine="highs"``). A node limit (unlike a time limit) keeps
        runs reproducible; when it binds it is counted in ``limits["node_limit"]``.
    max_evals : int
        Second work limit of the search engine: option increments evaluated per solve (a node of a small instance
        evaluates 30-45, of PySSMic's ``less_producers_test`` 130-170), also counted in ``limits["node_limit"]``.
        The default, 500,000, binds only on such large, crowded instances (there after about 3000 nodes):
        replaying the searches recorded from whole runs (2026-12-07), it kept every accept/decline decision of
        less_producers_test, best_case and generated 20/50/100-job runs as the 20000-node search took them, and
        their total overshoot but for +11 Wh in 102 kWh (less_producers_test) and +1 Wh in 233 kWh (50 jobs), at
        about a third of the CPU on less_producers_test. A plain 5000-node limit was as fast but lost up to 0.9 %
        PV on 20 jobs (10 seeds), and 2000 nodes lost 2 of 224 accepts on 100 jobs.
    time_limit_s : float
        Wall-clock guard per HiGHS solve, s (the search has none; hitting it makes runs machine-dependent, so it is
        logged and counted in ``limits``).
    mip_rel_gap : float
        Relative optimality gap on the overshoot at which the search (or HiGHS) stops.
    engine : str
        ``"search"`` or ``"highs"``.
    group, group_nodes : int
        Jobs per group and node limit per group of the neighbourhood search (search engine).
    """

    max_nodes: int = 20_000
    max_evals: int = 500_000
    time_limit_s: float = 30.0
    mip_rel_gap: float = 1e-4
    reject_probability: float = 0.0
    name: str = "milp"
    engine: str = "search"
    group: int = 4
    group_nodes: int = 2000
    limits: dict[str, int] = field(default_factory=lambda: {"milp_solves": 0, "exact_without_milp": 0,
                                                             "node_limit": 0, "time_limit": 0})
    highs_options: dict[str, float | int | bool] = field(default_factory=lambda: dict(HIGHS_OPTIONS))
    """HiGHS options set on every solve (after the ones above); defaults :data:`HIGHS_OPTIONS`."""

    def __post_init__(self) -> None:
        if self.engine not in ("search", "highs"):
            raise ValueError(f"engine must be 'search' or 'highs', got {self.engine!r}")

    def solve(self, objective: SlotObjective, x0: np.ndarray, rng: np.random.Generator,
              accept_below_wh: float | None = None) -> np.ndarray:
        """Best schedule found; the proposal when nothing is better (so contracts move only when it pays).

        ``accept_below_wh`` (search engine): the overshoot at or below which the producer accepts; schedules above
        it are not searched for, so a decline is proven with little work (the schedule returned then is only known
        to be above it).
        """
        x0 = np.asarray(x0, dtype=int)
        if self.engine == "search":
            return self._solve_search(objective, x0, accept_below_wh)
        warm = pair_descent(objective, x0)
        if len(objective.free) <= 2:
            # the pair scan is exhaustive for one or two free jobs
            self.limits["exact_without_milp"] += 1
            return warm if objective.value(warm) < objective.value(x0) else x0
        if objective.overshoot_wh(warm) <= 1e-9:
            # nothing drawn above the prediction: no schedule is better (ties keep the proposal, as below)
            self.limits["exact_without_milp"] += 1
            return warm if objective.value(warm) < objective.value(x0) else x0
        best = self._solve_milp(objective, warm)
        candidates = [x0, warm] + ([best] if best is not None else [])
        values = [objective.value(c) for c in candidates]
        return candidates[int(np.argmin(values))]

    def _solve_search(self, objective: SlotObjective, x0: np.ndarray, cutoff_wh: float | None) -> np.ndarray:
        """The ``search`` engine: coordinate descent, group re-solves, then the full branch and bound."""
        warm = descent(objective, x0)
        if len(objective.free) > self.group and objective.overshoot_wh(warm) > 1e-9:
            warm, _ = neighbourhood_search(objective, warm, self.group, self.group_nodes)
        if len(objective.free) <= 1 or objective.overshoot_wh(warm) <= 1e-9:
            # one job: coordinate descent tried every option; no overshoot: nothing can be better
            self.limits["exact_without_milp"] += 1
            return warm if objective.value(warm) < objective.value(x0) else x0
        result = branch_and_bound(objective, warm, self.max_nodes, self.mip_rel_gap, cutoff_wh, self.max_evals)
        self.limits["milp_solves"] += 1
        if result.node_limit:
            self.limits["node_limit"] += 1
        candidates = [x0, warm, result.indices]
        values = [objective.value(c) for c in candidates]
        return candidates[int(np.argmin(values))]

    def _solve_milp(self, objective: SlotObjective, warm: np.ndarray) -> np.ndarray | None:
        capacity = objective.production - objective.base
        maxima = np.zeros(objective.n_slots)
        entries, offsets = [], [0]
        for j, job in enumerate(objective.free):
            k_a, energy = objective.option_energies(j)
            slots = k_a[:, None] + np.arange(energy.shape[1])
            columns = offsets[-1] + np.broadcast_to(np.arange(job.count)[:, None], slots.shape)
            mask = energy != 0.0
            job_max = np.zeros(objective.n_slots)
            np.maximum.at(job_max, slots[mask], energy[mask])
            maxima += job_max
            entries.append((slots[mask], columns[mask], energy[mask]))
            offsets.append(offsets[-1] + job.count)
        tight = np.flatnonzero(maxima > capacity + 1e-9)
        if tight.size == 0:
            return warm
        n_x, n_v, n_jobs = offsets[-1], tight.size, len(objective.free)
        row_of_slot = np.full(objective.n_slots, -1)
        row_of_slot[tight] = np.arange(n_v)
        r = np.concatenate([e[0] for e in entries])
        c = np.concatenate([e[1] for e in entries])
        v = np.concatenate([e[2] for e in entries])
        keep = row_of_slot[r] >= 0
        job_of_column = np.repeat(np.arange(n_jobs), np.diff(offsets))
        rows = np.concatenate([row_of_slot[r[keep]], np.arange(n_v), n_v + job_of_column])
        cols = np.concatenate([c[keep], n_x + np.arange(n_v), np.arange(n_x)])
        vals = np.concatenate([v[keep], -np.ones(n_v), np.ones(n_x)])
        matrix = sparse.csc_matrix((vals, (rows, cols)), shape=(n_v + n_jobs, n_x + n_v))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n_x + n_v, n_v + n_jobs
        lp.col_cost_ = np.concatenate([np.zeros(n_x), np.ones(n_v)])
        lp.col_lower_ = np.zeros(n_x + n_v)
        lp.col_upper_ = np.concatenate([np.ones(n_x), np.full(n_v, highspy.kHighsInf)])
        lp.row_lower_ = np.concatenate([np.full(n_v, -highspy.kHighsInf), np.ones(n_jobs)])
        lp.row_upper_ = np.concatenate([capacity[tight], np.ones(n_jobs)])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr
        lp.a_matrix_.index_ = matrix.indices
        lp.a_matrix_.value_ = matrix.data
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_x + [highspy.HighsVarType.kContinuous] * n_v
        h = _new_highs()
        # no "threads" option: HiGHS keeps one global thread pool per process; asking for another size after any
        # other HiGHS solve in the process makes run() fail
        for option, value in (("output_flag", False), ("time_limit", float(self.time_limit_s)),
                              ("mip_rel_gap", float(self.mip_rel_gap)), ("mip_max_nodes", int(self.max_nodes)),
                              ("random_seed", 0), *self.highs_options.items()):
            h.setOptionValue(option, value)
        h.passModel(lp)
        start = np.zeros(n_x + n_v)
        start[np.asarray(offsets[:-1]) + warm] = 1.0
        over = matrix[:n_v, :n_x] @ start[:n_x] - capacity[tight]
        start[n_x:] = np.maximum(over, 0.0)
        solution = highspy.HighsSolution()
        solution.col_value = start.tolist()
        h.setSolution(solution)
        h.run()
        self.limits["milp_solves"] += 1
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kTimeLimit:
            self.limits["time_limit"] += 1
            log.warning("MILP stopped by its %g s wall-clock limit (%d jobs): this result depends on the machine",
                        self.time_limit_s, n_jobs)
        elif status == highspy.HighsModelStatus.kSolutionLimit:   # HiGHS's status for mip_max_nodes
            self.limits["node_limit"] += 1
        if status != highspy.HighsModelStatus.kOptimal:
            log.debug("MILP stopped: %s", h.modelStatusToString(status))
        info = h.getInfo()
        if info.primal_solution_status == 0:
            return None
        x = np.asarray(h.getSolution().col_value)[:n_x]
        return np.array([int(np.argmax(x[offsets[j]:offsets[j + 1]])) for j in range(n_jobs)])


def make_scheduler(name: str, eps: float = 1e-4, tol: float = 100.0, niter: int = 20, stepsize: float = 900.0,
                   time_limit_s: float = 30.0, max_nodes: int = 20_000, max_evals: int = 500_000) -> Scheduler:
    """Scheduler by the name users type (case-insensitive): milp, L-BFGS-B, SLSQP, TNC or fifty_fifty."""
    key = name.strip().lower()
    for method in SCIPY_METHODS:
        if key == method.lower():
            return BasinHopping(method=method, eps=eps, tol=tol, niter=niter, stepsize=stepsize)
    if key == "milp":
        return MilpScheduler(max_nodes=max_nodes, max_evals=max_evals, time_limit_s=time_limit_s)
    if key in ("fifty_fifty", "fifty-fifty"):
        return FiftyFifty()
    raise ValueError(f"unknown optimiser {name!r} (choose from {', '.join(OPTIMISERS)})")
