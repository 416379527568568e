"""Figures of a neighbourhood run beside the GridLAB-D feeder: the feeder load with the jobs in it, PV both ways.

``vppfed plot RUN_DIR`` finds :func:`plot_run`; it draws only when ``RUN_DIR`` holds a neighbourhood run record with a
``feeder`` part (``neighbourhood: feeder: true``) and the feeder's metrics:

* ``neighbourhood_feeder_load``: the feeder's real power (substation, kW) and the same without the neighbourhood's
  jobs; below, the producers' PV as predicted and as the feeder's inverters produced it (kW, 15-min means);
* ``neighbourhood_feeder_houses``: per household, its feeder house's total load and the job power it was given (kW).

Job power comes from the contracts (the consumers federate publishes the same numbers step by step); a metrics row
at time ``T`` averages the feeder samples of ``(T - interval, T]``, each holding for one feeder step, so the job
power is averaged over the same span.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from vppfed.postprocess.figures import COLUMN_WIDTH_IN, paper_style, plt, save
from vppfed.formats.metrics import Metrics, load_if_present
from vppfed.formats.neighbourhood import RECORD_FILE, SETUP_FILE, job_power_series_kw, read_run_record

log = logging.getLogger(__name__)


def _job_power(record: dict, households: list[str], metrics: Metrics, step_s: float) -> np.ndarray:
    """Job power per household (rows) averaged like the metrics rows (columns), kW."""
    contracts = record["contracts"] + record.get("pending_contracts", [])
    times = metrics.times.astype(float)
    interval = float(np.diff(times).min()) if times.size > 1 else step_s
    # samples at T - interval + step ... T, each holding for one step: [T - interval + step, T + step)
    edges = np.concatenate([[times[0] - interval + step_s], times + step_s])
    return job_power_series_kw(contracts, households, edges)


def _kw_15min(per_slot_wh: list[float], slot_s: float) -> tuple[np.ndarray, np.ndarray]:
    k = max(1, int(round(900.0 / slot_s)))
    wh = np.asarray(per_slot_wh, dtype=float)
    n = wh.size // k
    energy = wh[:n * k].reshape(n, k).sum(axis=1)
    return energy / 1000.0 / (k * slot_s / 3600.0), (np.arange(n) + 0.5) * k * slot_s / 3600.0


def feeder_load(record: dict, setup: dict, run_dir: Path, out_dir: Path) -> list[Path]:
    """Feeder load with and without the jobs (kW) over PV predicted vs measured at the feeder (kW)."""
    sub = load_if_present(run_dir, "substation")
    if sub is None or "real_power_avg" not in sub.columns:
        return []
    households = list(setup["houses"])
    jobs = _job_power(record, households, sub, float(setup["feeder"]["lead_s"])).sum(axis=0)
    load = np.nansum(sub.column("real_power_avg"), axis=1) / 1000.0
    hours = sub.hours()
    slot = float(record["slot_s"])
    with paper_style():
        fig, (ax_l, ax_p) = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 3.6), sharex=True)
        ax_l.plot(hours, load, color="tab:blue", label="feeder load")
        ax_l.plot(hours, load - jobs, color="tab:gray", lw=0.8, label="without the jobs")
        ax_l.fill_between(hours, load - jobs, load, color="tab:red", alpha=0.35, lw=0,
                          label=f"jobs of {len(households)} households")
        ax_l.set_ylabel("real power (kW)")
        ax_l.legend(frameon=False, loc="upper left")
        for part, label, style in ((record, "PV predicted", "--"), (record["feeder"], "PV at the feeder", "-")):
            kw, h = _kw_15min(part["profiles"]["production_wh"], slot)
            ax_p.plot(h, kw, ls=style, color="tab:orange", label=label)
        kw, h = _kw_15min(record["feeder"]["profiles"]["pv_wh"], slot)
        ax_p.plot(h, kw, color="tab:green", label="jobs served by PV")
        ax_p.set_ylabel("producers' PV (kW)")
        ax_p.set_xlabel(f"time from {sub.start_time[:16]} (h)")
        ax_p.set_xlim(0, hours[-1] if len(hours) else 1)
        ax_p.legend(frameon=False, loc="upper left")
        return save(fig, out_dir, "neighbourhood_feeder_load")


def feeder_houses(record: dict, setup: dict, run_dir: Path, out_dir: Path) -> list[Path]:
    """Per household: total load of its feeder house and the job power it was given, kW."""
    m = load_if_present(run_dir, "house")
    if m is None or "total_load_avg" not in m.columns:
        return []
    households = [h for h in setup["houses"] if setup["feeder"]["houses"].get(h) in m.uids]
    if not households:
        return []
    jobs = _job_power(record, households, m, float(setup["feeder"]["lead_s"]))
    total = m.column("total_load_avg")
    cols = 3 if len(households) > 4 else 2
    rows = int(np.ceil(len(households) / cols))
    with paper_style():
        fig, axes = plt.subplots(rows, cols, figsize=(COLUMN_WIDTH_IN * 2, 1.3 * rows + 0.4), sharex=True,
                                 sharey=True, squeeze=False)
        for i, (ax, household) in enumerate(zip(axes.flat, households)):
            house = setup["feeder"]["houses"][household]
            ax.plot(m.hours(), total[:, m.uids.index(house)], color="tab:blue", label="house total load")
            ax.plot(m.hours(), jobs[i], color="tab:red", label="jobs")
            ax.set_title(f"household {household} on {house}", pad=2)
        for ax in axes.flat[len(households):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("time (h)")
        for ax in axes[:, 0]:
            ax.set_ylabel("kW")
        axes.flat[0].legend(frameon=False, fontsize=6)
        return save(fig, out_dir, "neighbourhood_feeder_houses")


def plot_run(run_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Hook of ``vppfed plot``: the feeder figures of a neighbourhood run beside a feeder (else nothing)."""
    run_dir = Path(run_dir)
    setup_path = run_dir / SETUP_FILE
    if not setup_path.exists():
        return []
    setup = json.loads(setup_path.read_text(encoding="utf-8"))
    if not setup.get("feeder"):
        return []
    record = read_run_record(run_dir)
    if not record or "feeder" not in record:
        return []
    out = Path(out_dir) if out_dir else run_dir / "figures"
    return feeder_load(record, setup, run_dir, out) + feeder_houses(record, setup, run_dir, out)
