"""Bulk-grid solver timings: our power flow / DC OPF against pypower's, and the 48 h TE30 schedule cost.

Prints one JSON object per line (figure, size, machine). Figures:

- ``pf_ms``: one AC power flow on the te30 9-bus grid: ours warm-started (from the previous solution after a 0.1 %
  load change, as in a run), ours from a flat start, pypower ``runpf``.
- ``opf_ms``: one OPF: ours (HiGHS DC), pypower ``rundcopf`` (PIPS), pypower ``runopf`` (AC, what TESP's loop costs
  when ``opf_dc`` is off).
- ``schedule_s``: the core alone over TE30's 48 h schedule (power flow every 15 s, OPF every 300 s) with a feeder
  that changes every step (seeded noise on a daily profile, as GridLAB-D's load does), with the default skip
  tolerances and with skipping off; plus pypower's per-call times multiplied by the same call counts (TESP-style).

``python benchmarks/bench_bulk.py [--hours 48] [--repeat 200]``
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from pypower.api import ppoption, rundcopf, runopf, runpf
from pypower.ext2int import ext2int

from vppfed.configs.bulk_model import Te30BulkParams, build_pp_dict, write_bulk_model
from vppfed.federates.bulk.core import BulkGrid, BulkOptions
from vppfed.federates.bulk.dcopf import DcOpfSolver
from vppfed.federates.bulk.powerflow import Network, bus_types, initial_voltage, make_sbus, solve_ac
from vppfed.formats.ppcase import load_pp_case

OPT = ppoption(VERBOSE=0, OUT_ALL=0)
MACHINE = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}


def emit(figure: str, size: str, **values) -> None:
    print(json.dumps({"figure": figure, "size": size, **values, "machine": MACHINE}), flush=True)


def per_call_ms(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1e3


def te30_ppc() -> dict:
    doc = build_pp_dict(Te30BulkParams(), None)
    ppc = {k: np.array(doc[k], dtype=float) for k in ("bus", "gen", "branch", "gencost", "areas")}
    ppc.update(version="2", baseMVA=100.0)
    return ppc


def bench_pf(repeat: int) -> None:
    ppc = te30_ppc()
    i = ext2int(copy.deepcopy(ppc))
    net = Network.build(i["baseMVA"], i["bus"], i["branch"])
    ref, pv, pq = bus_types(i["bus"], i["gen"])
    sbus = make_sbus(i["baseMVA"], i["bus"], i["gen"])
    v_prev, _, _ = solve_ac(net, sbus, initial_voltage(i["bus"], i["gen"], None), ref, pv, pq)
    sbus2 = sbus * 1.001
    warm = per_call_ms(lambda: solve_ac(net, sbus2, initial_voltage(i["bus"], i["gen"], v_prev), ref, pv, pq), repeat)
    cold = per_call_ms(lambda: solve_ac(net, sbus2, initial_voltage(i["bus"], i["gen"], None), ref, pv, pq), repeat)
    pyp = per_call_ms(lambda: runpf(copy.deepcopy(ppc), OPT), max(10, repeat // 10))
    emit("pf_ms", "te30 9-bus", ours_warm=round(warm, 4), ours_cold=round(cold, 4), pypower_runpf=round(pyp, 3),
         speedup_warm=round(pyp / warm, 1))


def bench_opf(repeat: int) -> None:
    ppc = te30_ppc()
    i = ext2int(copy.deepcopy(ppc))
    net = Network.build(i["baseMVA"], i["bus"], i["branch"])
    ref, _, _ = bus_types(i["bus"], i["gen"])
    solver = DcOpfSolver()
    ours = per_call_ms(lambda: solver.solve(i["baseMVA"], i["bus"], i["gen"], i["gencost"], i["branch"], net, ref),
                       repeat)
    dc = per_call_ms(lambda: rundcopf(copy.deepcopy(ppc), OPT), max(5, repeat // 20))
    ac = per_call_ms(lambda: runopf(copy.deepcopy(ppc), OPT), 5)
    emit("opf_ms", "te30 9-bus", ours_dc_highs=round(ours, 3), pypower_rundcopf=round(dc, 2),
         pypower_runopf_ac=round(ac, 1), speedup_vs_rundcopf=round(dc / ours, 1))
    return None


def feeder_va(t: float, rng: np.random.Generator) -> complex:
    h = (t / 3600.0) % 24
    kw = 100.0 + (230.0 * math.sin(math.pi * (h - 7) / 14) if 7 <= h <= 21 else 0.0)
    kw *= 1.0 + 0.01 * rng.standard_normal()
    return complex(kw * 1e3, 0.3 * kw * 1e3)


def bench_schedule(hours: float, pf_ms: float, opf_ms: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        case = load_pp_case(write_bulk_model(Te30BulkParams(hours=hours), Path(tmp)))
    steps = int(hours * 3600 / case.dt)
    for label, opts in (("default tolerances", BulkOptions()), ("no skipping", BulkOptions(0.0, 0.0))):
        rng = np.random.default_rng(0)
        grid = BulkGrid(case, opts)
        t0 = time.perf_counter()
        grid.start()
        for k in range(1, steps + 1):
            t = k * case.dt
            grid.set_feeder_load(7, feeder_va(t, rng))
            grid.step(t)
            if k % 20 == 0:
                grid.metrics("bench")
        wall = time.perf_counter() - t0
        c = grid.counters
        emit("schedule_s", f"te30 {hours:g} h, {label}", wall_s=round(wall, 2), pf_calls=c.pf_calls,
             pf_solved=c.pf_solved, newton_iterations=c.pf_iterations, opf_calls=c.opf_calls,
             opf_solved=c.opf_solved,
             tesp_style_s=round((c.pf_calls * pf_ms + (steps // 20 + 1) * opf_ms) / 1e3, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    bench_pf(args.repeat)
    bench_opf(args.repeat)
    ppc = te30_ppc()
    pf_ms = per_call_ms(lambda: runpf(copy.deepcopy(ppc), OPT), 20)
    ppc_dc = te30_ppc()
    opf_ms = per_call_ms(lambda: rundcopf(copy.deepcopy(ppc_dc), OPT), 10)
    bench_schedule(args.hours, pf_ms, opf_ms)


if __name__ == "__main__":
    main()
