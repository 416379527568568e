"""Benchmark: size and build time of the HTML run report (``vppfed report``) of a 48 h te30 run.

Prints one JSON object: report bytes (and how many of them are Bokeh's JavaScript), charts, wall and CPU seconds of
the build in a warm process (best of ``--repeat``), the first build including the imports, and the wall seconds of
the command ``vppfed report`` in a fresh process. The machine is shared and noisy: CPU seconds are the steadier
number. Without ``--run`` it first runs te30 for ``--hours`` into a temporary folder (about 10 min for 48 h).

    python benchmarks/bench_report.py --run runs/te30_48
    python benchmarks/bench_report.py --hours 48
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=None, help="existing run folder (default: run te30 first)")
    parser.add_argument("--hours", type=float, default=48.0, help="simulated hours of the te30 run (default 48)")
    parser.add_argument("--repeat", type=int, default=3, help="warm builds, the best is reported (default 3)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_report_"))
    run_dir = args.run
    if run_dir is None:
        run_dir = work / "te30"
        subprocess.run([sys.executable, "-m", "vppfed.cli", "run", "te30", "--hours", str(args.hours),
                        "--no-progress", "--out", str(run_dir)], check=True, stdout=subprocess.DEVNULL)
    out = work / "report.html"

    t0, c0 = time.perf_counter(), time.process_time()
    from bokeh.resources import Resources

    from vppfed.postprocess.report import BOKEH_COMPONENTS, build_report
    from vppfed.postprocess.report_data import load_run
    from vppfed.postprocess.report_figures import build_tabs

    build_report([run_dir], out)
    first_wall, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    walls, cpus = [], []
    for _ in range(max(1, args.repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        build_report([run_dir], out)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vppfed.cli", "report", str(run_dir), "--out", str(work / "cli.html")],
                   check=True, stdout=subprocess.DEVNULL)
    cli_wall = time.perf_counter() - t0
    run = load_run(run_dir)
    _, charts = build_tabs([run])
    js_bytes = len(Resources(mode="inline", components=list(BOKEH_COMPONENTS)).render_js().encode("utf-8"))
    size = out.stat().st_size
    print(json.dumps({
        "benchmark": "report", "run_dir": str(run_dir),
        "simulated_hours": max((float(m.hours()[-1]) for m in run.families.values()), default=0.0),
        "families": sorted(run.families), "charts": charts,
        "size_bytes": size, "size_mb": round(size / 1e6, 3), "bokeh_js_bytes": js_bytes,
        "data_and_page_bytes": size - js_bytes,
        "build_wall_s": round(min(walls), 3), "build_cpu_s": round(min(cpus), 3),
        "first_build_wall_s": round(first_wall, 3), "first_build_cpu_s": round(first_cpu, 3),
        "cli_wall_s": round(cli_wall, 3),
        "limits": {"size_mb": 5.0, "build_s": 5.0},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                    "platform": platform.platform()},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
