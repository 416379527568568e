"""Benchmark of the vectorised agile dispatch: N random BBB units x S steps of the phase-2 random signal.

Prints one JSON line per run: figure, units, steps, ``wall_s`` and ``cpu_s`` (process CPU seconds, the fairer
figure on a loaded machine) per rule set (dispatch only: the portfolio build and the compile or cache load of the
numba kernels are excluded, the latter printed as ``warmup_s``), microseconds per unit-step, the floor
measured in the same run (``argsort_floor_s`` and ``argsort_floor_cpu_s``: one ``np.argsort(kind="stable")`` of
``units`` random keys, best of three, so ``steps x floor`` is what one full sort per step costs) and machine info
with the load average. The portfolio mixes 10 % buckets, 45 % batteries and 45 % bakeries like the 105-unit
reference scenario; the signal's levels scale with N so the portfolio is neither idle nor saturated.
``--full-sort`` sorts every ordering from scratch at every step (same results; isolates what the order repair of
issue 15 item 5 saves).

    python benchmarks/bench_agile.py --units 1000000 --steps 100
    python benchmarks/bench_agile.py --units 1000000 --steps 100 --full-sort

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
from vppfed.federates.agile.kernels import warm_up
from vppfed.federates.agile.ordering import MIN_SIZE
from vppfed.federates.agile.signal import random_signal
from vppfed.federates.agile.synthetic import random_portfolio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rules", default="all", choices=("all", "strict", "2015b", "2015a"),
                    help="rule set to time (default: all three, one after the other)")
    ap.add_argument("--full-sort", action="store_true",
                    help="sort every ordering from scratch at every step (same results, no order repair)")
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
    rule_sets = ("strict", "2015b", "2015a") if args.rules == "all" else (args.rules,)
    warmup = warm_up()  # numba compile or cache load of every agile kernel, once per process
    floor = argsort_floor(args.units, args.seed)
    min_size = args.units + 1 if args.full_sort else MIN_SIZE
    wall, cpu, residual = {}, {}, {}
    for rules in rule_sets:
        fleet = AgileFleet(portfolio, rules=rules, incremental_min_size=min_size)
        total = 0.0
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(1, args.steps + 1):
            total += abs(fleet.step(k, float(signal[k - 1])).residual)
        wall[rules] = round(time.perf_counter() - t0, 3)
        cpu[rules] = round(time.process_time() - c0, 3)
        residual[rules] = round(total, 3)
    print(json.dumps({
        "figure": "agile_dispatch", "units": args.units, "steps": args.steps,
        "engine": "full_sort" if args.full_sort else "repaired_order", "wall_s": wall, "cpu_s": cpu,
        "us_per_unit_step": {r: round(1e6 * s / (args.units * args.steps), 4) for r, s in wall.items()},
        "argsort_floor_s": round(floor[0], 4), "argsort_floor_cpu_s": round(floor[1], 4), "warmup_s": round(warmup, 3),
        "sum_abs_residual": residual,
        "machine": machine(),
    }), flush=True)


def argsort_floor(n: int, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds of one stable argsort of ``n`` random float keys (best of three each): the cost of one
    full sort per step. On a loaded machine compare CPU with CPU."""
    keys = np.random.default_rng(seed).uniform(-100.0, 100.0, n)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        np.argsort(keys, kind="stable")
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    return best, best_cpu


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
