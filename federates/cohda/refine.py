"""Token refinement after COHDA: one annealing token walks the overlay, then a greedy tour makes the result 1-opt.

Why: COHDA ends at a 1-opt point of the L1 distance (no single agent can improve the shared candidate). On
instances whose agents hold few, very different schedules (blocks, on/off sequences) those points are far from the
optimum, and COHDA's strict "only better" rule cannot leave them; mango-library's COHDA stops at the same kind of
point. Accepting a worse schedule now and then (Metropolis acceptance at a falling temperature) leaves them, and a
residual vector is all an agent needs to judge its own move.

The protocol is distributed like COHDA itself: after COHDA has terminated every agent holds the same complete
candidate, so every agent knows the residual ``r = target - aggregate``. The controller hands a token to one seeded
agent. The token carries ``r`` (T floats), the current and best distance, the hop number, the hop of the best state
and the temperature schedule. The holder proposes one seeded alternative of its *own* schedule, accepts it by the
Metropolis rule (the change of the distance is computed from ``r`` and its own two schedules only), remembers its
choice with the hop number, and sends the token to a seeded random overlay neighbour. After the hop budget the token
makes one depth-first tour of the overlay (neighbour to neighbour) telling every agent to go back to its choice at
the best hop, then greedy tours in which each holder takes its best schedule for the carried residual, until one
tour changes nothing (so the result is 1-opt, like COHDA's). The last holder returns the token to the controller;
termination is trivial (one message in flight at any time). Every agent's decision uses only its own schedules and
the token it received from a neighbour.

The kernel below plays that protocol in one process; ``bestsel`` is the agents' "choice at the best hop" memory
kept as one array. Same seed, same hops, same result.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass
class RefineStats:
    """What the token did: hops of the annealing walk and of the greedy tours, accepted moves, distances (kW)
    before and after, token bytes (every hop is one message: walk, the revert tour and the greedy tours), seconds,
    and ``messages``, the token messages those bytes are made of (walk + revert tour + greedy tours), so a total of
    messages can add them to COHDA's own."""

    hops: int
    tour_hops: int
    accepted: int
    before: float
    after: float
    bytes: int
    seconds: float
    messages: int = 0


@njit(cache=True)
def _anneal(S, target, wts, sel, indptr, indices, hops, t_start, t_end, seed):
    np.random.seed(seed)
    n, m, nt = S.shape
    r = target.copy()
    for i in range(n):
        for t in range(nt):
            r[t] -= S[i, sel[i], t]
    cur = 0.0
    for t in range(nt):
        cur += wts[t] * abs(r[t])
    best = cur
    bestsel = sel.copy()
    accepted = 0
    a = np.random.randint(n)
    ratio = t_end / t_start
    for h in range(hops):
        temp = t_start * ratio ** (h / hops)
        s = sel[a]
        if m > 1:
            j = np.random.randint(m - 1)
            if j >= s:
                j += 1
            d = 0.0
            for t in range(nt):
                d += wts[t] * (abs(r[t] + S[a, s, t] - S[a, j, t]) - abs(r[t]))
            if d <= 0.0 or np.random.random() < np.exp(-d / temp):
                for t in range(nt):
                    r[t] += S[a, s, t] - S[a, j, t]
                sel[a] = j
                cur += d
                accepted += 1
                if cur < best - 1e-9 * max(1.0, best):
                    best = cur
                    bestsel[:] = sel
        deg = indptr[a + 1] - indptr[a]
        if deg > 0:
            a = indices[indptr[a] + np.random.randint(deg)]
    return bestsel, accepted


@njit(cache=True)
def _tour(n, indptr, indices, start):
    """Depth-first traversal of the overlay from ``start`` as the token walks it (every hop to a neighbour,
    back-tracking included): the sequence of holders, each agent of ``start``'s component at least once."""
    seen = np.zeros(n, dtype=np.bool_)
    order = np.empty(2 * n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    nxt = indptr[:-1].copy()
    k = 0
    top = 0
    stack[0] = start
    seen[start] = True
    order[k] = start
    k += 1
    while top >= 0:
        a = stack[top]
        moved = False
        while nxt[a] < indptr[a + 1]:
            b = indices[nxt[a]]
            nxt[a] += 1
            if not seen[b]:
                seen[b] = True
                top += 1
                stack[top] = b
                order[k] = b
                k += 1
                moved = True
                break
        if not moved:
            top -= 1
            if top >= 0:
                order[k] = stack[top]
                k += 1
    return order[:k]


@njit(cache=True)
def _greedy_tours(S, target, wts, sel, order, max_tours):
    n, m, nt = S.shape
    r = target.copy()
    for i in range(n):
        for t in range(nt):
            r[t] -= S[i, sel[i], t]
    hops = 0
    for _ in range(max_tours):
        changed = False
        for a in order:
            hops += 1
            s = sel[a]
            best_j = s
            best_d = 0.0
            for j in range(m):
                if j == s:
                    continue
                d = 0.0
                for t in range(nt):
                    d += wts[t] * (abs(r[t] + S[a, s, t] - S[a, j, t]) - abs(r[t]))
                if d < best_d - 1e-9:
                    best_d = d
                    best_j = j
            if best_j != s:
                for t in range(nt):
                    r[t] += S[a, s, t] - S[a, best_j, t]
                sel[a] = best_j
                changed = True
        if not changed:
            break
    return hops


def _csr(n: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    e = e[e[:, 0] != e[:, 1]]
    e = np.unique(np.concatenate([e, e[:, ::-1]]), axis=0)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, e[:, 0] + 1, 1)
    return np.cumsum(indptr), e[:, 1].copy()


def default_hops(agents: int) -> int:
    """Hop budget of the annealing walk: 10,000 per agent up to 4 million. Each hop costs O(T): at T = 96 one
    million hops took 0.3 CPU seconds here, so 100 agents stay well under 1 s and 1,000 agents add about 1.2 s."""
    return int(min(10_000 * agents, 4_000_000))


def token_refine(schedules: np.ndarray, target: np.ndarray, selection: np.ndarray, edges: np.ndarray,
                 weights: np.ndarray | None = None, seed: int = 0, hops: int | None = None,
                 t_start: float = 30.0, t_end: float = 0.01,
                 max_tours: int = 50) -> tuple[np.ndarray, RefineStats]:
    """Refine a complete COHDA selection with the annealing token and greedy tours (see the module docstring).

    Parameters
    ----------
    schedules : ndarray (N, M, T), kW
    target : ndarray (T,), kW
    selection : ndarray (N,) of schedule indices (COHDA's result)
    edges : (E, 2) overlay edges; the token only moves along them
    weights : optional (T,) interval weights of the L1 distance
    seed : seeds the first holder, the proposals, acceptances and neighbour choices
    hops : length of the annealing walk (default :func:`default_hops`)
    t_start, t_end : temperature at the first and the last hop as multiples of the start's mean absolute residual
        per interval (kW), so the schedule scales with the instance

    Returns
    -------
    selection : ndarray (N,), never farther from the target than the input
    stats : RefineStats
    """
    t0 = time.perf_counter()
    s = np.ascontiguousarray(schedules, dtype=np.float64)
    n, m, nt = s.shape
    tgt = np.ascontiguousarray(target, dtype=np.float64)
    w = np.ones(nt) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    sel0 = np.asarray(selection, dtype=np.int64).copy()

    def dist(sel: np.ndarray) -> float:
        return float(np.abs(tgt - s[np.arange(n), sel].sum(axis=0)) @ w)

    before = dist(sel0)
    hops = default_hops(n) if hops is None else int(hops)
    indptr, indices = _csr(n, edges)
    scale = before / max(1.0, float(w.sum()))
    accepted = 0
    sel = sel0.copy()
    if hops > 0 and scale > 0 and m > 1:
        sel, accepted = _anneal(s, tgt, w, sel, indptr, indices, hops, t_start * scale, t_end * scale, seed)
    start = int(np.random.default_rng(seed).integers(n))
    order = _tour(n, indptr, indices, start)
    # agents outside the start's component (a disconnected overlay) are visited by their own tours
    seen = np.zeros(n, dtype=bool)
    seen[order] = True
    parts = [order]
    for a in np.flatnonzero(~seen):
        if not seen[a]:
            part = _tour(n, indptr, indices, int(a))
            seen[part] = True
            parts.append(part)
    order = np.concatenate(parts)
    tour_hops = int(_greedy_tours(s, tgt, w, sel, order, max_tours))
    after = dist(sel)
    if after > before:  # cannot happen (best state, then only improving moves); keep the guarantee explicit
        sel, after = sel0, before
    token_bytes = 8 * nt + 40
    messages = hops + len(order) + tour_hops
    return sel, RefineStats(hops, tour_hops, int(accepted), before, after, messages * token_bytes,
                            time.perf_counter() - t0, messages)


def warm_up() -> float:
    """Load (or the first time compile) the refinement kernels; returns the seconds it took (timed apart from a
    negotiation, like :func:`.compiled.warm_up`)."""
    if _anneal.signatures and _greedy_tours.signatures:
        return 0.0
    t0 = time.perf_counter()
    token_refine(np.array([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]]), np.array([1.0, 1.0]),
                 np.zeros(2, dtype=np.int64), np.array([[0, 1]]), hops=10)
    return time.perf_counter() - t0
