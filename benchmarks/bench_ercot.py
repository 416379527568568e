"""Benchmark: scaling of the ERCOT-style multi-feeder case under HELICS broker hierarchies.

One JSON object per run on stdout (and in ``OUT/bench_ercot.jsonl`` with ``--out OUT``, where ``vppfed plot OUT``
draws the scaling curves). Each run builds ``cases/ercot8`` with ``--buses F --houses-per-feeder H`` and a broker
layout, runs it through the launcher and reports:

- ``wall_s_per_sim_h``: steady-state wall seconds per simulated hour, from the launcher's progress samples after
  the first granted time (start-up, i.e. GridLAB-D loading and broker connection, is ``startup_s``);
- ``cpu_s_per_sim_h``: CPU seconds of every process of the run (federates, GridLAB-D workers, brokers) per simulated
  hour; ``broker_cpu_share``: the brokers' part of it (sampled from /proc while they run);
- with ``--profile`` (``VPPFED_PROFILE_DIR``: every federate dumps a cProfile), ``helics_wait_share``: share of the
  federates' steady-state time spent inside HELICS time requests (waiting for the grant: the others' work plus
  messaging), ``helics_call_share``: share in every other HELICS data call (publish, read, is_updated), and
  ``helics_setup_s`` (registration, entering executing mode, disconnect); per federate kind too.

Layouts: ``root`` (every federate on the root broker), ``one_sub`` (all feeders under one sub-broker), ``groups``
(the case's two sub-brokers), ``per_feeder`` (one sub-broker per bus). The machine is shared and has 2 cores: compare
within one invocation; ``load_avg`` says how busy it was.

    python benchmarks/bench_ercot.py                       # full sweep (about 20 min here)
    python benchmarks/bench_ercot.py --quick               # 1 and 2 feeders, 3 houses
    python benchmarks/bench_ercot.py --feeders 1,2,4,8 --houses 10 --layouts root,groups --profile --out runs/bench
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from vppfed.cases import case_yaml
from vppfed.configs.case import build_case
from vppfed.launcher import Launcher

LAYOUTS = {"root": lambda n: 0, "one_sub": lambda n: 1, "groups": lambda n: 2, "per_feeder": lambda n: n}
_CLK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a running process (seconds), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK
    except (OSError, IndexError, ValueError):
        return None


class BrokerSampler(threading.Thread):
    """Samples the CPU time of the launcher's brokers until stopped (the last value before a broker exits)."""

    def __init__(self, launcher: Launcher) -> None:
        super().__init__(daemon=True)
        self.launcher = launcher
        self.cpu: dict[int, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            records = ([self.launcher.broker] if self.launcher.broker else []) + list(self.launcher.sub_brokers)
            for record in records:
                value = _cpu_seconds(record.popen.pid)
                if value is not None:
                    self.cpu[record.popen.pid] = value
            self.done.wait(0.2)

    @property
    def total(self) -> float:
        return sum(self.cpu.values())


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
    """Build and run one size; returns the JSON object of that run."""
    sub_brokers = LAYOUTS[layout](feeders)
    overrides = {"case.hours": hours, "bulk.buses": feeders, "feeder.houses": houses,
                 "feeders.sub_brokers": sub_brokers}
    out = work / f"f{feeders}_h{houses}_{layout}{'_prof' if profile else ''}"
    built = build_case(case_yaml("ercot8"), out, overrides)
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

    load_before = os.getloadavg()[0]
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    launcher = Launcher(built.runner, timeout=3600, progress=progress)
    sampler = BrokerSampler(launcher)
    sampler.start()
    row: dict[str, Any] = {"figure": "ercot_scaling", "feeders": feeders, "houses_per_feeder": houses,
                           "layout": layout, "sub_brokers": sub_brokers, "simulated_h": hours, "profiled": profile}
    try:
        summary = launcher.run()
        row["ok"] = True
    except Exception as exc:  # noqa: BLE001 - a failed size is reported as a line, the sweep goes on
        row.update(ok=False, error=str(exc).splitlines()[0])
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
    row.update(wall_s=round(wall, 2), wall_s_per_sim_h=round(per_h, 3), startup_s=round(startup, 2),
               cpu_s_per_sim_h=round(cpu / hours, 3), broker_cpu_s=round(sampler.total, 2),
               broker_cpu_share=round(sampler.total / cpu, 4) if cpu > 0 else None,
               federates=len(summary.federates), load_avg=round(load_before, 2))
    if profile and profile_dir.exists():
        row.update(helics_shares(profile_dir))
    row["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeders", default="1,2,4,8", help="feeder counts (buses), comma-separated")
    parser.add_argument("--houses", default="5,10,20,40", help="houses per feeder, comma-separated")
    parser.add_argument("--layouts", default="groups,root,one_sub,per_feeder",
                        help=f"broker layouts ({', '.join(LAYOUTS)}); the first is crossed with every house count, "
                             "the others run at the middle house count")
    parser.add_argument("--hours", type=float, default=None,
                        help="simulated hours per run (default: 48/feeders within 6..24 h, so every run has 10-30 s "
                             "of steady state and neither the 1 s progress resolution nor the start-up dominates)")
    parser.add_argument("--profile", action="store_true",
                        help="also run each feeder count once with VPPFED_PROFILE_DIR (HELICS share of the time)")
    parser.add_argument("--quick", action="store_true", help="1 and 2 feeders, 3 houses, 1 h, two layouts")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here and write bench_ercot.jsonl")
    args = parser.parse_args(argv)
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
            row = run_one(f, h, lay, hours, work, prof)
            line = json.dumps(row)
            print(line, flush=True)
            if jsonl:
                jsonl.write(line + "\n")
                jsonl.flush()
            if not args.out:
                shutil.rmtree(work / f"f{f}_h{h}_{lay}{'_prof' if prof else ''}", ignore_errors=True)
    finally:
        if jsonl:
            jsonl.close()
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
