"""COHDA benchmark: negotiation on the in-process transport against centralised 1-opt and a HiGHS MILP.

Prints one JSON object per (size, method) line; no assertions on time. Instances are generated with
``vppfed.federates.cohda.instance.generate`` (mixed units, planted target: the optimum is exactly 0), so ``rel_D``
(``D / sum|target|``) is the distance from the planted target.

    /work/venv/bin/python benchmarks/bench_cohda.py --sizes 10 100 1000 10000 --schedules 10 --intervals 96
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from vppfed.federates.cohda.baselines import milp, one_opt
from vppfed.federates.cohda.inproc import InprocConfig
from vppfed.federates.cohda.instance import generate
from vppfed.federates.cohda.objectives import L1Objective
from vppfed.federates.cohda.solve import machine_info, solve


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    p.add_argument("--schedules", type=int, default=10)
    p.add_argument("--intervals", type=int, default=96)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--milp-time-limit", type=float, default=60.0, help="s; 0 skips the MILP")
    p.add_argument("--milp-max-agents", type=int, default=1000)
    p.add_argument("--wall-limit", type=float, default=110.0,
                   help="anytime stop of the negotiation after this many wall seconds")
    p.add_argument("--improve", action="store_true", help="also run COHDA + pairwise exchanges")
    args = p.parse_args(argv)
    machine = machine_info()
    for n in args.sizes:
        t0 = time.perf_counter()
        inst = generate(n, args.schedules, args.intervals, args.seed)
        base = {"figure": "cohda", "size": n, "schedules": args.schedules, "intervals": args.intervals,
                "seed": args.seed, "generate_seconds": time.perf_counter() - t0, "machine": machine}
        norm = float(np.abs(inst.target).sum())
        variants = [("cohda", False)] + ([("cohda+pairwise", True)] if args.improve else [])
        for name, improve in variants:
            res = solve(inst, seed=args.seed, improve=improve, config=InprocConfig(wall_limit=args.wall_limit))
            row = res.to_json()
            row.pop("selection")
            emit({**base, "method": name, **row})
        obj = L1Objective(inst.target)
        oo = one_opt(inst.schedules, obj, inst.init_selection())
        emit({**base, "method": "one_opt", "D": oo.D, "rel_D": oo.D / norm, "seconds": oo.seconds, **oo.detail})
        if args.milp_time_limit > 0 and n <= args.milp_max_agents:
            mi = milp(inst, args.milp_time_limit)
            emit({**base, "method": "milp", "D": mi.D, "rel_D": mi.D / norm, "seconds": mi.seconds, **mi.detail})
    return 0


if __name__ == "__main__":
    sys.exit(main())
