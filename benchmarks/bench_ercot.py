"""Benchmark: scaling of the ERCOT-style multi-feeder case under HELICS broker hierarchies (issue 15, items 2-3).

One JSON object per run on stdout (and in ``OUT/bench_ercot.jsonl`` with ``--out OUT``, where ``vppfed plot OUT``
draws the scaling curves). Each run builds ``cases/ercot8`` with ``--buses F --houses-per-feeder H`` (F > 8: the
generated substation buses 9..F of the ercot8 grid) and a broker layout, runs it through the launcher in a fresh
child process (so the peak RSS of one run is not that of an earlier, larger one) and reports:

- ``wall_s_per_sim_h``: steady-state wall seconds per simulated hour, from the launcher's progress samples after
  the first granted time (start-up, i.e. GridLAB-D loading and broker connection, is ``startup_s``);
- ``cpu_s_per_sim_h``: CPU seconds of every process of the run (federates, GridLAB-D workers, brokers) per simulated
  hour (``getrusage(RUSAGE_CHILDREN)``); ``broker_cpu_share``: the brokers' part of it and ``feeder_cpu_share`` the
  feeder federates' with their GridLAB-D workers (brokers and the other federates are sampled from /proc while they
  run; the feeders are the rest); ``feeder_cpu_s_per_feeder_h``: feeder CPU per feeder per simulated hour;
- ``root_broker_cpu_s``: the root broker's part of ``broker_cpu_s`` (the one process every cross-group message of
  a hierarchy passes: the serial floor of a cluster run);
- ``peak_rss_mb``: the largest resident set of any one process of the run (``ru_maxrss`` of the children),
  ``rss_total_mb``: the sum over processes sampled at the busiest moment (what one machine must hold);
- ``gld_solve_s``: GridLAB-D's own solve seconds summed over the feeders (each feeder federate logs
  "GridLAB-D N steps, solve X s" at its end), ``gld_reads_s``/``gld_writes_s`` its property reads and writes through
  the worker pipe (wall seconds timed inside the feeder federate, so a loaded machine inflates them),
  ``gld_solve_share`` = solve / feeder CPU: the floor the coupling is measured against;
- ``steady_*``: the same CPU figures from the first grant to the last sample while every federate ran (start-up
  excluded), per simulated hour: what a long run costs;
- with ``--profile`` (``VPPFED_PROFILE_DIR``: every federate dumps a cProfile), ``helics_wait_share``: share of the
  federates' steady-state time spent inside HELICS time requests (waiting for the grant: the others' work plus
  messaging), ``helics_call_share``: share in every other HELICS data call (publish, read, is_updated), and
  ``helics_setup_s`` (registration, entering executing mode, disconnect); per federate kind too.

Layouts: ``root`` (every federate on the root broker), ``one_sub`` (all feeders under one sub-broker), ``groups``
(the case's two sub-brokers), ``per_feeder`` (one sub-broker per bus), ``three_level`` (root, region brokers, feeder
groups of 4 feeders: ``feeders.sub_brokers = ceil(F/4)``, ``feeders.region_brokers = ceil(F/16)``, at least 2 when
there are 2 groups). The machine is shared and has 2 cores: compare within one invocation; ``load_avg`` (1-minute
load before and after the run) says how busy it was.

    python benchmarks/bench_ercot.py                       # short default sweep: 1, 2, 4 feeders x 10, 100 houses, 1 h
    python benchmarks/bench_ercot.py --quick               # 1 and 2 feeders, 3 houses
    python benchmarks/bench_ercot.py --full                # 1..32 feeders x 10..1,000 houses (hours of wall time)
    python benchmarks/bench_ercot.py --feeders 16,32 --houses 10 --layouts three_level --hours 1 --out runs/bench
    python benchmarks/bench_ercot.py --feeders 1,2,4,8 --houses 10 --layouts root,groups --profile --out runs/bench
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from vppfed.cases import case_yaml
from vppfed.configs.case import build_case
from vppfed.federates.feeder.session import SessionStats
from vppfed.io import proc_stat_fields
from vppfed.launcher import Launcher

#: layout -> (feeders.sub_brokers, feeders.region_brokers) for F feeders
LAYOUTS = {"root": lambda n: (0, 0), "one_sub": lambda n: (1, 0), "groups": lambda n: (2, 0),
           "per_feeder": lambda n: (n, 0),
           "three_level": lambda n: (math.ceil(n / 4), max(math.ceil(n / 16), min(2, math.ceil(n / 4))))}
#: what ``--full`` sweeps (issue 15: feeders 1..32, houses per feeder 10..1,000)
FULL_FEEDERS, FULL_HOUSES = "1,2,4,8,16,32", "10,30,100,300,1000"
_CLK = os.sysconf("SC_CLK_TCK")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _proc_stat(pid: int) -> tuple[float, float] | None:
    """(utime + stime in s, resident MB) of a running process, from /proc."""
    fields = proc_stat_fields(pid)
    try:
        return ((int(fields[11]) + int(fields[12])) / _CLK, int(fields[21]) * _PAGE_MB) if fields else None
    except (IndexError, ValueError):
        return None


def _worker_pids(launcher: Launcher) -> dict[str, int]:
    """Children the federates recorded (``<federate>_gridlabd.pid``: GridLAB-D workers) by file stem."""
    out: dict[str, int] = {}
    pid_dir = launcher.state_dir / "pids"
    for path in pid_dir.glob("*.pid") if pid_dir.exists() else []:
        try:
            out[path.stem] = int(path.read_text().strip())
        except (OSError, ValueError):
            continue
    return out


class BrokerSampler(threading.Thread):
    """Samples, until stopped, the CPU time of the launcher's brokers and of its non-feeder federates (the last value
    before each exits), and the summed resident memory of every process of the run (its peak)."""

    def __init__(self, launcher: Launcher) -> None:
        super().__init__(daemon=True)
        self.launcher = launcher
        self.cpu: dict[int, float] = {}
        self.other_cpu: dict[int, float] = {}
        self.feeder_cpu: dict[int, float] = {}
        self.rss_peak_mb = 0.0
        #: simulated seconds reached (set by the progress callback) and the samples of the steady state:
        #: (simulated s, broker CPU s, feeder CPU s incl. GridLAB-D workers, other federates' CPU s)
        self.sim_done = 0.0
        self.samples: list[tuple[float, float, float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            records = ([self.launcher.broker] if self.launcher.broker else []) + list(self.launcher.sub_brokers)
            sim = self.sim_done
            rss = 0.0
            alive = True
            for record in records:
                stat = _proc_stat(record.popen.pid)
                if stat is not None:
                    self.cpu[record.popen.pid] = stat[0]
                    rss += stat[1]
            for record in list(self.launcher.processes):
                stat = _proc_stat(record.popen.pid)
                alive = alive and stat is not None and record.popen.poll() is None
                if stat is not None:
                    rss += stat[1]
                    (self.feeder_cpu if record.name.startswith("gld_") else self.other_cpu)[record.popen.pid] = stat[0]
            for name, pid in _worker_pids(self.launcher).items():
                stat = _proc_stat(pid)
                if stat is not None:
                    rss += stat[1]
                    self.feeder_cpu[pid] = stat[0]
            self.rss_peak_mb = max(self.rss_peak_mb, rss)
            if alive and self.launcher.processes and sim > 0:
                self.samples.append((sim, self.total, sum(self.feeder_cpu.values()), sum(self.other_cpu.values())))
            self.done.wait(0.2)

    def steady(self) -> dict[str, float] | None:
        """CPU s per simulated hour in the steady state (first sample after the first grant to the last one while
        every federate still ran): brokers, feeders (with their workers), the other federates. None: too short."""
        if len(self.samples) < 2 or self.samples[-1][0] <= self.samples[0][0]:
            return None
        (s0, b0, f0, o0), (s1, b1, f1, o1) = self.samples[0], self.samples[-1]
        hours = (s1 - s0) / 3600.0
        return {"broker": (b1 - b0) / hours, "feeder": (f1 - f0) / hours, "other": (o1 - o0) / hours,
                "sim_h": hours}

    @property
    def total(self) -> float:
        return sum(self.cpu.values())


def gridlabd_seconds(log_dir: Path) -> dict[str, Any]:
    """GridLAB-D's own time summed over the feeder federates' end-of-run lines in ``gld_*.log``."""
    steps = feeders = reads = 0
    solve = read_s = write_s = 0.0
    for path in sorted(log_dir.glob("gld_*.log")):
        found = SessionStats.parse_summary(path.read_text(encoding="utf-8", errors="replace"))
        if found:
            feeders += 1
            steps += found.steps
            solve += found.solve_s
            read_s += found.read_s
            reads += found.reads
            write_s += found.write_s
    if not feeders:
        return {}
    return {"gld_feeders_logged": feeders, "gld_steps": steps, "gld_solve_s": round(solve, 2),
            "gld_reads_s": round(read_s, 2), "gld_reads": reads, "gld_writes_s": round(write_s, 2)}


_SETUP_CALLS = ("helicsCreate", "helicsFederateEnterExecutingMode", "helicsFederateEnterInitializingMode",
                "helicsFederateDisconnect", "helicsFederateFinalize", "helicsFederateDestroy", "helicsClose")


def helics_shares(profile_dir: Path) -> dict[str, Any]:
    """Where the federates' time went, from their cProfile dumps.

    Per federate: ``setup`` = HELICS registration, entering executing mode (waiting for every federate to be
    ready, i.e. the others' start-up) and disconnecting; ``wait`` = time requests (waiting for the grant: the others'
    work and the messaging); ``call`` = every other HELICS call (publish, read, is_updated). Shares are of the time
    after setup (the steady state); ``setup_s`` is the mean setup time per federate.
    """
    totals: dict[str, list[float]] = {}
    for path in sorted(profile_dir.glob("*.prof")):
        stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
        total = sum(v[2] for v in stats.values())  # sum of own times = profiled wall time
        setup = wait = call = 0.0
        for (filename, _line, func), (_cc, _nc, _tt, _ct, callers) in stats.items():
            if not filename.replace("\\", "/").endswith("helics/capi.py") or not func.startswith("helics"):
                continue
            # time of HELICS API calls made from outside the binding (calls inside capi.py are counted once)
            outside = sum(c[3] for key, c in callers.items()
                          if not key[0].replace("\\", "/").endswith("helics/capi.py"))
            if func.startswith("helicsFederateRequestTime"):
                wait += outside
            elif func.startswith(_SETUP_CALLS):
                setup += outside
            else:
                call += outside
        kind = path.stem.split("_")[0] if "_" in path.stem else path.stem
        for key in ("all", kind):
            acc = totals.setdefault(key, [0.0, 0.0, 0.0, 0.0, 0.0])
            for i, v in enumerate((total, setup, wait, call, 1.0)):
                acc[i] += v
    out: dict[str, Any] = {}
    for key, (total, setup, wait, call, n) in totals.items():
        steady = total - setup
        if steady <= 0:
            continue
        shares = {"wait": round(wait / steady, 4), "call": round(call / steady, 4), "setup_s": round(setup / n, 2)}
        if key == "all":
            out.update(helics_wait_share=shares["wait"], helics_call_share=shares["call"],
                       helics_setup_s=shares["setup_s"])
        else:
            out.setdefault("by_kind", {})[key] = shares
    return out


def run_one(feeders: int, houses: int, layout: str, hours: float, work: Path, profile: bool) -> dict[str, Any]:
    """Build and run one size in this process; returns the JSON object of that run."""
    sub_brokers, region_brokers = LAYOUTS[layout](feeders)
    overrides = {"case.hours": hours, "bulk.buses": feeders, "feeder.houses": houses,
                 "feeders.sub_brokers": sub_brokers, "feeders.region_brokers": region_brokers}
    out = work / run_name(feeders, houses, layout, profile)
    t_build = time.monotonic()
    built = build_case(case_yaml("ercot8"), out, overrides)
    build_s = time.monotonic() - t_build
    profile_dir = out / "profiles"
    saved = os.environ.get("VPPFED_PROFILE_DIR")
    if profile:
        os.environ["VPPFED_PROFILE_DIR"] = str(profile_dir)
    else:
        os.environ.pop("VPPFED_PROFILE_DIR", None)
    samples: list[tuple[float, float]] = []
    started = time.monotonic()

    def progress(done: float, total: float) -> None:
        samples.append((time.monotonic() - started, done))
        sampler.sim_done = done

    load_before = os.getloadavg()[0]
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # a process per federate (not vppfed run's co-hosting): the CPU of brokers, feeders and the rest is told apart
    # by process; `vppfed run ercot8 --process-per-federate` and without it compare the two on wall time
    launcher = Launcher(built.runner, timeout=3600, progress=progress, cohost=False)
    sampler = BrokerSampler(launcher)
    sampler.start()
    row: dict[str, Any] = {"figure": "ercot_scaling", "feeders": feeders, "houses_per_feeder": houses,
                           "layout": layout, "sub_brokers": sub_brokers, "region_brokers": region_brokers,
                           "simulated_h": hours, "profiled": profile, "build_s": round(build_s, 2)}
    try:
        summary = launcher.run()
        row["ok"] = True
    except Exception as exc:  # noqa: BLE001 - a failed size is reported as a line, the sweep goes on
        row.update(ok=False, error=(str(exc).splitlines() or [type(exc).__name__])[0],
                   load_avg=round(load_before, 2))
        return row
    finally:
        sampler.done.set()
        sampler.join()
        if saved is None:
            os.environ.pop("VPPFED_PROFILE_DIR", None)
        else:
            os.environ["VPPFED_PROFILE_DIR"] = saved
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # every process of the run is a waited-for child or grandchild (brokers, federates, GridLAB-D workers)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    stop = summary.stop_seconds
    first = next(((w, s) for w, s in samples if s > 0), None)
    last = next((w for w, s in samples if s >= stop - 1e-6), None)
    wall = summary.wall_seconds
    if first and last and stop > first[1] and last > first[0]:
        per_h = (last - first[0]) / ((stop - first[1]) / 3600.0)
        startup = first[0] - first[1] / 3600.0 * per_h
    else:
        per_h, startup = wall / hours, float("nan")
    feeder_cpu = max(0.0, cpu - sampler.total - sum(sampler.other_cpu.values()))
    row.update(wall_s=round(wall, 2), wall_s_per_sim_h=round(per_h, 3), startup_s=round(startup, 2),
               cpu_s=round(cpu, 2), cpu_s_per_sim_h=round(cpu / hours, 3), broker_cpu_s=round(sampler.total, 2),
               broker_cpu_share=round(sampler.total / cpu, 4) if cpu > 0 else None,
               root_broker_cpu_s=round(sampler.cpu.get(launcher.broker.popen.pid, 0.0), 2) if launcher.broker else None,
               feeder_cpu_share=round(feeder_cpu / cpu, 4) if cpu > 0 else None,
               feeder_cpu_s_per_feeder_h=round(feeder_cpu / feeders / hours, 3),
               peak_rss_mb=round(usage1.ru_maxrss / 1024.0, 1), rss_total_mb=round(sampler.rss_peak_mb, 1),
               federates=len(summary.federates), brokers=1 + len(launcher.sub_brokers),
               load_avg=round(load_before, 2), load_avg_after=round(os.getloadavg()[0], 2))
    steady = sampler.steady()
    if steady:  # start-up (imports, GLM load, broker connection) excluded: what a long run costs per hour
        total = steady["broker"] + steady["feeder"] + steady["other"]
        row.update(steady_sim_h=round(steady["sim_h"], 3), steady_cpu_s_per_sim_h=round(total, 3),
                   steady_broker_cpu_share=round(steady["broker"] / total, 4) if total > 0 else None,
                   steady_feeder_cpu_s_per_feeder_h=round(steady["feeder"] / feeders, 3),
                   steady_other_cpu_s_per_sim_h=round(steady["other"], 3))
    gld = gridlabd_seconds(launcher.log_dir)
    if gld:
        gld["gld_solve_share"] = round(gld["gld_solve_s"] / feeder_cpu, 4) if feeder_cpu > 0 else None
        gld["gld_solve_s_per_feeder_h"] = round(gld["gld_solve_s"] / feeders / hours, 3)
        row.update(gld)
    if profile and profile_dir.exists():
        row.update(helics_shares(profile_dir))
    row["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    return row


def run_name(feeders: int, houses: int, layout: str, profile: bool) -> str:
    """Folder of one run under the work folder."""
    return f"f{feeders}_h{houses}_{layout}{'_prof' if profile else ''}"


def run_child(feeders: int, houses: int, layout: str, hours: float, work: Path, profile: bool) -> dict[str, Any]:
    """:func:`run_one` in a fresh Python process (its own ``RUSAGE_CHILDREN``, so peak RSS and CPU are this run's);
    a child that dies without its JSON line is reported as a failed run."""
    spec = json.dumps({"feeders": feeders, "houses": houses, "layout": layout, "hours": hours, "work": str(work),
                       "profile": profile})
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", spec], capture_output=True,
                          text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    return {"figure": "ercot_scaling", "feeders": feeders, "houses_per_feeder": houses, "layout": layout,
            "simulated_h": hours, "profiled": profile, "ok": False, "error": tail}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeders", default="1,2,4", help="feeder counts (buses; > 8: generated substation "
                                                           "buses), comma-separated (default 1,2,4)")
    parser.add_argument("--houses", default="10,100", help="houses per feeder, comma-separated (default 10,100)")
    parser.add_argument("--layouts", default="groups",
                        help=f"broker layouts ({', '.join(LAYOUTS)}); the first is crossed with every house count, "
                             "the others run at the middle house count (default: groups)")
    parser.add_argument("--hours", type=float, default=1.0,
                        help="simulated hours per run (default 1; 0: 48/feeders within 6..24 h, so every run has "
                             "10-30 s of steady state and neither the 1 s progress resolution nor the start-up "
                             "dominates)")
    parser.add_argument("--full", action="store_true",
                        help=f"the issue's sweep: feeders {FULL_FEEDERS} x houses {FULL_HOUSES} (long)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one run, in a child process
    parser.add_argument("--profile", action="store_true",
                        help="also run each feeder count once with VPPFED_PROFILE_DIR (HELICS share of the time)")
    parser.add_argument("--quick", action="store_true", help="1 and 2 feeders, 3 houses, 1 h, two layouts")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here and write bench_ercot.jsonl")
    args = parser.parse_args(argv)
    if args.one:
        spec = json.loads(args.one)
        row = run_one(spec["feeders"], spec["houses"], spec["layout"], spec["hours"], Path(spec["work"]),
                      spec["profile"])
        print(json.dumps(row), flush=True)
        return 0
    if args.full:
        args.feeders, args.houses = FULL_FEEDERS, FULL_HOUSES
    if args.quick:
        args.feeders, args.houses, args.hours, args.layouts = "1,2", "3", 1.0, "groups,root"
    feeders = [int(v) for v in args.feeders.split(",")]
    houses = [int(v) for v in args.houses.split(",")]
    layouts = [v.strip() for v in args.layouts.split(",")]
    bad = [lay for lay in layouts if lay not in LAYOUTS]
    if bad:
        parser.error(f"unknown layout {bad[0]} (layouts: {', '.join(LAYOUTS)})")
    work = args.out or Path(tempfile.mkdtemp(prefix="bench_ercot_"))
    work.mkdir(parents=True, exist_ok=True)
    jsonl = open(work / "bench_ercot.jsonl", "a", encoding="utf-8") if args.out else None
    middle = houses[(len(houses) - 1) // 2]
    plan = [(f, h, layouts[0], False) for f in feeders for h in houses]
    plan += [(f, middle, lay, False) for lay in layouts[1:] for f in feeders]
    if args.profile:
        plan += [(f, middle, layouts[0], True) for f in feeders]
    try:
        for f, h, lay, prof in plan:
            hours = args.hours or min(24.0, max(6.0, 48.0 / f))
            row = run_child(f, h, lay, hours, work, prof)
            line = json.dumps(row)
            print(line, flush=True)
            if jsonl:
                jsonl.write(line + "\n")
                jsonl.flush()
            if not args.out:
                shutil.rmtree(work / run_name(f, h, lay, prof), ignore_errors=True)
    finally:
        if jsonl:
            jsonl.close()
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
