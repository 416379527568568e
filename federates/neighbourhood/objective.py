"""The producer's scheduling objective: how badly a set of job start times fits a production prediction.

Two forms:

* :func:`pyssmic_objective` is PySSMic's objective, kept for comparison and for the reference test vectors. It is
  evaluated only at the jobs' sample times and weights each point with the time to the next one; with
  ``interpolation="position"`` it is PySSMic exactly, with ``"time"`` it uses time-linear interpolation.
* :class:`SlotObjective` is what the producers optimise. The same idea (time-weighted mismatch plus a penalty on
  consumption above production) on a fixed grid of ``slot_s`` intervals covering every possible position of the
  jobs, with production and consumption both integrated over the same interval by time-linear interpolation of
  their cumulative curves. Each job starts at one of a discrete set of start options (``est + m·step_s`` within
  ``[max(est, now), lst]``), which every optimiser shares, so the exact MILP and the scipy optimisers search the
  same space and their values are comparable.

On that fixed window ``sum(p - c)`` does not depend on the schedule, so
``f = slot_s·(sum(p - c) + (2 + pen)·sum(max(c - p, 0)))``: a schedule is better exactly when it draws less energy
above the prediction. That linear form is what the MILP minimises.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vppfed.federates.neighbourhood.model import Profile
from vppfed.federates.neighbourhood.profiles import (
    Interpolation,
    differentiate,
    interpolate_by_position,
    interpolate_by_time,
    round_to_nearest_60,
)


def pyssmic_objective(starts_s: np.ndarray, loads: list[Profile], prediction: Profile, penalty: float = 1.0,
                      interpolation: Interpolation = "position") -> float:
    """PySSMic's objective for start times ``starts_s`` (s) of ``loads`` against a cumulative ``prediction``.

    Starts are rounded to the nearest 60 s; consumption per job sample is the job's first difference; production is
    the first difference of the prediction filled onto the merged (prediction + consumption) index; the mismatch at
    consumption time ``t_i`` is weighted by ``t_{i+1} - t_i`` (0 for the last one). Units: Wh·s.
    """
    starts = round_to_nearest_60(np.atleast_1d(starts_s))
    times = np.concatenate([s + load.times_s for s, load in zip(starts, loads)])
    energies = np.concatenate([differentiate(load.cumulative_wh) for load in loads])
    t_c, inverse = np.unique(times, return_inverse=True)
    consumption = np.bincount(inverse, weights=energies, minlength=t_c.size)
    production = _production_at(prediction, t_c, interpolation)
    weights = np.zeros_like(t_c)
    weights[:-1] = np.diff(t_c)
    mismatch = np.abs(production - consumption) * weights
    return float(mismatch.sum() + penalty * mismatch[consumption > production].sum())


def pyssmic_strictly_positive(starts_s: np.ndarray, loads: list[Profile], prediction: Profile,
                              interpolation: Interpolation = "position") -> bool:
    """PySSMic's acceptance check: consumption never exceeds production on the merged consumption+prediction index."""
    starts = round_to_nearest_60(np.atleast_1d(starts_s))
    times = np.concatenate([s + load.times_s for s, load in zip(starts, loads)] + [prediction.times_s])
    energies = np.concatenate([differentiate(load.cumulative_wh) for load in loads]
                              + [np.zeros(prediction.times_s.size)])
    t_all, inverse = np.unique(times, return_inverse=True)
    consumption = np.bincount(inverse, weights=energies, minlength=t_all.size)
    production = _production_at(prediction, t_all, interpolation)
    return bool(np.all(consumption <= production))


def _production_at(prediction: Profile, at_s: np.ndarray, interpolation: Interpolation) -> np.ndarray:
    """First difference of the prediction on the merged index, read at ``at_s`` (PySSMic's production)."""
    merged = np.union1d(prediction.times_s, at_s)
    if interpolation == "position":
        cumulative = interpolate_by_position(prediction.times_s, prediction.cumulative_wh, merged)
    elif interpolation == "time":
        cumulative = interpolate_by_time(prediction.times_s, prediction.cumulative_wh, merged)
    else:
        raise ValueError(f"interpolation must be 'time' or 'position', got {interpolation!r}")
    return differentiate(cumulative)[np.searchsorted(merged, at_s)]


@dataclass(frozen=True)
class FreeJob:
    """A job whose start the optimiser chooses among ``first_s + m·step_s`` for ``m = 0..count-1``."""

    profile: Profile
    first_s: float
    step_s: float
    count: int

    @property
    def starts_s(self) -> np.ndarray:
        """All start options, s."""
        return self.first_s + self.step_s * np.arange(self.count)

    @property
    def last_s(self) -> float:
        """Latest start option, s."""
        return self.first_s + self.step_s * (self.count - 1)


def start_options(est_s: float, lst_s: float, now_s: float, step_s: float) -> tuple[float, int]:
    """First start option and number of options for a job with window ``[est, lst]`` seen at time ``now``.

    Options lie on ``est + m·step_s`` (anchored at the job's own EST, so a start chosen earlier stays an option when
    ``now`` advances) and not before ``now``. A job whose window has passed gets the single option ``now``.
    """
    m0 = max(0, int(np.ceil((now_s - est_s) / step_s - 1e-9)))
    m1 = int(np.floor((lst_s - est_s) / step_s + 1e-9))
    if m1 < m0:
        return max(est_s, now_s), 1
    return est_s + m0 * step_s, m1 - m0 + 1


@dataclass(frozen=True)
class FixedJob:
    """A job already running (its start is in the past) that still draws energy."""

    profile: Profile
    start_s: float


class SlotObjective:
    """The schedule objective of one producer on a fixed slot grid (see the module docstring).

    Parameters
    ----------
    prediction : Profile
        Cumulative production prediction, absolute times (s), Wh.
    free : list of FreeJob
        Jobs to schedule.
    fixed : list of FixedJob
        Jobs already running: constant consumption.
    penalty : float
        Extra weight on consumption above production (PySSMic's ``pen``).
    slot_s : float
        Grid interval, s.
    """

    def __init__(self, prediction: Profile, free: list[FreeJob], fixed: list[FixedJob] | None = None,
                 penalty: float = 1.0, slot_s: float = 60.0) -> None:
        if slot_s <= 0:
            raise ValueError("slot_s must be > 0")
        self.prediction = prediction
        self.free = list(free)
        self.fixed = list(fixed or [])
        self.penalty = float(penalty)
        self.slot_s = float(slot_s)
        begins = [j.first_s + j.profile.times_s[0] for j in self.free] + \
                 [j.start_s + j.profile.times_s[0] for j in self.fixed]
        ends = [j.last_s + j.profile.times_s[-1] for j in self.free] + \
               [j.start_s + j.profile.times_s[-1] for j in self.fixed]
        if not begins:
            begins, ends = [0.0], [0.0]
        self.k0 = int(np.floor(min(begins) / self.slot_s))
        k1 = max(int(np.ceil(max(ends) / self.slot_s)), self.k0 + 1)
        self.edges_s = self.slot_s * np.arange(self.k0, k1 + 1)
        self.production = np.diff(prediction.at(self.edges_s))
        self.base = np.zeros(self.production.size)
        for job in self.fixed:
            self.base += np.diff(job.profile.at(self.edges_s - job.start_s))
        self._cache: dict[tuple[int, ...], float] = {}
        self._options: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def n_slots(self) -> int:
        """Number of grid intervals in the window."""
        return self.production.size

    def job_slots(self, j: int, m: int) -> tuple[int, np.ndarray]:
        """(first slot index, energies per slot in Wh) of free job ``j`` at option ``m``."""
        job = self.free[j]
        start = job.first_s + m * job.step_s
        k_a = int(np.floor((start + job.profile.times_s[0]) / self.slot_s)) - self.k0
        k_b = int(np.ceil((start + job.profile.times_s[-1]) / self.slot_s)) - self.k0
        k_b = max(k_b, k_a + 1)
        energies = np.diff(job.profile.at(self.edges_s[k_a:k_b + 1] - start))
        return k_a, energies

    def option_energies(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Every start option of free job ``j`` at once: first slot per option ``(M,)`` and Wh per slot ``(M, W)``.

        Row ``m`` holds the energies of slots ``k_a[m] .. k_a[m] + W - 1`` (zeros past the job's end). Cached.
        """
        cached = self._options.get(j)
        if cached is None:
            job = self.free[j]
            starts = job.starts_s
            k_a = np.floor((starts + job.profile.times_s[0]) / self.slot_s).astype(int) - self.k0
            k_b = np.maximum(np.ceil((starts + job.profile.times_s[-1]) / self.slot_s).astype(int) - self.k0,
                             k_a + 1)
            width = int((k_b - k_a).max())
            edge_index = np.minimum(k_a[:, None] + np.arange(width + 1), self.n_slots)
            energy = np.diff(job.profile.at(self.edges_s[edge_index] - starts[:, None]), axis=1)
            energy[k_a[:, None] + np.arange(width) >= self.n_slots] = 0.0
            cached = self._options[j] = (k_a, energy)
        return cached

    def option_overshoots(self, j: int, indices: np.ndarray) -> np.ndarray:
        """Overshoot (Wh) of the schedule ``indices`` with free job ``j`` moved to each of its options in turn."""
        active = np.ones(len(self.free), dtype=bool)
        active[j] = False
        rest = self.consumption(indices, active) - self.production
        k_a, energy = self.option_energies(j)
        slots = k_a[:, None] + np.arange(energy.shape[1])
        inside = slots < self.n_slots
        window = np.where(inside, rest[np.minimum(slots, self.n_slots - 1)], 0.0)
        before = np.maximum(rest, 0.0).sum()
        return before - np.maximum(window, 0.0).sum(axis=1) + np.maximum(window + energy, 0.0).sum(axis=1)

    def consumption(self, indices: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """Consumption per slot (Wh) with free job ``j`` at option ``indices[j]`` (only jobs where ``active``)."""
        c = self.base.copy()
        for j, m in enumerate(np.asarray(indices, dtype=int)):
            if active is not None and not active[j]:
                continue
            # the cached rows of option_energies hold job_slots' energies bit for bit, zero padded (adding 0.0 keeps
            # every sum), and cost no interpolation: the searches call this thousands of times per run
            k_a, energy = self.option_energies(j)
            k = int(k_a[m])
            e = energy[m, :self.n_slots - k]
            c[k:k + e.size] += e
        return c

    def value(self, indices: np.ndarray) -> float:
        """Objective value (Wh·s) of the schedule given as option indices; cached per schedule."""
        key = tuple(int(m) for m in indices)
        cached = self._cache.get(key)
        if cached is None:
            c = self.consumption(np.asarray(key))
            diff = self.production - c
            cached = float(self.slot_s * (np.abs(diff).sum() + self.penalty * np.maximum(-diff, 0.0).sum()))
            self._cache[key] = cached
        return cached

    def overshoot_wh(self, indices: np.ndarray, active: np.ndarray | None = None) -> float:
        """Energy consumed above the prediction (Wh): what this producer could not supply and the grid must."""
        c = self.consumption(indices, active)
        return float(np.maximum(c - self.production, 0.0).sum())

    def indices_from_starts(self, starts_s: np.ndarray) -> np.ndarray:
        """Nearest start option of each free job for continuous start times (clipped into the options)."""
        out = np.empty(len(self.free), dtype=int)
        for j, (job, s) in enumerate(zip(self.free, np.atleast_1d(starts_s))):
            m = int(np.round((float(s) - job.first_s) / job.step_s)) if np.isfinite(s) else 0
            out[j] = min(max(m, 0), job.count - 1)
        return out

    def starts_from_indices(self, indices: np.ndarray) -> np.ndarray:
        """Start times (s) of the options ``indices``."""
        return np.array([job.first_s + int(m) * job.step_s for job, m in zip(self.free, indices)], dtype=float)

    def value_of_starts(self, starts_s: np.ndarray) -> float:
        """Objective of continuous start times after snapping them to the options (what scipy minimisers see)."""
        return self.value(self.indices_from_starts(starts_s))
