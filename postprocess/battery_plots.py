"""Figures of the battery manager: feeder load with and without the battery, SOC, and the state timeline.

Read from ``battery_<root>_metrics.json`` (written by :mod:`vppfed.federates.battery.federate`). The "without battery"
curve is the sensed load with the battery's delivered power added back (``gross_load``), so both curves come from the
same run; ``vppfed plot RUN_DIR`` finds :func:`plot_run` automatically.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from vppfed.postprocess.figures import COLUMN_WIDTH_IN, _hours_axis, paper_style, save
from vppfed.postprocess.metrics_reader import Metrics, load_if_present

STATE_NAMES = {-1: "CHARGE", 0: "REST", 1: "SELL"}
STATE_COLORS = {-1: "tab:blue", 0: "0.75", 1: "tab:red"}


def load_with_without(m: Metrics, out_dir: Path) -> list[Path]:
    """Feeder load with the battery (sensed) and without it (battery output added back), kW, with both peaks."""
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.2))
        hours = m.hours()
        gross = m.column("gross_load")[:, 0] / 1000.0
        net = m.column("net_load")[:, 0] / 1000.0
        ax.plot(hours, gross, color="0.4", ls="--", label=f"without battery (peak {np.nanmax(gross):.1f} kW)")
        ax.plot(hours, net, color="tab:green", label=f"with battery (peak {np.nanmax(net):.1f} kW)")
        ax.set_ylabel("feeder load (kW)")
        _hours_axis(ax, m)
        ax.legend(loc="upper left", frameon=False)
        return save(fig, out_dir, "battery_load")


def soc(m: Metrics, out_dir: Path) -> list[Path]:
    """SOC reported by the battery and the manager's coulomb-counted estimate, per unit."""
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.0))
        ax.plot(m.hours(), m.column("soc")[:, 0], label="battery (GridLAB-D)")
        ax.plot(m.hours(), m.column("soc_estimate")[:, 0], ls="--", label="manager estimate")
        ax.set_ylabel("state of charge (pu)")
        ax.set_ylim(0, 1)
        _hours_axis(ax, m)
        ax.legend(loc="lower left", frameon=False)
        return save(fig, out_dir, "battery_soc")


def state_timeline(m: Metrics, out_dir: Path) -> list[Path]:
    """CHARGE / REST / SELL as coloured bands over time, with the inverter power (kW, > 0 discharge) on top."""
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 1.9))
        hours = m.hours()
        states = m.column("state")[:, 0]
        step = float(np.median(np.diff(hours))) if len(hours) > 1 else 1.0
        for code, name in STATE_NAMES.items():
            mask = states == code
            if mask.any():
                ax.bar(hours[mask], np.ones(mask.sum()), width=step, bottom=-0.5, align="edge",
                       color=STATE_COLORS[code], lw=0, label=name)
        ax.set_yticks([])
        ax.set_ylim(-0.5, 0.5)
        power = ax.twinx()
        power.plot(hours, m.column("command")[:, 0] / 1000.0, color="k", lw=0.8)
        power.set_ylabel("P_Out command (kW)")
        _hours_axis(ax, m)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 1.25), ncol=3, frameon=False)
        return save(fig, out_dir, "battery_states")


def plot_run(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Every battery figure the run's battery metrics allow (none when the run has no battery)."""
    m = load_if_present(run_dir, "battery")
    if m is None:
        return []
    out = Path(out_dir)
    return load_with_without(m, out) + soc(m, out) + state_timeline(m, out)
