"""Benchmark of the vectorised agile dispatch: N random BBB units x S steps of the phase-2 random signal.

Prints one JSON line: figure, units, steps, rules, seconds (dispatch only, portfolio build excluded), seconds per
unit-step, and machine info. The portfolio mixes 10 % buckets, 45 % batteries and 45 % bakeries like the 105-unit
reference scenario; the signal's levels scale with N so the portfolio is neither idle nor saturated.

    python benchmarks/bench_agile.py --units 1000000 --steps 100
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
    args = ap.parse_args()
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
        "machine": {"python": platform.python_version(), "processor": platform.machine(),
                    "system": platform.system(), "cpus": os.cpu_count()},
    }), flush=True)


if __name__ == "__main__":
    main()
