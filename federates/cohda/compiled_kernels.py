"""Compiled (numba) kernels of the in-process COHDA engine: perceive, decide, act and termination for all agents.

Why a second implementation of the rules: the Python agents (:mod:`.agent`, used on HELICS and by the reference
in-process simulator) cost ~100 us per activation, so 1,000 agents took ~40 s and 10,000 did not finish in two
minutes. Here every agent's working memory is one row of shared arrays; the rules are the same, rule for rule (the
docstrings name the Python counterpart), and the tests check both engines on the same instances.

What costs at scale is that every agent learns every entry: N agents x (N + bumps) entries, each moving the agent's
cached aggregate by a T-vector. Two caches of the simulator (never read by an agent's decision, only used to compute
the same sum faster) keep that cheap: the change log (each bump's T-vector delta, in bump order, so the agents that
learn a change at about the same time read the same recent rows) and the reference aggregate (the sum over every
agent's own current entry) from which an agent's aggregate is rebuilt when it differs in fewer entries than it has
changed. Calls between kernels pass tuples of arrays, which costs reference counting per call: the per-entry loops
are written out in place.

State layout (all arrays are owned by :class:`vppfed.federates.cohda.compiled.EngineState`):

* ``A`` agents: ``cnt``/``sel`` (N x N) are the system configurations (row = agent, column = slot; counter -1 and
  index M mean unknown), ``tot``/``sccost`` their cached aggregates, ``chg_*`` the entries changed since the last
  act (list, count, source per slot: neighbour position or ``SELF``, and per list position the counter the
  aggregate still reflects), ``acand`` the pool id of the agent's candidate, then the reference selection and
  aggregate.
* ``L`` change log: per bump the T-vector delta, cost delta, new index and the previous bump of the same slot.
* ``C`` candidate pool: candidates are immutable and shared by reference (refcounted); a candidate's key on the wire
  is ``(creator, serial)``.
* ``E`` per directed edge (CSR position): what the agent knows the neighbour holds (candidate key, best complete
  candidate shown).
* Messages are delivered at once (zero network latency): the receiver merges the delta into its working memory on
  arrival and decides when it wakes, which is exactly what a receiver that buffers its inbox and perceives it all at
  wake-up would compute (merging is per message, in arrival order, either way). Wake-ups are the only events.
* Termination: Dijkstra-Scholten. The controller is the root of a diffusing computation; an agent that receives a
  step message while not engaged takes the sender as parent, otherwise it acknowledges at once; a passive agent
  (no pending wake-up) with no unacknowledged messages acknowledges its parent and leaves the tree. The controller
  has terminated when all its init messages are acknowledged. Integer counters only, no global observer.
"""
from __future__ import annotations

import numpy as np
from numba import njit

NONE = -1          # chg_src: slot not changed since the last act
SELF = -2          # chg_src: changed by the agent itself
CONTROLLER = -1    # parent: the controller (root)
IDLE = -3          # parent: not engaged
HEAD_BYTES = 13    # message header (type, sender, receiver, negotiation)
STEP_FIXED = 17    # header + entry count
ENTRY_BYTES = 10   # slot int32, counter int32, index int16
CAND_HEAD = 28     # flag byte + creator, serial, perf, coverage, n_slots, n_options, body kind

# iscal positions
I_SEQ, I_HEAP, I_FREE, I_MSGS, I_BYTES, I_MAXB, I_CMSGS, I_CBYTES, I_ACT, I_ROOT, I_TERM, I_EVENTS, I_RAND, \
    I_TRACE, I_DECIDES, I_CREATED, I_BUMPS, I_REVERTS, I_BEST_CR, I_BEST_SE, I_OBJ, I_ENTRIES, I_SCANS, I_FOLDS, \
    I_ROWS, I_RUPD, I_RESUMS, I_LOG, I_LOGHITS, I_N = range(30)
# fscal positions
F_T, F_BEST_PERF, F_CW, F_STOP, F_WLO, F_WHI, F_TICK = range(7)


@njit(cache=True)
def objective_value(total, target, wts, code):
    """Global objective of an aggregate: 0 weighted L1 to the target, 1 peak, 2 minus the valley (minimised)."""
    if code == 0:
        s = 0.0
        for t in range(total.shape[0]):
            s += wts[t] * abs(target[t] - total[t])
        return s
    if code == 1:
        return total.max()
    return -total.min()


@njit(cache=True, inline="always")
def rank_less(cov1, perf1, cr1, se1, cov2, perf2, cr2, se2):
    """COHDA's candidate order: more coverage, then lower perf, lower creator id (integer), lower serial."""
    if cov1 != cov2:
        return cov1 > cov2
    if perf1 != perf2:
        return perf1 < perf2
    if cr1 != cr2:
        return cr1 < cr2
    return se1 < se2


@njit(cache=True, inline="always")
def cand_key(C, p):
    ccreator, cserial = C[2], C[3]
    return (ccreator[p] + 1) * 4294967296 + cserial[p]


@njit(cache=True, inline="always")
def cand_less(C, p, q):
    ccov, cperf, ccreator, cserial = C[4], C[5], C[2], C[3]
    return rank_less(ccov[p], cperf[p], ccreator[p], cserial[p], ccov[q], cperf[q], ccreator[q], cserial[q])


@njit(cache=True, inline="always")
def cand_bytes(C, p, n):
    return CAND_HEAD + min(2 * n, 6 * C[4][p])


@njit(cache=True, inline="always")
def pool_alloc(C, iscal):
    free = C[8]
    iscal[I_FREE] -= 1
    p = free[iscal[I_FREE]]
    C[7][p] = 0
    return p


@njit(cache=True, inline="always")
def pool_hold(A, C, iscal, b, p):
    """Agent ``b`` adopts candidate ``p`` (shared by reference) and drops its old one."""
    acand = A[10]
    cref, free = C[7], C[8]
    cref[p] += 1
    old = acand[b]
    acand[b] = p
    if old >= 0:
        cref[old] -= 1
        if cref[old] == 0:
            free[iscal[I_FREE]] = old
            iscal[I_FREE] += 1


@njit(cache=True)
def note_best(C, iscal, fscal, trace, p, n):
    """Convergence trace: a complete candidate better than any seen so far."""
    if C[4][p] != n:
        return
    if rank_less(n, C[5][p], C[2][p], C[3][p], n, fscal[F_BEST_PERF], iscal[I_BEST_CR], iscal[I_BEST_SE]):
        fscal[F_BEST_PERF] = C[5][p]
        iscal[I_BEST_CR] = C[2][p]
        iscal[I_BEST_SE] = C[3][p]
        k = iscal[I_TRACE]
        if k < trace.shape[0]:
            trace[k, 0] = fscal[F_T]
            trace[k, 1] = iscal[I_MSGS]
            trace[k, 2] = C[5][p]
            trace[k, 3] = iscal[I_EVENTS]
            iscal[I_TRACE] = k + 1


@njit(cache=True)
def merge_candidate(S, A, C, iscal, fscal, trace, b, c):
    """Candidate merge on receipt (``agent.merge_candidates``); True if agent ``b`` now holds another candidate."""
    sched, costs, target, wts, aid = S[0], S[1], S[2], S[3], S[7]
    acand, serial = A[10], A[11]
    csel, ctot, ccreator, cserial, ccov, cperf, ccost = C[0], C[1], C[2], C[3], C[4], C[5], C[6]
    n = csel.shape[1]
    m = sched.shape[1] - 1
    o = acand[b]
    if o == c:
        return False
    covo, covc = ccov[o], ccov[c]
    if covo == n and covc == n:
        if cand_less(C, c, o):
            pool_hold(A, C, iscal, b, c)
            return True
        return False
    if covc == n:
        pool_hold(A, C, iscal, b, c)
        return True
    if covo == n:
        return False
    iscal[I_SCANS] += 1
    both = 0
    differ = 0
    for j in range(n):
        v, w = csel[o, j], csel[c, j]
        if v != m and w != m:
            both += 1
            differ += v != w
    own_extra = both < covo
    oth_extra = both < covc
    if oth_extra and not own_extra:
        pool_hold(A, C, iscal, b, c)
        return True
    if own_extra and not oth_extra:
        return False
    if own_extra and oth_extra:
        # the union keeps the own entries and adds the other's missing ones; its aggregate starts from whichever
        # candidate needs fewer catalogue rows to correct (a small own candidate meeting a large one: the large one)
        q = pool_alloc(C, iscal)
        nt = ctot.shape[1]
        oth_only = covc - both
        own_only = covo - both
        from_other = own_only + differ < oth_only
        base = c if from_other else o
        cost = ccost[base]
        for t in range(nt):
            ctot[q, t] = ctot[base, t]
        for j in range(n):
            v, w = csel[o, j], csel[c, j]
            if v == m:
                if w != m and not from_other:
                    for t in range(nt):
                        ctot[q, t] += sched[j, w, t]
                    cost += costs[j, w]
                csel[q, j] = w
            else:
                if from_other and v != w:
                    for t in range(nt):
                        ctot[q, t] += sched[j, v, t] - sched[j, w, t]
                    cost += costs[j, v] - costs[j, w]
                csel[q, j] = v
        added = oth_only
        serial[b] += 1
        iscal[I_CREATED] += 1
        ccreator[q] = aid[b]
        cserial[q] = serial[b]
        ccov[q] = covo + added
        ccost[q] = cost
        cperf[q] = objective_value(ctot[q], target, wts, iscal[I_OBJ]) + fscal[F_CW] * cost
        pool_hold(A, C, iscal, b, q)
        note_best(C, iscal, fscal, trace, q, n)
        return True
    if cand_less(C, c, o):
        pool_hold(A, C, iscal, b, c)
        return True
    return False


@njit(cache=True)
def resum(S, A, b):
    """Exact aggregate of agent ``b``'s sysconf (drops the rounding of incremental updates)."""
    sched, costs = S[0], S[1]
    sel, tot, sccost, upd = A[1], A[3], A[4], A[5]
    n = sel.shape[1]
    tot[b, :] = 0.0
    cost = 0.0
    for j in range(n):
        v = sel[b, j]
        for t in range(tot.shape[1]):
            tot[b, t] += sched[j, v, t]
        cost += costs[j, v]
    sccost[b] = cost
    upd[b] = 0


@njit(cache=True)
def version_sel(A, L, j, c):
    """Schedule index of version (counter) ``c`` of slot ``j``: the init index or the change log's entry."""
    cnt = A[0]
    log_new, slot_last, init_sel = L[2], L[3], L[4]
    if c == 0:
        return init_sel[j]
    g = slot_last[j]
    for _ in range(cnt[j, j] - c):
        g = L[1][g]
    return log_new[g]


@njit(cache=True)
def fold_changes(S, A, C, L, iscal, b):
    """Bring agent ``b``'s cached aggregate up to date (``SystemConfig.total_via``) the cheaper way.

    Either move it by the entries changed since the last decide (O(T) each, a random row of the catalogue: this
    is what dominates at scale, every agent learns every change), or rebuild it from the *reference* aggregate, the
    sum over every agent's own current entry, which the engine keeps (it moves only when an agent bumps), plus the
    entries where ``b`` is behind (an O(N) integer comparison and O(T) per stale entry). Both give the sum of ``b``'s
    own system configuration; the reference is a cache of the simulator, not knowledge of the agent.
    """
    sched, costs = S[0], S[1]
    sel, tot, sccost, upd = A[1], A[3], A[4], A[5]
    chg_list, chg_n, chg_old = A[7], A[8], A[9]
    rsel, rtot, rcost = A[17], A[18], A[19]
    n = sel.shape[1]
    nt = tot.shape[1]
    k = chg_n[b]
    d_ref = d_cand = k + 1
    p = A[10][b]
    csel = C[0]
    if k > 8:
        d_ref = d_cand = 0
        for j in range(n):
            v = sel[b, j]
            d_ref += v != rsel[j]
            d_cand += v != csel[p, j]
    if min(d_ref, d_cand) <= k:
        # rebuild from a base whose aggregate is known: the reference, or the agent's own candidate (close to the
        # sysconf while the solution is still growing, when the reference is far from what the agent knows)
        iscal[I_FOLDS] += 1
        if d_ref <= d_cand:
            d, base_sel, base_tot, cost = d_ref, rsel, rtot, rcost[0]
        else:
            d, base_sel, base_tot, cost = d_cand, csel[p], C[1][p], C[6][p]
        iscal[I_ROWS] += d
        tot[b, :] = base_tot
        if d:
            for j in range(n):
                v, w = sel[b, j], base_sel[j]
                if v != w:
                    for t in range(nt):
                        tot[b, t] += sched[j, v, t] - sched[j, w, t]
                    cost += costs[j, v] - costs[j, w]
        sccost[b] = cost
        upd[b] = d
    else:
        cnt = A[0]
        log_delta, log_prev, log_new, slot_last, init_sel, log_dcost = L
        for i in range(k):
            j = chg_list[b, i]
            c_new, c_old = cnt[b, j], chg_old[b, i]
            if c_new == c_old:
                continue
            v = sel[b, j]
            upd[b] += 1
            if c_old < 0:
                iscal[I_ROWS] += 1
                for t in range(nt):
                    tot[b, t] += sched[j, v, t]
                sccost[b] += costs[j, v]
                continue
            # the newest versions of a slot sit in the change log, which every agent reads at about the same time
            steps = cnt[j, j] - c_new
            if c_new - c_old == 1 and steps <= 8:
                g = slot_last[j]
                for _ in range(steps):
                    g = log_prev[g]
                iscal[I_LOGHITS] += 1
                for t in range(nt):
                    tot[b, t] += log_delta[g, t]
                sccost[b] += log_dcost[g]
                continue
            w = version_sel(A, L, j, c_old)
            iscal[I_ROWS] += 1
            for t in range(nt):
                tot[b, t] += sched[j, v, t] - sched[j, w, t]
            sccost[b] += costs[j, v] - costs[j, w]
    # no need to move chg_old on: the act that follows every decide empties the change list
    if upd[b] >= max(64, 4 * n):
        iscal[I_RESUMS] += 1
        resum(S, A, b)


@njit(cache=True)
def resum_reference(S, A, iscal):
    """Exact reference aggregate (every agent's own entry)."""
    sched, costs = S[0], S[1]
    rsel, rtot, rcost = A[17], A[18], A[19]
    rtot[:] = 0.0
    c = 0.0
    for j in range(rsel.shape[0]):
        v = rsel[j]
        for t in range(rtot.shape[0]):
            rtot[t] += sched[j, v, t]
        c += costs[j, v]
    rcost[0] = c
    iscal[I_RUPD] = 0


@njit(cache=True)
def bump(S, A, L, iscal, b, index):
    """Set the own entry to ``index`` with a new counter (``CohdaAgent._bump``)."""
    sched, costs = S[0], S[1]
    cnt, sel, tot, sccost = A[0], A[1], A[3], A[4]
    chg_src, chg_list, chg_n, chg_old = A[6], A[7], A[8], A[9]
    old = sel[b, b]
    cnt[b, b] += 1
    sel[b, b] = index
    for t in range(tot.shape[1]):
        tot[b, t] += sched[b, index, t] - sched[b, old, t]
    sccost[b] += costs[b, index] - costs[b, old]
    log_delta, log_prev, log_new, slot_last, init_sel, log_dcost = L
    g = iscal[I_LOG]
    iscal[I_LOG] = g + 1
    for t in range(tot.shape[1]):
        log_delta[g, t] = sched[b, index, t] - sched[b, old, t]
    log_dcost[g] = costs[b, index] - costs[b, old]
    log_prev[g] = slot_last[b]
    log_new[g] = index
    slot_last[b] = g
    rsel, rtot, rcost = A[17], A[18], A[19]
    rsel[b] = index
    for t in range(rtot.shape[0]):
        rtot[t] += sched[b, index, t] - sched[b, old, t]
    rcost[0] += costs[b, index] - costs[b, old]
    iscal[I_RUPD] += 1
    if iscal[I_RUPD] >= max(64, rsel.shape[0]):
        resum_reference(S, A, iscal)
    if chg_src[b, b] == NONE:
        chg_list[b, chg_n[b]] = b
        chg_old[b, chg_n[b]] = cnt[b, b]
        chg_n[b] += 1
    chg_src[b, b] = SELF
    iscal[I_BUMPS] += 1


@njit(cache=True)
def decide(S, A, C, L, iscal, fscal, trace, b, xbuf):
    """Best own schedule with the others fixed from the sysconf (``CohdaAgent.decide``)."""
    sched, costs, target, wts, aid = S[0], S[1], S[2], S[3], S[7]
    sel, known, tot, sccost = A[1], A[2], A[3], A[4]
    acand, serial = A[10], A[11]
    csel, ctot, ccreator, cserial, ccov, cperf, ccost = C[0], C[1], C[2], C[3], C[4], C[5], C[6]
    n = sel.shape[1]
    m = sched.shape[1] - 1
    nt = tot.shape[1]
    code = iscal[I_OBJ]
    cw = fscal[F_CW]
    iscal[I_DECIDES] += 1
    fold_changes(S, A, C, L, iscal, b)
    p = acand[b]
    cur = sel[b, b]
    for t in range(nt):
        xbuf[t] = tot[b, t] - sched[b, cur, t]
    best = 0
    perf = np.inf
    for o in range(m):
        if code == 0:
            v = 0.0
            for t in range(nt):
                v += wts[t] * abs(target[t] - xbuf[t] - sched[b, o, t])
        elif code == 1:
            v = -np.inf
            for t in range(nt):
                v = max(v, xbuf[t] + sched[b, o, t])
        else:
            v = -np.inf
            for t in range(nt):
                v = max(v, -(xbuf[t] + sched[b, o, t]))
        if cw != 0.0:
            v += cw * (sccost[b] - costs[b, cur] + costs[b, o])
        if v < perf:
            perf = v
            best = o
    tol = 1e-9 * max(1.0, abs(perf))
    if known[b] > ccov[p] or perf < cperf[p] - tol:
        serial[b] += 1
        iscal[I_CREATED] += 1
        q = pool_alloc(C, iscal)
        csel[q, :] = sel[b, :]
        csel[q, b] = best
        for t in range(nt):
            ctot[q, t] = xbuf[t] + sched[b, best, t]
        ccost[q] = sccost[b] - costs[b, cur] + costs[b, best]
        ccreator[q] = aid[b]
        cserial[q] = serial[b]
        ccov[q] = known[b]
        cperf[q] = perf
        pool_hold(A, C, iscal, b, q)
        note_best(C, iscal, fscal, trace, q, n)
        if best != cur:
            bump(S, A, L, iscal, b, best)
        return
    want = csel[p, b]
    if want != m and want != cur:
        bump(S, A, L, iscal, b, want)
        iscal[I_REVERTS] += 1


@njit(cache=True)
def heap_push(H, iscal, at, agent):
    htime, hseq, hagent = H
    iscal[I_SEQ] += 1
    i = iscal[I_HEAP]
    iscal[I_HEAP] += 1
    seq = iscal[I_SEQ]
    while i > 0:
        par = (i - 1) >> 1
        if htime[par] < at or (htime[par] == at and hseq[par] < seq):
            break
        htime[i], hseq[i], hagent[i] = htime[par], hseq[par], hagent[par]
        i = par
    htime[i], hseq[i], hagent[i] = at, seq, agent


@njit(cache=True)
def heap_pop(H, iscal):
    htime, hseq, hagent = H
    top_t, top_a = htime[0], hagent[0]
    iscal[I_HEAP] -= 1
    k = iscal[I_HEAP]
    if k > 0:
        lt, ls, la = htime[k], hseq[k], hagent[k]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= k:
                break
            if c + 1 < k and (htime[c + 1] < htime[c] or (htime[c + 1] == htime[c] and hseq[c + 1] < hseq[c])):
                c += 1
            if lt < htime[c] or (lt == htime[c] and ls < hseq[c]):
                break
            htime[i], hseq[i], hagent[i] = htime[c], hseq[c], hagent[c]
            i = c
        htime[i], hseq[i], hagent[i] = lt, ls, la
    return top_t, top_a


@njit(cache=True)
def schedule_wake(A, H, iscal, fscal, rand, phase, b):
    """A delivered message wakes its receiver after a random delay (or at its next tick) unless one is pending."""
    wake = A[13]
    if wake[b]:
        return
    wake[b] = True
    t = fscal[F_T]
    tick = fscal[F_TICK]
    if tick > 0.0:
        at = phase[b] + tick * (np.floor((t - phase[b]) / tick) + 1.0)
    else:
        u = rand[iscal[I_RAND]]
        iscal[I_RAND] += 1
        at = t + fscal[F_WLO] + (fscal[F_WHI] - fscal[F_WLO]) * u
    heap_push(H, iscal, at, b)


@njit(cache=True)
def act(S, A, C, E, H, iscal, fscal, trace, rand, phase, a):
    """Send each neighbour the entries changed since the last act that it did not give us, and the candidate unless
    it is known to hold it (or, for complete candidates, one at least as good) (``CohdaAgent.act``). Delivery is
    immediate: the receiver merges, is woken, and joins the termination tree or acknowledges."""
    indptr, indices, rev = S[4], S[5], S[6]
    cnt, sel, known, dirty = A[0], A[1], A[2], A[12]
    chg_src, chg_list, chg_n, chg_old = A[6], A[7], A[8], A[9]
    acand, wake, deficit, parent = A[10], A[13], A[14], A[15]
    ccov, cperf, ccreator, cserial = C[4], C[5], C[2], C[3]
    nbkey, nbperf, nbcr, nbse = E
    n = cnt.shape[1]
    p = acand[a]
    complete = ccov[p] == n
    key = cand_key(C, p)
    k = chg_n[a]
    for e in range(indptr[a], indptr[a + 1]):
        i = e - indptr[a]
        b = indices[e]
        if nbkey[e] == key:
            send_cand = False
        elif complete:
            send_cand = nbperf[e] == np.inf or rank_less(n, cperf[p], ccreator[p], cserial[p],
                                                         n, nbperf[e], nbcr[e], nbse[e])
        else:
            send_cand = True
        eb = rev[e]
        ib = eb - indptr[b]
        changed = False
        nb = chg_n[b]
        kb = known[b]
        nent = 0
        for x in range(k):
            j = chg_list[a, x]
            if chg_src[a, j] == i:
                continue
            nent += 1
            # merge_entry, written out: a call per entry costs reference counting on every array argument
            c = cnt[a, j]
            cur = cnt[b, j]
            if c <= cur:
                continue
            if cur < 0:
                kb += 1
            if chg_src[b, j] == NONE:
                chg_list[b, nb] = j
                chg_old[b, nb] = cur
                nb += 1
            chg_src[b, j] = ib
            cnt[b, j] = c
            sel[b, j] = sel[a, j]
            changed = True
        chg_n[b] = nb
        known[b] = kb
        if nent == 0 and not send_cand:
            continue  # nothing to tell this neighbour: no message
        size = STEP_FIXED + ENTRY_BYTES * nent + (cand_bytes(C, p, n) if send_cand else 1)
        iscal[I_MSGS] += 1
        iscal[I_ENTRIES] += nent
        iscal[I_BYTES] += size
        if size > iscal[I_MAXB]:
            iscal[I_MAXB] = size
        deficit[a] += 1
        if send_cand:
            nbkey[e] = key
            if complete:
                nbperf[e], nbcr[e], nbse[e] = cperf[p], ccreator[p], cserial[p]
            nbkey[eb] = key
            if complete and (nbperf[eb] == np.inf or rank_less(n, cperf[p], ccreator[p], cserial[p],
                                                                n, nbperf[eb], nbcr[eb], nbse[eb])):
                nbperf[eb], nbcr[eb], nbse[eb] = cperf[p], ccreator[p], cserial[p]
            o = acand[b]
            if o != p:
                if complete and ccov[o] == n:
                    # both complete (the usual case once a solution exists): the better one wins, no call needed
                    if rank_less(n, cperf[p], ccreator[p], cserial[p], n, cperf[o], ccreator[o], cserial[o]):
                        pool_hold(A, C, iscal, b, p)
                        changed = True
                elif merge_candidate(S, A, C, iscal, fscal, trace, b, p):
                    changed = True
        if changed:
            dirty[b] = True
        if parent[b] == IDLE:
            parent[b] = a
        else:
            deficit[a] -= 1
            iscal[I_CMSGS] += 1
            iscal[I_CBYTES] += HEAD_BYTES
        if not wake[b]:
            schedule_wake(A, H, iscal, fscal, rand, phase, b)
    for x in range(k):
        chg_src[a, chg_list[a, x]] = NONE
    chg_n[a] = 0


@njit(cache=True)
def settle(A, iscal, a):
    """Dijkstra-Scholten: a passive agent with every message acknowledged acknowledges its parent, up the tree."""
    wake, deficit, parent = A[13], A[14], A[15]
    x = a
    while True:
        if wake[x] or deficit[x] != 0 or parent[x] == IDLE:
            return
        par = parent[x]
        parent[x] = IDLE
        iscal[I_CMSGS] += 1
        iscal[I_CBYTES] += HEAD_BYTES
        if par == CONTROLLER:
            iscal[I_ROOT] -= 1
            if iscal[I_ROOT] == 0:
                iscal[I_TERM] = 1
            return
        deficit[par] -= 1
        x = par


@njit(cache=True)
def activate(S, A, C, L, E, H, iscal, fscal, trace, rand, phase, xbuf, a):
    """One wake-up: decide if the working memory changed since the last one (or it is the first), then act."""
    dirty, fresh = A[12], A[16]
    iscal[I_ACT] += 1
    if dirty[a] or fresh[a]:
        dirty[a] = False
        fresh[a] = False
        decide(S, A, C, L, iscal, fscal, trace, a, xbuf)
    act(S, A, C, E, H, iscal, fscal, trace, rand, phase, a)


@njit(cache=True)
def start(S, A, C, L, E, H, iscal, fscal, trace, rand, phase, xbuf, starters):
    """Init messages delivered: every agent set up (by the caller), the starters decide and act, then every agent
    that is passive acknowledges its init."""
    n = A[0].shape[0]
    for a in range(n):
        if starters[a]:
            A[16][a] = False
            decide(S, A, C, L, iscal, fscal, trace, a, xbuf)
            act(S, A, C, E, H, iscal, fscal, trace, rand, phase, a)
    for a in range(n):
        settle(A, iscal, a)


@njit(cache=True)
def run_events(S, A, C, L, E, H, iscal, fscal, trace, rand, phase, xbuf, max_events, max_degree):
    """Process wake-ups until termination (0), ``max_events`` (1), the random buffer is nearly used (2), the trace
    buffer is full (3), the next event lies beyond the stop time (4), no event is left unterminated (5), or the
    change log is full (6)."""
    wake = A[13]
    done = 0
    while True:
        if iscal[I_TERM]:
            return 0
        if iscal[I_HEAP] == 0:
            return 5
        if done >= max_events:
            return 1
        if iscal[I_RAND] + max_degree + 1 > rand.shape[0]:
            return 2
        if iscal[I_TRACE] >= trace.shape[0]:
            return 3
        if iscal[I_LOG] + 1 >= L[1].shape[0]:
            return 6
        if H[0][0] > fscal[F_STOP]:
            return 4
        t, a = heap_pop(H, iscal)
        fscal[F_T] = t
        iscal[I_EVENTS] += 1
        done += 1
        wake[a] = False
        activate(S, A, C, L, E, H, iscal, fscal, trace, rand, phase, xbuf, a)
        settle(A, iscal, a)


@njit(cache=True)
def finish_pending(S, A, C, L, iscal, fscal, trace, xbuf):
    """Anytime stop: an agent woken but not yet active finishes its decide (what it has perceived) before reporting."""
    dirty, fresh, wake = A[12], A[16], A[13]
    for a in range(dirty.shape[0]):
        if wake[a] and (dirty[a] or fresh[a]):
            dirty[a] = False
            fresh[a] = False
            decide(S, A, C, L, iscal, fscal, trace, a, xbuf)
