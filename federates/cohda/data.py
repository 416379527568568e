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


@dataclass
class SystemConfig:
    """An agent's belief about everyone's newest selection: ``(idx, cs, cnt)``.

    ``cnt[s]`` is the counter of the agent in slot ``s`` (``UNKNOWN`` if never heard of) and ``sel[s]`` its schedule
    index (``M``, the catalogue's zero row, if unknown). No aggregate is kept here: merges touch only these two
    integer arrays, and decide reconstructs the sum from the candidate's cached aggregate plus the few entries where
    the sysconf differs from the candidate (see :meth:`aggregate_via`).
    """

    cnt: np.ndarray
    sel: np.ndarray
    n_known: int = 0

    @staticmethod
    def empty(catalogue: Catalogue) -> "SystemConfig":
        n = catalogue.n_agents
        return SystemConfig(np.full(n, UNKNOWN, dtype=np.int32),
                            np.full(n, catalogue.n_options, dtype=index_dtype(catalogue.n_options)))

    def set(self, slots: np.ndarray, cnts: np.ndarray, sels: np.ndarray) -> None:
        """Overwrite entries ``slots`` (already known to be newer)."""
        self.n_known += int(np.count_nonzero(self.cnt[slots] < 0))
        self.cnt[slots] = cnts
        self.sel[slots] = sels

    def merge(self, slots: np.ndarray, cnts: np.ndarray, sels: np.ndarray,
              srcs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Merge received entries (the higher counter wins); returns the changed slots and their sources.

        Duplicate slots within one batch are resolved first (highest counter kept), so a whole inbox merges in one
        vectorised pass; ``srcs`` (the sender of each entry) is carried along for the change log.
        """
        if slots.size > 1 and srcs is not None:
            order = np.lexsort((cnts, slots))
            slots, cnts, sels, srcs = slots[order], cnts[order], sels[order], srcs[order]
            last = np.ones(slots.size, dtype=bool)
            last[:-1] = slots[1:] != slots[:-1]
            slots, cnts, sels, srcs = slots[last], cnts[last], sels[last], srcs[last]
        newer = cnts > self.cnt[slots]
        if not newer.all():
            slots, cnts, sels = slots[newer], cnts[newer], sels[newer]
            if srcs is not None:
                srcs = srcs[newer]
        if slots.size:
            self.set(slots, cnts, sels)
        return slots, srcs

    def aggregate_via(self, catalogue: Catalogue, cand: "SolutionCandidate") -> tuple[np.ndarray, float]:
        """Aggregate (kW) and local-cost sum of the sysconf, from ``cand``'s cached ones plus the differences.

        Near convergence the sysconf equals the candidate almost everywhere, so this costs one integer comparison
        over N slots and a gather of a few schedules, instead of T floats per merged entry.
        """
        diff = np.flatnonzero(self.sel != cand.sel)
        if diff.size == 0:
            return cand.total, cand.cost
        new = self.sel[diff]
        old = cand.sel[diff]
        total = cand.total + catalogue.schedules[diff, new].sum(axis=0) - catalogue.schedules[diff, old].sum(axis=0)
        cost = cand.cost
        if catalogue.costs is not None:
            cost += float(catalogue.costs[diff, new].sum() - catalogue.costs[diff, old].sum())
        return total, cost


def index_dtype(n_options: int) -> type:
    """Integer type for schedule indices (int16 unless an agent has more than 32,766 options)."""
    return np.int16 if n_options < 2 ** 15 - 1 else np.int32


@dataclass(frozen=True)
class SolutionCandidate:
    """The best (possibly partial) solution an agent knows: ``(agent, idx, cs, perf)``.

    Immutable: agents of one process share candidate objects by reference (a receiver never copies or mutates one;
    see pitfall 4 of the reference notes). ``sel[s]`` is the schedule index of slot ``s`` or ``M`` (the number of
    options) when not covered. ``serial`` numbers the creator's candidates so ``(creator, serial)`` identifies a
    candidate on the wire. ``total`` (kW, T) and ``cost`` cache the aggregate and local-cost sum (not sent).
    """

    creator: int
    serial: int
    sel: np.ndarray
    coverage: int
    perf: float
    total: np.ndarray
    cost: float
    n_options: int

    @staticmethod
    def create(creator: int, serial: int, sel: np.ndarray, perf: float, total: np.ndarray, cost: float,
               n_options: int) -> "SolutionCandidate":
        sel = np.array(sel, dtype=index_dtype(n_options))
        sel.setflags(write=False)
        return SolutionCandidate(int(creator), int(serial), sel, int(np.count_nonzero(sel != n_options)),
                                 float(perf), total, float(cost), int(n_options))

    @property
    def key(self) -> tuple[int, int]:
        return (self.creator, self.serial)

    @property
    def covered(self) -> np.ndarray:
        return self.sel != self.n_options

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
