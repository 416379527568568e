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

from array import array
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
    index (``M``, the catalogue's zero row, if unknown). Both live in compact :class:`array.array` buffers that merges
    update entry by entry in plain Python (a message carries a handful of entries, for which per-call NumPy overhead
    would dominate), with NumPy views (``cnt``, ``sel``) over the same memory for whole-array work.

    :meth:`total_via` gives the aggregate (kW, T) and local-cost sum of all known entries: merges only record which
    catalogue rows enter and leave, and the aggregate is brought up to date once per decide, either from those
    changes or, when there are many, from the current candidate's cached aggregate plus the few entries where the
    system configuration differs from it. It is re-summed exactly every N updates, so float drift cannot build up.
    """

    __slots__ = ("cnt", "sel", "_cnt_a", "_sel_a", "n_known", "_total", "_cost", "_cat", "_flat", "_flat_costs",
                 "_m1", "_updates", "_refresh", "_ps", "_po", "_pn", "_pa", "_pk", "_n")

    def __init__(self, catalogue: Catalogue) -> None:
        n = catalogue.n_agents
        m = catalogue.n_options
        self._cat = catalogue
        self._n = n
        self._m1 = m + 1
        self._flat = catalogue.schedules.reshape(n * self._m1, catalogue.intervals)
        self._flat_costs = None if catalogue.costs is None else catalogue.costs.reshape(-1)
        code = "h" if index_dtype(m) is np.int16 else "i"
        self._cnt_a = array("i", bytes(4 * n))
        self._sel_a = array(code, bytes(self._sel_itemsize(code) * n))
        self.cnt = np.frombuffer(self._cnt_a, dtype=np.int32)
        self.sel = np.frombuffer(self._sel_a, dtype=index_dtype(m))
        self.cnt[:] = UNKNOWN
        self.sel[:] = m
        self.n_known = 0
        self._total = np.zeros(catalogue.intervals)
        self._cost = 0.0
        self._updates = 0
        self._refresh = max(64, n)
        self._ps: list[int] = []   # pending changes since the aggregate was last brought up to date
        self._po: list[int] = []
        self._pn: list[int] = []
        self._pa: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []   # ... and those merged as arrays
        self._pk = 0

    @staticmethod
    def _sel_itemsize(code: str) -> int:
        return array(code).itemsize

    @staticmethod
    def empty(catalogue: Catalogue) -> "SystemConfig":
        return SystemConfig(catalogue)

    # ------------------------------------------------------------------ aggregate
    @property
    def total(self) -> np.ndarray:
        """Aggregate (kW, T) of all known entries."""
        if self._ps or self._pa:
            self._flush()
        return self._total

    @property
    def cost(self) -> float:
        """Local-cost sum of all known entries (unweighted)."""
        if self._ps or self._pa:
            self._flush()
        return self._cost

    def total_via(self, cand: "SolutionCandidate") -> tuple[np.ndarray, float]:
        """Aggregate (kW) and local-cost sum, brought up to date the cheaper way.

        Many changed entries since the last read (a busy inbox) but few differences to ``cand`` (usual near
        convergence, when everyone forwards the same candidate): start from the candidate's cached aggregate and
        correct the differing entries (O(N) integer comparison + O(d*T)). Otherwise apply the changed entries.
        """
        k = len(self._ps) + self._pk
        if k > 8:
            diff = (self.sel != cand.sel).nonzero()[0]
            d = diff.shape[0]
            if d < k:
                self._clear_pending()
                total = cand.total.copy()
                cost = cand.cost
                if d:
                    base = diff * self._m1
                    new, old = base + self.sel[diff], base + cand.sel[diff]
                    total += self._flat[new].sum(axis=0) - self._flat[old].sum(axis=0)
                    if self._flat_costs is not None:
                        cost += float(self._flat_costs[new].sum() - self._flat_costs[old].sum())
                self._total, self._cost = total, cost
                self._updates += d
                if self._updates >= self._refresh:
                    self.resum()
                return self._total, self._cost
        if k:
            self._flush()
        return self._total, self._cost

    def _clear_pending(self) -> None:
        self._ps, self._po, self._pn = [], [], []
        self._pa = []
        self._pk = 0

    def _flush(self) -> None:
        """Move the cached aggregate from the replaced schedules to the new ones (O(k*T) for k changed entries)."""
        m1 = self._m1
        new = [j * m1 + v for j, v in zip(self._ps, self._pn)]
        old = [j * m1 + v for j, v in zip(self._ps, self._po)]
        if self._pa:
            base = [a * m1 for a, _, _ in self._pa]
            new = np.concatenate([np.asarray(new, dtype=np.int64)] + [b + n for b, (_, _, n) in zip(base, self._pa)])
            old = np.concatenate([np.asarray(old, dtype=np.int64)] + [b + o for b, (_, o, _) in zip(base, self._pa)])
        self._clear_pending()
        self._updates += len(new)
        if self._updates >= self._refresh:
            self.resum()
            return
        flat = self._flat
        if len(new) == 1:
            self._total += flat[new[0]] - flat[old[0]]
        else:
            self._total += flat[new].sum(axis=0) - flat[old].sum(axis=0)
        fc = self._flat_costs
        if fc is not None:
            self._cost += float(fc[new].sum() - fc[old].sum())

    def resum(self) -> None:
        """Recompute the cached aggregate exactly (drops the rounding of incremental updates)."""
        self._clear_pending()
        self._total = self._cat.aggregate(self.sel)
        self._cost = self._cat.local_cost(self.sel)
        self._updates = 0

    # ------------------------------------------------------------------ entries
    def load(self, cand: "SolutionCandidate") -> None:
        """Know every agent with the schedule it has in ``cand`` and counter 0 (a warm start)."""
        covered = cand.sel != self._cat.n_options
        self.cnt[covered] = 0
        self.sel[:] = cand.sel
        self.n_known = int(np.count_nonzero(covered))
        self._clear_pending()
        self._total = cand.total.copy()
        self._cost = cand.cost
        self._updates = 0

    def set_one(self, slot: int, cnt: int, index: int) -> None:
        """Overwrite one entry (already known to be newer), e.g. the agent's own."""
        ca, sa = self._cnt_a, self._sel_a
        if ca[slot] < 0:
            self.n_known += 1
        ca[slot] = cnt
        self._ps.append(slot)
        self._po.append(sa[slot])
        self._pn.append(index)
        sa[slot] = index

    def set(self, slots, cnts, sels) -> None:
        """Overwrite entries ``slots`` (already known to be newer)."""
        for j, c, v in zip(np.asarray(slots).tolist(), np.asarray(cnts).tolist(), np.asarray(sels).tolist()):
            self.set_one(j, c, v)

    def merge(self, slots, cnts, sels):
        """Merge received entries (the higher counter wins); returns the changed slots in order, or None.

        Entries come as lists (a few, merged in plain Python) or as arrays (many, merged vectorised; the changed
        slots are then returned as an array). Messages of one inbox are merged one after the other, so an entry
        that several messages carry ends with the highest counter; one message never repeats a slot.
        """
        if type(slots) is not list:
            return self._merge_arrays(np.asarray(slots), np.asarray(cnts), np.asarray(sels))
        ca, sa = self._cnt_a, self._sel_a
        ps, po, pn = self._ps, self._po, self._pn
        upd = None
        for j, c, v in zip(slots, cnts, sels):
            cur = ca[j]
            if c > cur:
                if cur < 0:
                    self.n_known += 1
                ca[j] = c
                ps.append(j)
                po.append(sa[j])
                pn.append(v)
                sa[j] = v
                if upd is None:
                    upd = [j]
                else:
                    upd.append(j)
        return upd

    def _merge_arrays(self, slots: np.ndarray, cnts: np.ndarray, sels: np.ndarray) -> np.ndarray | None:
        cur = self.cnt[slots]
        newer = (cnts > cur).nonzero()[0]
        k = newer.shape[0]
        if not k:
            return None
        if k != slots.shape[0]:
            slots, cnts, sels, cur = slots[newer], cnts[newer], sels[newer], cur[newer]
        if self.n_known < self._n:
            self.n_known += int(np.count_nonzero(cur < 0))
        self._pa.append((slots, self.sel[slots], sels))
        self._pk += k
        self.cnt[slots] = cnts
        self.sel[slots] = sels
        return slots

    def entries(self, slots: list[int]) -> tuple[list[int], list[int]]:
        """Counters and schedule indices of ``slots`` (for a delta message)."""
        ca, sa = self._cnt_a, self._sel_a
        return [ca[j] for j in slots], [sa[j] for j in slots]


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
