"""COHDA data classes: schedule catalogue, system configuration, solution candidate, working memory.

Terms follow the Open VPP design (seed 004): a system configuration is ``(idx, cs, cnt)``, here with the cluster
schedule ``cs`` stored as one schedule *index* per agent (the vectors live in the shared :class:`Catalogue`), so
messages and merges move small integers instead of T floats. Agents are addressed by integer ids; ``idx`` maps an id
to its slot (row) in the per-negotiation arrays.
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
        """Sum (kW, shape T) of the schedules chosen by ``sel`` (slot -> index, ``M`` or -1 = not counted)."""
        sel = np.where(sel < 0, self.n_options, sel)
        return self.schedules[np.arange(self.n_agents), sel].sum(axis=0)

    def local_cost(self, sel: np.ndarray) -> float:
        """Weighted sum of local costs of the chosen schedules (0 without costs)."""
        if self.costs is None or self.cost_weight == 0.0:
            return 0.0
        sel = np.where(sel < 0, self.n_options, sel)
        return self.cost_weight * float(self.costs[np.arange(self.n_agents), sel].sum())

    def performance(self, sel: np.ndarray, objective: Objective) -> float:
        """Objective of a (partial) selection: global part on the aggregate plus the weighted local costs."""
        return float(objective.evaluate(self.aggregate(sel))) + self.local_cost(sel)


@dataclass
class SystemConfig:
    """An agent's belief about everyone's newest selection: ``(idx, cs, cnt)`` with a running aggregate.

    ``cnt[s]`` is the counter of the agent in slot ``s`` (``UNKNOWN`` if never heard of), ``sel[s]`` its schedule
    index (``M`` if unknown). ``total`` is the sum of the known agents' schedules (kW) kept up to date on every
    change, so decide never re-sums N schedules.
    """

    cnt: np.ndarray
    sel: np.ndarray
    total: np.ndarray
    cost_total: float = 0.0
    n_known: int = 0

    @staticmethod
    def empty(catalogue: Catalogue) -> "SystemConfig":
        n = catalogue.n_agents
        dtype = np.int16 if catalogue.n_options < 2 ** 15 - 1 else np.int32
        return SystemConfig(np.full(n, UNKNOWN, dtype=np.int32), np.full(n, catalogue.n_options, dtype=dtype),
                            np.zeros(catalogue.intervals))

    def apply(self, catalogue: Catalogue, slots: np.ndarray, cnts: np.ndarray, sels: np.ndarray) -> None:
        """Overwrite entries ``slots`` (already known to be newer) and update the running aggregate."""
        old = self.sel[slots]
        self.n_known += int(np.count_nonzero(self.cnt[slots] < 0))
        self.total += catalogue.schedules[slots, sels].sum(axis=0) - catalogue.schedules[slots, old].sum(axis=0)
        if catalogue.costs is not None:
            self.cost_total += float(catalogue.costs[slots, sels].sum() - catalogue.costs[slots, old].sum())
        self.cnt[slots] = cnts
        self.sel[slots] = sels

    def merge(self, catalogue: Catalogue, slots: np.ndarray, cnts: np.ndarray, sels: np.ndarray) -> np.ndarray:
        """Merge received entries (the higher counter wins); returns the slots that changed.

        Duplicate slots within one batch are resolved first (highest counter kept), so a whole inbox merges in one
        vectorised pass.
        """
        if slots.size == 0:
            return slots
        if slots.size > 1:
            order = np.lexsort((cnts, slots))
            slots, cnts, sels = slots[order], cnts[order], sels[order]
            last = np.ones(slots.size, dtype=bool)
            last[:-1] = slots[1:] != slots[:-1]
            slots, cnts, sels = slots[last], cnts[last], sels[last]
        newer = cnts > self.cnt[slots]
        if not newer.all():
            slots, cnts, sels = slots[newer], cnts[newer], sels[newer]
        if slots.size:
            self.apply(catalogue, slots, cnts, sels)
        return slots

    def selection(self) -> np.ndarray:
        """Schedule index per slot, -1 where unknown (the candidate layout)."""
        out = self.sel.astype(np.int32)
        out[self.cnt < 0] = -1
        return out


@dataclass(frozen=True)
class SolutionCandidate:
    """The best (possibly partial) solution an agent knows: ``(agent, idx, cs, perf)``.

    Immutable: agents of one process share candidate objects by reference (a receiver never copies or mutates one;
    see pitfall 4 of the reference notes). ``sel[s]`` is the schedule index of slot ``s`` or -1 when not covered.
    ``serial`` numbers the creator's candidates so ``(creator, serial)`` identifies a candidate on the wire.
    """

    creator: int
    serial: int
    sel: np.ndarray
    coverage: int
    perf: float

    @staticmethod
    def create(creator: int, serial: int, sel: np.ndarray, perf: float) -> "SolutionCandidate":
        sel = np.asarray(sel, dtype=np.int32)
        sel.setflags(write=False)
        return SolutionCandidate(int(creator), int(serial), sel, int(np.count_nonzero(sel >= 0)), float(perf))

    @property
    def key(self) -> tuple[int, int]:
        return (self.creator, self.serial)

    def rank(self) -> tuple[int, float, int, int]:
        """Sort key, smaller is better: more coverage, then lower perf, then lower creator id (integer), serial."""
        return (-self.coverage, self.perf, self.creator, self.serial)


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
