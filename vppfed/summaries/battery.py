"""The line ``vppfed run`` prints after a battery case: peaks with and without the battery, SOC estimate, market."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vppfed.configs.sections.battery import market_summary
from vppfed.formats.metrics import load_if_present
from vppfed.postprocess.battery_plots import load_curves

__all__ = ["summarize"]


def summarize(run_dir: Path) -> str | None:
    """One line after ``vppfed run``: the feeder's 5- and 15-min peaks with and without the battery (or None)."""
    metrics = load_if_present(run_dir, "battery")
    if metrics is None:
        return None
    curves = load_curves(metrics, Path(run_dir))

    def peaks(values: np.ndarray, per: int) -> float:
        whole = len(values) // per * per
        return float(np.nanmax(values[:whole].reshape(-1, per).mean(axis=1))) if whole else float("nan")

    parts = []
    for per, label in ((1, "5-min"), (3, "15-min")):
        with_kw, without_kw = peaks(curves.with_battery, per), peaks(curves.without_battery, per)
        parts.append(f"{label} peak {without_kw:.1f} -> {with_kw:.1f} kW "
                     f"({100.0 * (with_kw - without_kw) / without_kw:+.1f} %)")
    gap = float(np.nanmax(np.abs(metrics.column("soc") - metrics.column("soc_estimate"))))
    source = "baseline run" if "baseline" in curves.without_label else "sensed + battery output"
    line = f"battery: feeder {', '.join(parts)} vs {source}; SOC estimate within {100 * gap:.1f} points"
    market = market_summary(metrics)
    return line if market is None else f"{line}\n{market}"
