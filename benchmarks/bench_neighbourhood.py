"""Benchmark: our MILP scheduler against PySSMic's scipy optimisers on the same generated neighbourhoods.

Prints one JSON object per (neighbourhood size, optimiser): self-consumption, self-sufficiency, PV and grid energy
(mean and std over runs), wall time per run and machine info. Every optimiser starts from fresh producer scores
with the same batch seed, so they see the same jobs and predictions.

    python benchmarks/bench_neighbourhood.py --houses 6 12 --runs 3
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from vppfed.configs.neighbourhood_input import NeighbourhoodSpec, generate_neighbourhood, load_neighbourhood
from vppfed.federates.neighbourhood.runs import run_many
from vppfed.federates.neighbourhood.simulation import RunSettings


def machine() -> dict:
    """Where the numbers were measured."""
    return {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system(),
            "processor": platform.processor(), "cpus": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--houses", type=int, nargs="+", default=[6, 12], help="neighbourhood sizes")
    parser.add_argument("--runs", type=int, default=3, help="runs per optimiser")
    parser.add_argument("--seed", type=int, default=1, help="generator and batch seed")
    parser.add_argument("--optimizers", default="milp,L-BFGS-B,SLSQP,TNC,fifty_fifty")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for houses in args.houses:
            folder = generate_neighbourhood(NeighbourhoodSpec(name=f"bench{houses}", seed=args.seed, houses=houses),
                                            Path(tmp) / f"nb{houses}")
            nb = load_neighbourhood(folder)
            for name in args.optimizers.split(","):
                tic = time.perf_counter()
                summary = run_many(nb, RunSettings(optimizer=name), args.runs, args.seed, Path(tmp) / f"o{houses}{name}")
                wall = time.perf_counter() - tic
                t = summary["totals"]
                print(json.dumps({
                    "figure": "neighbourhood_optimiser", "size": {"houses": houses, "jobs": len(nb.jobs),
                                                                   "producers": len({e.producer_id for e in
                                                                                     nb.producer_events})},
                    "optimizer": name, "runs": args.runs, "seed": args.seed,
                    "self_consumption": t["self_consumption"], "self_sufficiency": t["self_sufficiency"],
                    "pv_kwh": {k: (v / 1000 if isinstance(v, float) else v) for k, v in t["pv_wh"].items()},
                    "grid_kwh": {k: (v / 1000 if isinstance(v, float) else v) for k, v in t["grid_wh"].items()},
                    "wall_s_per_run": wall / args.runs, "machine": machine()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
