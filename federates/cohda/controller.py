"""The DAP controller: membership, overlay, init, weight-throwing termination detection, anytime stop and merge.

Termination detection is Huang's weight throwing with exact dyadic weights: the controller owns weight 1, hands a
share to every agent with its init message, every step message carries half of its sender's weight, and an idle
agent returns what it holds. Held + in flight + returned is exactly 1 at all times, so "returned == 1" means no agent
is active and no message is in flight: the negotiation has terminated, with no global observer.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from vppfed.federates.cohda.agent import merge_candidates
from vppfed.federates.cohda.data import Catalogue, SolutionCandidate
from vppfed.federates.cohda.dyadic import Dyadic
from vppfed.federates.cohda.messages import CONTROLLER, InitMessage, ResultMessage, StopMessage, WeightMessage
from vppfed.federates.cohda.objectives import objective_by_name
from vppfed.federates.cohda.overlay import neighbour_lists, small_world

log = logging.getLogger(__name__)


@dataclass
class Member:
    """A registered agent: its id, possible schedules (M x T, kW), optional local costs and start index."""

    aid: int
    schedules: np.ndarray
    costs: np.ndarray | None = None
    init_index: int = 0


@dataclass
class Negotiation:
    """State of one running negotiation as the controller sees it."""

    number: int
    catalogue: Catalogue
    edges: np.ndarray
    objective_name: str
    target: np.ndarray
    weights: np.ndarray | None
    returned: Dyadic = Dyadic.ZERO
    terminated: bool = False
    stopping: bool = False
    results: dict[int, ResultMessage] = field(default_factory=dict)


class CohdaController:
    """Builds overlays, starts negotiations, detects termination, stops them and merges the result.

    Agents join or leave only between negotiations (the participant list of a running negotiation is fixed).

    Parameters
    ----------
    k, phi : overlay parameters (ring neighbours per side, shortcut density).
    seed : seeds the overlay of each negotiation (``seed + negotiation number``).
    """

    def __init__(self, k: int = 1, phi: float = 0.5, seed: int = 0) -> None:
        self.k, self.phi, self.seed = k, phi, seed
        self.members: dict[int, Member] = {}
        self.current: Negotiation | None = None
        self.count = 0

    # ------------------------------------------------------------------ membership
    def join(self, member: Member) -> None:
        """Register an agent for the next negotiation."""
        self._require_idle("join")
        self.members[int(member.aid)] = member

    def leave(self, aid: int) -> None:
        """Remove an agent before the next negotiation."""
        self._require_idle("leave")
        self.members.pop(int(aid), None)

    def _require_idle(self, what: str) -> None:
        if self.current is not None and not (self.current.terminated or self.current.stopping):
            raise RuntimeError(f"agents may {what} only between negotiations")

    # ------------------------------------------------------------------ start
    def start(self, target: np.ndarray, weights: np.ndarray | None = None, objective: str = "l1",
              start: float = 0.0, res: int = 900, edges: np.ndarray | None = None,
              cost_weight: float = 0.0, starters: str = "one",
              warm_start: bool = False) -> tuple[Catalogue, list[InitMessage]]:
        """Open a negotiation over the current members (sorted by id): catalogue and one init message per agent.

        ``edges`` (slot pairs) overrides the seeded small-world overlay, e.g. to run a benchmark instance's overlay.
        ``starters``: ``"one"`` lets a seeded random agent start deciding while the others wait for their first step
        message (Hinrichs' single speaker: the solution grows as one front, far fewer revisions); ``"all"`` lets every
        agent decide and send at init. ``warm_start``: every agent starts knowing the members' start schedules (a
        complete system configuration with counters 0 and that configuration as a shared candidate created by the
        controller), e.g. when re-planning from the schedules in force; otherwise each knows only itself.
        """
        if not self.members:
            raise ValueError("no agents have joined")
        if self.current is not None and not (self.current.terminated or self.current.stopping):
            raise RuntimeError("a negotiation is already running")
        ids = np.array(sorted(self.members), dtype=np.int64)
        mem = [self.members[int(a)] for a in ids]
        shapes = {m.schedules.shape for m in mem}
        if len(shapes) != 1:
            raise ValueError(f"all agents need the same number of schedules and intervals, got {sorted(shapes)}")
        costs = None
        if any(m.costs is not None for m in mem):
            costs = np.stack([m.costs if m.costs is not None else np.zeros(m.schedules.shape[0]) for m in mem])
        catalogue = Catalogue.build(ids, np.stack([m.schedules for m in mem]), costs, cost_weight)
        n = ids.size
        self.count += 1
        if edges is None:
            edges = small_world(n, self.k, self.phi, self.seed + self.count)
        nbrs = neighbour_lists(n, edges)
        target = np.asarray(target, dtype=float)
        objective_by_name(objective, target, weights)  # validate the name early
        exp = max(0, math.ceil(math.log2(n)))
        share = Dyadic(1, exp)
        neg = Negotiation(self.count, catalogue, np.asarray(edges), objective, target, weights)
        neg.returned = Dyadic.ONE - Dyadic(n, exp)  # the controller's own unused remainder
        self.current = neg
        if starters not in ("one", "all"):
            raise ValueError(f"starters must be 'one' or 'all', got {starters!r}")
        speaker = int(np.random.default_rng(self.seed + self.count).integers(n))
        initial = None
        if warm_start:
            sel = np.array([int(m.init_index) for m in mem])
            initial = catalogue.candidate(CONTROLLER, 0, sel, objective_by_name(objective, target, weights))
        inits = [InitMessage(CONTROLLER, s, ids, nbrs[s], float(start), int(res), target,
                             None if weights is None else np.asarray(weights, float), int(mem[s].init_index),
                             share, objective, neg.number, starters == "all" or s == speaker, initial)
                 for s in range(n)]
        return catalogue, inits

    # ------------------------------------------------------------------ termination and stop
    def on_weight(self, msg: WeightMessage) -> bool:
        """Add returned weight; True exactly once, when the whole weight is back (terminated)."""
        neg = self.current
        neg.returned = neg.returned + msg.weight
        if neg.returned.is_one() and not neg.terminated:
            neg.terminated = True
            return True
        return False

    def stop_messages(self) -> list[StopMessage]:
        """Stop messages to every participant (after termination, or at any time for an anytime result)."""
        neg = self.current
        neg.stopping = True
        return [StopMessage(CONTROLLER, s, neg.number) for s in range(neg.catalogue.n_agents)]

    def on_result(self, msg: ResultMessage) -> bool:
        """Collect one agent's result; True when all participants have answered."""
        neg = self.current
        neg.results[int(msg.own_slot)] = msg
        return len(neg.results) == neg.catalogue.n_agents

    def final_selection(self) -> tuple[np.ndarray, SolutionCandidate]:
        """Merge all reported candidates (COHDA merge rules) into one complete selection (slot -> schedule index).

        After termination all candidates are equal. After an anytime stop the merge may still miss agents; those get
        the schedule they currently hold.
        """
        neg = self.current
        objective = objective_by_name(neg.objective_name, neg.target, neg.weights)
        best: SolutionCandidate | None = None
        for slot in sorted(neg.results):
            cand = neg.results[slot].candidate
            best = cand if best is None else merge_candidates(best, cand, CONTROLLER, 0, neg.catalogue, objective)
        sel = np.array(best.sel, dtype=np.int64)
        m = neg.catalogue.n_options
        for slot, res in neg.results.items():
            if sel[slot] == m:
                sel[slot] = res.own_index
        sel[sel == m] = 0
        return sel, best
