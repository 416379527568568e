"""The battery case's reference loads file (``battery_reference.csv``): written at configuration time, read by plots.

:mod:`vppfed.configs.battery_forecast` computes the forecast and the no-battery baseline and writes them here;
:mod:`vppfed.postprocess.battery_plots` reads them (bottom layer, so the plots import no configs module).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from vppfed.io import atomic_write_text

__all__ = ["REFERENCE_FILE", "ReferenceLoads", "write_reference_csv", "read_reference_csv"]

#: CSV written into the case folder: ``seconds,forecast_w,baseline_w`` per control period.
REFERENCE_FILE = "battery_reference.csv"


@dataclass
class ReferenceLoads:
    """Per control period: the load forecast the manager planned with and the no-battery baseline [W]."""

    seconds: NDArray[np.float64]   # control times after the start [s]
    forecast_w: NDArray[np.float64] | None
    baseline_w: NDArray[np.float64] | None


def write_reference_csv(path: str | Path, period_s: float, forecast_w: NDArray[np.float64] | None,
                        baseline_w: NDArray[np.float64] | None) -> Path:
    """Write ``seconds,forecast_w,baseline_w`` (empty cell = not computed) with fixed precision."""
    n = max(len(forecast_w) if forecast_w is not None else 0, len(baseline_w) if baseline_w is not None else 0)
    buf = io.StringIO()
    buf.write("seconds,forecast_w,baseline_w\n")
    for j in range(n):
        cells = [f"{(j + 1) * period_s:.0f}"]
        for series in (forecast_w, baseline_w):
            cells.append(f"{series[j]:.1f}" if series is not None and j < len(series) else "")
        buf.write(",".join(cells) + "\n")
    path = Path(path)
    atomic_write_text(path, buf.getvalue())
    return path


def read_reference_csv(path: str | Path) -> ReferenceLoads:
    """Read :func:`write_reference_csv` output (missing cells become NaN; a column with none is None)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    seconds = np.array([float(r["seconds"]) for r in rows])

    def column(name: str) -> NDArray[np.float64] | None:
        values = np.array([float(r[name]) if r.get(name) else np.nan for r in rows])
        return None if values.size == 0 or np.all(np.isnan(values)) else values

    return ReferenceLoads(seconds, column("forecast_w"), column("baseline_w"))
