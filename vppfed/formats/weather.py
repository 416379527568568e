"""TESP ``weather.dat`` files: the columns and the reader the weather and feeder federates use (bottom layer).

Written at configuration time by :mod:`vppfed.configs.weather`; read here so the federates need no configs module.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from vppfed.formats.gridlabd import GLD_TIMEZONES

__all__ = ["WEATHER_COLUMNS", "WEATHER_UNITS", "WeatherSeries", "read_weather"]

#: TESP weather.dat columns (after ``datetime``) and their units
WEATHER_COLUMNS = ("temperature", "humidity", "solar_direct", "solar_diffuse", "pressure", "wind_speed")
WEATHER_UNITS = {"temperature": "degF", "humidity": "pu", "solar_direct": "W/sf", "solar_diffuse": "W/sf",
                 "pressure": "mbar", "wind_speed": "mph"}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class WeatherSeries:
    """A weather.dat loaded for lookup by HELICS seconds (linear interpolation, held at the ends)."""

    seconds: np.ndarray                     # seconds after the case start, increasing
    values: dict[str, np.ndarray]

    def at(self, t: float) -> dict[str, float]:
        """Every column at HELICS time ``t`` seconds."""
        return {name: float(np.interp(t, self.seconds, col)) for name, col in self.values.items()}

    def row(self, t: float) -> int:
        """Index of the last row at or before ``t`` (0 before the first row)."""
        return max(0, int(np.searchsorted(self.seconds, t, side="right")) - 1)

    def held(self, t: float) -> dict[str, float]:
        """Every column of :meth:`row` at ``t``: the values as TESP's weather agent publishes them, once per row
        (every 5 min) and held in between."""
        i = self.row(t)
        return {name: float(col[i]) for name, col in self.values.items()}


def read_weather(path: str | Path, start: str, timezone_name: str) -> WeatherSeries:
    """Read a TESP ``weather.dat`` (any column order; ``datetime`` first) relative to the case start.

    Parameters
    ----------
    path : path
        The CSV.
    start : str
        Case start, local wall time ``YYYY-mm-dd HH:MM:SS``.
    timezone_name : str
        GridLAB-D zone of the local times (``PST+8PDT``).

    Raises
    ------
    ValueError
        Naming the file and line, for a missing column, a bad number or times that do not increase.
    """
    path = Path(path)
    zone = ZoneInfo(GLD_TIMEZONES[timezone_name])
    t0 = datetime.strptime(start, _TIME_FORMAT).replace(tzinfo=zone).timestamp()
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if not header or header[0] != "datetime":
            raise ValueError(f"{path}: line 1: expected a header starting with 'datetime', got {header[:1]}")
        cols = [c for c in header[1:] if c in WEATHER_COLUMNS]
        if not cols:
            raise ValueError(f"{path}: line 1: none of the columns {', '.join(WEATHER_COLUMNS)}")
        idx = {c: header.index(c) for c in cols}
        secs: list[float] = []
        vals: dict[str, list[float]] = {c: [] for c in cols}
        for lineno, row in enumerate(reader, start=2):
            if not row or not row[0].strip():
                continue
            try:
                stamp = datetime.strptime(row[0].strip(), _TIME_FORMAT).replace(tzinfo=zone).timestamp()
                for c in cols:
                    vals[c].append(float(row[idx[c]]))
            except (ValueError, IndexError) as exc:
                raise ValueError(f"{path}: line {lineno}: {exc}") from None
            secs.append(stamp - t0)
    seconds = np.array(secs)
    if len(seconds) == 0:
        raise ValueError(f"{path}: no data rows")
    if np.any(np.diff(seconds) <= 0):
        raise ValueError(f"{path}: times must increase")
    return WeatherSeries(seconds=seconds, values={c: np.array(v) for c, v in vals.items()})
