"""Deterministic weather in TESP's ``weather.dat`` layout: clear-sky irradiance and a diurnal temperature profile.

Why: the PyPI GridLAB-D ships no TMY files, so its ``climate`` object runs in manual mode and somebody must write the
weather (gridlabd-devices.md §2, §6). The feeder federate reads this file and writes the climate each step; TESP's
weather agent reads the same file (tesp-contract.md §3.4).

Layout: CSV header ``datetime,temperature,humidity,solar_direct,solar_diffuse,pressure,wind_speed``, one row every
``interval_s`` (5 min by default), local wall time ``YYYY-mm-dd HH:MM:SS``; units °F, pu (0..1), W/ft² (direct normal
and diffuse horizontal), mbar, mph.

The sun position uses the usual low-precision solar-geometry formulas (declination and equation of time from the
day angle, about 0.5° accuracy), the direct-normal clear-sky irradiance the Meinel air-mass model
``DNI = 1353 * 0.7 ** (AM ** 0.678)`` W/m² with AM = 1/sin(elevation), and diffuse horizontal irradiance a fixed
share of it (``0.1 * DNI * sin(elevation)``); good enough for a plausible PV shape, not for PV research (use pvlib
data for that). Temperature is ``mean + amplitude * cos(2 pi (hour - peak_hour) / 24)`` plus optional AR(1) noise
from ``numpy.random.default_rng(seed)``; relative humidity moves opposite to temperature.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from vppfed.formats.gridlabd import GLD_TIMEZONES
from vppfed.io import require
from vppfed.formats.weather import _TIME_FORMAT, WEATHER_COLUMNS
from vppfed.io import atomic_write_text

__all__ = ["WeatherSpec", "generate_weather", "weather_text", "write_weather", "W_PER_M2_TO_W_PER_FT2"]

#: 1 W/m² in W/ft²
W_PER_M2_TO_W_PER_FT2 = 0.09290304


@dataclass
class WeatherSpec:
    """Parameters of the generated weather (defaults: Tucson in early July, TE30's weather site)."""

    start: str = "2013-07-01 00:00:00"     # local wall time in ``timezone``
    hours: float = 48.0
    timezone: str = "PST+8PDT"
    interval_s: int = 300
    latitude_deg: float = 32.13
    longitude_deg: float = -110.95
    temperature_mean_f: float = 87.0
    temperature_amplitude_f: float = 13.0
    temperature_peak_hour: float = 15.0
    humidity_mean: float = 0.30
    humidity_amplitude: float = 0.12
    pressure_mbar: float = 925.0
    wind_speed_mph: float = 5.0
    clearness: float = 1.0                  # scales the clear-sky irradiance (1 = clear)
    noise_temperature_f: float = 0.0        # std-dev of AR(1) temperature noise, °F (0 = none)
    noise_solar: float = 0.0                # std-dev of a multiplicative AR(1) cloud factor (0 = none)
    seed: int = 0

    def validate(self) -> None:
        require(self.hours > 0, "hours", "must be > 0")
        require(self.interval_s > 0, "interval_s", "must be > 0")
        require(-90.0 <= self.latitude_deg <= 90.0, "latitude_deg", "must be within [-90, 90]")
        require(-180.0 <= self.longitude_deg <= 180.0, "longitude_deg", "must be within [-180, 180]")
        require(0.0 <= self.clearness <= 1.2, "clearness", "must be within [0, 1.2]")
        require(self.noise_temperature_f >= 0 and self.noise_solar >= 0, "noise_temperature_f", "must be >= 0")
        require(self.timezone in GLD_TIMEZONES, "timezone", f"unknown zone (known: {', '.join(GLD_TIMEZONES)})")
        try:
            datetime.strptime(self.start, _TIME_FORMAT)
        except ValueError:
            raise ValueError(f"start: expected 'YYYY-mm-dd HH:MM:SS', got {self.start!r}") from None


def solar_elevation(utc: np.ndarray, latitude_deg: float, longitude_deg: float) -> np.ndarray:
    """Sun elevation angle in radians for UTC times given as POSIX seconds (array)."""
    days = utc / 86400.0
    # day of year (fractional) and hour of day in UTC
    dt0 = datetime(1970, 1, 1, tzinfo=timezone.utc)
    doy = np.array([(dt0 + timedelta(seconds=float(s))).timetuple().tm_yday for s in utc], dtype=float)
    hour_utc = (days % 1.0) * 24.0
    gamma = 2.0 * math.pi / 365.0 * (doy - 1.0 + (hour_utc - 12.0) / 24.0)
    eqtime = 229.18 * (0.000075 + 0.001868 * np.cos(gamma) - 0.032077 * np.sin(gamma)
                       - 0.014615 * np.cos(2 * gamma) - 0.040849 * np.sin(2 * gamma))      # minutes
    decl = (0.006918 - 0.399912 * np.cos(gamma) + 0.070257 * np.sin(gamma) - 0.006758 * np.cos(2 * gamma)
            + 0.000907 * np.sin(2 * gamma) - 0.002697 * np.cos(3 * gamma) + 0.00148 * np.sin(3 * gamma))
    true_solar_min = hour_utc * 60.0 + eqtime + 4.0 * longitude_deg
    hour_angle = np.radians(true_solar_min / 4.0 - 180.0)
    lat = math.radians(latitude_deg)
    sin_el = math.sin(lat) * np.sin(decl) + math.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    return np.arcsin(np.clip(sin_el, -1.0, 1.0))


def _ar1(rng: np.random.Generator, n: int, sigma: float, rho: float = 0.95) -> np.ndarray:
    """Stationary AR(1) series with standard deviation ``sigma``."""
    out = np.zeros(n)
    if sigma <= 0 or n == 0:
        return out
    eps = rng.normal(0.0, sigma * math.sqrt(1 - rho * rho), size=n)
    out[0] = rng.normal(0.0, sigma)
    for k in range(1, n):
        out[k] = rho * out[k - 1] + eps[k]
    return out


def generate_weather(spec: WeatherSpec) -> dict[str, np.ndarray | list[str]]:
    """Weather rows for ``spec``: ``{"datetime": [...local strings...], "temperature": array, ...}``.

    Rows run from ``start`` to ``start + hours`` inclusive, every ``interval_s`` seconds, in local wall time.
    """
    spec.validate()
    zone = ZoneInfo(GLD_TIMEZONES[spec.timezone])
    start = datetime.strptime(spec.start, _TIME_FORMAT).replace(tzinfo=zone)
    n = int(spec.hours * 3600 // spec.interval_s) + 1
    offsets = np.arange(n) * spec.interval_s
    utc = start.timestamp() + offsets.astype(float)
    local = [(start.astimezone(timezone.utc) + timedelta(seconds=int(s))).astimezone(zone) for s in offsets]
    hour = np.array([t.hour + t.minute / 60.0 + t.second / 3600.0 for t in local])
    rng = np.random.default_rng(spec.seed)
    temp = (spec.temperature_mean_f
            + spec.temperature_amplitude_f * np.cos(2 * math.pi * (hour - spec.temperature_peak_hour) / 24.0)
            + _ar1(rng, n, spec.noise_temperature_f))
    humid = np.clip(spec.humidity_mean
                    - spec.humidity_amplitude * np.cos(2 * math.pi * (hour - spec.temperature_peak_hour) / 24.0),
                    0.02, 1.0)
    elev = solar_elevation(utc, spec.latitude_deg, spec.longitude_deg)
    sin_el = np.sin(elev)
    up = sin_el > 0.01
    am = np.where(up, 1.0 / np.where(up, sin_el, 1.0), np.inf)
    dni = np.where(up, 1353.0 * 0.7 ** (np.where(up, am, 1.0) ** 0.678), 0.0) * spec.clearness
    cloud = np.clip(1.0 + _ar1(rng, n, spec.noise_solar), 0.0, 1.0) if spec.noise_solar > 0 else np.ones(n)
    dni = dni * cloud
    dhi = np.where(up, 0.1 * dni * sin_el + 20.0 * sin_el * (1.0 - cloud), 0.0)
    return {
        "datetime": [t.strftime(_TIME_FORMAT) for t in local],
        "temperature": temp,
        "humidity": humid,
        "solar_direct": dni * W_PER_M2_TO_W_PER_FT2,
        "solar_diffuse": dhi * W_PER_M2_TO_W_PER_FT2,
        "pressure": np.full(n, spec.pressure_mbar),
        "wind_speed": np.full(n, spec.wind_speed_mph),
    }


def weather_text(spec: WeatherSpec) -> str:
    """The ``weather.dat`` text (fixed precision, ``\\n`` line ends: same spec, same bytes)."""
    data = generate_weather(spec)
    digits = {"temperature": 2, "humidity": 4, "solar_direct": 3, "solar_diffuse": 3, "pressure": 1, "wind_speed": 2}
    buf = io.StringIO()
    buf.write("datetime," + ",".join(WEATHER_COLUMNS) + "\n")
    for i, stamp in enumerate(data["datetime"]):
        values = [f"{float(data[c][i]):.{digits[c]}f}" for c in WEATHER_COLUMNS]
        buf.write(stamp + "," + ",".join(v if v != "-0.000" else "0.000" for v in values) + "\n")
    return buf.getvalue()


def write_weather(spec: WeatherSpec, path: str | Path) -> Path:
    """Write ``weather.dat`` for ``spec`` to ``path`` (via a temporary file, never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, weather_text(spec))
    return path
