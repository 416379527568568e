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

Identical jobs (PySSMic's inputs repeat devices: one producer of ``less_producers_test`` holds 29 jobs in 7 classes of
2-9 copies) are interchangeable, so each class is searched as a chain with non-decreasing options (:func:`twins`):
one schedule per multiset instead of every permutation. Options are re-evaluated only where they overlap the job
placed last, over each job's non-zero span (rows are padded to the widest job).

Deterministic: no randomness, no clock; ties keep the first job index and the first option in a stable sort. The work
limit is a node count (an option tried); when it binds the incumbent (never worse than the start) is returned and the
caller counts it. The coordinate descent and the group re-solves that give the search its incumbent are compiled
too (:func:`descent`, :func:`neighbourhood_search`), so a producer's solve spends no time in Python loops.
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
    return _increment_to(cons, ka, energy, j, m, energy.shape[2])


@njit(cache=True)
def _increment_to(cons, ka, energy, j, m, length):
    """:func:`_increment` over the first ``length`` slots of the option (the job's energy is zero after them)."""
    n_slots = cons.size
    s = 0.0
    k0 = ka[j, m]
    for t in range(length):
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
def _search(rest0, ka, energy, counts, twin, x_best, best, max_nodes, max_evals, gap):
    """Depth-first branch and bound; ``x_best``/``best`` are the incumbent (updated in place / returned).

    ``twin[j]`` is the previous job identical to ``j`` (same options, same energies) or -1. Identical jobs are
    interchangeable, so only schedules whose option indices do not decrease along each chain of twins are searched:
    a twin is branched on only after its predecessor and only on options at or after the predecessor's, and the
    bound of an unassigned twin is its best increment over those options.

    Two work limits, both counts: ``max_nodes`` options tried and ``max_evals`` option increments evaluated (a node
    of a large instance re-evaluates hundreds, of a small one a few). Returns the best value, the nodes, the
    evaluations and whether a limit stopped the search.
    """
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
    span = np.zeros(n, dtype=np.int64)   # slots up to a job's last non-zero energy: rows are padded to the widest job
    for j in range(n):
        for m in range(counts[j]):
            for t in range(width - 1, span[j] - 1, -1):
                if energy[j, m, t] != 0.0:
                    span[j] = t + 1
                    break
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
    low = np.zeros(n, dtype=np.int64)     # first option an unassigned job may take (its assigned twins' option)
    nxt = np.full(n, -1, dtype=np.int64)   # next twin
    for j in range(n):
        if twin[j] >= 0:
            nxt[twin[j]] = j
    nodes = 0
    evals = 0
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
                    _increments(cons[d], ka, energy, counts, j, inc[d, j])
                    evals += counts[j]
                else:
                    # only options whose slots overlap the job placed last see a different consumption
                    for m in range(counts[j]):
                        if ka[j, m] < a + span[placed] and ka[j, m] + span[j] > a:
                            inc[d, j, m] = _increment_to(cons[d], ka, energy, j, m, span[j])
                            evals += 1
                        else:
                            inc[d, j, m] = inc[d - 1, j, m]
                mn = np.inf
                for m in range(low[j], counts[j]):
                    if inc[d, j, m] < mn:
                        mn = inc[d, j, m]
                mins[j] = mn
                total += mn
                if twin[j] >= 0 and not assigned[twin[j]]:
                    continue   # its twin chain is branched on in order
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
            inc_at[d, :c] = inc[d, pick, :c]
            for i in range(c):   # stable insertion sort of the options by increment (no allocation per node)
                v = inc_at[d, i]
                p = i
                while p > 0 and inc_at[d, order[d, p - 1]] > v:
                    order[d, p] = order[d, p - 1]
                    p -= 1
                order[d, p] = i
            job_at[d] = pick
            others[d] = total - mins[pick]
            pos[d] = 0
            assigned[pick] = True
        j = job_at[d]
        if pos[d] < counts[j]:
            m = order[d, pos[d]]
            pos[d] += 1
            if m < low[j]:
                continue
            value = cur[d] + inc_at[d, m]
            if value + others[d] >= best - max(1e-9, gap * best):
                pos[d] = counts[j]
                continue
            nodes += 1
            if nodes > max_nodes or evals > max_evals:
                hit = True
                break
            cons[d + 1, :] = cons[d, :]
            k0 = ka[j, m]
            for t in range(span[j]):
                k = k0 + t
                if k >= n_slots:
                    break
                cons[d + 1, k] += energy[j, m, t]
            cur[d + 1] = value
            x[j] = m
            k = nxt[j]
            while k >= 0:
                low[k] = m
                k = nxt[k]
            d += 1
            expand = True
        else:
            assigned[j] = False
            k = nxt[j]
            while k >= 0:
                low[k] = low[j]
                k = nxt[k]
            d -= 1
            if d < 0:
                break
    return best, nodes, evals, hit


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


def twins(ka: np.ndarray, energy: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Previous identical job of each job (same option count, first slots and energies, bit for bit), or -1.

    PySSMic's neighbourhoods repeat devices: in ``less_producers_test`` a producer's 29 jobs fall into 7 classes of
    2-9 identical jobs, so without this the search revisits every permutation of a class (8! for one of them).
    """
    last: dict[bytes, int] = {}
    out = np.full(counts.size, -1, dtype=np.int64)
    for j in range(counts.size):
        c = int(counts[j])
        key = c.to_bytes(8, "little") + ka[j, :c].tobytes() + energy[j, :c].tobytes()
        out[j] = last.get(key, -1)
        last[key] = j
    return out


def branch_and_bound(objective: SlotObjective, start: np.ndarray, max_nodes: int, gap: float = 1e-4,
                     cutoff_wh: float | None = None, max_evals: int | None = None) -> SearchResult:
    """Schedule of least overshoot, searched from the incumbent ``start`` (option indices).

    Parameters
    ----------
    objective : SlotObjective
        The producer's objective.
    start : numpy.ndarray
        A schedule to beat (a good one, e.g. from :func:`~.optimisers.pair_descent`, prunes most of the tree).
    max_nodes : int
        Work limit: options tried. When it binds the best schedule found so far is returned (``node_limit``).
    max_evals : int, optional
        Second work limit: option increments evaluated (see :func:`_search`); None for none.
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
    evals_limit = np.iinfo(np.int64).max if max_evals is None else int(max_evals)
    best, nodes, _, hit = _search(rest0, ka, energy, counts, twins(ka, energy, counts), x, best0, int(max_nodes),
                                  evals_limit, float(gap))
    return SearchResult(x, objective.overshoot_wh(x), int(nodes), bool(hit))


@njit(cache=True)
def _place(cons, ka, energy, j, m, sign):
    """Add (``sign`` 1) or remove (-1) option ``m`` of job ``j`` to/from ``cons`` in place."""
    n_slots = cons.size
    k0 = ka[j, m]
    for t in range(energy.shape[2]):
        if k0 + t >= n_slots:
            break
        cons[k0 + t] += sign * energy[j, m, t]


@njit(cache=True)
def _consumption(rest0, ka, energy, x):
    """Consumption minus production with every job at its option ``x[j]``."""
    cons = rest0.copy()
    for j in range(x.size):
        _place(cons, ka, energy, j, x[j], 1.0)
    return cons


@njit(cache=True)
def _overshoot(cons):
    """Energy above the prediction (Wh) of consumption-minus-production ``cons``."""
    s = 0.0
    for k in range(cons.size):
        if cons[k] > 0.0:
            s += cons[k]
    return s


@njit(cache=True)
def _descent(rest0, ka, energy, counts, x, max_passes):
    """Coordinate descent in place: each job in turn to its best option given the others (first of equals), until a
    pass moves none (or ``max_passes``). The compiled form of :func:`~.optimisers.coordinate_descent`."""
    cons = _consumption(rest0, ka, energy, x)
    for _ in range(max_passes):
        improved = False
        for j in range(x.size):
            _place(cons, ka, energy, j, x[j], -1.0)
            best, best_m, current = np.inf, 0, np.inf
            for m in range(counts[j]):
                v = _increment(cons, ka, energy, j, m)
                if v < best:
                    best, best_m = v, m
                if m == x[j]:
                    current = v
            if best < current - 1e-9:
                x[j] = best_m
                improved = True
            _place(cons, ka, energy, j, x[j], 1.0)
        if not improved:
            break


@njit(cache=True)
def _group_passes(rest0, ka, energy, counts, x, groups, sizes, group_twins, group_nodes, max_passes):
    """Re-solve each group exactly (others held) until a pass improves none; returns the nodes used."""
    nodes = 0
    cons = _consumption(rest0, ka, energy, x)
    for _ in range(max_passes):
        improved = False
        for g in range(groups.shape[0]):
            members = groups[g, :sizes[g]]
            before = _overshoot(cons)
            rest = cons.copy()
            for i in range(members.size):
                _place(rest, ka, energy, members[i], x[members[i]], -1.0)
            sub = x[members].copy()
            best, used, _, _ = _search(rest, ka[members], energy[members], counts[members],
                                       group_twins[g, :sizes[g]], sub, before, group_nodes, np.iinfo(np.int64).max,
                                       0.0)
            nodes += used
            if best < before - 1e-9:
                for i in range(members.size):
                    x[members[i]] = sub[i]
                cons = _consumption(rest0, ka, energy, x)   # afresh, so no rounding drifts in over many moves
                improved = True
        if not improved:
            break
    return nodes


def descent(objective: SlotObjective, start: np.ndarray, max_passes: int = 50) -> np.ndarray:
    """Compiled coordinate descent from ``start`` (see :func:`_descent`); a new array."""
    ka, energy, counts = packed(objective)
    x = np.asarray(start, dtype=np.int64).copy()
    _descent(objective.base - objective.production, ka, energy, counts, x, int(max_passes))
    return x


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
    if not groups:
        return x, 0
    table = np.zeros((len(groups), group), dtype=np.int64)
    twin_table = np.full((len(groups), group), -1, dtype=np.int64)
    sizes = np.array([g.size for g in groups], dtype=np.int64)
    for i, members in enumerate(groups):
        table[i, :members.size] = members
        twin_table[i, :members.size] = twins(ka[members], energy[members], counts[members])
    nodes = _group_passes(objective.base - objective.production, ka, energy, counts, x, table, sizes, twin_table,
                          int(group_nodes), int(max_passes))
    return x, int(nodes)


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernel on a tiny instance; seconds taken."""
    import time

    tic = time.perf_counter()
    ka = np.array([[0, 1], [0, 1]], dtype=np.int64)
    energy = np.ones((2, 2, 2))
    x = np.zeros(2, dtype=np.int64)
    counts = np.array([2, 2], dtype=np.int64)
    rest0 = np.array([-1.0, -1.0, -1.0])
    _search(rest0, ka, energy, counts, twins(ka, energy, counts), x, 10.0, 100, 1000, 1e-4)
    _descent(rest0, ka, energy, counts, x, 1)
    _group_passes(rest0, ka, energy, counts, x, np.array([[0, 1]], dtype=np.int64), np.array([2], dtype=np.int64),
                  np.array([[-1, 0]], dtype=np.int64), 10, 1)
    return time.perf_counter() - tic
