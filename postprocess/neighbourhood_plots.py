"""Figures of neighbourhood runs: PV vs grid energy, self-consumption, PAR, profiles, optimiser comparison.

Reads the run records written by :mod:`vppfed.federates.neighbourhood.runs` (``run_NNN.json``) or by the HELICS
manager federate (``neighbourhood_run.json``, one per run folder). ``vppfed plot RUN_DIR`` finds this module through
:func:`plot_run`; ``vppfed neighbourhood plot`` also draws the comparison across several output folders.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from vppfed.formats.neighbourhood import RECORD_FILE
from vppfed.postprocess.figures import COLUMN_WIDTH_IN, paper_style, plt, save

log = logging.getLogger(__name__)


def load_runs(run_dir: Path) -> list[dict]:
    """Every neighbourhood run record under ``run_dir`` (``run_*.json``, ``neighbourhood_run.json``, and the
    latter in ``run_*/`` subfolders), in name order; other JSON files are ignored. A co-simulated run's record is
    joined from the federates' parts by ``vppfed run`` (or ``vppfed plot``) before this reads it."""
    run_dir = Path(run_dir)
    paths = sorted(run_dir.glob("run_*.json")) + sorted(run_dir.glob(RECORD_FILE)) + \
        sorted(run_dir.glob(f"run_*/{RECORD_FILE}"))
    records = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("%s: unreadable, skipped", path)
            continue
        if isinstance(data, dict) and "totals" in data and "contracts" in data:
            records.append(data)
    return records


def _house_order(runs: list[dict]) -> list[str]:
    houses = {h for r in runs for h in r["houses"]}
    return sorted(houses, key=lambda h: (0, int(h), "") if h.isdigit() else (1, 0, h))


def _house_stat(runs: list[dict], house: str, key: str) -> tuple[float, float]:
    values = np.array([r["houses"].get(house, {}).get(key) for r in runs], dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.nan, 0.0
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def energy_by_house(runs: list[dict], out_dir: Path) -> list[Path]:
    """Stacked PV and grid energy per household, kWh: mean over runs, whiskers one standard deviation."""
    houses = _house_order(runs)
    pv = np.array([_house_stat(runs, h, "pv_wh") for h in houses]) / 1000.0
    grid = np.array([_house_stat(runs, h, "grid_wh") for h in houses]) / 1000.0
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.3))
        x = np.arange(len(houses))
        ax.bar(x, pv[:, 0], yerr=pv[:, 1], label="from PV", color="tab:orange", capsize=1.5)
        ax.bar(x, grid[:, 0], bottom=pv[:, 0], yerr=grid[:, 1], label="from grid", color="tab:gray", capsize=1.5)
        ax.set_xticks(x, houses, rotation=90 if len(houses) > 12 else 0)
        ax.set_xlabel("household")
        ax.set_ylabel("energy (kWh)")
        ax.set_title(f"energy used, mean of {len(runs)} run(s)")
        ax.legend(frameon=False)
        return save(fig, out_dir, "neighbourhood_energy_by_house")


def energy_by_run(runs: list[dict], out_dir: Path) -> list[Path]:
    """Neighbourhood PV and grid energy per run and their mean, kWh."""
    pv = np.array([r["totals"]["pv_wh"] for r in runs]) / 1000.0
    grid = np.array([r["totals"]["grid_wh"] for r in runs]) / 1000.0
    labels = [str(r.get("run", i)) for i, r in enumerate(runs)] + ["mean"]
    pv, grid = np.append(pv, pv.mean()), np.append(grid, grid.mean())
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.2))
        x = np.arange(len(labels))
        ax.bar(x, pv, label="from PV", color="tab:orange")
        ax.bar(x, grid, bottom=pv, label="from grid", color="tab:gray")
        ax.set_xticks(x, labels)
        ax.set_xlabel("run")
        ax.set_ylabel("energy (kWh)")
        ax.legend(frameon=False, ncols=2)
        return save(fig, out_dir, "neighbourhood_energy_by_run")


def self_consumption(runs: list[dict], out_dir: Path) -> list[Path]:
    """Self-consumption (PV used / PV produced) and self-sufficiency (PV used / consumption) per run, %."""
    sc = np.array([r["totals"]["self_consumption"] or np.nan for r in runs], dtype=float) * 100
    ss = np.array([r["totals"]["self_sufficiency"] or np.nan for r in runs], dtype=float) * 100
    x = np.arange(len(runs))
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.2))
        ax.plot(x, sc, "o", ms=3, color="tab:orange", label=f"self-consumption (mean {np.nanmean(sc):.1f} %)")
        ax.plot(x, ss, "s", ms=3, color="tab:blue", label=f"self-sufficiency (mean {np.nanmean(ss):.1f} %)")
        ax.axhline(np.nanmean(sc), color="tab:orange", lw=0.7)
        ax.axhline(np.nanmean(ss), color="tab:blue", lw=0.7)
        ax.set_xlabel("run")
        ax.set_ylabel("share (%)")
        ax.set_ylim(0, 105)
        ax.legend(frameon=False, loc="lower right")
        return save(fig, out_dir, "neighbourhood_self_consumption")


def peak_to_average(runs: list[dict], out_dir: Path) -> list[Path]:
    """Peak-to-average ratio of 15-minute consumption per household and for the neighbourhood (mean ± std)."""
    houses = _house_order(runs)
    stats = [_house_stat(runs, h, "par_consumption") for h in houses]
    total = np.array([r["totals"]["par_consumption"] or np.nan for r in runs], dtype=float)
    labels = houses + ["all"]
    means = [s[0] for s in stats] + [np.nanmean(total)]
    stds = [s[1] for s in stats] + [np.nanstd(total, ddof=1) if np.isfinite(total).sum() > 1 else 0.0]
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.2))
        x = np.arange(len(labels))
        ax.bar(x, means, yerr=stds, color=["tab:blue"] * len(houses) + ["tab:red"], capsize=1.5)
        ax.set_xticks(x, labels, rotation=90 if len(labels) > 12 else 0)
        ax.set_xlabel("household")
        ax.set_ylabel("peak-to-average ratio (-)")
        return save(fig, out_dir, "neighbourhood_par")


def _to_kw(per_slot_wh: np.ndarray, slot_s: float, average_s: float = 900.0) -> tuple[np.ndarray, np.ndarray]:
    """Average power (kW) per ``average_s`` interval and the interval mid-times (h)."""
    k = max(1, int(round(average_s / slot_s)))
    n = per_slot_wh.shape[-1] // k
    wh = per_slot_wh[..., :n * k].reshape(*per_slot_wh.shape[:-1], n, k).sum(axis=-1)
    return wh / 1000.0 / (k * slot_s / 3600.0), (np.arange(n) + 0.5) * k * slot_s / 3600.0


def profiles(runs: list[dict], out_dir: Path) -> list[Path]:
    """Neighbourhood production, consumption and PV used over the day, kW: mean over runs with a ±1 std band."""
    slot = float(runs[0]["slot_s"])
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.3))
        for key, label, color in (("production_wh", "PV production", "tab:orange"),
                                  ("consumption_wh", "consumption", "tab:blue"),
                                  ("pv_wh", "consumed from PV", "tab:green")):
            kw, hours = _to_kw(np.array([r["profiles"][key] for r in runs], dtype=float), slot)
            mean = kw.mean(axis=0)
            ax.plot(hours, mean, color=color, label=label)
            if len(runs) > 1:
                std = kw.std(axis=0, ddof=1)
                ax.fill_between(hours, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        ax.set_xlabel("time of day (h)")
        ax.set_ylabel("power, 15-min mean (kW)")
        ax.set_xlim(0, hours[-1] + 0.125 if len(hours) else 24)
        ax.legend(frameon=False, loc="upper left")
        return save(fig, out_dir, "neighbourhood_profiles")


def house_profiles(runs: list[dict], out_dir: Path) -> list[Path]:
    """Per household: production, consumption and PV used over the day (kW, mean over runs), small multiples."""
    houses = _house_order(runs)
    slot = float(runs[0]["slot_s"])
    cols = 3 if len(houses) > 4 else 2
    rows = int(np.ceil(len(houses) / cols))
    with paper_style():
        fig, axes = plt.subplots(rows, cols, figsize=(COLUMN_WIDTH_IN * 2, 1.3 * rows + 0.4), sharex=True,
                                 sharey=True, squeeze=False)
        for ax, house in zip(axes.flat, houses):
            for key, label, color in (("production_wh", "PV production", "tab:orange"),
                                      ("consumption_wh", "consumption", "tab:blue"),
                                      ("pv_wh", "consumed from PV", "tab:green")):
                series = [r["house_profiles"][house][key] for r in runs if house in r["house_profiles"]]
                kw, hours = _to_kw(np.array(series, dtype=float), slot)
                ax.plot(hours, kw.mean(axis=0), color=color, label=label)
            ax.set_title(f"household {house}", pad=2)
        for ax in axes.flat[len(houses):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("time of day (h)")
        for ax in axes[:, 0]:
            ax.set_ylabel("kW")
        axes.flat[0].legend(frameon=False, fontsize=6)
        return save(fig, out_dir, "neighbourhood_house_profiles")


def plot_runs(runs: list[dict], out_dir: Path) -> list[Path]:
    """Every per-run figure for ``runs``."""
    if not runs:
        return []
    written: list[Path] = []
    for figure in (energy_by_house, energy_by_run, self_consumption, peak_to_average, profiles, house_profiles):
        written += figure(runs, out_dir)
    return written


def plot_run(run_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Hook of ``vppfed plot``: the neighbourhood figures when ``run_dir`` holds neighbourhood runs."""
    runs = load_runs(run_dir)
    return plot_runs(runs, Path(out_dir) if out_dir else Path(run_dir) / "figures")


def compare_optimisers(folders: list[Path], out_dir: Path,
                       wall_s: dict[Path, list[float]] | None = None) -> list[Path]:
    """Self-consumption, grid energy and wall time per optimiser (one output folder each; mean ± std over runs).

    Wall times come from ``wall_s`` (per folder, as measured by the caller) or a folder's ``timings.jsonl``; the
    time panel stays empty without either (runs write timings only when asked, as they differ run to run).
    """
    rows = []
    for folder in folders:
        runs = load_runs(folder)
        if not runs:
            continue
        timings = list((wall_s or {}).get(folder, []))
        tpath = Path(folder) / "timings.jsonl"
        if not timings and tpath.exists():
            timings = [json.loads(line)["wall_s"] for line in tpath.read_text().splitlines() if line.strip()]
        name = runs[0].get("optimizer", Path(folder).name)
        sc = np.array([r["totals"]["self_consumption"] or np.nan for r in runs], dtype=float) * 100
        grid = np.array([r["totals"]["grid_wh"] for r in runs], dtype=float) / 1000
        rows.append((name, sc, grid, np.array(timings, dtype=float)))
    if not rows:
        return []
    with paper_style():
        fig, axes = plt.subplots(1, 3, figsize=(COLUMN_WIDTH_IN * 2, 2.0))
        x = np.arange(len(rows))
        for ax, index, label in ((axes[0], 1, "self-consumption (%)"), (axes[1], 2, "grid energy (kWh)"),
                                 (axes[2], 3, "wall time per run (s)")):
            means = [np.nanmean(r[index]) if r[index].size else np.nan for r in rows]
            stds = [np.nanstd(r[index], ddof=1) if r[index].size > 1 else 0.0 for r in rows]
            ax.bar(x, means, yerr=stds, capsize=1.5, color="tab:blue")
            ax.set_xticks(x, [r[0] for r in rows], rotation=45, ha="right")
            ax.set_ylabel(label)
        if any(r[3].size and np.nanmax(r[3]) > 0 for r in rows):
            axes[2].set_yscale("log")
        return save(fig, out_dir, "neighbourhood_optimiser_comparison")
