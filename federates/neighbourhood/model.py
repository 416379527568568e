"""Data of a neighbourhood: cumulative energy profiles, jobs, producer predictions and contracts.

All times are seconds since the neighbourhood's start (the earliest event time), all energies Wh. Profiles are kept
cumulative, as in the CoSSMic files, because a cumulative curve can be interpolated linearly in time and differenced
on any grid without losing energy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRID = "grid"
"""Producer id of contracts that nobody in the neighbourhood accepted (energy bought from the grid)."""


@dataclass(frozen=True)
class Profile:
    """A cumulative energy curve.

    Parameters
    ----------
    times_s : numpy.ndarray
        Strictly increasing sample times, s (relative to the job start for loads, absolute for predictions).
    cumulative_wh : numpy.ndarray
        Energy consumed or produced up to each sample time, Wh.
    """

    times_s: np.ndarray
    cumulative_wh: np.ndarray

    def __post_init__(self) -> None:
        t = np.asarray(self.times_s, dtype=float)
        e = np.asarray(self.cumulative_wh, dtype=float)
        if t.ndim != 1 or t.shape != e.shape or t.size == 0:
            raise ValueError("a profile needs equally long, non-empty 1-D times and energies")
        if t.size > 1 and np.any(np.diff(t) <= 0):
            raise ValueError("profile times must be strictly increasing")
        object.__setattr__(self, "times_s", t)
        object.__setattr__(self, "cumulative_wh", e)

    @property
    def energy_wh(self) -> float:
        """Total energy of a load profile (last minus first cumulative value), Wh."""
        return float(self.cumulative_wh[-1] - self.cumulative_wh[0])

    @property
    def duration_s(self) -> float:
        """Time from the first to the last sample, s."""
        return float(self.times_s[-1] - self.times_s[0])

    def at(self, times_s: np.ndarray | float) -> np.ndarray:
        """Cumulative energy at ``times_s`` (Wh), linear in time, held at the first/last value outside the samples."""
        return np.interp(times_s, self.times_s, self.cumulative_wh)

    def shifted(self, offset_s: float) -> "Profile":
        """The same curve with every time moved by ``offset_s`` seconds."""
        return Profile(self.times_s + offset_s, self.cumulative_wh)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready form."""
        return {"times_s": self.times_s.tolist(), "cumulative_wh": self.cumulative_wh.tolist()}


@dataclass(frozen=True)
class Job:
    """A shiftable run of one appliance.

    Parameters
    ----------
    job_id : str
        The id as written in ``consumer_event.csv`` (``[house]:[device]:[n]`` or ``[house]:device``); PySSMic's
        own inputs repeat ids, so it need not be unique.
    house, device : str
        Ids taken from the job id.
    reg_time_s : float
        When the consumer posts the job, s.
    est_s, lst_s : float
        Earliest and latest start, s.
    profile : Profile
        Cumulative load from the job start, Wh against s.
    profile_name : str
        File name of the load in ``loads/``.
    """

    job_id: str
    house: str
    device: str
    reg_time_s: float
    est_s: float
    lst_s: float
    profile: Profile
    profile_name: str = ""
    key: str = ""
    """Unique within the neighbourhood: what producers, consumers and messages key a job by (default ``job_id``;
    the reader gives a repeated id ``<id>#2``, ``<id>#3``, ... in file order), so no job replaces another."""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.job_id)

    @property
    def background(self) -> bool:
        """True for background loads (file name contains ``back``), which CoSSMic posts with a fixed start."""
        return "back" in self.profile_name


@dataclass(frozen=True)
class ProducerEvent:
    """A PV producer announcing itself or updating its production prediction.

    ``prediction`` is cumulative Wh against absolute time in s (already shifted to the neighbourhood's start).
    """

    time_s: float
    producer_id: str
    house: str
    device: str
    prediction: Profile
    prediction_name: str = ""


@dataclass
class Neighbourhood:
    """Everything one run needs: the job and producer events in time order.

    ``t0_unix`` is the UNIX time that became 0 (the earliest consumer or producer event), so results can be mapped
    back to calendar time. ``houses`` maps a house id to its device ids (from the neighbourhood XML when present).
    """

    name: str
    t0_unix: float
    jobs: list[Job]
    producer_events: list[ProducerEvent]
    houses: dict[str, list[str]] = field(default_factory=dict)

    def house_ids(self) -> list[str]:
        """Every house that owns a job or a producer, sorted numerically where possible."""
        ids = set(self.houses) | {j.house for j in self.jobs} | {p.house for p in self.producer_events}
        return sorted(ids, key=lambda h: (0, int(h), "") if h.isdigit() else (1, 0, h))


@dataclass
class Contract:
    """An agreement that ``producer_id`` (or the grid) supplies ``job_id`` starting at ``start_s``.

    ``start_s`` is the start time the producer's schedule chose (updated while the job has not started yet), and is
    the time the consumer runs the job. ``job_key`` is the job's unique key (:attr:`Job.key`, default ``job_id``).
    """

    contract_id: str
    job_id: str
    house: str
    producer_id: str
    start_s: float
    agreed_s: float
    profile: Profile
    job_key: str = ""

    def __post_init__(self) -> None:
        if not self.job_key:
            self.job_key = self.job_id

    @property
    def energy_wh(self) -> float:
        """Energy of the job, Wh."""
        return self.profile.energy_wh

    def to_dict(self) -> dict:
        """JSON-ready form (the profile is included so a run's output is self-contained)."""
        return {"id": self.contract_id, "job_id": self.job_id, "job_key": self.job_key, "house": self.house,
                "producer_id": self.producer_id,
                "start_s": self.start_s, "agreed_s": self.agreed_s, "energy_wh": self.energy_wh,
                "profile": self.profile.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Contract":
        """Inverse of :meth:`to_dict`."""
        p = d["profile"]
        return cls(d["id"], d["job_id"], d["house"], d["producer_id"], float(d["start_s"]), float(d["agreed_s"]),
                   Profile(np.asarray(p["times_s"]), np.asarray(p["cumulative_wh"])), d.get("job_key", ""))


def house_of(identifier: str) -> str:
    """House id from a job id ``[57]:[219]:[3]`` or a producer id ``pv_producer[57]:[220]`` -> ``"57"``."""
    start = identifier.find("[")
    end = identifier.find("]", start + 1)
    if start < 0 or end < 0:
        raise ValueError(f"no [house] in {identifier!r}")
    return identifier[start + 1:end]
