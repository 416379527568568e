"""The COHDA negotiation logic of one agent: perceive, decide, act (no transport, no HELICS).

An agent is driven by its transport: :meth:`CohdaAgent.on_init` when the controller starts a negotiation,
:meth:`CohdaAgent.on_messages` with a whole inbox of step messages (processed as one batch, as in Hinrichs'
simulator where agents wake at random times and drain their inbox: one perceive over all messages, one decide, at
most one message per neighbour), :meth:`CohdaAgent.release_weight` when the transport sees the agent idle, and
:meth:`CohdaAgent.on_stop`. Each returns the messages to send; the transport delivers them. The same object runs
unchanged on the in-process simulator and on HELICS endpoints.

Cost per activation is independent of the number of agents N except where the rules need it (copying a new
candidate, combining partial candidates): merges touch only the received entries, decide scores the M own options
from the system configuration's cached aggregate (O(M*T)), and act sends each neighbour only the entries that changed
since the last activation and that did not come from that neighbour.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from vppfed.federates.cohda.data import Catalogue, SolutionCandidate, SystemConfig, WorkingMemory
from vppfed.federates.cohda.dyadic import Dyadic
from vppfed.federates.cohda.messages import CONTROLLER, InitMessage, ResultMessage, StepMessage, WeightMessage
from vppfed.federates.cohda.objectives import Objective, evaluate_options, objective_by_name

log = logging.getLogger(__name__)

_SELF = -2  # change-log source of the agent's own entry
_EMPTY: list[int] = []   # shared empty delta (never mutated)
_SMALL = 48              # up to this many changed entries, deltas are plain lists (per-call NumPy overhead dominates)


def merge_candidates(own: SolutionCandidate, other: SolutionCandidate, me: int, serial: int,
                     catalogue: Catalogue, objective: Objective) -> SolutionCandidate:
    """COHDA's candidate merge (perceive), returning the candidate the agent keeps.

    1. keys(own) a strict subset of keys(other): take other (more complete).
    2. each side covers agents the other lacks: combine (own entries plus the other's missing ones), re-evaluate,
       and the receiver ``me`` becomes the creator with ``serial``.
    3. same keys: the better perf wins; with equal perf the lower creator id wins (integers, not strings), then the
       lower serial; otherwise keep own.
    """
    if other.key == own.key:
        return own
    n = own.sel.shape[0]
    if own.coverage == n and other.coverage == n:
        return other if other.rank < own.rank else own
    m = own.n_options
    own_cov = own.sel != m
    oth_cov = other.sel != m
    both = int(np.count_nonzero(own_cov & oth_cov))
    own_extra = both < own.coverage
    oth_extra = both < other.coverage
    if oth_extra and not own_extra:
        return other
    if own_extra and not oth_extra:
        return own
    if own_extra and oth_extra:
        slots = np.flatnonzero(oth_cov & ~own_cov)
        idx = other.sel[slots]
        sel = own.sel.copy()
        sel[slots] = idx
        total = own.total + catalogue.schedules[slots, idx].sum(axis=0)
        cost = own.cost
        if catalogue.costs is not None:
            cost += float(catalogue.costs[slots, idx].sum())
        perf = float(objective.evaluate(total)) + catalogue.cost_weight * cost
        sel.setflags(write=False)
        return SolutionCandidate(int(me), int(serial), sel, own.coverage + slots.size, perf, total, cost, m)
    return other if other.rank < own.rank else own


@dataclass
class AgentStats:
    """Counters of one agent's work (for benchmarks and plots)."""

    activations: int = 0
    decides: int = 0
    candidates_created: int = 0
    bumps: int = 0
    reverts: int = 0


class CohdaAgent:
    """One COHDA agent owning a set of possible schedules.

    Parameters
    ----------
    aid : int
        Agent id (integer; tie-breaks compare ids as integers).
    schedules : ndarray, shape (M, T)
        The agent's possible operational schedules in kW (feed-in positive).
    costs : ndarray, shape (M,), optional
        Local cost of each schedule (the catalogue's costs are the ones used in a negotiation).
    """

    def __init__(self, aid: int, schedules: np.ndarray, costs: np.ndarray | None = None) -> None:
        self.aid = int(aid)
        self.schedules = np.asarray(schedules, dtype=float)
        self.costs = None if costs is None else np.asarray(costs, dtype=float)
        self.stats = AgentStats()
        self.wm: WorkingMemory | None = None
        self.stopped = True
        self.weight = Dyadic.ZERO

    # ------------------------------------------------------------------ lifecycle
    def on_init(self, msg: InitMessage, catalogue: Catalogue) -> list[StepMessage]:
        """Start a negotiation: build the working memory; the starter decides at once, the others wait."""
        self.catalogue = catalogue
        self.slot = slot = int(msg.receiver)
        if catalogue.n_options != self.schedules.shape[0]:
            raise ValueError(f"agent {self.aid}: catalogue has {catalogue.n_options} options, agent has "
                             f"{self.schedules.shape[0]}")
        self.m = m = catalogue.n_options
        self.n = catalogue.n_agents
        self._own = catalogue.schedules[slot]          # (M + 1, T), row M = zeros
        self._opts = self._own[:m]
        self._own_costs = None if catalogue.costs is None else catalogue.costs[slot]
        objective = objective_by_name(msg.objective, msg.target, msg.weights)
        sysconf = SystemConfig(catalogue)
        if msg.initial is not None:
            sysconf.load(msg.initial)      # warm start: the controller's complete configuration is the candidate
            cand = msg.initial
        else:
            sysconf.set_one(slot, 0, int(msg.init_index))
            # the initial candidate is rated +inf so that the first decide always replaces it
            cand = SolutionCandidate.create(self.aid, 0, sysconf.sel, float("inf"), sysconf.total.copy(),
                                            sysconf.cost, m, coverage=1)
        self.wm = WorkingMemory(msg.start, msg.res, msg.target.size, objective, self.schedules, sysconf, cand)
        self.neighbours = [int(x) for x in msg.neighbours]
        self._nb_index = {nb: i for i, nb in enumerate(self.neighbours)}
        self._nb_key: list[tuple[int, int] | None] = [None] * len(self.neighbours)
        self._nb_rank: list[tuple | None] = [None] * len(self.neighbours)  # best complete candidate it has shown
        self.serial = 0
        # changes since the last act, in order: (slots, source), source = neighbour position or _SELF
        self._chg: list[tuple] = [([slot], _SELF)]
        self._chg_size = 1
        self.weight = msg.weight
        self.stopped = False
        self.stats = AgentStats()
        # like Hinrichs' agents, which learn the target from their first message: that message always leads to a
        # decide, even when it brings nothing new (a warm start, where everyone already knows everything)
        self._fresh = not msg.starter
        if not msg.starter:
            return []  # wait for the first step message, like every agent but the speaker in Hinrichs' COHDA
        self.decide()
        return self.act()

    def on_messages(self, msgs: list[StepMessage]) -> list[StepMessage]:
        """Process a whole inbox: perceive all, decide once if anything changed, act."""
        if self.stopped or self.wm is None:
            # a late message after stop: keep its weight so nothing is lost
            for msg in msgs:
                self.weight = self.weight + msg.weight
            return []
        self.stats.activations += 1
        if self.perceive(msgs) or self._fresh:
            self._fresh = False
            self.decide()
        return self.act()

    def refresh(self) -> list[StepMessage]:
        """Everything this agent knows (every known entry and its candidate), to every neighbour.

        For lossy links: :meth:`act` sends a neighbour only what it does not hold yet, judged by what was sent, so
        one lost message can leave a neighbour without an entry or candidate for good. Re-sending the whole
        working memory now and then (anti-entropy) repairs that; the neighbour merges it like any step message and
        acts only if it learnt something. Not needed, and not used, on lossless links.
        """
        if self.stopped or self.wm is None:
            return []
        sc = self.wm.sysconf
        slots = np.flatnonzero(sc.cnt >= 0)
        cnts, sels = sc.cnt[slots], sc.sel[slots]
        cand = self.wm.candidate
        out = []
        w = self.weight
        for i, nb in enumerate(self.neighbours):
            w = w.half()
            out.append(StepMessage(self.slot, nb, slots, cnts, sels, cand, w))
            self._nb_key[i] = cand.key
            if cand.coverage == self.n:
                self._nb_rank[i] = cand.rank
        self.weight = w
        return out

    def release_weight(self) -> WeightMessage | None:
        """Return the held termination weight to the controller (called by the transport when idle)."""
        if self.weight.is_zero():
            return None
        w, self.weight = self.weight, Dyadic.ZERO
        return WeightMessage(self.slot, CONTROLLER, w)

    def on_stop(self) -> ResultMessage:
        """Stop negotiating and report the candidate and the own current schedule index."""
        assert self.wm is not None
        self.stopped = True
        return ResultMessage(self.slot, CONTROLLER, self.wm.candidate, int(self.wm.sysconf.sel[self.slot]),
                             self.slot)

    # ------------------------------------------------------------------ perceive / decide / act
    def perceive(self, msgs: list[StepMessage]) -> bool:
        """Merge received sysconf deltas (higher counter wins) and candidates; True if the working memory changed."""
        wm = self.wm
        sc = wm.sysconf
        changed = False
        w = self.weight
        chg = self._chg
        nb_index = self._nb_index
        for msg in msgs:
            w = w + msg.weight
            i = nb_index.get(msg.sender, _SELF)
            if len(msg.slots):
                updated = sc.merge(msg.slots, msg.cnts, msg.sels)
                if updated is not None:
                    chg.append((updated, i))
                    self._chg_size += len(updated)
                    changed = True
            c = msg.candidate
            if c is None:
                continue
            if i != _SELF:
                self._nb_key[i] = c.key
                if c.coverage == self.n:
                    r = self._nb_rank[i]
                    if r is None or c.rank < r:
                        self._nb_rank[i] = c.rank
            own = wm.candidate
            if c is own:
                continue
            merged = merge_candidates(own, c, self.aid, self.serial + 1, self.catalogue, wm.objective)
            if merged is not own:
                if merged.creator == self.aid and merged.serial == self.serial + 1:
                    self.serial += 1
                    self.stats.candidates_created += 1
                wm.candidate = merged
                changed = True
        self.weight = w
        return changed

    def decide(self) -> bool:
        """Pick the own schedule minimising the objective with the others fixed (from the sysconf); vectorised.

        All M own schedules are scored in one numpy expression from the sysconf's cached aggregate without the own
        one. A better value than the candidate's (or a sysconf that knows more agents) makes a new candidate;
        otherwise the own entry falls back to the candidate's (with a new counter).
        """
        wm = self.wm
        sc = wm.sysconf
        cand = wm.candidate
        own = self.slot
        self.stats.decides += 1
        cur = sc._sel_a[own]
        total, sc_cost = sc.total_via(cand)
        x_others = total - self._own[cur]
        vals = evaluate_options(wm.objective, x_others, self._opts)
        cat = self.catalogue
        oc = self._own_costs
        if oc is not None and cat.cost_weight:
            vals = vals + cat.cost_weight * (sc_cost - oc[cur] + oc[:-1])
        best = int(vals.argmin())
        perf = float(vals[best])
        tol = 1e-9 * max(1.0, abs(perf))
        if sc.n_known > cand.coverage or perf < cand.perf - tol:
            self.serial += 1
            self.stats.candidates_created += 1
            sel = sc.sel.copy()
            sel[own] = best
            sel.setflags(write=False)
            cost = sc_cost
            if oc is not None:
                cost = cost - oc[cur] + oc[best]
            wm.candidate = SolutionCandidate(self.aid, self.serial, sel, sc.n_known, perf,
                                             x_others + self._own[best], float(cost), self.m)
            if best != cur:
                self._bump(best)
            return True
        target = int(cand.sel[own])
        if target != self.m and target != cur:
            self._bump(target)
            self.stats.reverts += 1
            return True
        return False

    def _bump(self, index: int) -> None:
        sc = self.wm.sysconf
        sc.set_one(self.slot, sc._cnt_a[self.slot] + 1, index)
        self._chg.append(([self.slot], _SELF))
        self._chg_size += 1
        self.stats.bumps += 1

    def act(self) -> list[StepMessage]:
        """Send each neighbour the entries changed since the last act, except those it gave us, and the candidate
        unless the neighbour is known to hold it (or, for complete candidates, one at least as good)."""
        wm = self.wm
        cand = wm.candidate
        chg = self._chg
        slots = None
        if chg:
            self._chg = []
            if self._chg_size <= _SMALL and all(type(c[0]) is list for c in chg):
                newest: dict[int, int] = {}
                for changed, src in chg:
                    for j in changed:
                        newest[j] = src
                slots = list(newest)
                cnts, sels = wm.sysconf.entries(slots)
                sources = set(newest.values())
                srcs = None
            else:
                # many entries: vectorised, the newest change of each slot decides its source
                parts = [np.asarray(c[0], dtype=np.int64) for c in chg]
                all_slots = np.concatenate(parts)[::-1]
                all_srcs = np.repeat(np.array([c[1] for c in chg]), [p.shape[0] for p in parts])[::-1]
                slots, first = np.unique(all_slots, return_index=True)
                srcs = all_srcs[first]
                cnts, sels = wm.sysconf.cnt[slots], wm.sysconf.sel[slots]
                sources = set(np.unique(srcs).tolist())
            self._chg_size = 0
        complete = cand.coverage == self.n
        rank = cand.rank
        key = cand.key
        w = self.weight
        out = []
        me = self.slot
        for i, nb in enumerate(self.neighbours):
            if slots is None:
                ds = None
            elif i not in sources:
                ds, dc, dl = slots, cnts, sels
            elif len(sources) == 1:
                ds = None
            elif srcs is None:
                keep = [n for n, j in enumerate(slots) if newest[j] != i]
                if keep:
                    ds, dc, dl = [slots[n] for n in keep], [cnts[n] for n in keep], [sels[n] for n in keep]
                else:
                    ds = None
            else:
                mask = srcs != i
                ds, dc, dl = slots[mask], cnts[mask], sels[mask]
            if key == self._nb_key[i]:
                send_cand = False
            elif complete:
                r = self._nb_rank[i]
                send_cand = r is None or rank < r
            else:
                send_cand = True
            if ds is None:
                if not send_cand:
                    continue
                ds = dc = dl = _EMPTY
            w = w.half()
            if send_cand:
                out.append(StepMessage(me, nb, ds, dc, dl, cand, w))
                self._nb_key[i] = key
                if complete:
                    self._nb_rank[i] = rank
            else:
                out.append(StepMessage(me, nb, ds, dc, dl, None, w))
        self.weight = w
        return out
