"""Reader of an agile-VPP HELICS run folder: the federates' metrics as aligned arrays, and tracking statistics.

Files (written by :mod:`vppfed.federates.agile.adapter`, read with :func:`~.metrics_reader.read_metrics`):
``vpp_<root>_metrics.json`` (aggregator, one row per step), ``vppview_<root>_metrics.json`` (its view of each unit)
and ``vppunit_<root>_host<h>_metrics.json`` (each unit's own state, one file per unit host). Every row carries the
step number ``k``; arrays here are indexed by step ``k - 1`` and by unit in params order (``vpp_params.csv``), or
natural order of the unit names when the params file is absent.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vppfed.formats.metrics import Metrics, find_metrics, read_metrics

log = logging.getLogger(__name__)

UNIT_PREFIX = "vppunit"


@dataclass
class AgileRun:
    """One run's VPP metrics. Powers in kW, energies in kWh (kW·step when ``Ts_h`` is the reference's 1).

    Attributes
    ----------
    start_time : str
        The metrics' StartTime (the case start).
    step_s, Ts_h : float
        Dispatch step [s] and unit-model step [h].
    k : ndarray of int
        Step numbers 1..N.
    agg : dict of ndarray
        Aggregator columns per step (``signal``, ``planned``, ``fixed``, ``p_min``, ``p_max``, ``unmanaged`` ...).
    units : list of str
        Unit names (``Bkt-1``...).
    unit : dict of ndarray
        Per unit and step (steps x units): ``P``, ``E``, ``P_meas``, ``avail``, ``Pmin``, ``Pmax``, ``Emin``, ``Emax``.
    view : dict of ndarray or None
        The aggregator's view (steps x units): ``E``, ``P``, ``managed``, ``avail``.
    devices : dict
        Unit -> GridLAB-D device type and object, when the run's units are feeder devices.
    """

    start_time: str
    step_s: float
    Ts_h: float
    k: np.ndarray
    agg: dict[str, np.ndarray]
    units: list[str]
    unit: dict[str, np.ndarray]
    view: dict[str, np.ndarray] | None
    devices: dict[str, dict]

    @property
    def steps(self) -> int:
        return len(self.k)

    @property
    def hours(self) -> np.ndarray:
        """Start of each step [h from the case start]."""
        return (self.k - 1) * self.step_s / 3600.0

    @property
    def abstract_steps(self) -> bool:
        """True for the reference's abstract time (Ts = 1 per step): plot against k, not hours."""
        return abs(self.Ts_h - 1.0) < 1e-12

    @property
    def delivered(self) -> np.ndarray:
        """Total power the units delivered in each step [kW] (NaN where any unit's delivery is unknown)."""
        return np.sum(self.unit["P_meas"], axis=1)

    @property
    def dispatched(self) -> np.ndarray:
        """Total power the units applied or were set to in each step [kW]."""
        return np.sum(self.unit["P"], axis=1)

    def kind_mask(self, prefix: str) -> np.ndarray:
        """Units whose name starts with ``prefix`` (``Bkt``, ``Bat``, ``Bak``)."""
        return np.array([u.startswith(prefix + "-") for u in self.units], dtype=bool)


def _natural(text: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _by_step(m: Metrics, uids: list[str], columns: list[str], steps: int) -> dict[str, np.ndarray]:
    """Columns of ``m`` as (steps x uids) arrays placed by the rows' own ``k`` (or their time order)."""
    col = {c: m.column(c) for c in columns}
    uid_index = {u: i for i, u in enumerate(m.uids)}
    idx = [uid_index.get(u) for u in uids]
    if "k" in m.columns:
        kk = np.nanmax(m.column("k"), axis=1)
    else:
        kk = np.arange(1, len(m.times) + 1, dtype=np.float64)
    out = {c: np.full((steps, len(uids)), np.nan) for c in columns}
    for row, k in enumerate(kk):
        if not np.isfinite(k) or not 1 <= int(k) <= steps:
            continue
        for c in columns:
            vals = col[c][row]
            out[c][int(k) - 1] = [vals[i] if i is not None else np.nan for i in idx]
    return out


def load_agile_run(run_dir: str | Path) -> AgileRun | None:
    """Read a run folder's VPP metrics, or None when it has none (no aggregator metrics or no steps)."""
    run_dir = Path(run_dir)
    agg_path = find_metrics(run_dir, "vpp")
    if agg_path is None:
        return None
    am = read_metrics(agg_path)
    if not len(am.times):
        return None
    if "k" not in am.columns:
        log.warning("%s: no step column (written by an older vppfed); skipped", agg_path)
        return None
    steps = int(np.nanmax(am.column("k")))
    agg_cols = [c for c in am.columns]
    agg = {c: v[:, 0] for c, v in _by_step(am, ["vpp"], agg_cols, steps).items()}
    step_s = float(np.nanmax(agg["step_s"]))
    ts_h = float(np.nanmax(agg["Ts_h"]))
    unit_files = sorted(run_dir.glob(f"{UNIT_PREFIX}_*_metrics.json"), key=lambda p: _natural(p.name))
    host_metrics = [read_metrics(p) for p in unit_files]
    names: list[str] = []
    params = run_dir / "vpp_params.csv"
    if params.exists():
        from vppfed.formats.agile import read_param_names

        names = read_param_names(params)
    seen = {u for m in host_metrics for u in m.uids}
    if not names or set(names) != seen:
        names = sorted(seen, key=_natural)
    unit_cols = ["P", "E", "P_meas", "avail", "Pmin", "Pmax", "Emin", "Emax"]
    unit = {c: np.full((steps, len(names)), np.nan) for c in unit_cols}
    pos = {u: i for i, u in enumerate(names)}
    for m in host_metrics:
        part = _by_step(m, m.uids, [c for c in unit_cols if c in m.columns], steps)
        cols = [pos[u] for u in m.uids]
        for c, arr in part.items():
            unit[c][:, cols] = arr
    view = None
    view_path = find_metrics(run_dir, "vppview")
    if view_path is not None:
        vm = read_metrics(view_path)
        if len(vm.times):
            view = _by_step(vm, names, [c for c in vm.columns if c != "k"], steps)
    devices: dict[str, dict] = {}
    dev_path = run_dir / "vpp_devices.json"
    if dev_path.exists():
        devices = {d["unit"]: d for d in json.loads(dev_path.read_text(encoding="utf-8"))["devices"]}
    return AgileRun(start_time=am.start_time, step_s=step_s, Ts_h=ts_h, k=np.arange(1, steps + 1), agg=agg,
                    units=names, unit=unit, view=view, devices=devices)


def feasible_steps(run: AgileRun) -> np.ndarray:
    """Steps whose delivery is known, whose signal lay within the portfolio's feasible range as the aggregator saw it
    (``p_min <= signal <= p_max``) and in which the aggregator knew which units were available: a unit that becomes
    available (an EV coming home) takes its forced power before the aggregator hears of it."""
    sig = run.agg["signal"]
    ok = np.isfinite(run.delivered) & (sig >= run.agg["p_min"] - 1e-9) & (sig <= run.agg["p_max"] + 1e-9)
    if run.view is not None and "avail" in run.view:
        ok &= np.all((run.view["avail"] > 0) == (run.unit["avail"] > 0), axis=1)
    return ok


@dataclass(frozen=True)
class TrackingStats:
    """How well the delivered power followed the signal, and whether every unit stayed within its limits.

    Errors are ``|signal - delivered|`` [kW] over the steps whose delivery is known; *feasible* steps are those of
    :func:`feasible_steps`.
    ``worst_excess`` is the largest amount by which any unit's energy [kWh] or power [kW] passed a limit (0 if none).
    """

    steps: int
    units: int
    measured_steps: int
    mean_abs_error: float
    max_abs_error: float
    rms_error: float
    feasible_steps: int
    mean_abs_error_feasible: float
    max_abs_error_feasible: float
    signal_range: float
    worst_excess: float
    within_limits: bool


def tracking_stats(run: AgileRun, limit_tol: float = 1e-6, relative_tol: float = 1e-5) -> TrackingStats:
    """:class:`TrackingStats` of a run (limits checked on the units' own P and E).

    A limit counts as kept when no excess is above ``limit_tol + relative_tol * range`` of that unit's limit range:
    units that stand for GridLAB-D devices read their energy from the device, whose values carry rounding of that
    order (1e-5 kWh on a 13.5 kWh battery was seen), which is not a dispatch error.
    """
    err = run.agg["signal"] - run.delivered
    known = np.isfinite(err)
    feasible = feasible_steps(run)
    u = run.unit
    e_tol = limit_tol + relative_tol * np.abs(u["Emax"] - u["Emin"])
    p_tol = limit_tol + relative_tol * np.abs(u["Pmax"] - u["Pmin"])
    parts = [(u["Emin"] - u["E"], e_tol), (u["E"] - u["Emax"], e_tol), (u["Pmin"] - u["P"], p_tol),
             (u["P"] - u["Pmax"], p_tol)]
    excess = np.concatenate([np.ravel(x) for x, _ in parts])
    beyond = np.concatenate([np.ravel(x - np.broadcast_to(tol, np.shape(x))) for x, tol in parts])
    keep = np.isfinite(excess)
    excess, beyond = excess[keep], beyond[keep]
    worst = float(max(0.0, np.max(excess))) if excess.size else 0.0
    kept = bool(not beyond.size or np.max(beyond) <= 0.0)
    e, ef = np.abs(err[known]), np.abs(err[feasible])
    sig = run.agg["signal"][np.isfinite(run.agg["signal"])]
    return TrackingStats(
        steps=run.steps, units=len(run.units), measured_steps=int(known.sum()),
        mean_abs_error=float(e.mean()) if e.size else float("nan"),
        max_abs_error=float(e.max()) if e.size else float("nan"),
        rms_error=float(np.sqrt(np.mean(e ** 2))) if e.size else float("nan"),
        feasible_steps=int(feasible.sum()),
        mean_abs_error_feasible=float(ef.mean()) if ef.size else float("nan"),
        max_abs_error_feasible=float(ef.max()) if ef.size else float("nan"),
        signal_range=float(sig.max() - sig.min()) if sig.size else 0.0,
        worst_excess=worst, within_limits=kept)
