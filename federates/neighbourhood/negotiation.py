"""Manager, producer scores and producers: who supplies a job, decided without any transport.

The HELICS adapter and the in-process simulation both drive these classes, so the negotiation logic exists once.

Protocol (CoSSMic): a job arrives; the manager ranks the producers it knows by score (lower is better, ties by
registration order); the consumer asks them in that order; the first producer that accepts gets ``-1``, every
producer that declines ``+1``; if nobody accepts, the job becomes a grid contract.

A producer decides by scheduling all jobs it has accepted and not yet started, plus the new one, against its
prediction (see :mod:`.objective`). It accepts when the new job adds at most ``max_grid_share`` of its own energy to
the energy drawn above the prediction. Jobs it keeps may be moved to better start options while they have not
started; the contract always carries the chosen start.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vppfed.federates.neighbourhood.model import GRID, Contract, Job, Profile
from vppfed.federates.neighbourhood.objective import FixedJob, FreeJob, SlotObjective, start_options
from vppfed.federates.neighbourhood.optimisers import Scheduler
from vppfed.federates.neighbourhood.profiles import merge_prediction
from vppfed.io import atomic_write_json

log = logging.getLogger(__name__)

INITIAL_SCORE = 10.0
SCORES_FILE = "producer_scores.json"


@dataclass
class ScoreBoard:
    """Producer scores (lower is better) in registration order; persisted as JSON in a run's output folder."""

    scores: dict[str, float] = field(default_factory=dict)

    def register(self, producer_id: str) -> None:
        """Add a producer with the initial score unless it already has one."""
        self.scores.setdefault(producer_id, INITIAL_SCORE)

    def reward(self, producer_id: str) -> None:
        """The producer accepted a job: score -1."""
        self.scores[producer_id] -= 1.0

    def punish(self, producer_id: str) -> None:
        """The producer declined a job: score +1."""
        self.scores[producer_id] += 1.0

    def ranking(self, producer_ids: list[str]) -> list[str]:
        """``producer_ids`` best first: by score, then by registration order."""
        order = {pid: i for i, pid in enumerate(self.scores)}
        return sorted(producer_ids, key=lambda pid: (self.scores[pid], order[pid]))

    @classmethod
    def load(cls, path: Path) -> "ScoreBoard":
        """Read scores written by :meth:`save`; a missing file gives an empty board."""
        if not path.exists():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls({str(k): float(v) for k, v in data["scores"].items()})

    def save(self, path: Path) -> None:
        """Write the scores atomically (a crash never leaves half a file)."""
        atomic_write_json(path, {"version": 1, "initial_score": INITIAL_SCORE, "scores": self.scores}, indent=1)


@dataclass
class ProducerSettings:
    """How producers schedule and decide.

    Parameters
    ----------
    penalty : float
        Weight of consumption above production in the objective (PySSMic ``pen``).
    max_grid_share : float
        A job is accepted when it adds at most this fraction of its energy to the energy drawn above the prediction
        (0: only jobs fully covered by PV).
    slot_s : float
        Objective grid interval, s.
    step_s : float
        Spacing of the start options, s.
    """

    penalty: float = 1.0
    max_grid_share: float = 0.5
    slot_s: float = 300.0
    step_s: float = 900.0


@dataclass
class Decision:
    """Outcome of one request, with what it cost (for logs and benchmarks)."""

    accepted: bool
    contract: Contract | None
    rescheduled: list[Contract]
    objective_wh_s: float
    added_overshoot_wh: float
    solve_s: float


@dataclass
class _Held:
    job: Job
    contract: Contract


class Producer:
    """A PV producer: its prediction and the jobs it has accepted.

    Parameters
    ----------
    producer_id, house : str
        Ids (``pv_producer[57]:[220]``, ``57``).
    scheduler : Scheduler
        Places jobs (see :mod:`.optimisers`).
    settings : ProducerSettings
        Objective and acceptance parameters.
    rng : numpy.random.Generator
        Randomness of proposals and of the fifty-fifty rule.
    """

    def __init__(self, producer_id: str, house: str, scheduler: Scheduler, settings: ProducerSettings,
                 rng: np.random.Generator) -> None:
        self.producer_id = producer_id
        self.house = house
        self.scheduler = scheduler
        self.settings = settings
        self.rng = rng
        self.prediction: Profile | None = None
        self.held: dict[str, _Held] = {}   # by Job.key: a repeated job id must not replace a held job
        self.contracts: list[Contract] = []

    def update_prediction(self, new: Profile) -> None:
        """Merge a new prediction file into the current prediction (CoSSMic offset rule)."""
        self.prediction = merge_prediction(self.prediction, new)

    def request(self, job: Job, now_s: float) -> Decision:
        """Schedule every held, not yet started job plus ``job``; accept or decline ``job``.

        Parameters
        ----------
        job : Job
            The requested job.
        now_s : float
            Current time, s. Held jobs that start at or before ``now_s`` can no longer move.

        Returns
        -------
        Decision
            With the new contract when accepted and the contracts whose start moved.
        """
        if self.prediction is None:
            return Decision(False, None, [], float("nan"), float("nan"), 0.0)
        free_held, fixed = [], []
        for held in list(self.held.values()):
            c = held.contract
            if c.start_s <= now_s:
                if c.start_s + c.profile.times_s[-1] > now_s:
                    fixed.append(FixedJob(c.profile, c.start_s))
                else:
                    del self.held[c.job_key]
            else:
                free_held.append(held)
        step = self.settings.step_s
        free, x0 = [], []
        for held in free_held:
            first, count = start_options(held.job.est_s, held.job.lst_s, now_s, step)
            free.append(FreeJob(held.job.profile, first, step, count))
            current = int(round((held.contract.start_s - first) / step))
            x0.append(min(max(current, 0), count - 1))
        first, count = start_options(job.est_s, job.lst_s, now_s, step)
        free.append(FreeJob(job.profile, first, step, count))
        x0.append(int(self.rng.integers(count)))
        objective = SlotObjective(self.prediction, free, fixed, self.settings.penalty, self.settings.slot_s)
        x0_arr = np.asarray(x0, dtype=int)
        without_new = np.ones(len(free), dtype=bool)
        without_new[-1] = False
        before = objective.overshoot_wh(x0_arr, without_new)
        allowed = self.settings.max_grid_share * job.profile.energy_wh
        tic = time.perf_counter()
        best = self.scheduler.solve(objective, x0_arr, self.rng, accept_below_wh=before + allowed)
        solve_s = time.perf_counter() - tic
        added = objective.overshoot_wh(best) - before
        value = objective.value(best)
        accept = added <= allowed + 1e-9
        if accept and self.scheduler.reject_probability > 0.0:
            accept = bool(self.rng.random() >= self.scheduler.reject_probability)
        if not accept:
            return Decision(False, None, [], value, added, solve_s)
        starts = objective.starts_from_indices(best)
        moved = []
        for held, start in zip(free_held, starts[:-1]):
            if start != held.contract.start_s:
                held.contract.start_s = float(start)
                moved.append(held.contract)
        contract = Contract(f"{self.producer_id};{job.key};{now_s:g}", job.job_id, job.house, self.producer_id,
                            float(starts[-1]), float(now_s), job.profile, job.key)
        self.held[job.key] = _Held(job, contract)
        self.contracts.append(contract)
        return Decision(True, contract, moved, value, added, solve_s)


class Manager:
    """Knows the producers and their scores; ranks them for each job."""

    def __init__(self, scores: ScoreBoard) -> None:
        self.scores = scores
        self.producers: list[str] = []

    def register(self, producer_id: str) -> None:
        """A producer joined the neighbourhood (keeps its persisted score if it has one)."""
        if producer_id not in self.producers:
            self.producers.append(producer_id)
            self.scores.register(producer_id)

    def ranking(self) -> list[str]:
        """Producers to ask, best first."""
        return self.scores.ranking(self.producers)

    def record(self, producer_id: str, accepted: bool) -> None:
        """Apply the score rule for one answer."""
        if accepted:
            self.scores.reward(producer_id)
        else:
            self.scores.punish(producer_id)


def grid_contract(job: Job, now_s: float, rng: np.random.Generator, grid_start: str, step_s: float) -> Contract:
    """Contract with the grid for a job nobody accepted.

    ``grid_start="random"`` draws one of the job's start options (as PySSMic's random scheduled time, seeded);
    ``"earliest"`` starts it as soon as allowed.
    """
    first, count = start_options(job.est_s, job.lst_s, now_s, step_s)
    m = int(rng.integers(count)) if grid_start == "random" else 0
    return Contract(f"{GRID};{job.key};{now_s:g}", job.job_id, job.house, GRID, first + m * step_s, float(now_s),
                    job.profile, job.key)
