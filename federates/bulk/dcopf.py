"""DC optimal power flow as one HiGHS LP/QP, with locational marginal prices from the nodal-balance duals.

Why: pypower's ``rundcopf`` goes through its generic OPF model object and the PIPS interior-point solver (tens of
milliseconds per case9 solve); the same DC model written directly as a HiGHS problem solves in about a millisecond
and gives the same dispatch and prices (``tests/test_bulk_solvers.py`` compares them with ``rundcopf``).

Model (MW and radians; same as MATPOWER's DC OPF without angle-difference limits):

    min   sum_g c2_g Pg^2 + c1_g Pg + c0_g   (+ sum of piecewise-linear cost variables y)
    s.t.  Cg Pg - baseMVA (Bbus theta + Pbusinj) = Pd + Gs            (one row per bus; dual = LMP in $/MWh)
          |baseMVA (Bf theta + Pfinj)| <= RATE_A                      (branches with 0 < RATE_A)
          Pmin <= Pg <= Pmax,   theta_ref = VA_ref
          y_g >= m_k (Pg - p_k) + c_k                                  (each segment k of a piecewise-linear cost)

Dispatchable loads are generators with ``Pmin < 0 = Pmax`` and a convex cost, as in MATPOWER.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pypower.idx_brch import BR_STATUS, RATE_A
from pypower.idx_bus import GS, PD, VA
from pypower.idx_cost import COST, MODEL, NCOST, POLYNOMIAL, PW_LINEAR
from pypower.idx_gen import GEN_BUS, GEN_STATUS, PMAX, PMIN

from .powerflow import Network

__all__ = ["DcOpfResult", "solve_dcopf"]


@dataclass
class DcOpfResult:
    """DC OPF solution: dispatch per generator row (MW, 0 when out), LMP per bus ($/MWh), cost ($/h)."""

    success: bool
    pg: np.ndarray
    lmp: np.ndarray
    theta: np.ndarray
    cost: float
    status: str


def _new_highs():
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    # HiGHS's QP solver adds a 1e-7 proximal term by default, which moved a dispatch by 0.05 MW against rundcopf
    # where a quadratic bid meets a piecewise-linear cost; exact is affordable for OPF-sized problems
    h.setOptionValue("qp_regularization_value", 0.0)
    return h


class DcOpfSolver:
    """Holds one HiGHS instance (its start-up banner and set-up are paid once per federate)."""

    def __init__(self) -> None:
        self._highs = None

    def solve(self, base_mva: float, bus: np.ndarray, gen: np.ndarray, gencost: np.ndarray, branch: np.ndarray,
              net: Network, ref: np.ndarray) -> DcOpfResult:
        """Solve the DC OPF of the internal-index arrays; see the module docstring for the model."""
        import highspy

        if self._highs is None:
            self._highs = _new_highs()
        h = self._highs
        h.clearModel()
        nb = bus.shape[0]
        on = np.flatnonzero(gen[:, GEN_STATUS] > 0)
        ng = on.size
        cost = gencost[on]
        pwl = np.flatnonzero(cost[:, MODEL] == PW_LINEAR)
        npwl = pwl.size
        nx = nb + ng + npwl
        inf = highspy.kHighsInf

        # objective
        c = np.zeros(nx)
        q_diag = np.zeros(nx)
        offset = 0.0
        for k, row in enumerate(cost):
            if row[MODEL] == POLYNOMIAL:
                n = int(row[NCOST])
                coef = row[COST:COST + n][::-1]  # c0, c1, c2, ...
                if n > 3 and np.any(coef[3:] != 0):
                    raise ValueError("DC OPF: polynomial costs above quadratic are not supported")
                offset += coef[0] if n >= 1 else 0.0
                c[nb + k] = coef[1] if n >= 2 else 0.0
                q_diag[nb + k] = 2.0 * coef[2] if n >= 3 else 0.0
        for j, k in enumerate(pwl):
            c[nb + ng + j] = 1.0
        if np.any(q_diag < 0):
            raise ValueError("DC OPF: a quadratic cost coefficient is negative (non-convex)")

        # bounds
        lo = np.full(nx, -inf)
        hi = np.full(nx, inf)
        va_ref = bus[ref, VA] * np.pi / 180.0
        # angles enter as base·theta ("MW-radians") so that matrix entries are O(10), not O(1000): HiGHS's QP
        # solver reported primal infeasibilities after "optimality" on the unscaled model
        lo[ref], hi[ref] = base_mva * va_ref, base_mva * va_ref
        lo[nb:nb + ng] = gen[on, PMIN]
        hi[nb:nb + ng] = gen[on, PMAX]

        # nodal balance rows: -Bbus*(base*theta) + Cg*Pg = Pd + Gs + base*Pbusinj
        cg = sp.csr_matrix((np.ones(ng), (gen[on, GEN_BUS].astype(int), np.arange(ng))), shape=(nb, ng))
        a_bal = sp.hstack([-net.bbus, cg, sp.csr_matrix((nb, npwl))], format="csr")
        rhs = bus[:, PD] + bus[:, GS] + base_mva * net.pbusinj
        blocks = [a_bal]
        rlo, rhi = [rhs], [rhs]

        # branch limits
        rate = branch[:, RATE_A]
        lim = np.flatnonzero((rate > 0) & (rate < 1e10) & (branch[:, BR_STATUS] > 0))
        if lim.size:
            bf = net.bf[lim]
            blocks.append(sp.hstack([bf, sp.csr_matrix((lim.size, ng + npwl))], format="csr"))
            shift = base_mva * net.pfinj[lim]
            rlo.append(-rate[lim] - shift)
            rhi.append(rate[lim] - shift)

        # piecewise-linear epigraph rows: m_k Pg - y <= m_k p_k - c_k
        for j, k in enumerate(pwl):
            n = int(cost[k, NCOST])
            pts = cost[k, COST:COST + 2 * n].reshape(n, 2)
            slopes = np.diff(pts[:, 1]) / np.diff(pts[:, 0])
            rows = sp.lil_matrix((n - 1, nx))
            rows[:, nb + k] = slopes[:, None]
            rows[:, nb + ng + j] = -1.0
            blocks.append(rows.tocsr())
            rlo.append(np.full(n - 1, -inf))
            rhi.append(slopes * pts[:-1, 0] - pts[:-1, 1])

        a = sp.vstack(blocks, format="csc")
        lp = highspy.HighsLp()
        lp.num_col_ = nx
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = c
        lp.col_lower_ = lo
        lp.col_upper_ = hi
        lp.row_lower_ = np.concatenate(rlo)
        lp.row_upper_ = np.concatenate(rhi)
        lp.offset_ = offset
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        model = highspy.HighsModel()
        model.lp_ = lp
        qi = np.flatnonzero(q_diag)
        if qi.size:
            hess = highspy.HighsHessian()
            hess.dim_ = nx
            hess.format_ = highspy.HessianFormat.kTriangular
            start = np.zeros(nx + 1, dtype=np.int32)
            start[qi + 1] = 1
            hess.start_ = np.cumsum(start).astype(np.int32)
            hess.index_ = qi.astype(np.int32)
            hess.value_ = q_diag[qi]
            model.hessian_ = hess
        h.passModel(model)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal and qi.size:
            # without regularisation a singular reduced Hessian can stall the QP: retry with HiGHS's default
            h.setOptionValue("qp_regularization_value", 1e-7)
            h.passModel(model)
            h.run()
            h.setOptionValue("qp_regularization_value", 0.0)
        status = h.modelStatusToString(h.getModelStatus())
        pg = np.zeros(gen.shape[0])
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return DcOpfResult(False, pg, np.zeros(nb), np.zeros(nb), float("nan"), status)
        sol = h.getSolution()
        x = np.asarray(sol.col_value)
        duals = np.asarray(sol.row_dual)
        pg[on] = x[nb:nb + ng]
        return DcOpfResult(True, pg, duals[:nb].copy(), x[:nb] / base_mva, float(h.getInfo().objective_function_value),
                           status)
