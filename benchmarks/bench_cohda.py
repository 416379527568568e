"""COHDA benchmark: negotiation on the in-process transport against centralised 1-opt and a HiGHS MILP.

Prints one JSON object per (size, method, seed) line; no assertions on time. Instances are generated with
``vppfed.federates.cohda.instance.generate`` (mixed units, planted target: the optimum is exactly 0), so ``rel_D``
(``D / sum|target|``) is the distance from the planted target.

Methods: ``cohda`` (what ``vppfed cohda solve`` does: Hinrichs' cold start, each agent knows only itself, one
speaker, then the token refinement of :mod:`vppfed.federates.cohda.refine`), ``cohda-plain`` (the same negotiation
without the refinement), ``cohda-warm`` (every agent
starts from the instance's ``init`` selection of all agents), optionally ``cohda+pairwise``, all on the compiled
engine; ``cohda-python`` (cold start on the Python agents that also run on HELICS, up to
``--python-max-agents``); ``one_opt`` and
``milp`` (HiGHS, time limit) as baselines. A negotiation that exceeds ``--cpu-limit`` CPU seconds stops with an
anytime result (``terminated: false``). The machine is shared: every line carries ``cpu_seconds`` (this process)
next to wall ``seconds`` and the load average when the line was written. Message counts: ``messages`` is COHDA's
own step messages, ``refine.messages`` the token's, ``messages_total`` both: the one to set beside mango's
``messages`` (mango-library's COHDA has no refinement).

``--family`` picks the instance distribution: ``own`` (the generator above) or one of the planted-target families of
``benchmarks/cohda_families.py`` (``blocks``, ``walks``, ``mixed``). ``mango`` runs mango-library's COHDA on the same
instance through ``benchmarks/mango_cohda_runner.py`` in a SEPARATE interpreter that has mango-library installed
(``--mango-python`` or the environment variable ``VPPFED_MANGO_PYTHON``; skipped with a message when absent;
mango-library is never a vppfed dependency).

    /work/venv/bin/python benchmarks/bench_cohda.py --sizes 10 100 1000 10000 --schedules 10 --intervals 96
    VPPFED_MANGO_PYTHON=/work/scratch/cohda/venv-mango/bin/python python benchmarks/bench_cohda.py --sizes 100 \
        --family blocks --runs 5 --methods cohda mango milp

At 1,000 agents mango-library's COHDA does not end within an hour on this machine; ``--mango-deadline`` gives it a
CPU budget and reports its best complete candidate at the end of it (``"stopped": "deadline"``, with a per-minute
``trace``), and ``--first-run`` lets two processes share the seeds:

    python benchmarks/bench_cohda.py --sizes 1000 --family mixed --runs 5 --methods cohda mango milp \
        --mango-deadline 600 --mango-timeout 3000
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vppfed.federates.cohda.baselines import milp, one_opt
from vppfed.federates.cohda.inproc import InprocConfig
from vppfed.federates.cohda.instance import generate
from vppfed.federates.cohda.objectives import L1Objective
from vppfed.federates.cohda.solve import machine_info, solve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cohda_families import FAMILIES, make  # noqa: E402  (a benchmark module beside this script)

RUNNER = Path(__file__).resolve().parent / "mango_cohda_runner.py"


def emit(row: dict) -> None:
    row["load_avg_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(row), flush=True)


def trace_summary(trace: list[dict], norm: float) -> dict:
    """Convergence in a few numbers: first complete candidate and the points where rel_D first fell below 2x,
    1.1x the final value (messages, CPU seconds)."""
    if not trace:
        return {}
    final = trace[-1]["perf"]
    out = {"first_complete": {"messages": trace[0]["messages"], "cpu": round(trace[0]["cpu"], 3),
                              "rel_D": trace[0]["perf"] / norm}}
    for f in (2.0, 1.1):
        row = next(r for r in trace if r["perf"] <= f * final + 1e-12)
        out[f"within_{f:g}x"] = {"messages": row["messages"], "cpu": round(row["cpu"], 3)}
    return out


def run_mango(python: str, inst, seed: int, timeout: float, deadline: float | None = None) -> dict:
    """mango-library's COHDA on ``inst`` in the interpreter ``python`` (its JSON line, selection dropped).

    ``deadline`` (CPU s of the runner) makes the runner stop and report its best complete candidate then, for
    sizes where mango does not end within an hour; ``timeout`` stays the hard limit of the subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "instance.npz"
        inst.save(path)
        t0 = time.perf_counter()
        cmd = [python, str(RUNNER), str(path), str(seed)] + ([] if deadline is None else [str(deadline)])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row.pop("selection")
    row["process_seconds"] = round(time.perf_counter() - t0, 3)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    p.add_argument("--schedules", type=int, default=10)
    p.add_argument("--intervals", type=int, default=96)
    p.add_argument("--seed", type=int, default=1, help="instance seed")
    p.add_argument("--runs", type=int, default=1, help="simulator seeds 0..runs-1 per size (sizes <= 1000)")
    p.add_argument("--first-run", type=int, default=0,
                   help="first simulator seed (seeds first-run..first-run+runs-1: split long runs across processes)")
    p.add_argument("--milp-time-limit", type=float, default=60.0, help="s; 0 skips the MILP")
    p.add_argument("--milp-max-agents", type=int, default=1000)
    p.add_argument("--cpu-limit", type=float, default=110.0,
                   help="anytime stop of a negotiation after this many CPU seconds")
    p.add_argument("--methods", nargs="+", default=["cohda", "cohda-warm", "cohda-python", "one_opt", "milp"],
                   choices=["cohda", "cohda-plain", "cohda-warm", "cohda+pairwise", "cohda-python", "mango",
                            "one_opt", "milp"])
    p.add_argument("--family", default="own", choices=("own",) + FAMILIES,
                   help="instance distribution: the project's generator or a family of cohda_families.py")
    p.add_argument("--mango-python", default=os.environ.get("VPPFED_MANGO_PYTHON"),
                   help="python of a separate venv with mango-library (default $VPPFED_MANGO_PYTHON)")
    p.add_argument("--mango-timeout", type=float, default=1800.0, help="s per mango run (hard limit)")
    p.add_argument("--mango-deadline", type=float, default=None,
                   help="CPU s after which mango stops and reports its best complete candidate (anytime result)")
    p.add_argument("--python-max-agents", type=int, default=1000,
                   help="largest size for cohda-python (the Python agents of the HELICS transport, in process)")
    args = p.parse_args(argv)
    machine = machine_info()
    for n in args.sizes:
        t0 = time.perf_counter()
        if args.family == "own":
            inst = generate(n, args.schedules, args.intervals, args.seed)
        else:
            inst = make(args.family, n, args.schedules, args.intervals, args.seed)
        base = {"figure": "cohda", "family": args.family, "size": n, "schedules": args.schedules, "intervals": args.intervals,
                "instance_seed": args.seed, "generate_seconds": round(time.perf_counter() - t0, 3),
                "machine": machine}
        norm = float(np.abs(inst.target).sum())
        runs = args.runs if n <= 1000 else 1
        for method in ("cohda", "cohda-plain", "cohda-warm", "cohda+pairwise", "cohda-python"):
            if method not in args.methods or (method == "cohda-python" and n > args.python_max_agents):
                continue
            for seed in range(args.first_run, args.first_run + runs):
                res = solve(inst, seed=seed, improve=method == "cohda+pairwise", warm_start=method == "cohda-warm",
                            config=InprocConfig(cpu_limit=args.cpu_limit),
                            engine="python" if method == "cohda-python" else "compiled",
                            refine=method == "cohda")
                row = res.to_json(with_trace=True)
                row.pop("selection")
                trace = row.pop("trace")
                emit({**base, "method": method, **row, "convergence": trace_summary(trace, norm)})
        if "mango" in args.methods:
            if not args.mango_python or not Path(args.mango_python).exists():
                print("mango skipped: no interpreter with mango-library (--mango-python or VPPFED_MANGO_PYTHON)",
                      file=sys.stderr)
            else:
                for seed in range(args.first_run, args.first_run + runs):
                    row = run_mango(args.mango_python, inst, seed, args.mango_timeout, args.mango_deadline)
                    emit({**base, "method": "mango", **row})
        if "one_opt" in args.methods:
            oo = one_opt(inst.schedules, L1Objective(inst.target), inst.init_selection())
            emit({**base, "method": "one_opt", "D": oo.D, "rel_D": oo.D / norm, "seconds": oo.seconds, **oo.detail})
        if "milp" in args.methods and args.milp_time_limit > 0 and n <= args.milp_max_agents:
            mi = milp(inst, args.milp_time_limit)
            emit({**base, "method": "milp", "D": mi.D, "rel_D": mi.D / norm, "seconds": mi.seconds, **mi.detail})
    return 0


if __name__ == "__main__":
    sys.exit(main())
