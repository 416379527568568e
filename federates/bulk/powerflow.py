"""AC (Newton-Raphson, polar) and DC power flow with the admittance matrix cached per network topology.

Why not ``pypower.runpf``: FACTS.md measured about 9 ms per case9 solve, most of it building small ``scipy.sparse``
matrices and case conversions at every call. Here the admittance matrices are built once per set of in-service
branches (pypower's own ``makeYbus``, so the model is identical), kept dense for small systems (dense 2n x 2n
Jacobians are microseconds below a few hundred buses) and the Newton iteration starts from the previous solution
(warm start), which usually converges in one or two iterations. Bus typing, the mismatch tolerance (1e-8 pu) and the
update of slack ``Pg``/``Qg`` follow ``runpf``/``pfsoln`` so results agree with pypower to the solver tolerance
(``tests/test_bulk_solvers.py`` checks it).

All arrays here use internal bus indices 0..nb-1 (column 0 of ``bus`` and columns 0/1 of ``branch`` hold them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from pypower.idx_brch import BR_STATUS, F_BUS, T_BUS
from pypower.idx_bus import BUS_TYPE, GS, PD, PQ, PV, QD, REF
from pypower.idx_gen import GEN_BUS, GEN_STATUS, PG, QG, QMAX, QMIN, VG
from pypower.makeBdc import makeBdc
from pypower.makeYbus import makeYbus

__all__ = ["Network", "PowerFlowResult", "bus_types", "make_sbus", "solve_ac", "solve_dc"]

#: Systems with at most this many buses use dense linear algebra.
DENSE_LIMIT = 300


@dataclass
class Network:
    """Admittance matrices of one topology (set of in-service branches), built once and reused."""

    ybus: np.ndarray | sp.csr_matrix
    yf: sp.csr_matrix
    yt: sp.csr_matrix
    bbus: sp.csr_matrix
    bf: sp.csr_matrix
    pbusinj: np.ndarray
    pfinj: np.ndarray
    dense: bool

    @classmethod
    def build(cls, base_mva: float, bus: np.ndarray, branch: np.ndarray, dense: bool | None = None) -> "Network":
        """Admittance (AC) and susceptance (DC) matrices of ``branch`` rows in service (``BR_STATUS`` > 0);
        ``dense`` None chooses dense storage up to :data:`DENSE_LIMIT` buses."""
        ybus, yf, yt = makeYbus(base_mva, bus, branch)
        bbus, bf, pbusinj, pfinj = makeBdc(base_mva, bus, branch)
        if dense is None:
            dense = bus.shape[0] <= DENSE_LIMIT
        y = ybus.toarray() if dense else ybus.tocsr()
        return cls(y, yf.tocsr(), yt.tocsr(), bbus.tocsr(), bf.tocsr(), np.asarray(pbusinj).ravel(),
                   np.asarray(pfinj).ravel(), dense)


@dataclass
class PowerFlowResult:
    """Solution of one power flow: complex bus voltages (pu), convergence, iterations, losses (MW)."""

    v: np.ndarray
    converged: bool
    iterations: int
    ploss_mw: float


def bus_types(bus: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference, PV and PQ bus indices as pypower's ``bustypes``: a PV/REF bus without an in-service generator
    counts as PQ; without a reference bus the first PV bus becomes it."""
    nb = bus.shape[0]
    has_gen = np.zeros(nb, dtype=bool)
    on = gen[:, GEN_STATUS] > 0
    has_gen[gen[on, GEN_BUS].astype(int)] = True
    btype = bus[:, BUS_TYPE]
    ref = np.flatnonzero((btype == REF) & has_gen)
    pv = np.flatnonzero((btype == PV) & has_gen)
    pq = np.flatnonzero((btype == PQ) | ~has_gen)
    if ref.size == 0:
        if pv.size == 0:
            raise ValueError("power flow: no in-service generator at a PV or reference bus")
        ref, pv = pv[:1], pv[1:]
    return ref, pv, pq


def make_sbus(base_mva: float, bus: np.ndarray, gen: np.ndarray) -> np.ndarray:
    """Net complex injection per bus in pu: in-service generation minus load (as pypower's ``makeSbus``)."""
    s = -(bus[:, PD] + 1j * bus[:, QD])
    on = gen[:, GEN_STATUS] > 0
    np.add.at(s, gen[on, GEN_BUS].astype(int), gen[on, PG] + 1j * gen[on, QG])
    return s / base_mva


def _jacobian_dense(y: np.ndarray, v: np.ndarray, pvpq: np.ndarray, pq: np.ndarray) -> np.ndarray:
    ibus = y @ v
    vnorm = v / np.abs(v)
    n = v.size
    diag = np.arange(n)
    # dS/dVm = diag(V) conj(Y diag(Vnorm)) + conj(diag(Ibus)) diag(Vnorm)
    ds_dvm = v[:, None] * np.conj(y * vnorm[None, :])
    ds_dvm[diag, diag] += np.conj(ibus) * vnorm
    # dS/dVa = j diag(V) conj(diag(Ibus) - Y diag(V))
    ds_dva = -1j * v[:, None] * np.conj(y * v[None, :])
    ds_dva[diag, diag] += 1j * v * np.conj(ibus)
    # J = [[dP/dVa, dP/dVm], [dQ/dVa, dQ/dVm]] over rows (pvpq | pq) and columns (pvpq | pq)
    rows = np.r_[pvpq, pq]
    big = np.concatenate([ds_dva[rows][:, pvpq], ds_dvm[rows][:, pq]], axis=1)
    m = pvpq.size
    jac = big.real
    jac[m:] = big[m:].imag
    return jac


def _jacobian_sparse(y: sp.csr_matrix, v: np.ndarray, pvpq: np.ndarray, pq: np.ndarray) -> sp.csr_matrix:
    from pypower.dSbus_dV import dSbus_dV

    ds_dvm, ds_dva = dSbus_dV(y, v)
    j11 = ds_dva[np.ix_(pvpq, pvpq)].real
    j12 = ds_dvm[np.ix_(pvpq, pq)].real
    j21 = ds_dva[np.ix_(pq, pvpq)].imag
    j22 = ds_dvm[np.ix_(pq, pq)].imag
    return sp.vstack([sp.hstack([j11, j12]), sp.hstack([j21, j22])], format="csr")


def solve_ac(net: Network, sbus: np.ndarray, v0: np.ndarray, ref: np.ndarray, pv: np.ndarray, pq: np.ndarray,
             tol: float = 1e-8, max_it: int = 10) -> tuple[np.ndarray, bool, int]:
    """Newton-Raphson power flow (polar), same equations and stopping rule as pypower's ``newtonpf``.

    Parameters
    ----------
    net : Network
        Cached admittance matrices.
    sbus : ndarray of complex, pu
        Specified injections.
    v0 : ndarray of complex, pu
        Start voltages; PV/reference magnitudes must already equal their set points.
    tol : float, pu
        Largest allowed active/reactive mismatch (pypower's ``PF_TOL`` default 1e-8).

    Returns
    -------
    (V, converged, iterations)
    """
    y = net.ybus
    v = v0.astype(complex).copy()
    va, vm = np.angle(v), np.abs(v)
    pvpq = np.r_[pv, pq]
    npv, npq = pv.size, pq.size
    j1, j2 = npv + npq, npv + 2 * npq

    def mismatch(v: np.ndarray) -> np.ndarray:
        mis = v * np.conj(y @ v) - sbus
        return np.r_[mis[pvpq].real, mis[pq].imag]

    f = mismatch(v)
    if np.max(np.abs(f), initial=0.0) < tol:
        return v, True, 0
    for it in range(1, max_it + 1):
        if net.dense:
            dx = -np.linalg.solve(_jacobian_dense(y, v, pvpq, pq), f)
        else:
            dx = -spla.spsolve(_jacobian_sparse(y, v, pvpq, pq).tocsc(), f)
        va[pvpq] += dx[:j1]
        vm[pq] += dx[j1:j2]
        v = vm * np.exp(1j * va)
        va, vm = np.angle(v), np.abs(v)
        f = mismatch(v)
        if np.max(np.abs(f)) < tol:
            return v, True, it
    return v, False, max_it


def solve_dc(net: Network, base_mva: float, bus: np.ndarray, gen: np.ndarray, ref: np.ndarray,
             va_ref_rad: float) -> np.ndarray:
    """DC power flow (flat magnitudes): angles from ``B theta = P``; returns complex voltages with |V| = 1."""
    p = make_sbus(base_mva, bus, gen).real - net.pbusinj - bus[:, GS] / base_mva
    nb = bus.shape[0]
    keep = np.setdiff1d(np.arange(nb), ref)
    theta = np.full(nb, va_ref_rad)
    b = net.bbus.tocsc()
    rhs = p[keep] - (b[keep][:, ref] @ np.full(ref.size, va_ref_rad))
    theta[keep] = spla.spsolve(b[keep][:, keep].tocsc(), rhs)
    return np.exp(1j * theta)


def update_generators(base_mva: float, bus: np.ndarray, gen: np.ndarray, net: Network, v: np.ndarray,
                      ref: np.ndarray) -> None:
    """Set ``QG`` of in-service generators and ``PG`` of the reference generator(s) from the solution, as
    pypower's ``pfsoln`` does (Q of a bus shared equally, then in proportion to the Q ranges). Modifies ``gen``."""
    on = np.flatnonzero(gen[:, GEN_STATUS] > 0)
    gbus = gen[on, GEN_BUS].astype(int)
    y = net.ybus
    s_inj = v * np.conj(y @ v)
    sg = s_inj[gbus]
    gen[:, QG] = 0.0
    gen[on, QG] = sg.imag * base_mva + bus[gbus, QD]
    if on.size > 1:
        nb = bus.shape[0]
        count = np.bincount(gbus, minlength=nb)
        gen[on, QG] = gen[on, QG] / count[gbus]
        qtot = np.bincount(gbus, weights=gen[on, QG], minlength=nb)
        qmin = np.bincount(gbus, weights=gen[on, QMIN], minlength=nb)
        qmax = np.bincount(gbus, weights=gen[on, QMAX], minlength=nb)
        same = qmin[gbus] == qmax[gbus]
        saved = gen[on[same], QG]
        eps = np.finfo(float).eps
        gen[on, QG] = gen[on, QMIN] + ((qtot - qmin) / (qmax - qmin + eps))[gbus] * (gen[on, QMAX] - gen[on, QMIN])
        gen[on[same], QG] = saved
    for r in ref:
        refgen = np.flatnonzero(gbus == r)
        if refgen.size == 0:
            continue
        first = on[refgen[0]]
        gen[first, PG] = s_inj[r].real * base_mva + bus[r, PD] - gen[on[refgen[1:]], PG].sum()


def branch_flows(base_mva: float, branch: np.ndarray, net: Network, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Complex power (MVA) entering each branch at its from and to ends (zero for out-of-service branches)."""
    sf = np.zeros(branch.shape[0], dtype=complex)
    st = np.zeros(branch.shape[0], dtype=complex)
    on = branch[:, BR_STATUS] > 0
    f = branch[:, F_BUS].astype(int)
    t = branch[:, T_BUS].astype(int)
    sf_all = v[f] * np.conj(net.yf @ v) * base_mva
    st_all = v[t] * np.conj(net.yt @ v) * base_mva
    sf[on], st[on] = sf_all[on], st_all[on]
    return sf, st


def initial_voltage(bus: np.ndarray, gen: np.ndarray, v_prev: np.ndarray | None) -> np.ndarray:
    """Start voltages: the previous solution if given (warm start), else the case's ``VM``/``VA``; magnitudes at
    generator buses are set to the generators' ``VG`` as ``runpf`` does."""
    from pypower.idx_bus import VA, VM

    if v_prev is None:
        v0 = bus[:, VM] * np.exp(1j * np.pi / 180.0 * bus[:, VA])
    else:
        v0 = v_prev.copy()
    on = gen[:, GEN_STATUS] > 0
    gbus = gen[on, GEN_BUS].astype(int)
    v0[gbus] = gen[on, VG] / np.abs(v0[gbus]) * v0[gbus]
    return v0
