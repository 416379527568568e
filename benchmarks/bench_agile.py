"""Benchmark of the vectorised agile dispatch: N random BBB units x S steps of the phase-2 random signal.

Prints one JSON line: figure, units, steps, rules, seconds (dispatch only, portfolio build excluded), seconds per
unit-step, and machine info. The portfolio mixes 10 % buckets, 45 % batteries and 45 % bakeries like the 105-unit
reference scenario; the signal's levels scale with N so the portfolio is neither idle nor saturated.

    python benchmarks/bench_agile.py --units 1000000 --steps 100

With ``--case NAME`` it instead runs a built-in VPP case as HELICS federates (``vppfed run`` without the progress
bar) and prints wall seconds, simulated hours and the tracking statistics of the run:

    python benchmarks/bench_agile.py --case vpp-feeder --hours 4
    python benchmarks/bench_agile.py --case agile-1000
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from vppfed.federates.agile.fleet import AgileFleet
from vppfed.federates.agile.signal import random_signal
from vppfed.federates.agile.synthetic import random_portfolio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rules", default="strict", choices=("strict", "2015b", "2015a"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--case", default=None, help="run this built-in case as federates instead")
    ap.add_argument("--hours", type=float, default=None, help="case horizon for --case (default: the case's)")
    ap.add_argument("--out", default=None, help="run folder for --case (default: a temporary folder)")
    args = ap.parse_args()
    if args.case:
        federated(args)
        return
    portfolio = random_portfolio(args.units, args.seed, horizon=args.steps)
    # phase-2 levels 0/5/10 kW for 105 units, scaled to the portfolio size
    signal = random_signal(args.steps, args.seed + 1) * (args.units / 105.0)
    fleet = AgileFleet(portfolio, rules=args.rules)
    t0 = time.perf_counter()
    residual = 0.0
    for k in range(1, args.steps + 1):
        residual += abs(fleet.step(k, float(signal[k - 1])).residual)
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "figure": "agile_dispatch", "units": args.units, "steps": args.steps, "rules": args.rules,
        "seconds": round(seconds, 3), "us_per_unit_step": round(1e6 * seconds / (args.units * args.steps), 4),
        "sum_abs_residual": round(residual, 3),
        "machine": machine(),
    }), flush=True)


def machine() -> dict:
    return {"python": platform.python_version(), "processor": platform.machine(), "system": platform.system(),
            "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}


def federated(args: argparse.Namespace) -> None:
    """One HELICS run of a built-in case: wall time and tracking statistics (one JSON line)."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from vppfed.cases import case_yaml
    from vppfed.configs.case import build_case
    from vppfed.launcher import Launcher
    from vppfed.postprocess.agile_run import load_agile_run, tracking_stats

    with tempfile.TemporaryDirectory(prefix="bench_agile_") as tmp:
        out = Path(args.out) if args.out else Path(tmp) / args.case
        overrides = {"case.hours": args.hours} if args.hours else {}
        t0 = time.perf_counter()
        built = build_case(case_yaml(args.case), out, overrides)
        summary = Launcher(built.runner, timeout=3600).run()
        wall = time.perf_counter() - t0
        run = load_agile_run(built.directory)
        stats = dataclasses.asdict(tracking_stats(run)) if run is not None else {}
        print(json.dumps({
            "figure": "agile_federated_run", "case": args.case, "ok": summary.ok,
            "simulated_h": round(summary.simulated_seconds / 3600, 4), "wall_seconds": round(wall, 2),
            "federates": len(built.federates), "units": stats.get("units"), "steps": stats.get("steps"),
            "tracking": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in stats.items()},
            "machine": machine(),
        }), flush=True)


if __name__ == "__main__":
    main()
