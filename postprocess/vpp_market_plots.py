"""Figure of a VPP that bids into the market: prices it bid around, its feasible range, its award and its delivery.

Inputs per run folder: ``vppbid_<root>_metrics.json`` (one row per market interval, written by the agile aggregator
in market mode) and, when present, the agile VPP's per-step metrics (delivered power measured at the devices).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vppfed.formats.metrics import load_if_present

STEM = "vpp_market"


def plot_vpp_market(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Two panels over the run: (top) cleared price with the bid's price centre and +-1 scale band; (bottom) the
    VPP's feasible range per interval, the power already in the market's load reading (baseline), the awarded signal
    and the power the devices delivered. Returns the written PNG and PDF (none without ``vppbid`` metrics)."""
    from vppfed.postprocess.figures import COLUMN_WIDTH_IN, paper_style, plt, save

    bids = load_if_present(run_dir, "vppbid")
    if bids is None or not len(bids.times):
        return []
    col = {c: bids.column(c)[:, 0] for c in bids.columns}
    hours = bids.times / 3600.0

    with paper_style():
        fig, (ax_p, ax_q) = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 4.2), sharex=True)
        centre, scale = col["price_centre"], col["price_scale"]
        ax_p.fill_between(hours, centre - scale, centre + scale, step="post", color="C0", alpha=0.2,
                          label="bid centre $\\pm$ scale")
        ax_p.step(hours, centre, where="post", color="C0", lw=0.8)
        ax_p.step(hours, col["clear_price"], where="post", color="C3", label="cleared price")
        ax_p.set_yscale("log")
        ax_p.set_ylabel("price ($/kWh)")
        ax_p.legend(loc="upper left", frameon=False)
        ax_q.fill_between(hours, col["forced"], col["max"], step="post", color="0.85", label="feasible range")
        ax_q.step(hours, col["baseline"], where="post", color="0.4", lw=0.7, label="baseline (in market load)")
        ax_q.step(hours, col["signal"], where="post", color="C1", label="award = signal")
        from vppfed.postprocess.agile_run import load_agile_run

        run = load_agile_run(run_dir)
        if run is not None and np.isfinite(run.delivered).any():
            ax_q.plot(run.hours, run.delivered, color="C2", lw=0.6, label="delivered (devices)")
        lo, hi = float(np.nanmin(col["forced"])), float(np.nanmax(col["max"]))
        ax_q.set_ylim(lo - 0.05 * (hi - lo), hi + 0.45 * (hi - lo))     # room for the legend above the data
        ax_q.set_ylabel("VPP power (kW)")
        ax_q.set_xlabel(f"time from {bids.start_time[:16]} (h)")
        ax_q.legend(loc="upper left", frameon=False, ncol=2, fontsize=6)
        if hours[-1] >= 12:
            ax_q.set_xticks(np.arange(0, hours[-1] + 1e-9, 6))
        ax_q.set_xlim(0, max(hours[-1] + bids.times[1] / 3600.0 if len(hours) > 1 else 1.0, 1e-3))
        return save(fig, Path(out_dir), STEM)


def plot_run(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """The VPP market figure for ``vppfed plot`` (none when the run's VPP did not bid)."""
    return plot_vpp_market(run_dir, out_dir)
