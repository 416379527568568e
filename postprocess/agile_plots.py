"""Figures of agile-VPP runs: signal vs delivered power and residual, per-type power stacks, per-unit energy
against limits, and (phase 3) the aggregator's view of a unit against the unit's own view.

Inputs are the CSVs of ``vppfed vv`` (``Timestep,Residual,Pbak,Pbat,PBkt,VppOut`` and the long per-unit trace of
``--units-out``) or the same files written by the VPP federates into a run folder (``agile_output.csv``,
``agile_units.csv``, ``agile_views.csv``), which ``vppfed plot RUN_DIR`` picks up through :func:`plot_run`.
"""
from __future__ import annotations

import csv
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from vppfed.postprocess.figures import COLUMN_WIDTH_IN, paper_style, plt, save

log = logging.getLogger(__name__)

TYPE_LABELS = (("Pbak", "bakeries"), ("Pbat", "batteries"), ("PBkt", "buckets"))
TYPE_COLOURS = {"Pbak": "tab:orange", "Pbat": "tab:green", "PBkt": "tab:blue"}
MAX_UNIT_LINES = 200


def read_unit_trace(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Per-unit arrays from a long trace (``Timestep,Type-ID,P,E,Emin,Emax,...``): ``{unit: {column: array}}``."""
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            unit = rows[row["Type-ID"]]
            for key, value in row.items():
                if key != "Type-ID":
                    unit[key].append(float(value))
    return {u: {k: np.asarray(v) for k, v in cols.items()} for u, cols in rows.items()}


def fig_tracking(k: np.ndarray, signal: np.ndarray, delivered: np.ndarray, residual: np.ndarray,
                 out_dir: Path, name: str = "agile_tracking") -> list[Path]:
    """Signal and delivered power [kW] over steps, with the residual S = signal - delivered below."""
    with paper_style():
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 3.2), sharex=True,
                                       gridspec_kw={"height_ratios": [2, 1]})
        ax1.step(k, signal, where="mid", color="black", label="signal")
        ax1.step(k, delivered, where="mid", color="tab:red", linestyle="--", label="delivered")
        ax1.set_ylabel("power (kW)")
        ax1.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
        ax2.step(k, residual, where="mid", color="tab:purple")
        ax2.axhline(0, color="grey", linewidth=0.5)
        ax2.set_ylabel("residual S (kW)")
        ax2.set_xlabel("time step k")
        ax2.set_title(f"$\\Sigma|S|$ = {np.abs(residual).sum():.3f} kW·step", loc="right")
        return save(fig, out_dir, name)


def fig_type_stack(k: np.ndarray, by_type: dict[str, np.ndarray], out_dir: Path,
                   name: str = "agile_type_stack") -> list[Path]:
    """Power per unit type [kW] stacked as bars: positive parts upwards, negative (buckets giving back) downwards."""
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.4))
        pos = np.zeros(len(k))
        neg = np.zeros(len(k))
        for col, label in TYPE_LABELS:
            v = by_type[col]
            up, down = np.clip(v, 0, None), np.clip(v, None, 0)
            ax.bar(k, up, bottom=pos, width=1.0, color=TYPE_COLOURS[col], label=label, linewidth=0)
            ax.bar(k, down, bottom=neg, width=1.0, color=TYPE_COLOURS[col], linewidth=0)
            pos += up
            neg += down
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xlabel("time step k")
        ax.set_ylabel("power (kW)")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
        return save(fig, out_dir, name)


def fig_unit_energy(units: dict[str, dict[str, np.ndarray]], out_dir: Path,
                    name: str = "agile_unit_energy") -> list[Path]:
    """Each unit's energy as a fraction of its range, (E - Emin)/(Emax - Emin), one panel per type (0..1 = limits)."""
    groups = {"Bkt": "buckets", "Bat": "batteries", "Bak": "bakeries"}
    present = [p for p in groups if any(u.startswith(p + "-") for u in units)]
    with paper_style():
        fig, axes = plt.subplots(len(present), 1, figsize=(COLUMN_WIDTH_IN, 1.3 * len(present) + 0.6), sharex=True,
                                 squeeze=False)
        for ax, prefix in zip(axes[:, 0], present):
            names = [u for u in units if u.startswith(prefix + "-")][:MAX_UNIT_LINES]
            for u in names:
                c = units[u]
                span = np.where(c["Emax"] - c["Emin"] > 0, c["Emax"] - c["Emin"], 1.0)
                ax.plot(c["Timestep"], (c["E"] - c["Emin"]) / span, color="tab:blue", alpha=0.35, linewidth=0.6)
            ax.axhline(0, color="red", linestyle=":", linewidth=0.8)
            ax.axhline(1, color="red", linestyle=":", linewidth=0.8)
            ax.set_ylim(-0.05, 1.05)
            ax.set_ylabel(f"{groups[prefix]}\nE fraction (-)")
        axes[-1, 0].set_xlabel("time step k")
        return save(fig, out_dir, name)


def fig_views(views_csv: str | Path, out_dir: Path, unit: str | None = None,
              name: str = "agile_views") -> list[Path]:
    """Phase 3: the aggregator's estimate of one unit's energy [kWh] against the unit's own energy."""
    data = read_unit_trace(views_csv)
    if not data:
        return []
    unit = unit or max(data, key=lambda u: float(np.max(np.abs(data[u]["E_agg"] - data[u]["E"]))))
    c = data[unit]
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.4))
        ax.step(c["Timestep"], c["E"], where="post", color="black", label=f"{unit} own")
        ax.step(c["Timestep"], c["E_agg"], where="post", color="tab:red", linestyle="--", label="aggregator's view")
        ax.axhline(c["Emax"][0], color="grey", linestyle=":", linewidth=0.8)
        ax.axhline(c["Emin"][0], color="grey", linestyle=":", linewidth=0.8)
        ax.set_xlabel("time step k")
        ax.set_ylabel("energy (kWh)")
        ax.legend(loc="best")
        return save(fig, out_dir, name)


def plot_vv(output_csv: str | Path, out_dir: str | Path, units_csv: str | Path | None = None,
            signal_csv: str | Path | None = None) -> list[Path]:
    """All figures of one ``vppfed vv`` run; returns the files written."""
    from vppfed.federates.agile.signal import read_signal_csv
    from vppfed.federates.agile.simulate import read_output_csv

    out_dir = Path(out_dir)
    out = read_output_csv(output_csv)
    k = out["Timestep"]
    signal = read_signal_csv(signal_csv) if signal_csv else out["VppOut"] + out["Residual"]
    written = fig_tracking(k, signal[: len(k)], out["VppOut"], out["Residual"], out_dir)
    written += fig_type_stack(k, {c: out[c] for c, _ in TYPE_LABELS}, out_dir)
    if units_csv:
        written += fig_unit_energy(read_unit_trace(units_csv), out_dir)
    return written


def plot_run(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Hook of ``vppfed plot``: agile figures for a run folder holding the VPP federates' CSVs (else nothing)."""
    run_dir = Path(run_dir)
    output = run_dir / "agile_output.csv"
    if not output.exists():
        return []
    units = run_dir / "agile_units.csv"
    written = plot_vv(output, out_dir, units_csv=units if units.exists() else None)
    views = run_dir / "agile_views.csv"
    if views.exists():
        written += fig_views(views, Path(out_dir))
    return written
