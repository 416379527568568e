"""Figures of agile-VPP runs: signal vs delivered power and residual, power stacked by unit type, per-unit energy
against its limits, and the aggregator's view of a unit against the unit's own.

Two sources: a HELICS run folder (``vppfed plot RUN_DIR`` calls :func:`plot_run`, which reads the federates'
metrics through :mod:`vppfed.postprocess.agile_run`), and the CSVs of ``vppfed agile vv`` (``vppfed agile plot``,
:func:`plot_vv`). Column width (3.5 in), 8 pt text, units on every axis, PNG (300 dpi) and PDF.

Time axis: the dispatch step k for the reference's abstract model (Ts = 1 per step, energies in kW·step), hours from
the case start otherwise. A step's power holds over the whole step, so powers are drawn as steps from its start.
"""
from __future__ import annotations

import csv
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vppfed.postprocess.figures import COLUMN_WIDTH_IN, paper_style, plt, save

log = logging.getLogger(__name__)

TYPES = (("Bkt", "buckets"), ("Bat", "batteries"), ("Bak", "bakeries"))
TYPE_COLOURS = {"Bkt": "#1f77b4", "Bat": "#2ca02c", "Bak": "#ff7f0e"}
DEVICE_OF_TYPE = {"Bkt": "battery inverters", "Bat": "EV chargers", "Bak": "water heaters"}
OUTPUT_TYPE_COLUMNS = {"Bkt": "PBkt", "Bat": "Pbat", "Bak": "Pbak"}
MAX_UNIT_LINES = 200


@dataclass
class Axis:
    """The x axis of a run: step starts ``x`` and the end of the last step, with a label."""

    x: np.ndarray
    end: float
    label: str
    energy_unit: str

    @classmethod
    def steps(cls, k: np.ndarray) -> "Axis":
        return cls(np.asarray(k, dtype=np.float64) - 0.5, float(k[-1]) + 0.5, "dispatch step k", "kW·step")

    @classmethod
    def hours(cls, hours: np.ndarray, step_h: float, start: str) -> "Axis":
        label = f"time from {start[:16]} (h)" if start else "time (h)"
        return cls(np.asarray(hours, dtype=np.float64), float(hours[-1] + step_h), label, "kWh")

    def edges(self) -> np.ndarray:
        """Step boundaries (one more than steps), for ``stairs``."""
        return np.append(self.x, self.end)

    def finish(self, ax: plt.Axes) -> None:
        ax.set_xlim(self.x[0], self.end)
        ax.set_xlabel(self.label)


def _steps_line(ax: plt.Axes, edges: np.ndarray, values: np.ndarray, **kw) -> None:
    """Per-step values held over each step; a NaN step is left as a gap (``stairs`` would drop to 0)."""
    values = np.asarray(values, dtype=np.float64)
    ax.step(edges, np.append(values, values[-1]), where="post", **kw)


def _type_labels(devices: bool) -> dict[str, str]:
    if devices:
        return {t: f"{DEVICE_OF_TYPE[t]} ({name})" for t, name in TYPES}
    return dict(TYPES)


def fig_tracking(axis: Axis, signal: np.ndarray, delivered: np.ndarray, out_dir: Path,
                 infeasible: np.ndarray | None = None, name: str = "agile_tracking") -> list[Path]:
    """Signal and delivered power [kW] per step, with the residual S = signal - delivered below.

    Steps whose signal lay outside the portfolio's feasible range (as the aggregator saw it) are shaded.
    """
    residual = signal - delivered
    known = np.isfinite(residual)
    lw = 1.0 if len(signal) <= 120 else 0.6   # long runs: thinner steps stay apart
    with paper_style():
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 3.0), sharex=True,
                                       gridspec_kw={"height_ratios": [2, 1]})
        edges = axis.edges()
        if infeasible is not None and np.any(infeasible):
            for ax in (ax1, ax2):
                for i in np.flatnonzero(infeasible):
                    ax.axvspan(edges[i], edges[i + 1], color="#d62728", alpha=0.12, lw=0)
        _steps_line(ax1, edges, signal, color="black", lw=lw, label="signal")
        _steps_line(ax1, edges, np.where(known, delivered, np.nan), color="#d62728", lw=lw, ls="--",
                    label="delivered")
        ax1.set_ylabel("power (kW)")
        handles, labels = ax1.get_legend_handles_labels()
        if infeasible is not None and np.any(infeasible):
            handles.append(plt.Rectangle((0, 0), 1, 1, color="#d62728", alpha=0.12, lw=0))
            labels.append("outside feasible range")
        ax1.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False,
                   handlelength=1.6, columnspacing=1.0)
        _steps_line(ax2, edges, np.where(known, residual, np.nan), color="#7f3f98", lw=lw)
        ax2.axhline(0, color="grey", lw=0.5)
        ax2.set_ylabel("residual (kW)")
        if axis.energy_unit == "kW·step":   # the reference's measure
            note = f"Σ|S| = {np.abs(residual[known]).sum():.2f} kW·step"
        else:
            note = f"mean |S| = {np.abs(residual[known]).mean():.2f} kW"
        ax2.set_title(note, loc="right", fontsize=7, pad=2)
        axis.finish(ax2)
        fig.align_ylabels((ax1, ax2))
        return save(fig, out_dir, name)


def fig_type_stack(axis: Axis, by_type: dict[str, np.ndarray], out_dir: Path, signal: np.ndarray | None = None,
                   devices: bool = False, name: str = "agile_type_stack") -> list[Path]:
    """Power per unit type [kW] stacked per step: drawn power upwards, power given back (buckets) downwards."""
    labels = _type_labels(devices)
    edges = axis.edges()
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.5))
        n = len(axis.x)
        pos, neg = np.zeros(n), np.zeros(n)
        for t, _ in TYPES:
            if t not in by_type:
                continue
            v = np.nan_to_num(by_type[t])
            up, down = np.clip(v, 0, None), np.clip(v, None, 0)
            ax.stairs(pos + up, edges, baseline=pos.copy(), fill=True, color=TYPE_COLOURS[t], lw=0, label=labels[t])
            if np.any(down < 0):
                ax.stairs(neg + down, edges, baseline=neg.copy(), fill=True, color=TYPE_COLOURS[t], lw=0)
            pos += up
            neg += down
        if signal is not None and n <= 120:   # longer runs: the tracking figure shows the signal
            _steps_line(ax, edges, signal, color="black", lw=0.9, label="signal")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_ylabel("power (kW)")
        axis.finish(ax)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2 if devices else 4, frameon=False,
                  handlelength=1.4, columnspacing=1.0)
        return save(fig, out_dir, name)


def fig_unit_energy(axis: Axis, units: list[str], E: np.ndarray, Emin: np.ndarray, Emax: np.ndarray, out_dir: Path,
                    avail: np.ndarray | None = None, devices: bool = False,
                    name: str = "agile_unit_energy") -> list[Path]:
    """Each unit's energy as a share of its range, (E - Emin)/(Emax - Emin), one panel per type: 0 and 1 are the
    limits. Units away (an EV not at home) are not drawn while away."""
    labels = _type_labels(devices)
    present = [(t, lab) for t, lab in TYPES if any(u.startswith(t + "-") for u in units)]
    x = axis.edges()
    with paper_style():
        fig, axes = plt.subplots(len(present), 1, figsize=(COLUMN_WIDTH_IN, 1.1 * len(present) + 0.7), sharex=True,
                                 squeeze=False)
        for ax, (t, _) in zip(axes[:, 0], present):
            every = [i for i, u in enumerate(units) if u.startswith(t + "-")]
            cols = every[:MAX_UNIT_LINES]
            span = np.where(Emax[:, cols] - Emin[:, cols] > 0, Emax[:, cols] - Emin[:, cols], 1.0)
            frac = (E[:, cols] - Emin[:, cols]) / span
            if avail is not None:
                frac = np.where(avail[:, cols] > 0, frac, np.nan)
            # energy at each step start, plus the state after the last step is unknown: draw to the last start
            ax.plot(x[:-1], frac, color=TYPE_COLOURS[t], alpha=0.45, lw=0.6)
            ax.axhline(0, color="#d62728", ls=":", lw=0.8)
            ax.axhline(1, color="#d62728", ls=":", lw=0.8)
            ax.set_ylim(-0.08, 1.08)
            ax.set_yticks([0, 0.5, 1])
            shown = f" (first {len(cols)} drawn)" if len(cols) < len(every) else ""
            ax.set_title(f"{labels[t]}: {len(every)} units{shown}", loc="left", fontsize=7, pad=2)
        fig.supylabel("(E − Emin)/(Emax − Emin) (–)", fontsize=8)
        axis.finish(axes[-1, 0])
        return save(fig, out_dir, name)


def fig_views(axis: Axis, unit: str, own: np.ndarray, view: np.ndarray, emin: float, emax: float, out_dir: Path,
              unmanaged: np.ndarray | None = None, name: str = "agile_views") -> list[Path]:
    """The aggregator's estimate of one unit's energy against the unit's own energy [kWh or kW·step]; steps in which
    the aggregator had the unit as unmanaged (silent past the keep-alive timeout) are shaded."""
    x = axis.edges()
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.3))
        if unmanaged is not None and np.any(unmanaged):
            for i in np.flatnonzero(unmanaged):
                ax.axvspan(x[i], x[i + 1], color="grey", alpha=0.2, lw=0)
        few = len(own) <= 120   # markers show the individual steps of short runs only
        ax.plot(x[:-1], own, color="black", lw=1.0, marker="o" if few else None, ms=1.8, label=f"{unit}'s own")
        ax.plot(x[:-1], view, color="#d62728", lw=1.0, ls="--", marker="x" if few else None, ms=2.2,
                label="aggregator's view")
        for level, text in ((emax, "Emax"), (emin, "Emin")):
            ax.axhline(level, color="grey", ls=":", lw=0.8)
            ax.text(axis.end, level, f" {text}", va="center", ha="left", fontsize=7, color="grey")
        handles, labels = ax.get_legend_handles_labels()
        if unmanaged is not None and np.any(unmanaged):
            handles.append(plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.2, lw=0))
            labels.append("unmanaged")
        ax.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False,
                  handlelength=1.6, columnspacing=1.0)
        ax.set_ylabel(f"energy ({axis.energy_unit})")
        axis.finish(ax)
        return save(fig, out_dir, name)


# ---------------------------------------------------------------------------------------------------- run folders
def plot_run(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Hook of ``vppfed plot``: the agile figures of a run folder with VPP federate metrics (else nothing)."""
    from vppfed.postprocess.agile_run import load_agile_run

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    run = load_agile_run(run_dir)
    if run is None:
        return _plot_csv_folder(run_dir, out_dir)
    axis = Axis.steps(run.k) if run.abstract_steps else Axis.hours(run.hours, run.step_s / 3600.0, run.start_time)
    if not run.abstract_steps:
        axis.energy_unit = "kWh"
    devices = bool(run.devices)
    sig = run.agg["signal"]
    infeasible = (sig < run.agg["p_min"] - 1e-9) | (sig > run.agg["p_max"] + 1e-9)
    written = fig_tracking(axis, sig, run.delivered, out_dir, infeasible=infeasible)
    delivered = np.where(np.isfinite(run.unit["P_meas"]), run.unit["P_meas"], np.nan)
    by_type = {t: np.sum(delivered[:, run.kind_mask(t)], axis=1) for t, _ in TYPES if run.kind_mask(t).any()}
    written += fig_type_stack(axis, by_type, out_dir, signal=sig, devices=devices)
    u = run.unit
    written += fig_unit_energy(axis, run.units, u["E"], u["Emin"], u["Emax"], out_dir, avail=u["avail"],
                               devices=devices)
    if run.view is not None:
        diff = np.abs(run.view["E"] - u["E"])
        diff = np.where(np.isfinite(diff), diff, 0.0)
        if np.max(diff, initial=0.0) > 1e-9:
            j = int(np.argmax(np.sum(diff, axis=0)))
            unmanaged = (run.view["managed"][:, j] == 0) & (run.view["avail"][:, j] > 0)
            own = np.where(u["avail"][:, j] > 0, u["E"][:, j], np.nan)            # not drawn while away
            view = np.where(run.view["avail"][:, j] > 0, run.view["E"][:, j], np.nan)
            written += fig_views(axis, run.units[j], own, view, float(np.nanmin(u["Emin"][:, j])),
                                 float(np.nanmax(u["Emax"][:, j])), out_dir, unmanaged=unmanaged)
        else:
            log.info("%s: the aggregator's view equals every unit's own energy; no views figure", run_dir)
    return written


# ----------------------------------------------------------------------------------------------------- vv CSVs
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


def _trace_arrays(trace: dict[str, dict[str, np.ndarray]], column: str) -> np.ndarray:
    return np.column_stack([trace[u][column] for u in trace])


def plot_vv(output_csv: str | Path, out_dir: str | Path, units_csv: str | Path | None = None,
            signal_csv: str | Path | None = None) -> list[Path]:
    """All figures of one ``vppfed agile vv`` run (reference output layout, optional per-unit trace); returns the files."""
    from vppfed.formats.agile import read_output_csv, read_signal_csv

    out_dir = Path(out_dir)
    out = read_output_csv(output_csv)
    k = out["Timestep"]
    axis = Axis.steps(k)
    # reference layout: VppOut is the signal and Residual = signal - delivered (Delivered, when written, says it)
    signal = read_signal_csv(signal_csv)[: len(k)] if signal_csv else out["VppOut"]
    delivered = out["Delivered"] if "Delivered" in out else out["VppOut"] - out["Residual"]
    written = fig_tracking(axis, signal, delivered, out_dir)
    written += fig_type_stack(axis, {t: out[c] for t, c in OUTPUT_TYPE_COLUMNS.items()}, out_dir, signal=signal)
    if units_csv:
        trace = read_unit_trace(units_csv)
        written += fig_unit_energy(axis, list(trace), _trace_arrays(trace, "E"), _trace_arrays(trace, "Emin"),
                                   _trace_arrays(trace, "Emax"), out_dir)
    return written


def _plot_csv_folder(run_dir: Path, out_dir: Path) -> list[Path]:
    """Figures of a folder written by :func:`~vppfed.federates.agile.netsim.write_network_outputs` (no metrics)."""
    output = run_dir / "agile_output.csv"
    if not output.exists():
        return []
    units = run_dir / "agile_units.csv"
    written = plot_vv(output, out_dir, units_csv=units if units.exists() else None)
    views = run_dir / "agile_views.csv"
    if views.exists():
        data = read_unit_trace(views)
        if data:
            unit = max(data, key=lambda u: float(np.max(np.abs(data[u]["E_agg"] - data[u]["E"]))))
            c = data[unit]
            written += fig_views(Axis.steps(c["Timestep"]), unit, c["E"], c["E_agg"], float(c["Emin"][0]),
                                 float(c["Emax"][0]), out_dir)
    return written
