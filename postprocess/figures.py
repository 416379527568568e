"""Publication-quality figures of a run folder: the grid figures here, agent figures from ``*_plots`` modules.

``vppfed plot RUN_DIR`` calls :func:`plot_run`, which draws what the run's metrics allow (a figure whose metrics
are absent is skipped, not faked) and then asks every module ``vppfed.postprocess.<area>_plots`` that defines
``plot_run(run_dir, out_dir) -> list[Path]`` for its figures (the modules listed in :data:`vppfed.plugins.PLOTS`).
Figures are sized for one column of a two-column paper (3.5 in wide), with units on every axis, and saved as PNG
(300 dpi) and PDF.

This module is the one place of the plot style and of saving, for every figure module of :mod:`vppfed.postprocess`:
draw inside :func:`paper_style` (or a function decorated with :func:`styled`), which changes matplotlib's settings
only for that block, never globally; save with :func:`save`, which writes PNG and PDF at :data:`DPI` and closes the
figure. It also chooses the backend, once: the figure modules import ``plt`` from here.
"""
from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, ParamSpec, TypeVar

import matplotlib

# the one backend choice of vppfed's figures: files only, no display needed (headless runs, CI)
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vppfed.formats.metrics import Metrics, load_if_present

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")

COLUMN_WIDTH_IN = 3.5
#: resolution of every PNG vppfed writes, dots per inch (PDFs are vector)
DPI = 300
STYLE = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "lines.linewidth": 1.0, "axes.grid": True, "grid.alpha": 0.3, "savefig.dpi": DPI,
    "figure.dpi": 100, "pdf.fonttype": 42, "axes.spines.top": False, "axes.spines.right": False,
}


@contextmanager
def paper_style() -> Iterator[None]:
    """Matplotlib settings for column-width figures (8 pt text, light grid, embedded TrueType in PDFs)."""
    with plt.rc_context(STYLE):
        yield


def styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run a figure function inside :func:`paper_style` (for functions that draw one figure each)."""
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with paper_style():
            return func(*args, **kwargs)

    return wrapper


def save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    """Save ``fig`` as ``<name>.png`` (:data:`DPI`) and ``<name>.pdf`` in ``out_dir`` and close it (a figure left
    open keeps its memory until the process ends: a batch of plots grew without bound)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    try:
        fig.tight_layout()
        for path in paths:
            fig.savefig(path, bbox_inches="tight", dpi=DPI)
    finally:
        plt.close(fig)
    return paths


def _hours_axis(ax: plt.Axes, metrics: Metrics) -> None:
    ax.set_xlabel(f"time from {metrics.start_time[:16]} (h)")
    hours = metrics.hours()
    if len(hours) and hours[-1] >= 12:
        step = 6 if hours[-1] <= 48 else 12
        ax.set_xticks(np.arange(0, hours[-1] + 1e-9, step))
    ax.set_xlim(0, hours[-1] if len(hours) else 1)


def substation_load(run_dir: Path, out_dir: Path) -> list[Path]:
    """Feeder (substation) real power over time, kW: average with the min-max band of each interval."""
    m = load_if_present(run_dir, "substation")
    if m is None:
        return []
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.2))
        for i, uid in enumerate(m.uids):
            avg = m.column("real_power_avg")[:, i] / 1000.0
            ax.plot(m.hours(), avg, label=f"{uid} average")
            if "real_power_min" in m.columns and "real_power_max" in m.columns:
                ax.fill_between(m.hours(), m.column("real_power_min")[:, i] / 1000.0,
                                m.column("real_power_max")[:, i] / 1000.0, alpha=0.25, lw=0, label="min-max")
        ax.set_ylabel("feeder real power (kW)")
        _hours_axis(ax, m)
        ax.legend(loc="upper left", frameon=False)
        return save(fig, out_dir, "substation_load")


def bus_voltage_lmp(run_dir: Path, out_dir: Path) -> list[Path]:
    """Voltage magnitude (pu) and LMP ($/kWh) of every bus the PYPOWER federate reports, on shared time axes."""
    m = load_if_present(run_dir, "bus")
    if m is None:
        return []
    with paper_style():
        fig, (ax_v, ax_p) = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 3.4), sharex=True)
        for i, uid in enumerate(m.uids):
            ax_v.plot(m.hours(), m.column("Vmag")[:, i], label=f"bus {uid}")
            ax_p.plot(m.hours(), m.column("LMP_P")[:, i], label=f"bus {uid}")
        ax_v.set_ylabel("voltage (pu)")
        ax_p.set_ylabel("LMP ($/kWh)")
        _hours_axis(ax_p, m)
        if len(m.uids) <= 8:
            ax_v.legend(frameon=False, ncol=min(4, len(m.uids)))
        return save(fig, out_dir, "bus_voltage_lmp")


def house_temperatures(run_dir: Path, out_dir: Path) -> list[Path]:
    """House air temperatures, °F: the mean over houses with the band from the coldest to the warmest house."""
    m = load_if_present(run_dir, "house")
    if m is None:
        return []
    avg = m.column("air_temperature_avg")
    lo = m.column("air_temperature_min") if "air_temperature_min" in m.columns else avg
    hi = m.column("air_temperature_max") if "air_temperature_max" in m.columns else avg
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.2))
        ax.fill_between(m.hours(), np.nanmin(lo, axis=1), np.nanmax(hi, axis=1), alpha=0.25, lw=0,
                        label=f"min-max of {len(m.uids)} houses")
        ax.plot(m.hours(), np.nanmean(avg, axis=1), label="mean")
        if "air_temperature_setpoint_cooling" in m.columns:
            ax.plot(m.hours(), np.nanmean(m.column("air_temperature_setpoint_cooling"), axis=1), ls="--",
                    label="mean cooling set point")
        ax.set_ylabel("air temperature (°F)")
        _hours_axis(ax, m)
        ax.legend(loc="best", frameon=False)
        return save(fig, out_dir, "house_temperatures")


def pv_output(run_dir: Path, out_dir: Path) -> list[Path]:
    """Total real power of the inverters (PV positive, batteries signed), kW."""
    m = load_if_present(run_dir, "inverter")
    if m is None:
        return []
    power = m.column("real_power_avg") / 1000.0
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.2))
        ax.plot(m.hours(), np.nansum(power, axis=1), label=f"sum of {len(m.uids)} inverters")
        ax.set_ylabel("inverter real power (kW)")
        _hours_axis(ax, m)
        ax.legend(loc="upper left", frameon=False)
        return save(fig, out_dir, "pv_output")


def generation(run_dir: Path, out_dir: Path) -> list[Path]:
    """Real power of each bulk generator, MW (the outage shows as a unit dropping to zero)."""
    m = load_if_present(run_dir, "gen")
    if m is None:
        return []
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.7))
        for i, uid in enumerate(m.uids):
            pgen = m.column("Pgen")[:, i]
            # a unit that only ever absorbs is the market's dispatchable load (TESP models it as a generator)
            label = f"responsive load ({uid})" if np.nanmax(pgen) <= 1e-6 < -np.nanmin(pgen) else f"unit {uid}"
            ax.plot(m.hours(), pgen, label=label)
        ax.set_ylabel("generation (MW)")
        _hours_axis(ax, m)
        ax.legend(frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.28))
        return save(fig, out_dir, "generation")


GRID_FIGURES = (substation_load, bus_voltage_lmp, house_temperatures, pv_output, generation)


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw every figure the metrics in ``run_dir`` allow into ``out_dir`` (default ``run_dir/figures``)."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "figures"
    written: list[Path] = []
    for figure in GRID_FIGURES:
        try:
            written += figure(run_dir, out)
        except KeyError as exc:  # a metrics file without the expected column: skip that figure, say why
            log.warning("%s skipped: %s", figure.__name__, exc)
    from vppfed import plugins

    for module in plugins.load("plots"):
        written += list(module.plot_run(run_dir, out) or [])
    return written
