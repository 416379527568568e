"""Neighbourhood inputs from our YAML: a seeded generator of PySSMic/CoSSMic input folders.

The folder layout, what PySSMic's own reader accepts and the readers themselves are in
:mod:`vppfed.federates.neighbourhood.inputs` (the federate reads the folders; this module only writes them).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vppfed.io import load_yaml, parse_dataclass, require
from vppfed.errors import UserError
from vppfed.federates.neighbourhood.model import Job, Neighbourhood
from vppfed.federates.neighbourhood.inputs import CONSUMER_EVENTS, DeviceSpec, NEIGHBOURHOOD_XML, PRODUCER_EVENTS


@dataclass
class ApplianceSpec:
    """A kind of shiftable appliance.

    Ranges are ``[low, high]`` drawn uniformly; ``per_day`` is the mean number of jobs per house and day (Poisson).
    """

    name: str
    energy_wh: list[float]
    duration_min: list[int]
    window_h: list[float]
    per_day: float = 1.0

    def validate(self) -> None:
        """Range checks."""
        for fname in ("energy_wh", "duration_min", "window_h"):
            rng = getattr(self, fname)
            require(len(rng) == 2 and 0 <= rng[0] <= rng[1], fname, "must be [low, high] with 0 <= low <= high")
        require(self.duration_min[0] >= 1, "duration_min", "must be at least 1 minute")
        require(self.per_day >= 0, "per_day", "must be >= 0")


def _default_appliances() -> list[ApplianceSpec]:
    return [ApplianceSpec("washing_machine", [600.0, 1200.0], [60, 120], [2.0, 10.0], 0.8),
            ApplianceSpec("dishwasher", [900.0, 1500.0], [90, 150], [2.0, 12.0], 0.8),
            ApplianceSpec("tumble_dryer", [1500.0, 2500.0], [60, 90], [1.0, 8.0], 0.4),
            ApplianceSpec("ev_charger", [4000.0, 9000.0], [120, 300], [4.0, 12.0], 0.3)]


@dataclass
class NeighbourhoodSpec:
    """Our YAML description of a neighbourhood to generate (every draw from ``numpy.random.default_rng(seed)``).

    Parameters
    ----------
    name : str
        Folder name.
    seed : int
        Seed of every random draw.
    houses : int
        Number of houses.
    start_unix : int
        Midnight of the first day, UNIX s.
    days : int
        Days with jobs and predictions.
    pv_share : float
        Fraction of houses with PV (at least one when > 0).
    pv_peak_w : [float, float]
        Range of PV peak power, W.
    sunrise_h, sunset_h : float
        Hours of the day production starts and ends.
    clear_sky : [float, float]
        Range of a day's clear-sky factor (1 = no clouds).
    prediction_error : float
        Relative standard deviation of an hourly forecast, shrinking with each update of the day.
    predictions_per_day : int
        Prediction files per producer and day (4 = every 6 h as in CoSSMic).
    earliest_h : [float, float]
        Range of a job's earliest start, hours of the day.
    registration_lead_h : [float, float]
        How long before its earliest start a job is posted, h.
    appliances : list of ApplianceSpec
        Appliance kinds.
    """

    name: str = "generated"
    seed: int = 1
    houses: int = 6
    start_unix: int = 1460246400
    days: int = 1
    pv_share: float = 0.5
    pv_peak_w: list[float] = field(default_factory=lambda: [2000.0, 5000.0])
    sunrise_h: float = 6.0
    sunset_h: float = 20.0
    clear_sky: list[float] = field(default_factory=lambda: [0.5, 1.0])
    prediction_error: float = 0.1
    predictions_per_day: int = 4
    earliest_h: list[float] = field(default_factory=lambda: [6.0, 20.0])
    registration_lead_h: list[float] = field(default_factory=lambda: [0.0, 2.0])
    appliances: list[ApplianceSpec] = field(default_factory=_default_appliances)

    def validate(self) -> None:
        """Range checks."""
        require(self.houses >= 1, "houses", "must be >= 1")
        require(self.houses <= 20_000, "houses", "must be at most 20000 (one agent federate holds them all)")
        require(1 <= self.days <= 366, "days", "must be from 1 to 366")
        require(0 <= self.pv_share <= 1, "pv_share", "must be in [0, 1]")
        require(len(self.pv_peak_w) == 2 and 0 < self.pv_peak_w[0] <= self.pv_peak_w[1], "pv_peak_w",
                "must be [low, high] with 0 < low <= high")
        require(0 <= self.sunrise_h < self.sunset_h <= 24, "sunset_h", "need 0 <= sunrise_h < sunset_h <= 24")
        require(len(self.clear_sky) == 2 and 0 <= self.clear_sky[0] <= self.clear_sky[1] <= 1, "clear_sky",
                "must be [low, high] within [0, 1]")
        require(self.prediction_error >= 0, "prediction_error", "must be >= 0")
        require(self.predictions_per_day in (1, 2, 3, 4, 6, 8, 12, 24), "predictions_per_day",
                "must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)")
        require(len(self.earliest_h) == 2 and 0 <= self.earliest_h[0] <= self.earliest_h[1] <= 24, "earliest_h",
                "must be [low, high] within [0, 24]")
        require(len(self.registration_lead_h) == 2 and 0 <= self.registration_lead_h[0]
                <= self.registration_lead_h[1], "registration_lead_h", "must be [low, high] with 0 <= low <= high")
        require(len(self.appliances) >= 1, "appliances", "needs at least one appliance")


def load_spec(path: str | Path) -> NeighbourhoodSpec:
    """Read a generator YAML (the whole file is one :class:`NeighbourhoodSpec` mapping)."""
    path = Path(path)
    return parse_dataclass(NeighbourhoodSpec, load_yaml(path), where=f"{path.name}")


def _fmt(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".") if x != int(x) else f"{int(x)}"


def _write_rows(path: Path, times: np.ndarray, values: np.ndarray) -> None:
    path.write_text("".join(f"{int(t)} {_fmt(round(float(v), 4))}\n" for t, v in zip(times, values)),
                    encoding="utf-8")


def _load_shape(rng: np.random.Generator, minutes: int, energy_wh: float) -> np.ndarray:
    """Cumulative Wh at 0, 60, ... s: two to four phases of different power (heating, washing, spinning...)."""
    phases = int(rng.integers(2, 5))
    cuts = np.sort(rng.choice(np.arange(1, minutes), size=min(phases - 1, minutes - 1), replace=False)) \
        if minutes > 1 else np.array([], dtype=int)
    levels = rng.uniform(0.1, 1.0, size=cuts.size + 1)
    power = np.repeat(levels, np.diff(np.concatenate([[0], cuts, [minutes]])))
    power = power / power.sum() * energy_wh
    return np.concatenate([[0.0], np.cumsum(power)])


def _pv_hourly_wh(spec: NeighbourhoodSpec, peak_w: float, clear: float) -> np.ndarray:
    """Energy of each hour of a day, Wh, for a sine-shaped clear-sky day scaled by ``clear``."""
    minutes = np.arange(24 * 60) + 0.5
    hours = minutes / 60.0
    phase = (hours - spec.sunrise_h) / (spec.sunset_h - spec.sunrise_h)
    power = np.where((phase > 0) & (phase < 1), np.sin(np.pi * np.clip(phase, 0, 1)) ** 1.5, 0.0) * peak_w * clear
    return power.reshape(24, 60).sum(axis=1) / 60.0


def generate_neighbourhood(spec: NeighbourhoodSpec, out_dir: str | Path) -> Path:
    """Write a neighbourhood folder in the PySSMic layout from ``spec``; same spec -> same bytes.

    Returns
    -------
    Path
        The folder written (``out_dir``).
    """
    out = Path(out_dir)
    (out / "loads").mkdir(parents=True, exist_ok=True)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    house_ids = [str(57 + i) for i in range(spec.houses)]
    has_pv = rng.random(spec.houses) < spec.pv_share
    if spec.pv_share > 0 and not has_pv.any():
        has_pv[int(rng.integers(spec.houses))] = True
    device_counter = 200
    devices: dict[str, list[DeviceSpec]] = {h: [] for h in house_ids}
    consumer_lines: list[tuple[float, str]] = []
    producer_lines: list[tuple[float, str]] = []
    load_counter = 0
    issue_every = 24 // spec.predictions_per_day
    clear = rng.uniform(spec.clear_sky[0], spec.clear_sky[1], size=spec.days)
    for h, house in enumerate(house_ids):
        for appliance in spec.appliances:
            device_counter += 1
            device = str(device_counter)
            devices[house].append(DeviceSpec(device, appliance.name, device, "consumer"))
            n_jobs = int(rng.poisson(appliance.per_day * spec.days))
            for n in range(1, n_jobs + 1):
                day = int(rng.integers(spec.days))
                est = spec.start_unix + day * 86400 + round(rng.uniform(*spec.earliest_h) * 3600)
                lst = est + round(rng.uniform(*appliance.window_h) * 3600)
                reg = max(spec.start_unix, est - round(rng.uniform(*spec.registration_lead_h) * 3600))
                minutes = int(rng.integers(appliance.duration_min[0], appliance.duration_min[1] + 1))
                energy = float(rng.uniform(*appliance.energy_wh))
                load_counter += 1
                name = f"{load_counter}.csv"
                _write_rows(out / "loads" / name, 60.0 * np.arange(minutes + 1), _load_shape(rng, minutes, energy))
                consumer_lines.append((reg, f"{reg};{est};{lst};[{house}]:[{device}]:[{n}];{name}"))
        if has_pv[h]:
            device_counter += 1
            device = str(device_counter)
            devices[house].append(DeviceSpec(device, "pv", device, "producer"))
            peak = float(rng.uniform(*spec.pv_peak_w))
            k = 0
            for day in range(spec.days):
                truth = _pv_hourly_wh(spec, peak, float(clear[day]))
                day_start = spec.start_unix + day * 86400
                for issue in range(spec.predictions_per_day):
                    k += 1
                    first_hour = issue * issue_every
                    error = spec.prediction_error / (1 + issue)
                    if first_hour == 0:
                        hourly = np.concatenate([[0.0], truth * np.maximum(
                            0.0, 1.0 + error * rng.standard_normal(24))])
                    else:
                        hourly = truth[first_hour - 1:] * np.maximum(
                            0.0, 1.0 + error * rng.standard_normal(25 - first_hour))
                    cumulative = np.cumsum(hourly)
                    times = day_start + 3600 * (np.arange(cumulative.size) + first_hour)
                    name = f"{house}_{device}_{k}.csv"
                    _write_rows(out / "predictions" / name, times, cumulative)
                    ts = day_start + first_hour * 3600
                    producer_lines.append((ts, f"{ts};pv_producer[{house}]:[{device}];{name}"))
    consumer_lines.sort(key=lambda x: x[0])
    producer_lines.sort(key=lambda x: x[0])
    (out / CONSUMER_EVENTS).write_text("".join(line + "\n" for _, line in consumer_lines), encoding="utf-8")
    (out / PRODUCER_EVENTS).write_text("".join(line + "\n" for _, line in producer_lines), encoding="utf-8")
    xml_lines = [f'<neighborhood id="1" name="{spec.name}">']
    for house in house_ids:
        xml_lines += [f'  <house id="{house}">', '    <user id="1">']
        for d in devices[house]:
            xml_lines.append(f"      <device><id>{d.device_id}</id><name>{d.name}</name>"
                             f"<template>{d.template}</template><type>{d.kind}</type></device>")
        xml_lines += ["    </user>", "  </house>"]
    xml_lines.append("</neighborhood>")
    (out / NEIGHBOURHOOD_XML[0]).write_text("\n".join(xml_lines) + "\n", encoding="utf-8")
    return out
