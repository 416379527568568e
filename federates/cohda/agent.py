"""The COHDA negotiation logic of one agent: perceive, decide, act (no transport, no HELICS).

An agent is driven by its transport: :meth:`CohdaAgent.on_init` when the controller starts a negotiation,
:meth:`CohdaAgent.on_messages` with a whole inbox of step messages (processed as one batch, as in Hinrichs'
simulator where agents wake at random times and drain their inbox), :meth:`CohdaAgent.release_weight` when the
transport sees the agent idle, and :meth:`CohdaAgent.on_stop`. Each returns the messages to send; the transport
delivers them. The same object runs unchanged on the in-process simulator and on HELICS endpoints.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from vppfed.federates.cohda.data import Catalogue, SolutionCandidate, SystemConfig, WorkingMemory
from vppfed.federates.cohda.dyadic import Dyadic
from vppfed.federates.cohda.messages import CONTROLLER, InitMessage, ResultMessage, StepMessage, WeightMessage
from vppfed.federates.cohda.objectives import Objective, objective_by_name

log = logging.getLogger(__name__)

_SELF = -2  # change-log source of the agent's own entry
_EMPTY = np.zeros(0, dtype=np.int64)


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
    n = own.sel.size
    if own.coverage == n and other.coverage == n:
        return other if other.rank() < own.rank() else own
    own_cov = own.covered
    oth_cov = other.covered
    own_extra = bool(np.any(own_cov & ~oth_cov))
    oth_extra = bool(np.any(oth_cov & ~own_cov))
    if oth_extra and not own_extra:
        return other
    if own_extra and not oth_extra:
        return own
    if own_extra and oth_extra:
        return catalogue.candidate(me, serial, np.where(own_cov, own.sel, other.sel), objective)
    return other if other.rank() < own.rank() else own


@dataclass
class _Neighbour:
    """What an agent remembers about one neighbour, for delta messages."""

    slot: int
    cand_key: tuple[int, int] | None = None
    cand_rank: tuple | None = None    # rank of the best complete candidate known to be held by the neighbour


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
    """

    def __init__(self, aid: int, schedules: np.ndarray, costs: np.ndarray | None = None) -> None:
        self.aid = int(aid)
        self.schedules = np.asarray(schedules, dtype=float)
        self.costs = None if costs is None else np.asarray(costs, dtype=float)
        self.stats = AgentStats()
        self.wm: WorkingMemory | None = None
        self.stopped = True

    # ------------------------------------------------------------------ lifecycle
    def on_init(self, msg: InitMessage, catalogue: Catalogue) -> list[StepMessage]:
        """Start a negotiation: build the working memory; the starter decides at once, the others wait."""
        self.catalogue = catalogue
        self.slot = int(msg.receiver)
        if catalogue.n_options != self.schedules.shape[0]:
            raise ValueError(f"agent {self.aid}: catalogue has {catalogue.n_options} options, agent has "
                             f"{self.schedules.shape[0]}")
        self.m = catalogue.n_options
        objective = objective_by_name(msg.objective, msg.target, msg.weights)
        sysconf = SystemConfig.empty(catalogue)
        own = np.array([self.slot])
        sysconf.set(own, np.array([0], dtype=np.int32), np.array([msg.init_index]))
        cand = catalogue.candidate(self.aid, 0, sysconf.sel, objective)
        # the initial candidate is rated +inf so that the first decide always replaces it
        cand = SolutionCandidate(cand.creator, 0, cand.sel, cand.coverage, float("inf"), cand.total, cand.cost,
                                 cand.n_options)
        self.wm = WorkingMemory(msg.start, msg.res, msg.target.size, objective, self.schedules, sysconf, cand)
        self.neighbours = {int(n): _Neighbour(int(n)) for n in msg.neighbours}
        self.serial = 0
        self.log: list[tuple[np.ndarray, np.ndarray]] = [(own, np.array([_SELF]))]
        self.weight = msg.weight
        self.stopped = False
        self.stats = AgentStats()
        if not msg.starter:
            return []  # wait for the first step message, like every agent but the speaker in Hinrichs' COHDA
        self.decide()
        return self.act()

    def on_messages(self, msgs: list[StepMessage]) -> list[StepMessage]:
        """Process a whole inbox: perceive all, decide once if anything changed, act."""
        if self.stopped or self.wm is None:
            # a late message after stop: keep its weight so nothing is lost
            for m in msgs:
                self.weight = self.weight + m.weight
            return []
        self.stats.activations += 1
        if self.perceive(msgs):
            self.decide()
        return self.act()

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
        changed = False
        for m in msgs:
            self.weight = self.weight + m.weight
        if len(msgs) == 1:
            m = msgs[0]
            if m.slots.size:
                updated, _ = wm.sysconf.merge(m.slots, m.cnts, m.sels)
                if updated.size:
                    self.log.append((updated, np.full(updated.size, m.sender)))
                    changed = True
        else:
            slots = np.concatenate([m.slots for m in msgs])
            if slots.size:
                cnts = np.concatenate([m.cnts for m in msgs])
                sels = np.concatenate([m.sels for m in msgs])
                srcs = np.concatenate([np.full(m.slots.size, m.sender) for m in msgs])
                updated, srcs = wm.sysconf.merge(slots, cnts, sels, srcs)
                if updated.size:
                    self.log.append((updated, srcs))
                    changed = True
        for m in msgs:
            c = m.candidate
            if c is None:
                continue
            nb = self.neighbours.get(int(m.sender))
            if nb is not None:
                nb.cand_key = c.key
                if c.coverage == c.sel.size and (nb.cand_rank is None or c.rank() < nb.cand_rank):
                    nb.cand_rank = c.rank()
            merged = merge_candidates(wm.candidate, c, self.aid, self.serial + 1, self.catalogue, wm.objective)
            if merged is not wm.candidate:
                if merged.creator == self.aid and merged.serial == self.serial + 1:
                    self.serial += 1
                    self.stats.candidates_created += 1
                wm.candidate = merged
                changed = True
        return changed

    def decide(self) -> bool:
        """Pick the own schedule minimising the objective with the others fixed (from the sysconf); vectorised.

        All M own schedules are scored in one numpy expression from the sysconf's aggregate without the own one.
        """
        wm = self.wm
        sc = wm.sysconf
        cat = self.catalogue
        own = self.slot
        cand = wm.candidate
        self.stats.decides += 1
        cur = int(sc.sel[own])
        total, cost = sc.aggregate_via(cat, cand)
        x_others = total - cat.schedules[own, cur]
        vals = wm.objective.evaluate(x_others + self.schedules)
        if cat.costs is not None and cat.cost_weight:
            vals = vals + cat.cost_weight * (cost - cat.costs[own, cur] + cat.costs[own, :-1])
        best = int(np.argmin(vals))
        perf = float(vals[best])
        tol = 1e-9 * max(1.0, abs(perf))
        if sc.n_known > cand.coverage or perf < cand.perf - tol:
            self.serial += 1
            self.stats.candidates_created += 1
            sel = sc.sel.copy()
            sel[own] = best
            new_cost = cost
            if cat.costs is not None:
                new_cost = cost - cat.costs[own, cur] + cat.costs[own, best]
            wm.candidate = SolutionCandidate.create(self.aid, self.serial, sel, perf,
                                                    x_others + cat.schedules[own, best], new_cost, self.m)
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
        own = np.array([self.slot])
        sc.set(own, sc.cnt[own] + 1, np.array([index]))
        self.log.append((own, np.array([_SELF])))
        self.stats.bumps += 1

    def act(self) -> list[StepMessage]:
        """Send each neighbour the entries changed since the last act, except those it gave us, and the candidate
        unless the neighbour is known to hold it (or, for complete candidates, one at least as good)."""
        wm = self.wm
        sc = wm.sysconf
        cand = wm.candidate
        if len(self.log) == 1:
            slots, srcs = self.log[0]
        elif self.log:
            # the newest change per slot decides where it came from
            slots = np.concatenate([c[0] for c in self.log])[::-1]
            srcs = np.concatenate([c[1] for c in self.log])[::-1]
            slots, first = np.unique(slots, return_index=True)
            srcs = srcs[first]
        else:
            slots = srcs = None
        self.log = []
        complete = cand.coverage == cand.sel.size
        out = []
        for nb in self.neighbours.values():
            if slots is None:
                delta = _EMPTY
            else:
                mask = srcs != nb.slot
                delta = slots if mask.all() else slots[mask]
            send_cand = cand.key != nb.cand_key and not (
                complete and nb.cand_rank is not None and nb.cand_rank <= cand.rank())
            if delta.size == 0 and not send_cand:
                continue
            self.weight = self.weight.half()
            out.append(StepMessage(self.slot, nb.slot, delta, sc.cnt[delta], sc.sel[delta],
                                   cand if send_cand else None, self.weight))
            if send_cand:
                nb.cand_key = cand.key
                if complete and (nb.cand_rank is None or cand.rank() < nb.cand_rank):
                    nb.cand_rank = cand.rank()
        return out
