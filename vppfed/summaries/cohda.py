"""The line ``vppfed run`` prints after a COHDA feeder case: negotiation result and plan tracking."""
from __future__ import annotations

from pathlib import Path

from vppfed.postprocess.cohda_plots import load_feeder_run

__all__ = ["summarize"]


def summarize(run_dir: Path) -> str | None:
    """One line for ``vppfed run``: negotiation result and how closely the feeder followed the plan."""
    run = load_feeder_run(run_dir)
    if run is None:
        return None
    st = run.stats()
    return (f"cohda: {st['devices']} devices planned in {st['negotiation_seconds']:.2f} s ({st['messages']} messages, "
            f"terminated {st['terminated']}); |target - plan| mean {st['plan_error_kw']:.2f} kW "
            f"(uncontrolled {st['baseline_error_kw']:.2f} kW); |plan - achieved| mean {st['tracking_error_kw']:.2f} kW "
            f"over {st['intervals']} intervals")
