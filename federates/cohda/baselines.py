"""Centralised baselines on the same instance: 1-opt local search (COHDA's yardstick) and a HiGHS MILP."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from vppfed.federates.cohda.instance import Instance
from vppfed.federates.cohda.objectives import Objective

log = logging.getLogger(__name__)


@dataclass
class BaselineResult:
    """A baseline's selection, its L1 distance ``D`` (kW), wall seconds and solver details."""

    name: str
    selection: np.ndarray
    D: float
    seconds: float
    detail: dict


def one_opt(schedules: np.ndarray, objective: Objective, init: np.ndarray, max_sweeps: int = 1000) -> BaselineResult:
    """Best-response sweeps in agent order from ``init`` until no single agent can improve (a 1-opt point).

    Each agent's M options are scored in one numpy expression from the running aggregate.
    """
    t0 = time.perf_counter()
    n = schedules.shape[0]
    sel = np.array(init, dtype=np.int64)
    x = schedules[np.arange(n), sel].sum(axis=0)
    cur = float(objective.evaluate(x))
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        improved = False
        for i in range(n):
            others = x - schedules[i, sel[i]]
            vals = objective.evaluate(others + schedules[i])
            b = int(np.argmin(vals))
            if vals[b] < cur - 1e-9 * max(1.0, abs(cur)):
                sel[i] = b
                x = others + schedules[i, b]
                cur = float(vals[b])
                improved = True
        if not improved:
            break
    total = schedules[np.arange(n), sel].sum(axis=0)
    return BaselineResult("one_opt", sel, float(objective.evaluate(total)), time.perf_counter() - t0,
                          {"sweeps": sweeps})


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 (C-level prints) for the duration: benchmark stdout must stay JSON lines."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def milp(instance: Instance, time_limit: float = 60.0, threads: int = 1) -> BaselineResult:
    """Exact MILP for the weighted L1 objective, solved by HiGHS within ``time_limit`` seconds.

    Variables: binary ``x_ij`` (agent i takes schedule j) and ``d_t >= 0``; rows ``sum_j x_ij = 1`` and
    ``d_t >= +-(target_t - sum_ij s_ijt x_ij)``; minimise ``sum_t w_t d_t``. Returns the incumbent at the limit.
    """
    import highspy

    t0 = time.perf_counter()
    s = instance.schedules
    n, m, t = s.shape
    w = np.ones(t) if instance.weights is None else instance.weights
    nx = n * m
    with _quiet_stdout():  # HiGHS prints its banner on construction, before output_flag can be set
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    # no "threads" option: HiGHS keeps one global thread pool per process, and asking a second solver for another
    # size makes run() fail (measured: after any other HiGHS solve in the process, D came back 449.8 instead of 0)
    h.setOptionValue("random_seed", 0)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = nx + t
    lp.col_cost_ = np.concatenate([np.zeros(nx), w])
    lp.col_lower_ = np.zeros(nx + t)
    lp.col_upper_ = np.concatenate([np.ones(nx), np.full(t, inf)])
    # rows: n assignment rows, then t rows  sum s x + d >= target, then t rows  sum s x - d <= target
    cols_x = s.reshape(nx, t)  # column ij has coefficient s_ijt in time row t
    starts, index, value = [], [], []
    pos = 0
    for c in range(nx):
        starts.append(pos)
        col = cols_x[c]
        nz = np.flatnonzero(col)
        idx = np.concatenate([[c // m], n + nz, n + t + nz])
        val = np.concatenate([[1.0], col[nz], col[nz]])
        index.append(idx)
        value.append(val)
        pos += idx.size
    for k in range(t):
        starts.append(pos)
        index.append(np.array([n + k, n + t + k]))
        value.append(np.array([1.0, -1.0]))
        pos += 2
    starts.append(pos)
    lp.num_row_ = n + 2 * t
    lp.row_lower_ = np.concatenate([np.ones(n), instance.target, np.full(t, -inf)])
    lp.row_upper_ = np.concatenate([np.ones(n), np.full(t, inf), instance.target])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.concatenate(index).astype(np.int32)
    lp.a_matrix_.value_ = np.concatenate(value)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * nx + [highspy.HighsVarType.kContinuous] * t
    with _quiet_stdout():
        h.passModel(lp)
        h.run()
    status = h.modelStatusToString(h.getModelStatus())
    sol = np.asarray(h.getSolution().col_value)
    if sol.size < nx:
        return BaselineResult("milp", instance.init_selection(), instance.distance(instance.init_selection()),
                              time.perf_counter() - t0, {"status": status, "incumbent": False})
    sel = sol[:nx].reshape(n, m).argmax(axis=1)
    info = h.getInfo()
    return BaselineResult("milp", sel, instance.distance(sel), time.perf_counter() - t0,
                          {"status": status, "incumbent": True, "mip_gap": float(info.mip_gap),
                           "time_limit": time_limit})
