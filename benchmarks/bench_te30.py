"""Benchmark: the TE30-style case end to end (GridLAB-D + PYPOWER under HELICS).

Prints one JSON object: simulated hours, wall seconds, federates, steps, feeder period, machine, per-federate wall
time, and GridLAB-D alone: the same generated GLM run to the same horizon in batch (``load_glm`` then ``run``, no
HELICS, in a second copy of the case folder) as ``gridlabd_alone_s``, and ``ratio`` = wall_s / gridlabd_alone_s, the
cost of the coupling (issue 15 asks for <= 2). Compare ratios within one run (the machine is noisy and has 2 cores).

    python benchmarks/bench_te30.py --hours 48
    python benchmarks/bench_te30.py --hours 48 --feeder-step 15 --market
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vppfed.cases import case_yaml
from vppfed.configs.case import build_case
from vppfed.federates.feeder.session import SessionStats
from vppfed.launcher import Launcher


def _feeder_step(case_dir: Path, root: str) -> float | None:
    """The GridLAB-D federate's HELICS period, read from its generated config."""
    path = case_dir / f"{root}_gridlabd.json"
    return json.loads(path.read_text())["period"] if path.exists() else None


#: GridLAB-D's own batch run of a GLM in its folder, timed inside the process (load_glm + run, not the import)
_ALONE = ("import sys, time, gridlabd\n"
          "g = gridlabd.GridLabD()\n"
          "t0 = time.perf_counter()\n"
          "assert g.load_glm(sys.argv[1], workdir='.') == 0, 'load_glm failed'\n"
          "assert g.run() == 0, 'run failed'\n"
          "print(time.perf_counter() - t0)\n"
          "g.finalize()\n")


_CPU_LINE = re.compile(r": ([\d.]+) CPU s in this (?:process|thread), ([\d.]+) in its child processes")


def where_the_time_goes(run_dir: Path, names: list[str]) -> dict[str, dict[str, float]]:
    """Per federate, from its log's closing lines: CPU seconds of its process and of its children (GridLAB-D's
    worker), and for a feeder GridLAB-D's solve, read, write and pipe seconds and its worker round trips."""
    out: dict[str, dict[str, float]] = {}
    for name in names:
        log = run_dir / f"{name}.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        row: dict[str, float] = {}
        cpu = _CPU_LINE.search(text)
        if cpu:
            row.update(cpu_s=float(cpu[1]), child_cpu_s=float(cpu[2]))
        gld = SessionStats.parse_summary(text)
        if gld:
            row.update({k: gld.as_dict()[k] for k in ("steps", "solve_s", "read_s", "reads", "write_s", "round_trips",
                                                      "pipe_s")})
        out[name] = row
    return out


def gridlabd_alone_seconds(case_dir: Path, glm_name: str) -> float:
    """Seconds GridLAB-D takes to run ``glm_name`` in ``case_dir`` to its stop time in batch, in a process of its own
    (the batch floor of FACTS.md: the generated GLM's clock already stops at the case horizon)."""
    done = subprocess.run([sys.executable, "-c", _ALONE, glm_name], cwd=case_dir, capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"GridLAB-D alone failed in {case_dir}: {done.stderr.strip()[-400:]}")
    return float(done.stdout.split()[-1])


def _timed_run(runner: Path, cohost: bool) -> tuple[Any, float]:
    """Run a built case; returns its summary and the CPU seconds of every process it started (children, their
    children: the GridLAB-D worker is reaped by its federate, the federate by the launcher)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = Launcher(runner, timeout=3600, cohost=cohost).run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return summary, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=48.0, help="simulated hours (default 48)")
    parser.add_argument("--period", type=int, default=None, help="HELICS period of the case in seconds (default 15)")
    parser.add_argument("--feeder-step", type=int, default=None,
                        help="GridLAB-D solve step in seconds (feeder.step_s; te30 default 60)")
    parser.add_argument("--market", action="store_true", help="with the double-auction market")
    parser.add_argument("--case", default="te30", help="built-in case (default te30)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary folder)")
    parser.add_argument("--no-alone", action="store_true", help="skip the GridLAB-D-alone batch run")
    parser.add_argument("--compare-processes", action="store_true",
                        help="also run the case with a process per federate (as helics run starts it) and print "
                             "its wall and CPU seconds beside the co-hosted run's (vppfed run's default)")
    args = parser.parse_args(argv)
    overrides: dict = {"case.hours": args.hours}
    if args.period:
        overrides["case.period_s"] = args.period
    if args.feeder_step:
        overrides["feeder.step_s"] = args.feeder_step
    if args.market:
        overrides["market.enabled"] = True
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_te30_")) / "run"
    t0 = time.perf_counter()
    built = build_case(case_yaml(args.case), out, overrides)
    build_s = time.perf_counter() - t0
    summary, cpu_s = _timed_run(built.runner, cohost=True)
    processes = None
    if args.compare_processes:
        other = build_case(case_yaml(args.case), out.parent / f"{out.name}_processes", overrides)
        p_summary, p_cpu = _timed_run(other.runner, cohost=False)
        processes = {"wall_s": round(p_summary.wall_seconds, 2), "cpu_s": round(p_cpu, 2),
                     "federate_time": where_the_time_goes(other.directory, [f["name"] for f in p_summary.federates])}
    period = built.settings.period_s
    alone_s = None
    if not args.no_alone:
        alone_dir = out.parent / f"{out.name}_gridlabd_alone"
        alone = build_case(case_yaml(args.case), alone_dir, overrides)
        alone_s = gridlabd_alone_seconds(alone.directory, f"{alone.settings.root}.glm")
    print(json.dumps({
        "benchmark": "te30", "case": args.case, "market": args.market,
        "simulated_hours": summary.simulated_seconds / 3600.0, "wall_s": round(summary.wall_seconds, 2),
        "build_s": round(build_s, 2), "federates": len(summary.federates), "period_s": period,
        "feeder_step_s": _feeder_step(built.directory, built.settings.root),
        "steps": int(summary.simulated_seconds // period),
        "gridlabd_alone_s": None if alone_s is None else round(alone_s, 2),
        "ratio": None if not alone_s else round(summary.wall_seconds / alone_s, 2),
        "cpu_s": round(cpu_s, 2),
        "process_per_federate": processes,
        "ratio_process_per_federate": None if not (alone_s and processes) else round(processes["wall_s"] / alone_s, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "federate_wall_s": {f["name"]: round(f["wall_s"], 2) for f in summary.federates},
        "federate_time": where_the_time_goes(built.directory, [f["name"] for f in summary.federates]),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "run_dir": str(out),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
