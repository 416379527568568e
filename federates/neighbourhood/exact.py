"""Exact producer schedule by depth-first branch and bound (a numba kernel), the engine of the ``milp`` optimiser.

The producer minimises the energy its jobs draw above its prediction, ``sum_k max(c_k - p_k, 0)`` (see
:mod:`.objective`). The LP relaxation of the MILP form is weak (a job split over its options smooths the
consumption), so HiGHS needed thousands of nodes to prove little. This search uses a combinatorial bound instead:
``max(., 0)`` is convex, so the overshoot a set of jobs adds to a partial schedule is at least the sum of what each
job adds alone, and each job alone is placed at its best option exactly (every option is evaluated). Hence at a node
with consumption ``c`` (the assigned jobs), ``overshoot(c) + sum over unassigned j of min_m increment_j(m | c)`` is a
lower bound on every completion. Branching takes the unassigned job whose best increment is largest (the most
constrained) and tries its options cheapest first; since the other jobs' increments can only grow when a job is
added, an option whose increment plus the others' bound reaches the incumbent ends the loop over that job's options.

Deterministic: no randomness, no clock; ties keep the first job index and the first option in a stable sort. The work
limit is a node count (an option tried); when it binds the incumbent (never worse than the start) is returned and the
caller counts it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from vppfed.federates.neighbourhood.objective import SlotObjective


@dataclass
class SearchResult:
    """Best option indices found, their overshoot (Wh), nodes used and whether the node limit stopped the search."""

    indices: np.ndarray
    overshoot_wh: float
    nodes: int
    node_limit: bool


@njit(cache=True)
def _increment(cons, ka, energy, j, m):
    """Overshoot option ``m`` of job ``j`` adds to consumption-minus-production ``cons`` (Wh)."""
    n_slots = cons.size
    s = 0.0
    k0 = ka[j, m]
    for t in range(energy.shape[2]):
        k = k0 + t
        if k >= n_slots:
            break
        e = energy[j, m, t]
        if e == 0.0:
            continue
        c = cons[k]
        s += max(c + e, 0.0) - max(c, 0.0)
    return s


@njit(cache=True)
def _increments(cons, ka, energy, counts, j, out):
    """:func:`_increment` of every option of job ``j`` into ``out``; returns the minimum."""
    best = np.inf
    for m in range(counts[j]):
        s = _increment(cons, ka, energy, j, m)
        out[m] = s
        if s < best:
            best = s
    return best


@njit(cache=True)
def _search(rest0, ka, energy, counts, x_best, best, max_nodes, gap):
    """Depth-first branch and bound; ``x_best``/``best`` are the incumbent (updated in place / returned)."""
    n, mmax, width = energy.shape
    n_slots = rest0.size
    cons = np.empty((n + 1, n_slots))
    cons[0, :] = rest0
    cur = np.zeros(n + 1)
    for k in range(n_slots):
        if rest0[k] > 0.0:
            cur[0] += rest0[k]
    assigned = np.zeros(n, dtype=np.bool_)
    job_at = np.zeros(n, dtype=np.int64)
    order = np.zeros((n, mmax), dtype=np.int64)
    inc_at = np.zeros((n, mmax))
    pos = np.zeros(n, dtype=np.int64)
    others = np.zeros(n)
    inc = np.zeros((n + 1, n, mmax))   # increments per depth: a child recomputes only the options it overlaps
    mins = np.zeros(n)
    x = np.zeros(n, dtype=np.int64)
    reach = np.zeros(n_slots, dtype=np.bool_)
    job_energy = np.zeros(n)
    lo = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    for j in range(n):
        job_energy[j] = np.inf
        lo[j] = n_slots
        for m in range(counts[j]):
            e = 0.0
            for t in range(width):
                if ka[j, m] + t < n_slots:
                    e += energy[j, m, t]
            job_energy[j] = min(job_energy[j], e)
            lo[j] = min(lo[j], ka[j, m])
            hi[j] = max(hi[j], min(ka[j, m] + width, n_slots))
    nodes = 0
    hit = False
    d = 0
    expand = True
    while True:
        if expand:
            expand = False
            if d == n:
                if cur[d] < best - 1e-9:
                    best = cur[d]
                    x_best[:] = x
                d -= 1
                if d < 0:
                    break
                continue
            total = 0.0
            pick = -1
            pick_min = -1.0
            if d > 0:
                placed = job_at[d - 1]
                a = ka[placed, x[placed]]
            for j in range(n):
                if assigned[j]:
                    continue
                if d == 0:
                    mn = _increments(cons[d], ka, energy, counts, j, inc[d, j])
                else:
                    # only options whose slots overlap the job placed last see a different consumption
                    mn = np.inf
                    for m in range(counts[j]):
                        if ka[j, m] < a + width and ka[j, m] + width > a:
                            v = _increment(cons[d], ka, energy, j, m)
                        else:
                            v = inc[d - 1, j, m]
                        inc[d, j, m] = v
                        if v < mn:
                            mn = v
                mins[j] = mn
                total += mn
                # most constrained first; among equals (near the root every job fits alone) the largest job
                if pick < 0 or mn > pick_min or (mn == pick_min and job_energy[j] > job_energy[pick]):
                    pick_min = mn
                    pick = j
            # volume bound: the unassigned jobs' energy beyond the free capacity of the slots they can reach is drawn
            # above the prediction whatever their options (what the LP bound sees when production is scarce)
            volume = 0.0
            reach[:] = False
            for j in range(n):
                if not assigned[j]:
                    volume += job_energy[j]
                    reach[lo[j]:hi[j]] = True
            for k in range(n_slots):
                if reach[k] and cons[d, k] < 0.0:
                    volume += cons[d, k]
            if volume > total:
                total_bound = volume
            else:
                total_bound = total
            if cur[d] + total_bound >= best - max(1e-9, gap * best):
                d -= 1
                if d < 0:
                    break
                continue
            c = counts[pick]
            order[d, :c] = np.argsort(inc[d, pick, :c], kind="mergesort")
            inc_at[d, :c] = inc[d, pick, :c]
            job_at[d] = pick
            others[d] = total - mins[pick]
            pos[d] = 0
            assigned[pick] = True
        j = job_at[d]
        if pos[d] < counts[j]:
            m = order[d, pos[d]]
            pos[d] += 1
            value = cur[d] + inc_at[d, m]
            if value + others[d] >= best - max(1e-9, gap * best):
                pos[d] = counts[j]
                continue
            nodes += 1
            if nodes > max_nodes:
                hit = True
                break
            cons[d + 1, :] = cons[d, :]
            k0 = ka[j, m]
            for t in range(width):
                k = k0 + t
                if k >= n_slots:
                    break
                cons[d + 1, k] += energy[j, m, t]
            cur[d + 1] = value
            x[j] = m
            d += 1
            expand = True
        else:
            assigned[j] = False
            d -= 1
            if d < 0:
                break
    return best, nodes, hit


def packed(objective: SlotObjective) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First slot ``(n, M)``, Wh per slot ``(n, M, W)`` (zero padded) and option count ``(n,)`` of the free jobs."""
    n = len(objective.free)
    counts = np.array([job.count for job in objective.free], dtype=np.int64)
    parts = [objective.option_energies(j) for j in range(n)]
    width = max(e.shape[1] for _, e in parts)
    ka = np.zeros((n, int(counts.max())), dtype=np.int64)
    energy = np.zeros((n, int(counts.max()), width))
    for j, (k_a, e) in enumerate(parts):
        ka[j, :k_a.size] = k_a
        energy[j, :e.shape[0], :e.shape[1]] = e
    return ka, energy, counts


def branch_and_bound(objective: SlotObjective, start: np.ndarray, max_nodes: int, gap: float = 1e-4,
                     cutoff_wh: float | None = None) -> SearchResult:
    """Schedule of least overshoot, searched from the incumbent ``start`` (option indices).

    Parameters
    ----------
    objective : SlotObjective
        The producer's objective.
    start : numpy.ndarray
        A schedule to beat (a good one, e.g. from :func:`~.optimisers.pair_descent`, prunes most of the tree).
    max_nodes : int
        Work limit: options tried. When it binds the best schedule found so far is returned (``node_limit``).
    gap : float
        Relative gap: subtrees whose bound is within ``gap`` of the incumbent are not searched.
    cutoff_wh : float, optional
        Only schedules with at most this overshoot matter (the producer declines the job otherwise). When ``start``
        is above it the search begins with the cutoff as its incumbent value, so subtrees that cannot reach it are
        pruned at once; when nothing reaches it, ``start`` is returned (the decision is then proven, not the
        schedule, which a declined job never uses).
    """
    ka, energy, counts = packed(objective)
    x = np.asarray(start, dtype=np.int64).copy()
    rest0 = objective.base - objective.production
    best0 = objective.overshoot_wh(x)
    if cutoff_wh is not None and best0 > cutoff_wh + 1e-7:
        best0 = cutoff_wh + 1e-7
    best, nodes, hit = _search(rest0, ka, energy, counts, x, best0, int(max_nodes), float(gap))
    return SearchResult(x, objective.overshoot_wh(x), int(nodes), bool(hit))


def neighbourhood_search(objective: SlotObjective, start: np.ndarray, group: int = 4, group_nodes: int = 2000,
                         max_passes: int = 10) -> tuple[np.ndarray, int]:
    """Re-solve small groups of overlapping jobs exactly, the others held, until no group improves.

    The group of job ``j`` is ``j`` and the ``group - 1`` jobs whose slot ranges overlap it most (ties by index);
    each group is searched by :func:`_search` against the consumption of the held jobs, under ``group_nodes``. A
    generalisation of pair descent (``group=2`` is the exhaustive pair scan) that gives the full search an incumbent
    close to the optimum, which is what prunes its tree. Deterministic. Returns the schedule and the nodes used.
    """
    ka, energy, counts = packed(objective)
    n = len(objective.free)
    x = np.asarray(start, dtype=np.int64).copy()
    if n < 2:
        return x, 0
    lo = np.array([ka[j, :counts[j]].min() for j in range(n)])
    hi = np.array([ka[j, :counts[j]].max() + energy.shape[2] for j in range(n)])
    overlap = np.minimum(hi[:, None], hi[None, :]) - np.maximum(lo[:, None], lo[None, :])
    np.fill_diagonal(overlap, 0)
    groups = []
    for j in range(n):
        near = [int(i) for i in np.argsort(-overlap[j], kind="stable") if overlap[j, i] > 0][:group - 1]
        members = np.array(sorted([j] + near), dtype=np.int64)
        if members.size > 1 and not any(np.array_equal(members, g) for g in groups):
            groups.append(members)
    nodes = 0
    for _ in range(max_passes):
        improved = False
        for members in groups:
            held = np.ones(n, dtype=bool)
            held[members] = False
            rest = objective.consumption(x, held) - objective.production
            before = objective.overshoot_wh(x)
            sub = x[members].copy()
            best, used, _ = _search(rest, ka[members], energy[members], counts[members], sub, before,
                                    int(group_nodes), 0.0)
            nodes += int(used)
            if best < before - 1e-9:
                x[members] = sub
                improved = True
        if not improved:
            break
    return x, nodes


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernel on a tiny instance; seconds taken."""
    import time

    tic = time.perf_counter()
    ka = np.array([[0, 1], [0, 1]], dtype=np.int64)
    energy = np.ones((2, 2, 2))
    x = np.zeros(2, dtype=np.int64)
    _search(np.array([-1.0, -1.0, -1.0]), ka, energy, np.array([2, 2], dtype=np.int64), x, 10.0, 100, 1e-4)
    return time.perf_counter() - tic
