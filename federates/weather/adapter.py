"""HELICS adapter of the weather federate: the rows of ``weather.dat`` as global ``<name>/#<param>`` doubles.

It publishes what TESP's weather agent publishes, when it publishes it: each row ``ahead`` seconds before the row's
time (the row at t=0 at t=0), values below 1e-4 set to 0 except the temperature. The feeder federate, granted at
the row's time, writes them into its climate object, which is what it does itself with ``--weather`` (file mode):
the two give the same feeder.
"""
from __future__ import annotations

import argparse
import logging
from typing import Sequence

import numpy as np

from vppfed.formats.weather import WeatherSeries, read_weather
from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds
from vppfed.federates.weather.config import PUBLISH_AHEAD_S

log = logging.getLogger(__name__)


def publish_schedule(row_seconds: np.ndarray, stop: float, ahead: float) -> list[tuple[float, int]]:
    """(publish time, row index) of every row at or before ``stop``; a row is published ``ahead`` s early
    (never before 0), so it is there when the others are granted the row's time."""
    out: list[tuple[float, int]] = []
    for i, t_row in enumerate(np.asarray(row_seconds, dtype=float)):
        if t_row < 0 and i + 1 < len(row_seconds) and row_seconds[i + 1] <= 0:
            continue  # an earlier row still before the start: the later one holds at t=0
        if t_row > stop + 1e-9:
            break
        out.append((max(0.0, float(t_row) - ahead), i))
    return out


def row_values(series: WeatherSeries, index: int) -> dict[str, float]:
    """One row as TESP's agent publishes it: non-temperature values below 1e-4 become 0."""
    values = {name: float(col[index]) for name, col in series.values.items()}
    return {k: (0.0 if k != "temperature" and v < 1e-4 else v) for k, v in values.items()}


class WeatherFederate(FederateBase):
    """``localWeather``: publishes ``weather.dat`` rows on ``<name>/#<param>``.

    Parameters
    ----------
    config_path : path
        HELICS JSON (global publications ``<name>/#<param>``).
    stop : float
        Simulated seconds.
    series : WeatherSeries
        The weather rows, relative to the case start.
    ahead : float
        Seconds before each row's time it is published.
    """

    def __init__(self, config_path: str, stop: float, series: WeatherSeries, ahead: float = PUBLISH_AHEAD_S) -> None:
        super().__init__(config_path, stop)
        self.series = series
        self.schedule = publish_schedule(series.seconds, stop, ahead)
        self._next = 0

    def _publish_due(self, t: float) -> None:
        while self._next < len(self.schedule) and self.schedule[self._next][0] <= t + 1e-9:
            for param, value in row_values(self.series, self.schedule[self._next][1]).items():
                key = f"{self.name}/#{param}"
                if self.has_publication(key):
                    self.publish(key, value)
            self._next += 1

    def on_start(self) -> None:
        self._publish_due(0.0)

    def next_time(self, t: float) -> float:
        if self._next < len(self.schedule):
            return max(self.schedule[self._next][0], t + 1.0)
        return self.stop_seconds

    def on_step(self, t: float) -> None:
        self._publish_due(t)


def build_parser() -> argparse.ArgumentParser:
    """The weather federate's command line (the case builder writes it into the runner JSON)."""
    parser = base_argument_parser("Weather federate: publishes weather.dat rows as TESP's weather agent does")
    parser.add_argument("--weather", required=True, help="TESP weather.dat (datetime + the six TESP columns)")
    parser.add_argument("--start", required=True, help="case start, local 'YYYY-mm-dd HH:MM:SS'")
    parser.add_argument("--timezone", required=True, help="GridLAB-D time zone of the start (PST+8PDT)")
    parser.add_argument("--ahead", type=float, default=float(PUBLISH_AHEAD_S),
                        help="seconds before each row's time it is published (TESP: 3)")
    parser.prog = "python -m vppfed.federates.weather"
    return parser


def build_federate(args: argparse.Namespace) -> WeatherFederate:
    """The weather federate of a parsed :func:`build_parser` command line (reads ``--weather``)."""
    series = read_weather(args.weather, args.start, args.timezone)
    return WeatherFederate(args.config, stop_seconds(args), series, ahead=args.ahead)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m vppfed.federates.weather``."""
    return run_federate(build_federate, build_parser(), argv)

