"""Load forecast and no-battery baseline of a generated feeder, computed at case-build time with GridLAB-D itself.

Why this forecast: the day-ahead LP of the battery manager needs tomorrow's feeder load. The cheapest honest source is
the feeder model we already have, run without HELICS and with the battery idle, on a *forecast* of the weather: the
case's own ``weather.dat`` with a seeded, autocorrelated temperature error added (day-ahead temperature forecasts are
off by a few °F, the error persists for hours). The run steps at the control period (5 min), not at the co-simulation
step, so it is several times cheaper than the real run and, like a real forecast, misses the exact HVAC cycling.
The other option of the ``battery:`` section, ``forecast: previous_day``, needs no build-time run: the manager plans
each day from the load it measured the day before (persistence forecast) and runs its threshold rule on day one.

The *baseline* is the same model on the case's real weather, stepped exactly like the feeder federate steps it (every
``case.period_s``): with the battery idle it is the load the feeder would have had without the battery, which is what
the "without battery" curve and the measured peak reduction should be compared with (the battery's own output added
back to the sensed load ignores its effect on losses and voltage-dependent loads).

No HELICS here: :class:`~vppfed.federates.feeder.core.FeederCore` drives GridLAB-D directly.
"""
from __future__ import annotations

import io
import math
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from vppfed.formats.battery import (REFERENCE_FILE, ReferenceLoads, read_reference_csv,  # noqa: F401
                                   write_reference_csv)
from vppfed.io import atomic_write_text

__all__ = ["ReferenceLoads", "forecast_weather", "simulate_substation_load", "period_means", "smooth",
           "midnight_aligned", "write_reference_csv", "read_reference_csv", "REFERENCE_FILE"]

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def forecast_weather(src: str | Path, dst: str | Path, *, error_f: float, seed: int,
                     correlation_h: float = 3.0) -> Path:
    """Write a forecast of a TESP ``weather.dat``: its temperature plus an AR(1) error, other columns unchanged.

    Parameters
    ----------
    src, dst : path
        Real weather file and the forecast file to write (via a temporary name).
    error_f : float
        Standard deviation of the temperature error [°F] (0 copies the file: a perfect weather forecast).
    seed : int
        Seed of the error (``numpy.random.default_rng``).
    correlation_h : float
        Correlation time of the error [h]: ``rho = exp(-dt / correlation_h)`` between rows ``dt`` apart.
    """
    src, dst = Path(src), Path(dst)
    lines = src.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    if "temperature" not in header:
        raise ValueError(f"{src}: line 1: no 'temperature' column")
    col = header.index("temperature")
    rows = [ln.split(",") for ln in lines[1:] if ln.strip()]
    if len(rows) >= 2:
        t0 = datetime.strptime(rows[0][0], _TIME_FORMAT)
        t1 = datetime.strptime(rows[1][0], _TIME_FORMAT)
        dt_h = max((t1 - t0).total_seconds(), 1.0) / 3600.0
    else:
        dt_h = 1.0
    rng = np.random.default_rng(seed)
    rho = math.exp(-dt_h / correlation_h)
    eps = rng.normal(0.0, error_f * math.sqrt(1.0 - rho * rho), size=len(rows))
    eps[0] = rng.normal(0.0, error_f) if rows else 0.0
    error = lfilter([1.0], [1.0, -rho], eps) if error_f > 0 else np.zeros(len(rows))
    buf = io.StringIO()
    buf.write(lines[0] + "\n")
    for row, e in zip(rows, error):
        row = list(row)
        row[col] = f"{float(row[col]) + e:.2f}"
        buf.write(",".join(row) + "\n")
    atomic_write_text(dst, buf.getvalue())
    return dst


def simulate_substation_load(glm: str | Path, weather: str | Path | None, *, start: str, timezone: str, hours: float,
                             step_s: float, substation: str, climate: str, worker_log: str | Path | None = None,
                             head: Any = None, env: Mapping[str, str] | None = None) -> NDArray[np.float64]:
    """Run a feeder model with its batteries idle and return the substation's real power at every step [W].

    Parameters
    ----------
    glm : path
        The generated model (with its heartbeat recorder; ``step_s`` must be a multiple of its interval).
    weather : path or None
        ``weather.dat`` written into the climate object before each step (as the feeder federate does).
    start, timezone : str
        Case start (local ``YYYY-mm-dd HH:MM:SS``) and GridLAB-D zone.
    hours : float
        Simulated hours.
    step_s : float
        Step [s]; values are returned for ``t = step_s, 2 step_s, ..., hours * 3600``.
    substation, climate : str
        Names of the SWING substation and the climate object.
    worker_log : path, optional
        GridLAB-D's stderr.
    head, env : optional
        For a user's model (``feeder.glm``): its SWING-node head (:class:`vppfed.federates.feeder.core.SwingHead`,
        whose ``distribution_load`` the feeder core computes) and the worker's environment (``GLPATH``).

    Returns
    -------
    ndarray
        Real part of ``substation.distribution_load`` after each step [W] (negative = reverse flow).
    """
    from vppfed.formats.weather import read_weather
    from vppfed.federates.feeder.core import FeederConfig, FeederCore, Point
    from vppfed.federates.feeder.session import GridlabdSession

    session = GridlabdSession(glm, worker_log=worker_log, timezone=timezone, env=env)
    series = read_weather(weather, start, timezone) if weather is not None else None
    config = FeederConfig(name="battery_forecast", period=step_s,
                          publications=[Point("load", substation, "distribution_load", "complex")], subscriptions=[])
    core = FeederCore(session, config, weather=series, climate_name=climate, only_changed=False, head=head)
    n = int(round(hours * 3600.0 / step_s))
    out = np.empty(n)
    try:
        core.start()
        for k in range(n):
            out[k] = core.step((k + 1) * step_s)["load"].real
    finally:
        core.finish()
    return out


def period_means(values: NDArray[np.float64], step_s: float, period_s: float) -> NDArray[np.float64]:
    """Means of ``values`` (one per step, the first at ``t = step_s``) over each control period.

    Entry ``j`` is the mean of the samples in ``((j) P, (j + 1) P]``: what the battery federate senses at its control
    time ``(j + 1) P``. A trailing partial period is dropped.
    """
    per = int(round(period_s / step_s))
    if per < 1 or abs(per * step_s - period_s) > 1e-9:
        raise ValueError(f"period_s ({period_s:g} s) must be a multiple of step_s ({step_s:g} s)")
    whole = (len(values) // per) * per
    return np.asarray(values[:whole], dtype=float).reshape(-1, per).mean(axis=1)


def smooth(values: NDArray[np.float64], window: float) -> NDArray[np.float64]:
    """Centred moving mean over ``window`` samples (rounded; < 2 returns a copy), ends held at the edge values."""
    size = int(round(window))
    values = np.asarray(values, dtype=float)
    if size < 2 or values.size == 0:
        return values.copy()
    return uniform_filter1d(values, size=size, mode="nearest")


def midnight_aligned(means: NDArray[np.float64], start: str, period_s: float) -> list[float]:
    """A manager ``forecast_w`` (whole days from the midnight before the start) from per-period means.

    Entry ``k`` of a day is the load expected during ``[k P, (k + 1) P)`` after midnight. Periods before the start
    repeat the first mean; periods after the horizon repeat the smallest one, so the LP sees neither a peak nor a
    recharge constraint there (the run never gets that far).
    """
    begin = datetime.strptime(start, _TIME_FORMAT)
    offset_s = begin.hour * 3600 + begin.minute * 60 + begin.second
    steps_per_day = int(round(86400.0 / period_s))
    if abs(offset_s / period_s - round(offset_s / period_s)) > 1e-9:
        raise ValueError(f"the case start {start} must fall on a multiple of the control period ({period_s:g} s)")
    lead = int(round(offset_s / period_s))
    if len(means) == 0:
        return []
    days = math.ceil((lead + len(means)) / steps_per_day)
    tail = days * steps_per_day - lead - len(means)
    values = [float(means[0])] * lead + [float(v) for v in means] + [float(np.min(means))] * tail
    return values
