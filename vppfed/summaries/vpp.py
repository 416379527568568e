"""The line ``vppfed run`` prints after an agile-VPP case: tracking error, limits, and the market bids."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vppfed.formats.metrics import load_if_present
from vppfed.postprocess.agile_run import load_agile_run, tracking_stats

__all__ = ["summarize"]


def summarize(run_dir: Path) -> str | None:
    """One line for ``vppfed run``: tracking error and limit check of a run with VPP metrics (else None)."""
    run = load_agile_run(run_dir)
    if run is None:
        return None
    st = tracking_stats(run)
    market = _market_summary(run_dir)
    return market + (f"vpp: {st.steps} steps, {st.units} units; |signal - delivered|: mean {st.mean_abs_error:.3f} kW, "
            f"max {st.max_abs_error:.3f} kW (feasible steps: mean {st.mean_abs_error_feasible:.3f} kW over "
            f"{st.feasible_steps}); limits {'kept' if st.within_limits else 'VIOLATED'} "
            f"(worst excess {st.worst_excess:.3g})")


def _market_summary(run_dir: Path) -> str:
    """``"vpp market: ..."`` line (with a trailing newline) for a run whose VPP bid into the market, else ``""``."""
    bids = load_if_present(run_dir, "vppbid")
    if bids is None or not len(bids.times):
        return ""
    sent = bids.column("sent")[:, 0] > 0
    awarded = np.isfinite(bids.column("clear_price")[:, 0]) & sent
    net = bids.column("net")[:, 0][awarded]
    return (f"vpp market: {int(sent.sum())} bids, {int(awarded.sum())} awards (net {np.mean(net) if net.size else 0:.1f}"
            f" kW mean, {np.min(net) if net.size else 0:.1f} to {np.max(net) if net.size else 0:.1f} kW)\n")
