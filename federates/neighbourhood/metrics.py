"""Energy metrics of a run and over runs: PV vs grid energy, self-consumption, peak-to-average ratio, profiles.

Energies are physical, not PySSMic's contract labels: a producer's contracts draw from its prediction slot by slot
(one minute by default), what exceeds the prediction in a slot comes from the grid, and each contract gets its share
of the PV that was available. The PySSMic split (all energy of producer contracts as "PV", of grid contracts as
"grid") is kept as ``pv_contract_wh``/``grid_contract_wh`` for comparison.

Definitions (standard, and different from PySSMic's panel of the same name, which shows total consumption):
self-consumption = PV energy consumed in the neighbourhood / PV energy produced;
self-sufficiency = PV energy consumed / total consumption; PAR = max / mean of consumption per interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vppfed.federates.neighbourhood.model import GRID, Contract
from vppfed.federates.neighbourhood.profiles import slot_energy
from vppfed.federates.neighbourhood.simulation import RunResult

TOTAL_KEYS = ("consumption_wh", "pv_wh", "grid_wh", "production_wh", "self_consumption", "self_sufficiency",
              "pv_contract_wh", "grid_contract_wh", "par_consumption", "par_production", "n_contracts",
              "n_grid_contracts")
HOUSE_KEYS = ("consumption_wh", "pv_wh", "grid_wh", "self_sufficiency", "production_wh", "pv_supplied_wh",
              "self_consumption", "par_consumption")


def peak_to_average(per_slot_wh: np.ndarray, slots_per_interval: int) -> float:
    """Peak-to-average ratio of energy per interval (``slots_per_interval`` slots each; a partial tail is dropped).

    Returns NaN when there is no energy at all.
    """
    values = np.asarray(per_slot_wh, dtype=float)
    n = values.size // slots_per_interval
    buckets = values[:n * slots_per_interval].reshape(n, slots_per_interval).sum(axis=1)
    mean = buckets.mean() if n else 0.0
    return float(buckets.max() / mean) if mean > 0 else math.nan


def pyssmic_peak_to_average(per_minute_wh: np.ndarray, interval_min: int = 15) -> float:
    """PySSMic's PAR: ``per_minute_wh[m]`` is the energy of minute ``m`` (index 0 = minute 0); a bucket closes
    whenever ``m % interval_min == 0`` (so minute 0 is a bucket alone) and minutes after the last close are dropped.
    """
    buckets, acc = [], 0.0
    for minute, value in enumerate(np.asarray(per_minute_wh, dtype=float)):
        acc += value
        if minute % interval_min == 0:
            buckets.append(acc)
            acc = 0.0
    arr = np.asarray(buckets)
    return float(arr.max() / arr.mean()) if arr.size and arr.mean() > 0 else math.nan


@dataclass
class RunMetrics:
    """Scalars over the neighbourhood (``totals``), per house (``houses``) and per-slot profiles (Wh per slot)."""

    totals: dict[str, float]
    houses: dict[str, dict[str, float]]
    profiles: dict[str, list[float]]
    house_profiles: dict[str, dict[str, list[float]]]
    slot_s: float

    def to_dict(self) -> dict:
        """JSON-ready form (NaN becomes None)."""
        return _clean({"totals": self.totals, "houses": self.houses, "slot_s": self.slot_s,
                       "profiles": self.profiles, "house_profiles": self.house_profiles})


def _clean(obj):
    if isinstance(obj, float):
        return None if math.isnan(obj) else round(obj, 6)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def run_metrics(result: RunResult, length_s: float, houses: list[str] | None = None, slot_s: float = 60.0,
                interval_s: float = 900.0) -> RunMetrics:
    """Metrics of one run.

    Parameters
    ----------
    result : RunResult
        Fulfilled contracts and final predictions.
    length_s : float
        Length of the run, s: production, PAR and profiles cover ``[0, length_s)`` (consumption of jobs running past
        the end is counted in the energies).
    houses : list of str, optional
        Houses to report even when they have no contracts.
    slot_s : float
        Slot of the PV sharing and of the profiles, s.
    interval_s : float
        PAR interval, s.
    """
    end = max([length_s] + [c.start_s + c.profile.times_s[-1] for c in result.contracts])
    n_slots = int(math.ceil(end / slot_s))
    n_day = int(math.ceil(length_s / slot_s))
    edges = slot_s * np.arange(n_slots + 1)
    energies = {id(c): slot_energy(c.profile, c.start_s, edges) for c in result.contracts}
    production = {pid: np.diff(pred.at(edges)) for pid, pred in result.production.items()}
    local = {id(c): np.zeros(n_slots) for c in result.contracts}
    supplied = {pid: np.zeros(n_slots) for pid in production}
    by_producer: dict[str, list[Contract]] = {}
    for c in result.contracts:
        by_producer.setdefault(c.producer_id, []).append(c)
    for pid, contracts in by_producer.items():
        if pid == GRID or pid not in production:
            continue
        served = np.sum([energies[id(c)] for c in contracts], axis=0)
        used = np.minimum(served, np.maximum(production[pid], 0.0))
        share = np.divide(used, served, out=np.zeros(n_slots), where=served > 0)
        for c in contracts:
            local[id(c)] = energies[id(c)] * share
        supplied[pid] = used
    house_ids = sorted(set(houses or []) | {c.house for c in result.contracts} | set(result.producer_house.values()))
    zero = np.zeros(n_slots)
    h_cons = {h: zero.copy() for h in house_ids}
    h_local = {h: zero.copy() for h in house_ids}
    h_prod = {h: zero.copy() for h in house_ids}
    h_supp = {h: zero.copy() for h in house_ids}
    for c in result.contracts:
        h_cons[c.house] += energies[id(c)]
        h_local[c.house] += local[id(c)]
    for pid, p in production.items():
        h_prod[result.producer_house[pid]] += p
        h_supp[result.producer_house[pid]] += supplied[pid]
    cons = np.sum(list(h_cons.values()), axis=0) if house_ids else zero
    used = np.sum(list(h_local.values()), axis=0) if house_ids else zero
    prod = np.sum(list(h_prod.values()), axis=0) if house_ids else zero
    per_par = max(1, int(round(interval_s / slot_s)))
    consumption_wh = float(sum(c.energy_wh for c in result.contracts))
    pv_wh = float(used.sum())
    production_wh = float(prod[:n_day].sum())
    totals = {
        "consumption_wh": consumption_wh, "pv_wh": pv_wh, "grid_wh": consumption_wh - pv_wh,
        "production_wh": production_wh, "self_consumption": _ratio(pv_wh, production_wh),
        "self_sufficiency": _ratio(pv_wh, consumption_wh),
        "pv_contract_wh": float(sum(c.energy_wh for c in result.contracts if c.producer_id != GRID)),
        "grid_contract_wh": float(sum(c.energy_wh for c in result.contracts if c.producer_id == GRID)),
        "par_consumption": peak_to_average(cons[:n_day], per_par),
        "par_production": peak_to_average(prod[:n_day], per_par),
        "n_contracts": float(len(result.contracts)),
        "n_grid_contracts": float(sum(c.producer_id == GRID for c in result.contracts)),
    }
    per_house = {}
    for h in house_ids:
        c_wh = float(sum(c.energy_wh for c in result.contracts if c.house == h))
        l_wh = float(h_local[h].sum())
        p_wh = float(h_prod[h][:n_day].sum())
        s_wh = float(h_supp[h].sum())
        per_house[h] = {"consumption_wh": c_wh, "pv_wh": l_wh, "grid_wh": c_wh - l_wh,
                        "self_sufficiency": _ratio(l_wh, c_wh), "production_wh": p_wh, "pv_supplied_wh": s_wh,
                        "self_consumption": _ratio(s_wh, p_wh),
                        "par_consumption": peak_to_average(h_cons[h][:n_day], per_par)}
    profiles = {"production_wh": prod[:n_day].tolist(), "consumption_wh": cons[:n_day].tolist(),
                "pv_wh": used[:n_day].tolist(), "grid_wh": (cons - used)[:n_day].tolist()}
    house_profiles = {h: {"consumption_wh": h_cons[h][:n_day].tolist(), "pv_wh": h_local[h][:n_day].tolist(),
                          "production_wh": h_prod[h][:n_day].tolist()} for h in house_ids}
    return RunMetrics(totals, per_house, profiles, house_profiles, slot_s)


def summarise(runs: list[dict]) -> dict:
    """Mean, sample standard deviation, min and max over runs of every total and per-house scalar.

    ``runs`` are :meth:`RunMetrics.to_dict` outputs (None = undefined, skipped).
    """
    def stats(values: list) -> dict:
        arr = np.array([v for v in values if v is not None], dtype=float)
        if arr.size == 0:
            return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
        return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
                "min": float(arr.min()), "max": float(arr.max()), "n": int(arr.size)}

    totals = {k: stats([r["totals"].get(k) for r in runs]) for k in TOTAL_KEYS}
    houses = sorted({h for r in runs for h in r["houses"]})
    per_house = {h: {k: stats([r["houses"].get(h, {}).get(k) for r in runs]) for k in HOUSE_KEYS} for h in houses}
    profiles = {}
    for key in ("production_wh", "consumption_wh", "pv_wh", "grid_wh"):
        arr = np.array([r["profiles"][key] for r in runs], dtype=float)
        profiles[key] = {"mean": arr.mean(axis=0).tolist(),
                         "std": (arr.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros(arr.shape[1])).tolist()}
    return _clean({"runs": len(runs), "totals": totals, "houses": per_house, "profiles": profiles,
                   "slot_s": runs[0]["slot_s"] if runs else None})
