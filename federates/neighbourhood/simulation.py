"""One run of a neighbourhood without HELICS: the events in time order through the negotiation core.

Deterministic for a given seed: producer events at a time are handled before job events at the same time, jobs in
file order, and each job is negotiated completely at its registration time. The HELICS federates
(:mod:`.adapter`) drive the same core with the same rules, but each message there takes one hop of co-simulation
time and the random streams are drawn per producer and household, so their contracts can differ in detail.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from vppfed.federates.neighbourhood.model import Contract, Job, Neighbourhood, Profile
from vppfed.federates.neighbourhood.negotiation import Manager, Producer, ProducerSettings, ScoreBoard, grid_contract
from vppfed.federates.neighbourhood.optimisers import make_scheduler

log = logging.getLogger(__name__)


@dataclass
class RunSettings:
    """Settings of a run (the ``neighbourhood:`` section of a case uses the same names).

    Parameters
    ----------
    optimizer : str
        ``milp``, ``L-BFGS-B``, ``SLSQP``, ``TNC`` or ``fifty_fifty``.
    length_s : float
        Simulated time, s (jobs registered later are ignored, contracts starting later are not fulfilled).
    eps, tol, niter, stepsize : float, float, int, float
        Basin-hopping options (see :class:`~.optimisers.BasinHopping`).
    time_limit_s : float
        Wall-clock guard per HiGHS solve, s (only the ``highs`` engine; ``max_nodes`` is the reproducible limit).
    max_nodes : int
        Node limit per exact solve (options tried by the branch and bound, see :mod:`.exact`); a solve it stops is
        counted in the run's ``solver_limits``.
    max_evals : int
        Second work limit per exact solve: option increments the branch and bound evaluates (binds on large,
        crowded producers only; counted as ``node_limit`` too).
    penalty, max_grid_share, slot_s, step_s : float
        Producer settings (see :class:`~.negotiation.ProducerSettings`).
    grid_start : str
        ``random`` or ``earliest``: start of jobs bought from the grid.
    """

    optimizer: str = "milp"
    length_s: float = 86400.0
    eps: float = 1e-4
    tol: float = 100.0
    niter: int = 20
    stepsize: float = 900.0
    time_limit_s: float = 30.0
    max_nodes: int = 20_000
    max_evals: int = 500_000
    penalty: float = 1.0
    max_grid_share: float = 0.5
    slot_s: float = 300.0
    step_s: float = 900.0
    grid_start: str = "random"

    def validate(self) -> None:
        """Range checks (``ValueError("field: reason")``, reported by the config loader with the file name)."""
        from vppfed.io import require
        from vppfed.federates.neighbourhood.optimisers import OPTIMISERS

        require(self.optimizer.lower() in {o.lower() for o in OPTIMISERS} | {"fifty-fifty"}, "optimizer",
                f"must be one of {', '.join(OPTIMISERS)}")
        require(self.length_s > 0, "length_s", "must be > 0")
        require(self.eps > 0, "eps", "must be > 0")
        require(self.tol > 0, "tol", "must be > 0")
        require(self.niter >= 0, "niter", "must be >= 0")
        require(self.stepsize > 0, "stepsize", "must be > 0")
        require(self.time_limit_s > 0, "time_limit_s", "must be > 0")
        require(self.max_nodes >= 1, "max_nodes", "must be >= 1")
        require(self.max_evals >= 1, "max_evals", "must be >= 1")
        require(self.penalty >= 0, "penalty", "must be >= 0")
        require(0 <= self.max_grid_share <= 1, "max_grid_share", "must be in [0, 1]")
        require(self.slot_s > 0, "slot_s", "must be > 0")
        require(self.step_s > 0, "step_s", "must be > 0")
        require(self.grid_start in ("random", "earliest"), "grid_start", "must be 'random' or 'earliest'")

    def producer_settings(self) -> ProducerSettings:
        """The subset the producers use."""
        return ProducerSettings(self.penalty, self.max_grid_share, self.slot_s, self.step_s)

    def make_scheduler(self):
        """The scheduler these settings name."""
        return make_scheduler(self.optimizer, eps=self.eps, tol=self.tol, niter=self.niter, stepsize=self.stepsize,
                              time_limit_s=self.time_limit_s, max_nodes=self.max_nodes, max_evals=self.max_evals)


@dataclass
class RequestRecord:
    """One producer's answer to one job (kept for the run's log and for benchmarks)."""

    time_s: float
    job_id: str   # the job's unique key (Job.key)
    producer_id: str
    accepted: bool
    added_overshoot_wh: float
    solve_s: float


@dataclass
class RunResult:
    """Contracts fulfilled within the run, every producer's final prediction, and the request log."""

    contracts: list[Contract]
    pending: list[Contract]
    production: dict[str, Profile]
    producer_house: dict[str, str]
    requests: list[RequestRecord] = field(default_factory=list)
    wall_s: float = 0.0
    solver_limits: dict[str, int] = field(default_factory=dict)
    """The scheduler's counts (MILP: solves, solves exact without HiGHS, solves a node or time limit stopped)."""


class NeighbourhoodCore:
    """The negotiation state of one run, driven event by event (by :func:`simulate_run` or the HELICS adapter)."""

    def __init__(self, settings: RunSettings, scores: ScoreBoard, rng: np.random.Generator) -> None:
        self.settings = settings
        self.manager = Manager(scores)
        self.producers: dict[str, Producer] = {}
        self.rng = rng
        self.grid_contracts: list[Contract] = []
        self.requests: list[RequestRecord] = []
        self._scheduler = settings.make_scheduler()
        self._producer_settings = settings.producer_settings()

    def producer_event(self, producer_id: str, house: str, prediction: Profile) -> None:
        """A producer appears or updates its prediction."""
        producer = self.producers.get(producer_id)
        if producer is None:
            producer = Producer(producer_id, house, self._scheduler, self._producer_settings,
                                np.random.default_rng(self.rng.integers(2**63)))
            self.producers[producer_id] = producer
            self.manager.register(producer_id)
        producer.update_prediction(prediction)

    def ask(self, producer_id: str, job: Job, now_s: float) -> Contract | None:
        """One request to one producer, with its score update; the contract if it accepted."""
        decision = self.producers[producer_id].request(job, now_s)
        self.manager.record(producer_id, decision.accepted)
        self.requests.append(RequestRecord(now_s, job.key, producer_id, decision.accepted,
                                           decision.added_overshoot_wh, decision.solve_s))
        return decision.contract

    def to_grid(self, job: Job, now_s: float) -> Contract:
        """Nobody accepted: a grid contract."""
        contract = grid_contract(job, now_s, self.rng, self.settings.grid_start, self.settings.step_s)
        self.grid_contracts.append(contract)
        return contract

    def job_event(self, job: Job, now_s: float) -> Contract:
        """Negotiate ``job``: producers in score order, then the grid."""
        for producer_id in self.manager.ranking():
            contract = self.ask(producer_id, job, now_s)
            if contract is not None:
                return contract
        return self.to_grid(job, now_s)

    def result(self, wall_s: float = 0.0) -> RunResult:
        """Contracts split into fulfilled (start before the end of the run) and pending."""
        every = self.grid_contracts + [c for p in self.producers.values() for c in p.contracts]
        every.sort(key=lambda c: (c.start_s, c.job_key))
        done = [c for c in every if c.start_s < self.settings.length_s]
        pending = [c for c in every if c.start_s >= self.settings.length_s]
        production = {pid: p.prediction for pid, p in self.producers.items() if p.prediction is not None}
        houses = {pid: p.house for pid, p in self.producers.items()}
        return RunResult(done, pending, production, houses, self.requests, wall_s,
                         dict(getattr(self._scheduler, "limits", {})))


def simulate_run(neighbourhood: Neighbourhood, settings: RunSettings, scores: ScoreBoard,
                 seed: int | np.random.SeedSequence) -> RunResult:
    """Run the neighbourhood once, in process.

    Parameters
    ----------
    neighbourhood : Neighbourhood
        Jobs and producer events (times in s from the neighbourhood's start).
    settings : RunSettings
        Optimiser and decision settings.
    scores : ScoreBoard
        Producer scores; updated in place (the caller persists them).
    seed : int or SeedSequence
        Seed of every random choice in the run.

    Returns
    -------
    RunResult
    """
    tic = time.perf_counter()
    core = NeighbourhoodCore(settings, scores, np.random.default_rng(seed))
    events: list[tuple[float, int, int, object]] = []
    for i, ev in enumerate(neighbourhood.producer_events):
        events.append((ev.time_s, 0, i, ev))
    for i, job in enumerate(neighbourhood.jobs):
        events.append((job.reg_time_s, 1, i, job))
    events.sort(key=lambda e: e[:3])
    for t, kind, _, ev in events:
        if t >= settings.length_s:
            break
        if kind == 0:
            core.producer_event(ev.producer_id, ev.house, ev.prediction)
        else:
            core.job_event(ev, t)
    result = core.result(time.perf_counter() - tic)
    log.info("run: %d contracts (%d grid), %d requests, %.2f s", len(result.contracts),
             sum(c.producer_id == "grid" for c in result.contracts), len(result.requests), result.wall_s)
    return result
