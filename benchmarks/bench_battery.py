"""Battery manager cost: one manager step with and without the crash-safe state file, and the LP solve time vs horizon.

The manager runs closed around the GridLAB-D-style LI_ION plant (:class:`vppfed.federates.battery.plant.LiIonPlant`) on
a synthetic feeder load (night valley, evening peak, seeded noise), with the peak-shaving case's battery (75 kWh,
30 kW) and the day-ahead LP schedule, so each step carries a full day of forecast, measured load and schedule in its
state, as in the case. Prints one JSON object per configuration (no assertions on time).

    python benchmarks/bench_battery.py [--days 2] [--periods 60 300] [--horizons 24 96 288 1440 5760]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from vppfed.federates.battery.config import BatteryConfig
from vppfed.federates.battery.manager import BatteryManager, StepInput
from vppfed.federates.battery.peak_shaving import optimal_schedule
from vppfed.federates.battery.persistence import StateStore
from vppfed.federates.battery.plant import LiIonPlant, li_ion_ocv, ocv_table

V_NOM, E_WH, P_MAX = 480.0, 75000.0, 30000.0


def machine() -> dict:
    return {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system(),
            "cpus": os.cpu_count()}


def feeder_load(period_s: float, days: int, seed: int = 0) -> np.ndarray:
    """Feeder load [W] per period: 10 kW night, 80 kW evening peak at 18:00, seeded AR-free noise of 5 kW."""
    hours = np.arange(int(days * 86400 / period_s)) * period_s / 3600.0 % 24
    rng = np.random.default_rng(seed)
    return 10000 + 25000 * np.exp(-((hours - 7.5) / 1.5) ** 2) + 70000 * np.exp(-((hours - 18) / 2.5) ** 2) \
        + rng.normal(0.0, 5000.0, hours.size)


def config(period_s: float, forecast: list[float]) -> BatteryConfig:
    cfg = BatteryConfig(capacity_ah=E_WH / V_NOM, nominal_voltage_v=V_NOM, max_charge_w=P_MAX, max_discharge_w=P_MAX,
                        coulombic_efficiency=1.0, conversion_efficiency=0.8995, v_empty=li_ion_ocv(0.02, V_NOM),
                        v_full=li_ion_ocv(0.995, V_NOM), ocv_table=ocv_table(V_NOM), policy="schedule",
                        charge_below_w=30000.0, period_s=period_s, forecast_w=forecast, idle_rest_s=3600.0)
    cfg.validate()
    return cfg


def bench_steps(period_s: float, days: int, persist: bool, folder: Path) -> dict:
    loads = feeder_load(period_s, days)
    steps_per_day = int(86400 / period_s)
    cfg = config(period_s, list(feeder_load(period_s, days, seed=1)))
    store = StateStore.create(folder / f"s_{period_s:g}.sqlite", cfg.fingerprint(), keep_steps=64) if persist else None
    manager = BatteryManager(cfg, store)
    plant = LiIonPlant(E_WH, V_NOM, P_MAX, 0.86, 0.5)
    command, delivered = 0.0, None
    times = np.empty(len(loads))
    for k, load in enumerate(loads):
        t = (k + 1) * period_s
        if k:
            delivered, _ = plant.step(command, period_s)
        inp = StepInput(t_s=t, hour=(t / 3600.0) % 24, load_w=float(load) - (delivered or 0.0), delivered_w=delivered,
                        measured_soc=plant.soc, voltage_v=li_ion_ocv(plant.soc, V_NOM))
        t0 = time.perf_counter()
        command = manager.step(inp).command_w
        times[k] = time.perf_counter() - t0
    size_mb = None
    if store is not None:
        store.close()
        size_mb = round((folder / f"s_{period_s:g}.sqlite").stat().st_size / 1e6, 2)
    planning = times[::steps_per_day]  # the first step of each day also solves the LP
    ordinary = np.delete(times, np.arange(0, len(times), steps_per_day))
    return {"figure": "battery_manager_step", "size": {"period_s": period_s, "steps": len(loads), "days": days,
                                                         "persist": persist},
            "step_ms_median": round(1000 * float(np.median(ordinary)), 3),
            "step_ms_p95": round(1000 * float(np.percentile(ordinary, 95)), 3),
            "planning_step_ms_mean": round(1000 * float(planning.mean()), 1),
            "total_s": round(float(times.sum()), 3), "state_file_mb": size_mb, "machine": machine()}


def bench_lp(n: int, repeats: int = 3) -> dict:
    dt_h = 24.0 / n
    load = feeder_load(86400.0 / n, 1) / 1000.0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        sched = optimal_schedule(load, dt_h, e0=0.5 * 75, e_min=0.2 * 75, e_max=0.95 * 75, p_ch=30.0, p_dis=30.0,
                                 eta_c=0.8995, eta_d=0.8995)
        best = min(best, time.perf_counter() - t0)
    return {"figure": "peak_shaving_lp_solve", "size": {"horizon_steps": n, "step_min": round(dt_h * 60, 3)},
            "solve_s_best_of": round(best, 4), "repeats": repeats, "peak_kw": round(sched.peak, 3),
            "forecast_peak_kw": round(float(load.max()), 3), "machine": machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--periods", type=float, nargs="+", default=[60.0, 300.0])
    parser.add_argument("--horizons", type=int, nargs="+", default=[24, 96, 288, 1440, 5760])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for period in args.periods:
            for persist in (False, True):
                print(json.dumps(bench_steps(period, args.days, persist, Path(tmp))), flush=True)
    for n in args.horizons:
        print(json.dumps(bench_lp(n)), flush=True)


if __name__ == "__main__":
    main()
