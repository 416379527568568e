"""Possible schedules of GridLAB-D feeder devices for COHDA, and the day plan they are negotiated into (no HELICS).

Sign convention of COHDA schedules: kW, feed-in positive. Each device offers ``M`` schedules over ``T`` intervals
of ``dt_h`` hours; option 0 is what the device would do without the VPP, so the initial selection (all zeros) is the
uncontrolled feeder and every negotiated change is a deliberate shift.

``battery``
    A battery inverter with energy between ``soc_min`` and ``soc_max`` of the capacity. Option 0 idles; the others
    charge one block and give the energy back in one block (in either order), energy neutral over the horizon after
    losses (``efficiency`` one way, the inverter times the square root of the round trip), never leaving the limits.
``ev``
    An ``evcharger_det`` that must take ``need_kwh`` (grid side) in each window while the car is at home. Option 0
    charges at full rate from the first whole interval at home (the charger's own behaviour); the others start later
    or charge at half rate, always delivering the same energy within the window.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

import numpy as np

BATTERY, EV = "battery", "ev"


@dataclass(frozen=True)
class BatterySpec:
    """A battery inverter. Energies in kWh, power in kW, ``efficiency`` one way (0-1]."""

    name: str
    capacity_kwh: float
    power_kw: float
    soc0: float
    soc_min: float
    soc_max: float
    efficiency: float

    def energy_path(self, p_kw: np.ndarray, dt_h: float) -> np.ndarray:
        """Stored energy (kWh) at the end of each interval for feed-in powers ``p_kw`` (+ discharge)."""
        charge = np.clip(-p_kw, 0.0, None) * self.efficiency
        discharge = np.clip(p_kw, 0.0, None) / self.efficiency
        return self.soc0 * self.capacity_kwh + np.cumsum((charge - discharge) * dt_h)

    def feasible(self, p_kw: np.ndarray, dt_h: float, tol: float = 1e-9) -> bool:
        """Within the power rating and the energy limits at every interval end."""
        e = self.energy_path(p_kw, dt_h)
        lo, hi = self.soc_min * self.capacity_kwh, self.soc_max * self.capacity_kwh
        return bool(np.all(np.abs(p_kw) <= self.power_kw + tol) and e.min() >= lo - tol and e.max() <= hi + tol)


@dataclass(frozen=True)
class EvSpec:
    """An EV charger: full-rate ``power_kw``; ``windows`` are ``(first, end)`` interval ranges (end exclusive) with
    the car at home for all of each interval, and ``need_kwh`` the grid energy to deliver in each window."""

    name: str
    power_kw: float
    windows: tuple[tuple[int, int], ...]
    need_kwh: tuple[float, ...]


def _block(length_h: float, power: float, dt_h: float) -> np.ndarray:
    """Power per interval of a block that delivers ``power * length_h`` kWh: full intervals then the remainder."""
    energy = power * length_h
    n = max(1, math.ceil(length_h / dt_h - 1e-9))
    out = np.full(n, power)
    out[-1] = (energy - power * dt_h * (n - 1)) / dt_h
    return out


def battery_schedules(spec: BatterySpec, intervals: int, dt_h: float, m: int, rng: np.random.Generator,
                      attempts: int = 200) -> np.ndarray:
    """``m`` feasible schedules (kW, feed-in +), shape (m, intervals): idle first, then charge/give-back pairs."""
    out = np.zeros((m, intervals))
    cap = spec.capacity_kwh
    room_up = (spec.soc_max - spec.soc0) * cap        # kWh that may be stored
    room_down = (spec.soc0 - spec.soc_min) * cap      # kWh that may be taken
    eff = spec.efficiency
    levels = (0.5 * spec.power_kw, spec.power_kw)
    for j in range(1, m):
        for _ in range(attempts):
            charge_first = bool(rng.integers(2)) if room_up > 0 and room_down > 0 else room_up > 0
            pc, pd = (levels[int(i)] for i in rng.integers(2, size=2))
            # stored energy of the cycle: bounded by the room in the direction of the first block
            limit = room_up if charge_first else room_down
            if limit <= 1e-6:
                break
            stored = rng.uniform(0.25, 1.0) * limit
            charge = _block(stored / (eff * pc), -pc, dt_h)           # grid draws stored / eff
            give = _block(stored * eff / pd, pd, dt_h)                # grid receives stored * eff
            first, second = (charge, give) if charge_first else (give, charge)
            free = intervals - first.size - second.size
            if free < 0:
                continue
            a = int(rng.integers(0, free + 1))
            b = int(rng.integers(a + first.size, intervals - second.size + 1))
            p = np.zeros(intervals)
            p[a:a + first.size] = first
            p[b:b + second.size] = second
            if spec.feasible(p, dt_h):
                out[j] = p
                break
    return out


def ev_schedules(spec: EvSpec, intervals: int, dt_h: float, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` schedules (kW, charging negative), shape (m, intervals): charge on arrival first, then shifted or slower
    charging, each delivering the same energy within every window (the whole window at full rate if it is short)."""
    out = np.zeros((m, intervals))
    for (k0, k1), need in zip(spec.windows, spec.need_kwh):
        length = k1 - k0
        if length <= 0 or need <= 0:
            continue
        for j in range(m):
            rate = spec.power_kw
            if j and rng.random() < 0.5 and need / (0.5 * spec.power_kw) <= length * dt_h:
                rate = 0.5 * spec.power_kw
            block = _block(min(need / rate, length * dt_h), rate, dt_h)
            start = k0 if j == 0 else k0 + int(rng.integers(0, length - block.size + 1))
            out[j, start:start + block.size] = -block
    return out


def home_windows(arrive_hhmm: int, home_s: float, start: datetime, intervals: int, res_s: int) -> list[tuple[int,
                                                                                                             int]]:
    """Interval ranges ``(first, end)`` with the car at home for the whole interval, for every arrival in the horizon.

    ``arrive_hhmm`` is the charger's daily ``arrival_at_home`` (HHMM, local time) and ``home_s`` its
    ``duration_at_home``; ``start`` the local start of interval 0. A stay already running at the start belongs to
    the previous day's arrival; the car is then full (the charger starts at 100 %), so it needs no window.
    """
    hh, mm = divmod(int(arrive_hhmm), 100)
    end = start + timedelta(seconds=intervals * res_s)
    windows = []
    day = datetime(start.year, start.month, start.day)
    while day < end:
        arrive = day + timedelta(hours=hh, minutes=mm)
        leave = arrive + timedelta(seconds=home_s)
        if arrive >= start and arrive < end:
            first = math.ceil((arrive - start).total_seconds() / res_s - 1e-9)
            last = min(intervals, math.floor((leave - start).total_seconds() / res_s + 1e-9))
            if last > first:
                windows.append((first, last))
        day += timedelta(days=1)
    return windows


def flat_target(schedules: np.ndarray, level_kw: float | None = None) -> np.ndarray:
    """A flat target (kW, T): ``level_kw``, or the mean power the options of all devices deliver over the horizon
    (what a perfectly flat VPP would draw or feed in)."""
    t = schedules.shape[2]
    if level_kw is None:
        level_kw = float(schedules.mean(axis=(1, 2)).sum())
    return np.full(t, float(level_kw))


@dataclass
class DeviceEntry:
    """One device of the plan: what it is, which feeder object it writes and which measurement it reads.

    ``write_scale``: setpoint (W) = ``write_scale`` * planned kW (battery ``P_Out`` = +1000 p, EV
    ``maximum_charge_rate`` = -1000 p). ``read_scale``: feed-in kW = ``read_scale`` * measured value (battery
    ``Re(VA_Out)`` / 1000, EV ``-actual_charge_rate`` / 1000).
    """

    name: str
    kind: str
    obj: str
    write_key: str
    write_type: str
    write_scale: float
    read_target: str
    read_type: str
    read_scale: float
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanSetup:
    """Everything the plan federate needs besides the instance: timing and the device map (``cohda_devices.json``).

    ``start`` is the local start of interval 0 (``YYYY-mm-dd HH:MM:SS``), ``start_label`` the metrics ``StartTime``.

    ``lead_s``: setpoints are published this long before their interval (the feeder applies a written value one of
    its steps later). ``sample_s``: measurement period, the feeder's step.
    """

    start: str
    start_label: str
    res_s: int
    intervals: int
    lead_s: int
    sample_s: int
    seed: int
    improve: bool
    devices: list[DeviceEntry]
    negotiate: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> "PlanSetup":
        data = dict(data)
        data["devices"] = [DeviceEntry(**d) for d in data["devices"]]
        return PlanSetup(**data)


class IntervalAverager:
    """Averages sampled device powers (kW) over plan intervals: one row per finished interval.

    Samples taken at times ``t`` stand for the feeder state from ``t`` on; a sample belongs to interval
    ``floor(t / res_s)``. :meth:`add` returns the finished intervals' averages (interval index, per-device kW).
    """

    def __init__(self, devices: int, res_s: int, intervals: int) -> None:
        self.res_s, self.intervals = res_s, intervals
        self.current = 0
        self.sum = np.zeros(devices)
        self.count = 0

    def add(self, t: float, values: Sequence[float]) -> list[tuple[int, np.ndarray]]:
        k = int(math.floor(t / self.res_s + 1e-9))
        done = self._close_until(k)
        if k < self.intervals:
            self.sum += np.asarray(values, dtype=float)
            self.count += 1
        return done

    def _close_until(self, k: int) -> list[tuple[int, np.ndarray]]:
        done = []
        while self.current < min(k, self.intervals):
            avg = self.sum / self.count if self.count else np.full(self.sum.size, np.nan)
            done.append((self.current, avg))
            self.sum = np.zeros(self.sum.size)
            self.count = 0
            self.current += 1
        return done

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """Close the interval in progress (if it has samples) at the end of the run."""
        if self.count and self.current < self.intervals:
            return self._close_until(self.current + 1)
        return []
