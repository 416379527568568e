"""Figures of the battery manager: feeder load with and without the battery, SOC, and the state timeline.

Read from ``battery_<root>_metrics.json`` (written by :mod:`vppfed.federates.battery.adapter`) and, when the case
computed them, ``battery_reference.csv`` (:mod:`vppfed.configs.battery_forecast`: the no-battery baseline run and the
load forecast the manager planned with). Loads are shown as 5-minute means (the battery samples every feeder step and
may decide every minute; single minutes swing by tens of kW with the houses' HVAC cycling, a utility meters demand over
such intervals). The "without battery" curve is the baseline run when there is one, else the sensed load with the
battery's delivered power added back (which ignores the battery's effect on losses), and says which in its label.
``vppfed plot RUN_DIR`` finds :func:`plot_run` automatically.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.patches import Patch

from vppfed.postprocess.figures import COLUMN_WIDTH_IN, _hours_axis, paper_style, plt, save
from vppfed.formats.battery import REFERENCE_FILE, read_reference_csv
from vppfed.formats.metrics import Metrics, load_if_present

STATE_NAMES = {-1: "CHARGE", 0: "REST", 1: "SELL"}
STATE_COLORS = {-1: "#1f77b4", 0: "#d9d9d9", 1: "#d62728"}
#: Interval of the load curves and of the quoted peaks [s].
DEMAND_INTERVAL_S = 300


def interval_means(times: np.ndarray, values: np.ndarray, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """Means of ``values`` over ``(k I, (k + 1) I]`` for each interval with samples; returns (end times, means).

    Samples coarser than ``interval`` are returned unchanged. NaNs are ignored; an interval of only NaNs is NaN.
    """
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if len(times) < 2 or np.median(np.diff(times)) >= interval:
        return times, values
    bins = np.ceil(times / interval - 1e-9).astype(np.int64)
    ends = np.unique(bins)
    index = np.searchsorted(ends, bins)
    ok = ~np.isnan(values)
    sums = np.bincount(index[ok], weights=values[ok], minlength=len(ends))
    counts = np.bincount(index[ok], minlength=len(ends))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return ends * interval, means


@dataclass
class LoadCurves:
    """5-minute feeder load with and without the battery [kW] on common end times [h], plus the reference series."""

    hours: np.ndarray
    with_battery: np.ndarray
    without_battery: np.ndarray
    without_label: str
    forecast: np.ndarray | None
    target_hours: np.ndarray
    target: np.ndarray


def load_curves(m: Metrics, run_dir: Path) -> LoadCurves:
    """The load curves of a run (see the module docstring for where each comes from)."""
    t, net = interval_means(m.times, m.column("net_load")[:, 0], DEMAND_INTERVAL_S)
    _, gross = interval_means(m.times, m.column("gross_load")[:, 0], DEMAND_INTERVAL_S)
    without, label = gross, "without battery (sensed + battery output)"
    forecast = None
    reference = run_dir / REFERENCE_FILE
    if reference.exists():
        ref = read_reference_csv(reference)
        if ref.baseline_w is not None:
            tb, base = interval_means(ref.seconds, ref.baseline_w, DEMAND_INTERVAL_S)
            without, label = np.interp(t, tb, base, left=np.nan, right=np.nan), "without battery (baseline run)"
        if ref.forecast_w is not None:
            tf, fc = interval_means(ref.seconds, ref.forecast_w, DEMAND_INTERVAL_S)
            forecast = np.interp(t, tf, fc, left=np.nan, right=np.nan) / 1000.0
    target = m.column("target")[:, 0] / 1000.0 if "target" in m.columns else np.full(len(m.times), np.nan)
    return LoadCurves(t / 3600.0, net / 1000.0, without / 1000.0, label, forecast, m.hours(), target)


def peak_summary(curves: LoadCurves) -> dict[str, float]:
    """Peak of the 5-minute load with and without the battery [kW] and the reduction [%]."""
    with_peak = float(np.nanmax(curves.with_battery))
    without_peak = float(np.nanmax(curves.without_battery))
    return {"peak_with_kw": with_peak, "peak_without_kw": without_peak,
            "reduction_pct": 100.0 * (without_peak - with_peak) / without_peak if without_peak > 0 else float("nan")}


def load_with_without(m: Metrics, out_dir: Path, run_dir: Path | None = None) -> list[Path]:
    """Feeder load with and without the battery (5-min means, kW), the forecast and the discharge target."""
    curves = load_curves(m, run_dir or Path("."))
    peaks = peak_summary(curves)
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.4))
        ax.plot(curves.hours, curves.without_battery, color="0.45", lw=0.8,
                label=f"{curves.without_label}, peak {peaks['peak_without_kw']:.1f} kW")
        ax.plot(curves.hours, curves.with_battery, color="#2ca02c", lw=0.9,
                label=f"with battery, peak {peaks['peak_with_kw']:.1f} kW")
        if curves.forecast is not None:
            ax.plot(curves.hours, curves.forecast, color="k", lw=0.8, ls=":", label="load forecast")
        if np.isfinite(curves.target).any():
            # a target holds for the period after its sample: the last one would be drawn beyond the horizon
            ax.step(curves.target_hours[:-1], curves.target[:-1], where="post", color="#d62728", lw=0.8, ls="--",
                    label="discharge target")
        ax.axhline(0.0, color="0.2", lw=0.5)
        ax.set_ylabel("feeder load, 5-min mean (kW)")
        _hours_axis(ax, m)
        top = np.nanmax([np.nanmax(curves.without_battery), np.nanmax(curves.with_battery)])
        ax.set_ylim(top=top * 1.42)  # room for the legend above the curves
        ax.legend(loc="upper left", frameon=False, fontsize=6.5, ncol=1, handlelength=2.2)
        return save(fig, out_dir, "battery_load")


def soc(m: Metrics, out_dir: Path, soc_limits: tuple[float, float] | None = None) -> list[Path]:
    """SOC reported by GridLAB-D's battery and the manager's coulomb-counted estimate, in %, for every battery.

    One battery: GridLAB-D solid, manager dashed. Several: one colour per battery (solid GridLAB-D, dashed the
    manager's estimate), named in the legend, with the largest estimate gap over all of them quoted.
    """
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.0))
        hours = m.hours()
        measured = 100.0 * m.column("soc")
        estimate = 100.0 * m.column("soc_estimate")
        gap = np.nanmax(np.abs(measured - estimate)) if np.isfinite(measured).any() else float("nan")
        if len(m.uids) == 1:
            ax.plot(hours, measured[:, 0], color="#1f77b4", lw=1.2, label="GridLAB-D battery")
            ax.plot(hours, estimate[:, 0], color="#ff7f0e", lw=0.9, ls="--", label=f"manager (max gap {gap:.1f} pts)")
        else:
            for k, uid in enumerate(m.uids):
                color = f"C{k % 10}"
                ax.plot(hours, measured[:, k], color=color, lw=1.0, label=uid)
                ax.plot(hours, estimate[:, k], color=color, lw=0.7, ls="--")
            ax.plot([], [], color="0.3", lw=0.7, ls="--", label=f"dashed: manager (max gap {gap:.1f} pts)")
        if soc_limits is not None:
            for level, name in zip(soc_limits, ("soc_low", "soc_high")):
                ax.axhline(100.0 * level, color="0.5", lw=0.6, ls=":")
                ax.annotate(name, (1.0, 100.0 * level), xycoords=("axes fraction", "data"), xytext=(2, 0),
                            textcoords="offset points", va="center", ha="left", fontsize=6, color="0.35")
        ax.set_ylabel("state of charge (%)")
        ax.set_ylim(0, 100)
        _hours_axis(ax, m)
        if len(m.uids) == 1:
            # the manager keeps the SOC above soc_low: the band below it is free for the legend
            ax.legend(loc="lower center", frameon=False, ncol=2, fontsize=6.5, handlelength=2.0, columnspacing=1.0)
        else:  # one entry per battery: above the axes, where it cannot cover a curve
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, ncol=3, fontsize=6,
                      handlelength=2.0, columnspacing=1.0)
        return save(fig, out_dir, "battery_soc")


def _state_spans(hours: np.ndarray, states: np.ndarray) -> list[tuple[float, float, int]]:
    """(start h, width h, code) of each run of equal states; a sample's state holds until the next sample."""
    spans: list[tuple[float, float, int]] = []
    if len(hours) == 0:
        return spans
    step = float(np.median(np.diff(hours))) if len(hours) > 1 else 1.0
    edges = np.append(hours, hours[-1] + step)
    start = 0
    for i in range(1, len(states) + 1):
        if i == len(states) or states[i] != states[start]:
            if np.isfinite(states[start]):
                spans.append((float(edges[start]), float(edges[i] - edges[start]), int(states[start])))
            start = i
    return spans


def state_timeline(m: Metrics, out_dir: Path) -> list[Path]:
    """CHARGE / REST / SELL as a band over time per battery, above the inverter power (kW, > 0 discharge): the
    total of all batteries in black, each battery thin grey when there are several."""
    n = len(m.uids)
    with paper_style():
        fig, (band, ax) = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 2.3 + 0.12 * (n - 1)), sharex=True,
                                       gridspec_kw={"height_ratios": [n, 5]})
        hours = m.hours()
        states = m.column("state")
        for k in range(n):
            row = n - 1 - k  # the first battery on top
            for start, width, code in _state_spans(hours, states[:, k]):
                band.broken_barh([(start, width)], (row + 0.08, 0.84), facecolors=STATE_COLORS[code], lw=0)
        band.set_ylim(0, n)
        if n > 1:  # names on the right: the power axis label takes the left
            band.yaxis.tick_right()
            band.set_yticks(np.arange(n) + 0.5, labels=list(reversed(m.uids)), fontsize=5.5)
            band.tick_params(axis="y", right=False, pad=1)
        else:
            band.set_yticks([])
        band.grid(False)
        band.spines[["left", "right", "top"]].set_visible(False)
        band.tick_params(axis="x", bottom=False)
        band.legend(handles=[Patch(color=STATE_COLORS[c], label=nm) for c, nm in STATE_NAMES.items()],
                    loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False, handlelength=1.2)
        power = m.column("power")
        if n > 1:
            for k in range(n):
                t, each = interval_means(m.times, power[:, k], DEMAND_INTERVAL_S)
                ax.plot(t / 3600.0, each / 1000.0, color="0.65", lw=0.5)
        # a time no battery reported stays NaN (interval_means skips it) instead of counting as 0 kW
        total = np.where(np.isnan(power).all(axis=1), np.nan, np.nansum(power, axis=1))
        t, delivered = interval_means(m.times, total, DEMAND_INTERVAL_S)
        label = "delivered, 5-min mean" if n == 1 else f"delivered by all {n}, 5-min mean (grey: each)"
        ax.plot(t / 3600.0, delivered / 1000.0, color="k", lw=0.8, label=label)
        ax.axhline(0.0, color="0.4", lw=0.5)
        ax.set_ylabel("battery power (kW)\n< 0 charge, > 0 discharge")
        _hours_axis(ax, m)
        return save(fig, out_dir, "battery_states")


def _soc_limits(run_dir: Path) -> tuple[float, float] | None:
    """``(soc_low, soc_high)`` from the case's manager JSON, when the run folder has one."""
    import json

    for path in sorted(run_dir.glob("*_manager.json")):
        try:
            battery = json.loads(path.read_text(encoding="utf-8"))["battery"]
            return float(battery["soc_low"]), float(battery["soc_high"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def plot_run(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Every battery figure the run's battery metrics allow (none when the run has no battery)."""
    m = load_if_present(run_dir, "battery")
    if m is None:
        return []
    out = Path(out_dir)
    run_dir = Path(run_dir)
    return (load_with_without(m, out, run_dir) + soc(m, out, _soc_limits(run_dir)) + state_timeline(m, out))
