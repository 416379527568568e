"""COHDA data classes: schedule catalogue, system configuration, solution candidate, working memory.

Terms follow the Open VPP design (seed 004): a system configuration is ``(idx, cs, cnt)``, here with the cluster
schedule ``cs`` stored as one schedule *index* per agent (the vectors live in the shared :class:`Catalogue`), so
messages and merges move small integers instead of T floats. Agents are addressed by their slot (row) in the
negotiation's participant list; ``Catalogue.ids`` maps slots back to agent ids.

Speed comes from two caches that are never sent: the system configuration keeps the running aggregate of its
entries (updated with each merged entry, O(T) per entry, and re-summed exactly every N updates so float drift cannot
build up), and a candidate keeps its own aggregate. Decide therefore costs O(M*T) whatever the number of agents.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vppfed.federates.cohda.objectives import Objective

#: Counter of an agent the owner has never heard of.
UNKNOWN = -1


@dataclass(frozen=True)
class Catalogue:
    """The possible schedules of every participant of one negotiation (read-only, shared by all agents of a process).

    Parameters
    ----------
    ids : ndarray of int, shape (N,)
        Agent ids in slot order (slot = row).
    schedules : ndarray of float, shape (N, M + 1, T)
        Possible schedules in kW; row ``M`` of every agent is all zeros and stands for "unknown agent", so sums over a
        partial configuration need no masking.
    costs : ndarray of float, shape (N, M + 1), optional
        Local cost of each schedule (row ``M`` zero); scaled by ``cost_weight`` when added to the objective.
    """

    ids: np.ndarray
    schedules: np.ndarray
    costs: np.ndarray | None = None
    cost_weight: float = 0.0
    slot_of: dict[int, int] = field(default_factory=dict)

    @staticmethod
    def build(ids: np.ndarray, schedules: np.ndarray, costs: np.ndarray | None = None,
              cost_weight: float = 0.0) -> "Catalogue":
        """Pad ``schedules`` (N, M, T) with the zero "unknown" row and index the ids."""
        schedules = np.asarray(schedules, dtype=float)
        n, m, t = schedules.shape
        padded = np.zeros((n, m + 1, t))
        padded[:, :m] = schedules
        padded.setflags(write=False)
        padded_costs = None
        if costs is not None:
            padded_costs = np.zeros((n, m + 1))
            padded_costs[:, :m] = np.asarray(costs, dtype=float)
            padded_costs.setflags(write=False)
        ids = np.asarray(ids, dtype=np.int64)
        return Catalogue(ids, padded, padded_costs, float(cost_weight), {int(a): s for s, a in enumerate(ids)})

    @property
    def n_agents(self) -> int:
        return self.schedules.shape[0]

    @property
    def n_options(self) -> int:
        """M, the number of real schedules per agent (index M is the "unknown" row)."""
        return self.schedules.shape[1] - 1

    @property
    def intervals(self) -> int:
        return self.schedules.shape[2]

    def aggregate(self, sel: np.ndarray) -> np.ndarray:
        """Sum (kW, shape T) of the schedules chosen by ``sel`` (slot -> index; ``M`` = not counted)."""
        return self.schedules[np.arange(self.n_agents), sel].sum(axis=0)

    def local_cost(self, sel: np.ndarray) -> float:
        """Unweighted sum of the local costs of the chosen schedules (0 without costs)."""
        if self.costs is None:
            return 0.0
        return float(self.costs[np.arange(self.n_agents), sel].sum())

    def candidate(self, creator: int, serial: int, sel: np.ndarray, objective: Objective) -> "SolutionCandidate":
        """A candidate for ``sel`` with its aggregate, local cost and perf computed from scratch (O(N*T))."""
        total = self.aggregate(sel)
        cost = self.local_cost(sel)
        perf = float(objective.evaluate(total)) + self.cost_weight * cost
        return SolutionCandidate.create(creator, serial, sel, perf, total, cost, self.n_options)


def index_dtype(n_options: int) -> type:
    """Integer type for schedule indices (int16 unless an agent has more than 32,766 options)."""
    return np.int16 if n_options < 2 ** 15 - 1 else np.int32


class SystemConfig:
    """An agent's belief about everyone's newest selection: ``(idx, cs, cnt)`` plus the cached aggregate.

    ``cnt[s]`` is the counter of the agent in slot ``s`` (``UNKNOWN`` if never heard of) and ``sel[s]`` its schedule
    index (``M``, the catalogue's zero row, if unknown). :attr:`total` (kW, T) and :attr:`cost` are the aggregate and
    local cost sum of all known entries. Merges only record which rows of the catalogue enter and leave; the
    aggregate is brought up to date once, when it is read (one gather per activation instead of one per message).
    """

    __slots__ = ("cnt", "sel", "n_known", "_total", "_cost", "_cat", "_flat", "_m1", "_updates", "_refresh",
                 "_pend_slots", "_pend_old", "_pend_new", "_n")

    def __init__(self, catalogue: Catalogue) -> None:
        n = catalogue.n_agents
        self._cat = catalogue
        self._n = n
        self._m1 = catalogue.n_options + 1
        self._flat = catalogue.schedules.reshape(n * self._m1, catalogue.intervals)
        self.cnt = np.full(n, UNKNOWN, dtype=np.int32)
        self.sel = np.full(n, catalogue.n_options, dtype=index_dtype(catalogue.n_options))
        self.n_known = 0
        self._total = np.zeros(catalogue.intervals)
        self._cost = 0.0
        self._updates = 0
        self._refresh = max(64, n)
        self._pend_slots: list[np.ndarray] = []
        self._pend_old: list[np.ndarray] = []
        self._pend_new: list[np.ndarray] = []

    @staticmethod
    def empty(catalogue: Catalogue) -> "SystemConfig":
        return SystemConfig(catalogue)

    @property
    def total(self) -> np.ndarray:
        """Aggregate (kW, T) of all known entries."""
        if self._pend_slots:
            self._flush()
        return self._total

    @property
    def cost(self) -> float:
        """Local-cost sum of all known entries (unweighted)."""
        if self._pend_slots:
            self._flush()
        return self._cost

    def total_via(self, cand: "SolutionCandidate") -> tuple[np.ndarray, float]:
        """Aggregate (kW) and local-cost sum, brought up to date the cheaper way.

        Many changed entries since the last read (a busy inbox) but few differences to ``cand`` (usual near
        convergence, when everyone forwards the same candidate): start from the candidate's cached aggregate and
        correct the differing entries (O(N) integer comparison + O(d*T)). Otherwise apply the changed entries.
        """
        ps = self._pend_slots
        if ps:
            k = 0
            for a in ps:
                k += a.shape[0]
            if k > 8:
                diff = (self.sel != cand.sel).nonzero()[0]
                d = diff.shape[0]
                if d < k:
                    self._pend_slots, self._pend_old, self._pend_new = [], [], []
                    total = cand.total.copy()
                    cost = cand.cost
                    if d:
                        new, old = self.sel[diff], cand.sel[diff]
                        base = diff * self._m1
                        total += self._flat[base + new].sum(axis=0) - self._flat[base + old].sum(axis=0)
                        costs = self._cat.costs
                        if costs is not None:
                            cost += float(costs[diff, new].sum() - costs[diff, old].sum())
                    self._total, self._cost = total, cost
                    self._updates += d
                    if self._updates >= self._refresh:
                        self.resum()
                    return self._total, self._cost
            self._flush()
        return self._total, self._cost

    def _flush(self) -> None:
        """Move the cached aggregate from the replaced schedules to the new ones (O(k*T) for k changed entries)."""
        ps, po, pn = self._pend_slots, self._pend_old, self._pend_new
        if len(ps) == 1:
            slots, old, new = ps[0], po[0], pn[0]
        else:
            slots, old, new = np.concatenate(ps), np.concatenate(po), np.concatenate(pn)
        self._pend_slots, self._pend_old, self._pend_new = [], [], []
        k = slots.shape[0]
        self._updates += k
        if self._updates >= self._refresh:
            self.resum()
            return
        base = slots * self._m1
        if k == 1:
            b = int(base[0])
            self._total += self._flat[b + int(new[0])] - self._flat[b + int(old[0])]
        else:
            self._total += self._flat[base + new].sum(axis=0) - self._flat[base + old].sum(axis=0)
        costs = self._cat.costs
        if costs is not None:
            self._cost += float(costs[slots, new].sum() - costs[slots, old].sum())

    def resum(self) -> None:
        """Recompute the cached aggregate exactly (drops the rounding of incremental updates)."""
        self._pend_slots, self._pend_old, self._pend_new = [], [], []
        self._total = self._cat.aggregate(self.sel)
        self._cost = self._cat.local_cost(self.sel)
        self._updates = 0

    def _record(self, slots: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        self._pend_slots.append(slots)
        self._pend_old.append(old)
        self._pend_new.append(new)

    def set(self, slots: np.ndarray, cnts: np.ndarray, sels: np.ndarray) -> None:
        """Overwrite entries ``slots`` (already known to be newer)."""
        slots = np.asarray(slots, dtype=np.int64)
        self.n_known += int(np.count_nonzero(self.cnt[slots] < 0))
        old = self.sel[slots]
        self.cnt[slots] = cnts
        self.sel[slots] = sels
        self._record(slots, old, self.sel[slots])

    def load(self, cand: "SolutionCandidate") -> None:
        """Know every agent with the schedule it has in ``cand`` and counter 0 (a warm start)."""
        covered = cand.sel != self._cat.n_options
        self.cnt[covered] = 0
        self.sel[:] = cand.sel
        self.n_known = int(np.count_nonzero(covered))
        self._pend_slots, self._pend_old, self._pend_new = [], [], []
        self._total = cand.total.copy()
        self._cost = cand.cost
        self._updates = 0

    def set_one(self, slot: int, cnt: int, index: int) -> None:
        """Overwrite one entry (the agent's own; scalar fast path of :meth:`set`)."""
        if self.cnt[slot] < 0:
            self.n_known += 1
        old = self.sel[slot]
        self.cnt[slot] = cnt
        self.sel[slot] = index
        self._record(np.array([slot]), np.array([old]), np.array([index]))

    def merge(self, slots: np.ndarray, cnts: np.ndarray, sels: np.ndarray) -> np.ndarray | None:
        """Merge received entries (the higher counter wins); returns the changed slots, or None.

        ``slots`` must be unique within one call (one message never repeats a slot); messages of one inbox are
        merged one after the other, so duplicates across messages resolve to the highest counter.
        """
        cnt = self.cnt
        cur = cnt[slots]
        newer = (cnts > cur).nonzero()[0]
        k = newer.shape[0]
        if not k:
            return None
        if k != slots.shape[0]:
            slots, cnts, sels = slots[newer], cnts[newer], sels[newer]
            if self.n_known < self._n:
                cur = cur[newer]
        if self.n_known < self._n:
            self.n_known += int(np.count_nonzero(cur < 0))
        sel = self.sel
        self._pend_old.append(sel[slots])
        self._pend_slots.append(slots)
        self._pend_new.append(sels)
        cnt[slots] = cnts
        sel[slots] = sels
        return slots

    def aggregate_via(self, catalogue: Catalogue, cand: "SolutionCandidate") -> tuple[np.ndarray, float]:
        """Aggregate (kW) and local-cost sum of the sysconf (the cached values; ``cand`` is not needed any more)."""
        return self.total, self.cost


class SolutionCandidate:
    """The best (possibly partial) solution an agent knows: ``(agent, idx, cs, perf)``.

    Immutable by convention: agents of one process share candidate objects by reference (a receiver never copies
    or mutates one; see pitfall 4 of the reference notes). ``sel[s]`` is the schedule index of slot ``s`` or ``M``
    (the number of options) when not covered. ``serial`` numbers the creator's candidates so ``(creator, serial)``
    identifies a candidate on the wire. ``total`` (kW, T) and ``cost`` cache the aggregate and local-cost sum (not
    sent). ``rank`` is the merge order, smaller is better: more coverage, then lower perf, then lower creator id
    (integer), then lower serial.
    """

    __slots__ = ("creator", "serial", "sel", "coverage", "perf", "total", "cost", "n_options", "key", "rank", "wire")

    def __init__(self, creator: int, serial: int, sel: np.ndarray, coverage: int, perf: float, total: np.ndarray,
                 cost: float, n_options: int) -> None:
        self.creator = creator
        self.serial = serial
        self.sel = sel
        self.coverage = coverage
        self.perf = perf
        self.total = total
        self.cost = cost
        self.n_options = n_options
        self.key = (creator, serial)
        self.rank = (-coverage, perf, creator, serial)
        self.wire = 0  # encoded size in bytes, filled in by the codec on first use

    @staticmethod
    def create(creator: int, serial: int, sel: np.ndarray, perf: float, total: np.ndarray, cost: float,
               n_options: int, coverage: int | None = None) -> "SolutionCandidate":
        sel = np.array(sel, dtype=index_dtype(n_options))
        sel.setflags(write=False)
        if coverage is None:
            coverage = int(np.count_nonzero(sel != n_options))
        return SolutionCandidate(int(creator), int(serial), sel, coverage, float(perf), total, float(cost),
                                 int(n_options))

    @property
    def covered(self) -> np.ndarray:
        return self.sel != self.n_options

    def __repr__(self) -> str:
        return (f"SolutionCandidate(creator={self.creator}, serial={self.serial}, coverage={self.coverage}, "
                f"perf={self.perf:.6g})")


@dataclass
class WorkingMemory:
    """One agent's state for one negotiation: ``(start, res, intervals, ts, ps, sysconf, candidate)``.

    ``start`` is the planning start (s since the epoch, UTC), ``res`` the interval length (s); the target ``ts`` is
    held by the objective.
    """

    start: float
    res: int
    intervals: int
    objective: Objective
    ps: np.ndarray
    sysconf: SystemConfig
    candidate: SolutionCandidate
