"""Market figures from TESP-layout metrics: cleared price vs LMP, the highest bidder's bids, cumulative surpluses,
total bid quantity, and a comparison of runs (market / no market / VPP) on common axes.

Inputs per run folder: ``auction_<root>_metrics.json`` and ``controller_<root>_metrics.json`` (this package's market
federate or TESP's substation), optionally ``bus_<root>_metrics.json`` (PYPOWER, column ``LMP_P``) and
``substation_<root>_metrics.json`` (feeder, ``real_power_avg`` in W). Figures are PNG + PDF through
:mod:`vppfed.postprocess.figures` (its style, DPI and backend), sized for a journal column.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vppfed.postprocess.figures import plt, save, styled
from vppfed.formats.metrics import Metrics, find_metrics, read_metrics

logger = logging.getLogger(__name__)

#: Column width figure size (inches) and the double-height variant.
COLUMN = (3.5, 2.6)
COLUMN_TALL = (3.5, 4.6)


def _by_uid(metrics: Metrics, column: str) -> dict[str, np.ndarray]:
    """``{uid: series}`` of one column of a shared-reader :class:`Metrics`."""
    values = metrics.column(column)
    return {uid: values[:, i] for i, uid in enumerate(metrics.uids)}


@dataclass(frozen=True)
class MarketRun:
    """The market-related series of one run (hours from the start; NaN-free where the run had the data)."""

    label: str
    hours: np.ndarray
    clear_price: np.ndarray
    clearing_type: np.ndarray
    consumer_surplus: np.ndarray
    supplier_surplus: np.ndarray
    bid_hours: np.ndarray
    bid_price: dict[str, np.ndarray]
    bid_quantity: dict[str, np.ndarray]
    lmp_hours: np.ndarray | None = None
    lmp: np.ndarray | None = None
    feeder_hours: np.ndarray | None = None
    feeder_kw: np.ndarray | None = None

    @property
    def total_bid_kw(self) -> np.ndarray:
        """Sum of all controllers' bid quantities per period (kW)."""
        if not self.bid_quantity:
            return np.zeros_like(self.bid_hours)
        return np.nansum(np.vstack(list(self.bid_quantity.values())), axis=0)

    def highest_bidder(self) -> str | None:
        """Controller with the highest mean bid price (None without controllers)."""
        if not self.bid_price:
            return None
        return max(self.bid_price, key=lambda k: float(np.nanmean(self.bid_price[k])))


def load_market_run(run_dir: str | Path, label: str | None = None, bus: str | None = None) -> MarketRun:
    """Collect a run's auction, controller, bus-LMP and feeder series.

    Parameters
    ----------
    run_dir : path
        Folder with the metrics files.
    label : str, optional
        Legend label (default: the folder name).
    bus : str, optional
        PYPOWER bus uid for the LMP (default: the first bus in the file).
    """
    run_dir = Path(run_dir)
    auction_path = find_metrics(run_dir, "auction")
    if auction_path is None:
        raise FileNotFoundError(f"{run_dir}: no auction_<root>_metrics.json")
    auction = read_metrics(auction_path)
    a = {name: auction.column(name)[:, 0] for name in auction.columns}
    bid_hours = np.array([])
    bid_price: dict[str, np.ndarray] = {}
    bid_quantity: dict[str, np.ndarray] = {}
    ctl_path = find_metrics(run_dir, "controller")
    if ctl_path is not None:
        ctl = read_metrics(ctl_path)
        bid_hours = ctl.times / 3600.0
        bid_price = _by_uid(ctl, "bid_price")
        bid_quantity = _by_uid(ctl, "bid_quantity")
    lmp_hours = lmp = None
    bus_path = find_metrics(run_dir, "bus")
    if bus_path is not None:
        buses = read_metrics(bus_path)
        key = bus if bus is not None else (buses.uids[0] if buses.uids else None)
        if key in buses.uids:
            lmp_hours, lmp = buses.times / 3600.0, buses.column("LMP_P")[:, buses.uids.index(key)]
    feeder_hours = feeder_kw = None
    sub_path = find_metrics(run_dir, "substation")
    if sub_path is not None:
        sub = read_metrics(sub_path)
        if "real_power_avg" in sub.columns and sub.uids:
            feeder_hours = sub.times / 3600.0
            feeder_kw = np.nansum(sub.column("real_power_avg"), axis=1) / 1000.0
    return MarketRun(label or run_dir.name, auction.times / 3600.0, a["clearing_price"], a["clearing_type"],
                     a["consumer_surplus"], a["supplier_surplus"], bid_hours, bid_price, bid_quantity,
                     lmp_hours, lmp, feeder_hours, feeder_kw)


def _hour_axis(ax, hours: np.ndarray) -> None:
    ax.set_xlabel("time (h)")
    if hours.size:
        ax.set_xlim(0, max(float(np.nanmax(hours)), 1.0))
        step = 6 if hours.max() > 12 else 1
        ax.set_xticks(np.arange(0, hours.max() + step, step))
    ax.grid(True, alpha=0.3)


@styled
def plot_market(run_dir: str | Path, out_dir: str | Path | None = None, label: str | None = None) -> list[Path]:
    """Write the four market figures of one run; returns the written paths (PNG and PDF each)."""
    run = load_market_run(run_dir, label)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "figures"
    paths: list[Path] = []

    fig, ax = plt.subplots(figsize=COLUMN)
    ax.step(run.hours, run.clear_price, where="post", label="cleared price")
    if run.lmp is not None:
        ax.plot(run.lmp_hours, run.lmp, "--", label="LMP")
    ax.set_ylabel("price ($/kWh)")
    _hour_axis(ax, run.hours)
    ax.legend(loc="upper left")
    paths += save(fig, out, "market_price_vs_lmp")

    who = run.highest_bidder()
    if who is not None:
        fig, ax = plt.subplots(figsize=COLUMN)
        ax.step(run.bid_hours, run.bid_price[who], where="post", color="C0")
        ax.set_ylabel("bid price ($/kWh)", color="C0")
        ax2 = ax.twinx()
        ax2.spines["right"].set_visible(True)  # the paper style hides right spines; this axis lives there
        ax2.step(run.bid_hours, run.bid_quantity[who], where="post", color="C1", linestyle="--")
        ax2.set_ylabel("bid quantity (kW)", color="C1")
        ax.set_title(f"bids of {who} (highest mean bid price)")
        _hour_axis(ax, run.bid_hours)
        paths += save(fig, out, "market_highest_bidder")

    fig, ax = plt.subplots(figsize=COLUMN)
    ax.plot(run.hours, np.nancumsum(run.consumer_surplus), label="consumer")
    ax.plot(run.hours, np.nancumsum(run.supplier_surplus), label="supplier")
    ax.set_ylabel("cumulative surplus (USD)")
    _hour_axis(ax, run.hours)
    ax.legend(loc="upper left")
    paths += save(fig, out, "market_cumulative_surplus")

    if run.bid_quantity:
        fig, ax = plt.subplots(figsize=COLUMN)
        ax.step(run.bid_hours, run.total_bid_kw, where="post")
        ax.set_ylabel("total bid quantity (kW)")
        _hour_axis(ax, run.bid_hours)
        paths += save(fig, out, "market_total_bid_quantity")
    return paths


@styled
def plot_comparison(run_dirs: Sequence[str | Path], out_dir: str | Path, labels: Sequence[str] | None = None,
                    stem: str = "market_comparison") -> list[Path]:
    """Runs side by side on common axes: LMP, cleared price, total bid quantity and (when present) feeder load.

    Panels without data in any run are left out; the legend gives each run's peak of the plotted quantity.
    """
    if not 1 <= len(run_dirs) <= 4:
        raise ValueError("run_dirs: give one to four runs")
    labels = list(labels) if labels is not None else [Path(d).name for d in run_dirs]
    runs = [load_market_run(d, lab) for d, lab in zip(run_dirs, labels)]
    panels = [("LMP ($/kWh)", lambda r: (r.lmp_hours, r.lmp)),
              ("cleared price ($/kWh)", lambda r: (r.hours, r.clear_price)),
              ("total bids (kW)", lambda r: (r.bid_hours, r.total_bid_kw) if r.bid_quantity else (None, None)),
              ("feeder load (kW)", lambda r: (r.feeder_hours, r.feeder_kw))]
    panels = [(name, get) for name, get in panels if any(get(r)[1] is not None for r in runs)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(COLUMN[0], 1.5 * len(panels) + 0.6), sharex=True,
                             squeeze=False)
    for ax, (name, get) in zip(axes[:, 0], panels):
        for k, run in enumerate(runs):
            x, y = get(run)
            if y is None:
                continue
            ax.plot(x, y, color=f"C{k}", label=f"{run.label} (peak {np.nanmax(y):.3g})")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left")
    last = axes[-1, 0]
    _hour_axis(last, np.concatenate([r.hours for r in runs]))
    paths = save(fig, Path(out_dir), stem)
    return paths


def plot_run(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """The market figures of ``run_dir`` for ``vppfed plot`` (none when the run has no auction metrics)."""
    if find_metrics(run_dir, "auction") is None:
        return []
    return plot_market(run_dir, out_dir)
