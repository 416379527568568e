"""Benchmark: our exact (MILP) scheduler against PySSMic's scipy optimisers on the same generated neighbourhoods.

Prints one JSON object per (neighbourhood size, optimiser): time per run, self-consumption, self-sufficiency, PV and
grid energy (mean and std over runs), the MILP's limit counts (solves a node or time limit stopped: a result such a
limit decided is never silent), the PySSMic time per run when a file of measured PySSMic times is given, and machine
info with the load average. ``cpu_s_per_run`` is the process's CPU time (all threads), the fair comparison on a
shared machine. The numba kernel of the exact search is compiled (or loaded from its cache) before timing. Sizes
are numbers of jobs: the generator (seeded) makes enough houses and the first jobs in registration order are kept.
Every optimiser starts from fresh producer scores with the same batch seed, so they see the same jobs and predictions.

    python benchmarks/bench_neighbourhood.py --jobs 20 50 100 200 --runs 3 --optimizers milp,L-BFGS-B

``--pyssmic-times FILE`` reads ``{"<jobs>": seconds per run, ...}`` measured with PySSMic's own basin hopping on the
same generated folders (``--keep DIR`` writes them there), run in its own environment.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from vppfed.configs.neighbourhood_input import NeighbourhoodSpec, generate_neighbourhood
from vppfed.federates.neighbourhood.exact import warm_up
from vppfed.federates.neighbourhood.inputs import load_neighbourhood
from vppfed.federates.neighbourhood.model import Neighbourhood
from vppfed.federates.neighbourhood.runs import run_many
from vppfed.federates.neighbourhood.simulation import RunSettings

JOBS_PER_HOUSE_GUESS = 2.0


def machine() -> dict:
    """Where the numbers were measured."""
    return {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system(),
            "processor": platform.processor(), "cpus": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def neighbourhood_with_jobs(jobs: int, seed: int, folder: Path) -> tuple[Neighbourhood, int]:
    """A generated neighbourhood with exactly ``jobs`` jobs (the first in registration order) and its house count.

    Houses grow until the generator has made at least ``jobs`` jobs, so the producers and their predictions are
    those of a real generated neighbourhood of that size.
    """
    houses = max(1, int(jobs / JOBS_PER_HOUSE_GUESS))
    while True:
        path = generate_neighbourhood(NeighbourhoodSpec(name=f"bench{jobs}", seed=seed, houses=houses),
                                      folder / f"jobs{jobs}_h{houses}")
        nb = load_neighbourhood(path)
        if len(nb.jobs) >= jobs:
            return dataclasses.replace(nb, jobs=nb.jobs[:jobs]), houses
        houses = max(houses + 1, int(houses * jobs / max(len(nb.jobs), 1)))


def solver_limits(out: Path) -> dict[str, int]:
    """The scheduler's limit counts summed over the runs of a batch (from its ``run_*.json`` files)."""
    total: dict[str, int] = {}
    for path in sorted(out.glob("run_*.json")):
        for key, value in json.loads(path.read_text(encoding="utf-8")).get("solver_limits", {}).items():
            total[key] = total.get(key, 0) + int(value)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[20, 50, 100, 200], help="neighbourhood sizes (jobs)")
    parser.add_argument("--runs", type=int, default=3, help="runs per optimiser")
    parser.add_argument("--seed", type=int, default=1, help="generator and batch seed")
    parser.add_argument("--optimizers", default="milp,L-BFGS-B,SLSQP,TNC,fifty_fifty")
    parser.add_argument("--pyssmic-times", type=Path, help="JSON {jobs: PySSMic seconds per run} to print beside")
    parser.add_argument("--keep", type=Path, help="write the generated folders here instead of a temporary folder")
    parser.add_argument("--max-nodes", type=int, default=RunSettings.max_nodes,
                        help="node limit per exact search (default: the runs' default)")
    args = parser.parse_args(argv)
    pyssmic = json.loads(args.pyssmic_times.read_text(encoding="utf-8")) if args.pyssmic_times else {}
    warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        for jobs in args.jobs:
            nb, houses = neighbourhood_with_jobs(jobs, args.seed, work)
            for name in args.optimizers.split(","):
                out = Path(tmp) / f"o{jobs}{name}"
                tic, cpu0 = time.perf_counter(), time.process_time()
                summary = run_many(nb, RunSettings(optimizer=name, max_nodes=args.max_nodes), args.runs, args.seed, out)
                wall, cpu = time.perf_counter() - tic, time.process_time() - cpu0
                t = summary["totals"]
                print(json.dumps({
                    "figure": "neighbourhood_optimiser",
                    "size": {"jobs": len(nb.jobs), "houses": houses,
                             "producers": len({e.producer_id for e in nb.producer_events})},
                    "optimizer": name, "runs": args.runs, "seed": args.seed, "max_nodes": args.max_nodes,
                    "wall_s_per_run": wall / args.runs, "cpu_s_per_run": cpu / args.runs,
                    "pyssmic_s_per_run": pyssmic.get(str(jobs)),
                    "solver_limits": solver_limits(out),
                    "self_consumption": t["self_consumption"], "self_sufficiency": t["self_sufficiency"],
                    "pv_kwh": {k: (v / 1000 if isinstance(v, float) else v) for k, v in t["pv_wh"].items()},
                    "grid_kwh": {k: (v / 1000 if isinstance(v, float) else v) for k, v in t["grid_wh"].items()},
                    "machine": machine()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
