"""The compiled in-process COHDA engine: every agent's working memory as rows of shared arrays, numba kernels.

:func:`run_compiled` takes what :meth:`CohdaController.start` returns (catalogue, init messages with the overlay,
starters and warm start) and plays the negotiation with the rules of :mod:`.compiled_kernels` (the same rules as
:class:`.agent.CohdaAgent`), then reports every agent's candidate to the controller, which merges the final
selection as on any transport. Timing model: messages arrive at once, a woken agent reacts after a seeded uniform
``wake_delay`` (or at its next ``tick``), like the Python simulator's defaults where the message delay (0.01-0.02) is
tiny next to the reaction delay (0-10). Same seed, same events, same bytes.

Memory is O(N^2) (each agent knows everyone's entry): 18 bytes per agent pair, 2.4 GB resident at 10,000 agents.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from vppfed.federates.cohda import compiled_kernels as k
from vppfed.federates.cohda.controller import CohdaController, Member
from vppfed.federates.cohda.data import Catalogue, SolutionCandidate
from vppfed.federates.cohda.inproc import InprocConfig, RunStats, TraceRow
from vppfed.federates.cohda.messages import CONTROLLER, InitMessage, ResultMessage

log = logging.getLogger(__name__)

_OBJECTIVES = {"l1": 0, "peak": 1, "valley": 2}
_RAND_BLOCK = 1 << 20
_CHUNK_EVENTS = 50_000


@dataclass
class EngineState:
    """All arrays of one negotiation (see :mod:`.compiled_kernels` for the layout)."""

    S: tuple
    A: tuple
    C: tuple
    L: tuple
    E: tuple
    H: tuple
    iscal: np.ndarray
    fscal: np.ndarray
    trace: np.ndarray
    phase: np.ndarray
    xbuf: np.ndarray
    starters: np.ndarray
    max_degree: int


def _csr(n: int, inits: list[InitMessage]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacency in CSR order (each agent's neighbours as in its init message) and the reverse edge of each edge."""
    deg = np.array([len(m.neighbours) for m in inits], dtype=np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    indices = np.concatenate([np.asarray(m.neighbours, dtype=np.int64) for m in inits]) if n else \
        np.zeros(0, np.int64)
    src = np.repeat(np.arange(n, dtype=np.int64), deg)
    # reverse edge: the position of (b -> a) for each (a -> b); both directions exist in an undirected overlay
    order = np.lexsort((indices, src))
    pair = src * n + indices
    back = indices * n + src
    lookup = np.searchsorted(pair[order], back)
    rev = order[np.minimum(lookup, len(order) - 1)] if len(order) else np.zeros(0, np.int64)
    if len(order) and not np.array_equal(pair[rev], back):
        raise ValueError("the overlay is not symmetric: every neighbour must list the agent back")
    return indptr, indices, rev


def build_state(catalogue: Catalogue, inits: list[InitMessage], config: InprocConfig,
                seed: int) -> EngineState:
    """Allocate and initialise the arrays: each agent knows itself (or the warm-start configuration)."""
    n, m = catalogue.n_agents, catalogue.n_options
    nt = catalogue.intervals
    first = inits[0]
    code = _OBJECTIVES.get(first.objective)
    if code is None:
        raise ValueError(f"unknown objective {first.objective!r}")
    sched = np.ascontiguousarray(catalogue.schedules, dtype=np.float64)
    costs = np.zeros((n, m + 1)) if catalogue.costs is None else np.ascontiguousarray(catalogue.costs, float)
    target = np.ascontiguousarray(first.target, dtype=np.float64)
    wts = np.ones(nt) if first.weights is None else np.ascontiguousarray(first.weights, dtype=np.float64)
    indptr, indices, rev = _csr(n, inits)
    aid = np.asarray(catalogue.ids, dtype=np.int64)
    S = (sched, costs, target, wts, indptr, indices, rev, aid)

    sdt = np.int16 if m < 2 ** 15 - 1 else np.int32
    cnt = np.full((n, n), -1, dtype=np.int32)
    sel = np.full((n, n), m, dtype=sdt)
    known = np.zeros(n, dtype=np.int64)
    tot = np.zeros((n, nt))
    sccost = np.zeros(n)
    upd = np.zeros(n, dtype=np.int64)
    chg_src = np.full((n, n), k.NONE, dtype=np.int16 if indptr.size < 2 or np.diff(indptr).max() < 2 ** 15
                      else np.int32)
    chg_list = np.zeros((n, n), dtype=np.int32)
    chg_n = np.zeros(n, dtype=np.int64)
    chg_old = np.full((n, n), -1, dtype=np.int32)   # by list position: the counter folded into the aggregate
    acand = np.full(n, -1, dtype=np.int64)
    serial = np.zeros(n, dtype=np.int64)
    dirty = np.zeros(n, dtype=np.bool_)
    wake = np.zeros(n, dtype=np.bool_)
    deficit = np.zeros(n, dtype=np.int64)
    parent = np.full(n, k.CONTROLLER, dtype=np.int64)
    fresh = np.array([not msg.starter for msg in inits], dtype=np.bool_)
    rsel = np.full(n, m, dtype=sdt)
    rtot = np.zeros(nt)
    rcost = np.zeros(1)
    A = (cnt, sel, known, tot, sccost, upd, chg_src, chg_list, chg_n, chg_old, acand, serial, dirty, wake, deficit,
         parent, fresh, rsel, rtot, rcost)

    pool = n + 2
    C = (np.full((pool, n), m, dtype=sdt), np.zeros((pool, nt)), np.zeros(pool, np.int64), np.zeros(pool, np.int64),
         np.zeros(pool, np.int64), np.zeros(pool), np.zeros(pool), np.zeros(pool, np.int64),
         np.arange(pool - 1, -1, -1, dtype=np.int64))
    csel, ctot, ccreator, cserial, ccov, cperf, ccost, cref, _free = C
    e = indices.size
    E = (np.full(e, -1, dtype=np.int64), np.full(e, np.inf), np.zeros(e, np.int64), np.zeros(e, np.int64))
    H = (np.zeros(n), np.zeros(n, np.int64), np.zeros(n, np.int64))
    iscal = np.zeros(k.I_N, dtype=np.int64)
    iscal[k.I_FREE] = pool
    iscal[k.I_ROOT] = n
    iscal[k.I_OBJ] = code
    fscal = np.zeros(7)
    fscal[k.F_BEST_PERF] = np.inf
    iscal[k.I_BEST_CR] = np.iinfo(np.int64).max
    fscal[k.F_CW] = catalogue.cost_weight
    fscal[k.F_STOP] = np.inf if config.stop_at is None else float(config.stop_at)
    fscal[k.F_WLO], fscal[k.F_WHI] = config.wake_delay
    fscal[k.F_TICK] = config.tick or 0.0
    rng = np.random.default_rng(seed)
    phase = rng.random(n) * config.tick if config.tick else np.zeros(n)

    init_sel = np.array([msg.init_index for msg in inits], dtype=np.int64)
    slots = np.arange(n)
    initial = first.initial
    if initial is not None:
        covered = initial.sel != m
        cnt[:, covered] = 0
        sel[:, :] = initial.sel
        known[:] = int(covered.sum())
        tot[:, :] = initial.total
        sccost[:] = initial.cost
        iscal[k.I_FREE] -= 1
        p = int(_free[iscal[k.I_FREE]])
        csel[p] = initial.sel
        ctot[p] = initial.total
        ccreator[p], cserial[p], ccov[p] = initial.creator, initial.serial, initial.coverage
        cperf[p], ccost[p], cref[p] = initial.perf, initial.cost, n
        acand[:] = p
    else:
        cnt[slots, slots] = 0
        sel[slots, slots] = init_sel
        known[:] = 1
        tot[:] = sched[slots, init_sel]
        sccost[:] = costs[slots, init_sel]
        iscal[k.I_FREE] -= n
        ps = _free[iscal[k.I_FREE]:iscal[k.I_FREE] + n][::-1].copy()
        csel[ps, slots] = init_sel
        ctot[ps] = tot
        ccreator[ps], cserial[ps], ccov[ps] = aid, 0, 1
        cperf[ps], ccost[ps], cref[ps] = np.inf, sccost, 1
        acand[:] = ps
    rsel[:] = sel[slots, slots]
    k.resum_reference(S, A, iscal)
    chg_src[slots, slots] = k.SELF
    chg_list[:, 0] = slots
    chg_n[:] = 1
    chg_old[:, 0] = cnt[slots, slots]
    size = 4 * n + 1024
    L = (np.zeros((size, nt)), np.full(size, -1, dtype=np.int64), np.zeros(size, dtype=sel.dtype),
         np.full(n, -1, dtype=np.int64), sel[slots, slots].astype(sel.dtype), np.zeros(size))
    starters = np.array([msg.starter for msg in inits], dtype=np.bool_)
    deg = np.diff(indptr)
    return EngineState(S, A, C, L, E, H, iscal, fscal, np.zeros((4096, 4)), phase, np.zeros(nt), starters,
                       int(deg.max()) if deg.size else 0)


def _grow_log(L: tuple) -> tuple:
    """Twice the change log's capacity (the per-slot pointers and init indices keep their size)."""
    delta, prev, new, last, init, dcost = L
    size = delta.shape[0]

    def grow(a: np.ndarray, fill: float) -> np.ndarray:
        return np.concatenate([a, np.full((size,) + a.shape[1:], fill, dtype=a.dtype)])

    return grow(delta, 0.0), grow(prev, -1), grow(new, 0), last, init, grow(dcost, 0.0)


def _candidate(state: EngineState, p: int, cache: dict[int, SolutionCandidate]) -> SolutionCandidate:
    cand = cache.get(p)
    if cand is None:
        csel, ctot, ccreator, cserial, ccov, cperf, ccost = state.C[:7]
        n_options = state.S[0].shape[1] - 1
        sel = csel[p].copy()
        sel.setflags(write=False)
        cand = SolutionCandidate(int(ccreator[p]), int(cserial[p]), sel, int(ccov[p]), float(cperf[p]),
                                 ctot[p].copy(), float(ccost[p]), n_options)
        cache[p] = cand
    return cand


def warm_up() -> float:
    """Load (or, the first time after installation, compile) the kernels; returns the seconds it took.

    Numba keeps compiled kernels in its on-disk cache beside the module; loading them takes about half a second
    per process, compiling about half a minute. Callers time this apart from the negotiation.
    """
    if k.run_events.signatures:
        return 0.0
    t0 = time.perf_counter()
    controller = CohdaController()
    for i in range(2):
        controller.join(Member(i, np.array([[0.0, 1.0], [1.0, 0.0]]), None, 0))
    catalogue, inits = controller.start(np.array([1.0, 1.0]))
    run_compiled(controller, catalogue, inits, 0, InprocConfig(trace=False))
    return time.perf_counter() - t0


def negotiate(state: EngineState, seed: int, config: InprocConfig, progress=None,
              started: tuple[float, float] | None = None) -> tuple[bool, list[tuple[int, float, float]]]:
    """Play the negotiation in ``state`` until termination or an anytime stop (budgets of ``config`` counted from
    ``started`` = (wall, CPU) clock readings, default now); returns whether it terminated and the (events, wall
    seconds, CPU seconds) at the end of each chunk of events, to time the trace.

    After an anytime stop, agents that were woken but not yet active finish their decide.
    """
    wall0, cpu0 = started or (time.perf_counter(), time.process_time())
    rng = np.random.default_rng(seed + 1)
    rand = rng.random(_RAND_BLOCK)
    iscal, fscal = state.iscal, state.fscal
    # budgets are checked between chunks: small chunks when there is a budget, so it is kept to about a millisecond
    budget = config.cpu_limit is not None or config.wall_limit is not None
    chunk = 1024 if budget else _CHUNK_EVENTS
    chunks = [(0, 0.0, 0.0)]
    k.start(state.S, state.A, state.C, state.L, state.E, state.H, iscal, fscal, state.trace, rand, state.phase,
            state.xbuf, state.starters)
    terminated = bool(iscal[k.I_TERM])
    while not terminated:
        status = k.run_events(state.S, state.A, state.C, state.L, state.E, state.H, iscal, fscal, state.trace, rand,
                              state.phase, state.xbuf, chunk, state.max_degree)
        chunks.append((int(iscal[k.I_EVENTS]), time.perf_counter() - wall0, time.process_time() - cpu0))
        if progress is not None:
            progress(int(iscal[k.I_EVENTS]), int(iscal[k.I_MSGS]), float(fscal[k.F_BEST_PERF]))
        if status == 0:
            terminated = True
            break
        if status == 2:
            rest = rand[iscal[k.I_RAND]:]
            rand = np.concatenate([rest, rng.random(_RAND_BLOCK)])
            iscal[k.I_RAND] = 0
        elif status == 3:
            state.trace = np.concatenate([state.trace, np.zeros_like(state.trace)])
        elif status == 6:
            state.L = _grow_log(state.L)
        elif status == 4:
            log.info("anytime stop at simulated time %.1f", config.stop_at)
            break
        elif status == 5:
            raise RuntimeError("COHDA engine: no event left but the negotiation has not terminated")
        if iscal[k.I_EVENTS] > config.max_events or (
                config.wall_limit is not None and time.perf_counter() - wall0 > config.wall_limit) or (
                config.cpu_limit is not None and time.process_time() - cpu0 > config.cpu_limit):
            log.warning("event or time budget exhausted after %d events: anytime stop", iscal[k.I_EVENTS])
            break
    if not terminated:
        # every woken agent may still decide and bump once: room for one log entry each
        while state.L[1].shape[0] - iscal[k.I_LOG] <= state.A[0].shape[0]:
            state.L = _grow_log(state.L)
        k.finish_pending(state.S, state.A, state.C, state.L, iscal, fscal, state.trace, state.xbuf)
    return terminated, chunks


def run_compiled(controller: CohdaController, catalogue: Catalogue, inits: list[InitMessage], seed: int = 0,
                 config: InprocConfig = InprocConfig(), progress=None) -> RunStats:
    """Run one negotiation to termination (or anytime stop) and hand every agent's result to ``controller``.

    Returns the same :class:`RunStats` as the Python simulator; ``control_*`` count init, acknowledgement, stop and
    result messages. ``progress(events, messages, best_perf)`` is called between chunks of events if given.
    """
    started = time.perf_counter(), time.process_time()
    n = catalogue.n_agents
    state = build_state(catalogue, inits, config, seed)
    iscal, fscal = state.iscal, state.fscal
    # init messages: header plus the neighbour list varies per agent, the rest is the same for all
    base = inits[0].nbytes() - 4 * len(inits[0].neighbours)
    control_messages = n
    control_bytes = sum(base + 4 * len(msg.neighbours) for msg in inits)
    terminated, chunks = negotiate(state, seed, config, progress, started)
    neg = controller.current
    neg.terminated = terminated
    neg.stopping = True
    cache: dict[int, SolutionCandidate] = {}
    acand, sel = state.A[10], state.A[1]
    for s in range(n):
        cand = _candidate(state, int(acand[s]), cache)
        msg = ResultMessage(s, CONTROLLER, cand, int(sel[s, s]), s, neg.number)
        control_messages += 2
        control_bytes += k.HEAD_BYTES + msg.nbytes()
        controller.on_result(msg)
    stats = RunStats(messages=int(iscal[k.I_MSGS]), bytes=int(iscal[k.I_BYTES]),
                     control_messages=control_messages + int(iscal[k.I_CMSGS]),
                     control_bytes=control_bytes + int(iscal[k.I_CBYTES]),
                     catalogue_bytes=int(catalogue.schedules[:, :-1].nbytes), activations=int(iscal[k.I_ACT]),
                     sim_time=float(fscal[k.F_T]), termination_time=float(fscal[k.F_T]) if terminated else None,
                     terminated=terminated, max_message_bytes=int(iscal[k.I_MAXB]))
    if config.trace:
        ev = np.array([c[0] for c in chunks], dtype=float)
        walls = np.array([c[1] for c in chunks])
        cpus = np.array([c[2] for c in chunks])
        for row in state.trace[:iscal[k.I_TRACE]]:
            stats.trace.append(TraceRow(float(row[0]), int(row[1]), float(np.interp(row[3], ev, walls)),
                                        float(row[2]), float(np.interp(row[3], ev, cpus))))
    stats.counts = {name: int(iscal[i]) for name, i in (
        ("decides", k.I_DECIDES), ("candidates_created", k.I_CREATED), ("bumps", k.I_BUMPS),
        ("reverts", k.I_REVERTS), ("events", k.I_EVENTS), ("entries", k.I_ENTRIES),
        ("partial_candidate_scans", k.I_SCANS), ("rebuilt_aggregates", k.I_FOLDS), ("rows_folded", k.I_ROWS),
        ("resums", k.I_RESUMS), ("log_hits", k.I_LOGHITS))}
    return stats
