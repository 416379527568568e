"""Peak shaving: the load-threshold rule and the optimal day-ahead schedule (an LP solved by HiGHS).

Units are whatever the caller uses consistently (the tests use kW, kWh and h; the manager uses W, Wh and h).
Sign convention inside this module: ``charge`` and ``discharge`` are both >= 0; net load = load - discharge + charge.

LP (GridLAB-D devices reference §8)::

    minimise T
    s.t. L_t - d_t + c_t <= T,  d_t - c_t <= max(L_t, 0)       (no export caused by the battery)
         E_{t+1} = E_t + eta_c c_t dt - d_t dt / eta_d,  E_min <= E_t <= E_max
         0 <= c_t <= P_ch,  0 <= d_t <= P_dis

A second LP keeps the peak at T* and minimises the energy moved, so the battery does not cycle for nothing and the
schedule is unique where it matters (no simultaneous charge and discharge); small tie-breaks make it charge in the
lowest load first (PV export, the night valley) and early rather than late.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, diags, hstack, identity, vstack


@dataclass(frozen=True)
class Schedule:
    """A battery schedule over a horizon of ``n`` steps.

    Attributes
    ----------
    peak : float
        Highest net load [kW] (the LP objective T*, or the realised peak for the threshold rule).
    charge, discharge : ndarray, shape (n,)
        Charging and discharging power per step [kW], both >= 0.
    energy : ndarray, shape (n,)
        Stored energy at the end of each step [kWh].
    net : ndarray, shape (n,)
        Net load ``load - discharge + charge`` [kW].
    """

    peak: float
    charge: NDArray[np.float64]
    discharge: NDArray[np.float64]
    energy: NDArray[np.float64]
    net: NDArray[np.float64]

    @property
    def power(self) -> NDArray[np.float64]:
        """Battery output [kW], > 0 discharging (the inverter ``P_Out`` sign)."""
        return self.discharge - self.charge


def threshold_power(load: float, energy: float, dt_h: float, *, e_min: float, e_max: float, p_ch: float,
                    p_dis: float, charge_below: float, discharge_above: float, eta_c: float = 1.0,
                    eta_d: float = 1.0) -> float:
    """One step of the threshold rule: the battery output [kW] (> 0 discharge) for this ``load`` [kW].

    Discharge ``load - discharge_above`` above the upper threshold and charge ``charge_below - load`` below the lower one,
    limited by the power ratings and by the energy [kWh] available / the room left over ``dt_h`` [h].
    """
    if load > discharge_above:
        available = max(energy - e_min, 0.0) * eta_d / dt_h
        return min(load - discharge_above, p_dis, available)
    if load < charge_below:
        room = max(e_max - energy, 0.0) / (eta_c * dt_h)
        return -min(charge_below - load, p_ch, room)
    return 0.0


def threshold_rule(load: ArrayLike, dt_h: float, *, e0: float, e_max: float, p_ch: float, p_dis: float,
                   charge_below: float, discharge_above: float, e_min: float = 0.0, eta_c: float = 1.0,
                   eta_d: float = 1.0) -> Schedule:
    """Simulate the threshold rule over a load series.

    Parameters
    ----------
    load : array_like
        Load per step [kW].
    dt_h : float
        Step length [h].
    e0, e_min, e_max : float
        Initial, minimum and maximum stored energy [kWh].
    p_ch, p_dis : float
        Charge / discharge power limits [kW].
    charge_below, discharge_above : float
        Charge while the load is below the first, discharge while it is above the second [kW].
    eta_c, eta_d : float
        Charge and discharge efficiencies.

    Returns
    -------
    Schedule
        E.g. load [2, 5, 7, 4, 2], 4 kWh full, 3 kW limits, thresholds 2 / 4 -> net [2, 4, 4, 4, 2].
    """
    load = np.asarray(load, dtype=float)
    n = load.size
    charge, discharge, energy = np.zeros(n), np.zeros(n), np.zeros(n)
    e = e0
    for t in range(n):
        p = threshold_power(load[t], e, dt_h, e_min=e_min, e_max=e_max, p_ch=p_ch, p_dis=p_dis,
                            charge_below=charge_below, discharge_above=discharge_above, eta_c=eta_c, eta_d=eta_d)
        if p > 0:
            discharge[t] = p
            e -= p * dt_h / eta_d
        else:
            charge[t] = -p
            e += eta_c * -p * dt_h
        energy[t] = e
    net = load - discharge + charge
    return Schedule(float(net.max(initial=0.0)), charge, discharge, energy, net)


def optimal_schedule(load: ArrayLike, dt_h: float, *, e0: float, e_max: float, p_ch: float, p_dis: float,
                     e_min: float = 0.0, eta_c: float = 1.0, eta_d: float = 1.0, e_final: float | None = None,
                     allow_export: bool = False) -> Schedule:
    """Minimum-peak day-ahead schedule from a load forecast (LP, HiGHS through :func:`scipy.optimize.linprog`).

    Parameters
    ----------
    load : array_like
        Forecast load per step [kW].
    dt_h : float
        Step length [h].
    e0, e_min, e_max : float
        Initial, minimum and maximum stored energy [kWh].
    p_ch, p_dis : float
        Charge / discharge power limits [kW].
    eta_c, eta_d : float
        Charge and discharge efficiencies in (0, 1].
    e_final : float, optional
        Stored energy required at the end of the horizon [kWh] (at least); None leaves it free.
    allow_export : bool
        False keeps the battery from pushing power back through the substation: ``d_t - c_t <= max(L_t, 0)``.

    Returns
    -------
    Schedule
        ``peak`` is T*; e.g. [1, 1, 6, 6, 1, 7] kW, E0 = 0, E_max = 4 kWh, 2 / 3 kW -> 13/3 (13.6/3 with eta_c 0.9).

    Raises
    ------
    ValueError
        When the inputs are inconsistent or the LP is infeasible (e.g. ``e0`` outside the limits).
    """
    load = np.asarray(load, dtype=float)
    n = load.size
    if n == 0:
        raise ValueError("load forecast is empty")
    if not (e_min <= e0 <= e_max):
        raise ValueError(f"e0 = {e0} outside [e_min, e_max] = [{e_min}, {e_max}]")
    # variables x = [c_0..c_{n-1}, d_0..d_{n-1}, E_0..E_{n-1}, T] (E_t = energy at the end of step t); the energy
    # balance is one banded equality row per step, so the matrix has O(n) non-zeros and HiGHS scales to 1-min steps
    eye = identity(n, format="csr")
    zero_n = csr_matrix((n, n))
    zero_col = csr_matrix((n, 1))
    ones_col = csr_matrix(np.ones((n, 1)))
    # E_t - E_{t-1} - eta_c dt c_t + dt / eta_d d_t = 0  (E_{-1} = e0 moves to the right-hand side)
    shift = diags([np.ones(n), -np.ones(n - 1)], [0, -1], shape=(n, n), format="csr")
    a_eq = hstack([-eta_c * dt_h * eye, (dt_h / eta_d) * eye, shift, zero_col], format="csr")
    b_eq = np.zeros(n)
    b_eq[0] = e0
    rows = [hstack([eye, -eye, zero_n, -ones_col])]  # c - d - T <= -L
    rhs = [-load]
    if not allow_export:
        # d - c <= max(L, 0): the battery never pushes power back; where PV already exports (L < 0) it may only
        # charge or idle (``L - d + c >= 0`` itself would be infeasible there whenever -L exceeds P_ch)
        rows.append(hstack([-eye, eye, zero_n, zero_col]))
        rhs.append(np.maximum(load, 0.0))
    a_ub = vstack(rows, format="csr")
    b_ub = np.concatenate(rhs)
    e_last_min = e_min if e_final is None else max(e_min, e_final)
    if e_last_min > e_max:
        raise ValueError(f"e_final = {e_final} above e_max = {e_max}")
    bounds = ([(0.0, p_ch)] * n + [(0.0, p_dis)] * n + [(e_min, e_max)] * (n - 1) + [(e_last_min, e_max)]
              + [(None, None)])
    cost = np.zeros(3 * n + 1)
    cost[-1] = 1.0
    first = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if first.status != 0:
        raise ValueError(f"peak-shaving LP failed: {first.message}")
    peak = float(first.x[-1])
    # second stage: same peak (within solver tolerance), least energy moved; among those, charge where the load is
    # lowest (PV export, the night valley) and, at equal load, as early as possible (tie-breaks of 0.1 % and 0.01 %)
    bounds[-1] = (None, peak + 1e-9 * max(1.0, abs(peak)))
    spread = float(load.max() - load.min()) or 1.0
    charge_cost = 1.0 + 1e-3 * (load - load.min()) / spread + 1e-4 * np.arange(n) / n
    cost = np.concatenate([charge_cost, np.ones(n), np.zeros(n + 1)])
    second = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    x = second.x if second.status == 0 else first.x
    charge, discharge = np.clip(x[:n], 0, None), np.clip(x[n:2 * n], 0, None)
    energy = np.asarray(x[2 * n:3 * n], dtype=float)
    net = load - discharge + charge
    return Schedule(peak, charge, discharge, energy, net)


def min_peak_discharge_only(load: ArrayLike, dt_h: float, *, e_avail: float, p_dis: float,
                            tol: float = 1e-12) -> float:
    """Lowest peak [kW] reachable by discharge alone (no recharge), by bisection on T.

    Feasible when ``sum(max(0, L_t - T)) dt <= e_avail`` and ``max(L_t - T) <= p_dis``. An independent check of
    :func:`optimal_schedule` on horizons where recharging cannot help.
    """
    load = np.asarray(load, dtype=float)

    def feasible(peak: float) -> bool:
        excess = np.clip(load - peak, 0.0, None)
        return bool(excess.sum() * dt_h <= e_avail + tol and excess.max(initial=0.0) <= p_dis + tol)

    lo, hi = 0.0, float(load.max(initial=0.0))
    if feasible(lo):
        return lo
    while hi - lo > tol * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if feasible(mid) else (mid, hi)
    return hi
