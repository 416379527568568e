"""Feeder federate core speed: wall time per simulated day and where it goes (GridLAB-D solve vs reads vs writes).

Runs the core without HELICS (the HELICS cost is measured by bench_te30): a generated 30-house TE30-style feeder,
weather written into the climate each step, TESP's publications read each step, metrics sampled every 60 s.
Prints one JSON object per step size.

    python benchmarks/bench_feeder.py [--hours 6] [--houses 30] [--steps 15 60 300]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from vppfed.configs.feeder_glm import FeederSpec, write_feeder
from vppfed.configs.feeder_helics import FeederHelicsConfig
from vppfed.configs.weather import WeatherSpec, write_weather
from vppfed.formats.weather import read_weather
from vppfed.federates.feeder.core import FeederCore, build_metrics, load_gridlabd_config, make_writers, object_class_map
from vppfed.federates.feeder.session import GridlabdSession
from vppfed.federates.metrics import MetricsWriter


def run(step: int, hours: float, houses: int, minimum_timestep: int | None, sample_s: int, folder: Path) -> dict:
    stop = f"2013-07-0{1 + int(hours // 24)} {int(hours % 24):02d}:00:00"
    spec = FeederSpec(houses=houses, period_s=step, minimum_timestep_s=minimum_timestep, stop=stop)
    res = write_feeder(spec, folder, f"b{step}")
    write_weather(WeatherSpec(hours=hours), folder / "weather.dat")
    hc = FeederHelicsConfig("gld_7", step)
    hc.add_te30_defaults(res.inventory, "pypower", 7)
    cfg = load_gridlabd_config(hc.document())
    session = GridlabdSession(folder / f"b{step}.glm")
    session.open()
    metrics = build_metrics(res.inventory)
    writers = make_writers(lambda p, c: MetricsWriter(folder, p, f"b{step}", c, session.clock.start_label()), metrics)
    core = FeederCore(session, cfg, object_class=object_class_map(res.inventory.by_class()),
                      weather=read_weather(folder / "weather.dat", session.clock.start, session.clock.timezone),
                      metrics=metrics, writers=writers, sample_every_s=max(step, sample_s))
    core.start()
    published = 0
    t0 = time.perf_counter()
    try:
        for k in range(1, int(hours * 3600 // step) + 1):
            published += len(core.step(k * step))
    finally:
        wall = time.perf_counter() - t0
        core.finish()
    st = session.stats
    other = wall - st.solve_s - st.read_s - st.write_s
    return {"figure": "feeder_core_wall_per_day", "size": {"houses": houses, "step_s": step, "hours": hours,
                                                             "minimum_timestep_s": minimum_timestep,
                                                             "metrics_sample_s": max(step, sample_s)},
            "wall_s": round(wall, 3), "wall_s_per_sim_day": round(wall * 24 / hours, 2),
            "solve_s": round(st.solve_s, 3), "read_s": round(st.read_s, 3), "write_s": round(st.write_s, 3),
            "python_s": round(other, 3), "solve_share": round(st.solve_s / wall, 3),
            "read_share": round(st.read_s / wall, 3), "steps": st.steps, "reads": st.reads, "writes": st.writes,
            "ms_per_step_solve": round(1000 * st.solve_s / max(st.steps, 1), 3),
            "ms_per_read": round(1000 * st.read_s / max(st.reads, 1), 3), "published_values": published,
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=6.0, help="simulated hours per run (result scaled to a day)")
    parser.add_argument("--houses", type=int, default=30)
    parser.add_argument("--steps", type=int, nargs="+", default=[15, 60, 300])
    parser.add_argument("--minimum-timestep", type=int, default=60, help="'#set minimum_timestep' (0: none)")
    parser.add_argument("--metrics-sample", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for step in args.steps:
            print(json.dumps(run(step, args.hours, args.houses, args.minimum_timestep or None, args.metrics_sample,
                                 Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
