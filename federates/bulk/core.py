"""The bulk-grid core: TESP-style ``tso_PYPOWER`` behaviour without HELICS and without its speed limits.

What it does at each call of :meth:`BulkGrid.step` (the adapter calls it every ``dt``):

1. Apply ``UnitsOut``/``BranchesOut`` for the current time. A change of generator statuses re-dispatches at once
   (an OPF now, not at the next period), so a unit that trips does not leave its output on the slack bus.
2. At OPF times (``t = k·Period − opf_offset``, default offset ``dt``: TESP's T − 15 s, so a market clearing at T
   has the LMP) and at the first call: an OPF (DC via HiGHS when ``opf_dc``, else pypower's AC ``runopf``). With a
   responsive-load curve from a market for a DSO bus, the OPF sees that bus's feeder as ``unresponsive_mw·scale``
   plus a dispatchable load (a generator with ``Pmin = −responsive_max_mw·scale``, ``Pmax = 0`` and cost
   ``−(c2/scale)·P² + c1·P``, i.e. the curve's benefit ``c2·q² + c1·q`` per feeder scaled to the bus); without
   one, it sees the measured feeder load. The OPF is skipped (its last result kept) when no load moved by more than
   ``opf_tol_mw`` and the curves and statuses are unchanged.
3. An AC power flow with the measured loads (background + ``Re(S_feeder)·scale``) and the last dispatch. Skipped
   (last voltages kept) when no bus injection moved by more than ``pf_tol_mw`` and the topology is unchanged.
   What the dispatch does not cover (losses, load moved since the OPF) is shared by the online units in proportion
   to their ratings within their limits (``slack_sharing``, the governors' response), so the slack unit stays at
   its dispatch unless every other unit is at a limit; ``slack_sharing=False`` puts it all on the slack (TESP).
   The DC OPF adds the last power flow's losses to its loads (``loss_compensation``) so they are dispatched at cost.

Outputs per DSO bus: line-to-neutral voltage magnitude ``1000·Vm·baseKV/√3`` (V) and the LMP (``0.001·λ``, $/kWh).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pypower.idx_brch import BR_STATUS, F_BUS, T_BUS
from pypower.idx_bus import BASE_KV, BUS_AREA, BUS_I, BUS_TYPE, LAM_P, LAM_Q, PD, QD, VA, VM, ZONE
from pypower.idx_cost import COST, MODEL, NCOST, POLYNOMIAL
from pypower.idx_gen import GEN_BUS, GEN_STATUS, MBASE, PG, PMAX, PMIN, QG, QMAX, QMIN, VG

from .dcopf import DcOpfSolver
from .powerflow import Network, branch_flows, bus_types, solve_ac, solve_dc, update_generators
from vppfed.formats.ppcase import BulkCase

log = logging.getLogger(__name__)

__all__ = ["BulkGrid", "BulkOptions", "ResponsiveCurve", "BUS_COLUMNS", "GEN_COLUMNS", "SYS_COLUMNS"]

#: TESP metrics columns (name, units) of ``bus_``, ``gen_`` and ``sys_`` files.
BUS_COLUMNS = [("LMP_P", "USD/kwh"), ("LMP_Q", "USD/kvarh"), ("PD", "MW"), ("QD", "MVAR"), ("Vang", "deg"),
               ("Vmag", "pu"), ("Vmax", "pu"), ("Vmin", "pu")]
GEN_COLUMNS = [("Pgen", "MW"), ("Qgen", "MVAR"), ("LMP_P", "USD/kwh")]
SYS_COLUMNS = [("Ploss", "MW"), ("Converged", "")]


@dataclass
class ResponsiveCurve:
    """A market's aggregate responsive-load bid for one simulated feeder (TESP ``sub_<bus>`` keys, unscaled).

    ``unresponsive_mw`` and ``responsive_max_mw`` in MW, ``c2`` in $/MW²h (negative for a falling bid curve),
    ``c1`` in $/MWh, ``deg`` 0 (no responsive part), 1 (linear) or 2 (quadratic).
    """

    unresponsive_mw: float = 0.0
    responsive_max_mw: float = 0.0
    c2: float = 0.0
    c1: float = 0.0
    deg: int = 0


@dataclass
class BulkOptions:
    """Solver settings.

    pf_tol_mw : a power flow is solved only when some bus injection changed by more than this (MW or MVAr) since
        the last solve. 0.01 MW is 40 W of a feeder scaled by 250; the voltage effect is below 1e-6 pu.
    opf_tol_mw : an OPF is solved only when some OPF load changed by more than this (MW) or a curve/status changed.
    opf_offset : seconds before each ``Period`` boundary at which the OPF runs; None = ``dt`` (TESP's T − 15 s).
    pf_tol_pu : Newton mismatch tolerance (pypower's ``PF_TOL``).
    slack_sharing : share the power flow's imbalance over the online units by rating (AC power flow); False: the
        slack unit takes it all, as TESP's ``tso_PYPOWER`` (on the ERCOT grid that put it up to 48 % above its Pmax).
    loss_compensation : the DC OPF serves the last AC power flow's losses too, spread over the loads.
    """

    pf_tol_mw: float = 0.01
    opf_tol_mw: float = 0.01
    opf_offset: float | None = None
    pf_tol_pu: float = 1e-8
    slack_sharing: bool = True
    loss_compensation: bool = True

#: Power-flow solves at most per step while the imbalance is shared out (each warm-started: ~0.1 ms on 9 buses).
SHARING_SOLVES = 4
#: The slack unit may differ from its shared dispatch by this much (MW) before another sharing round.
SHARING_TOL_MW = 0.01


@dataclass
class StepReport:
    """What one :meth:`BulkGrid.step` did (for counters and tests)."""

    pf_solved: bool
    opf_solved: bool
    converged: bool


@dataclass
class _Counters:
    pf_calls: int = 0
    pf_solved: int = 0
    pf_iterations: int = 0
    opf_calls: int = 0
    opf_solved: int = 0
    #: power flows that did not converge, and the simulated time of the first one (None: none so far)
    pf_failed: int = 0
    first_pf_failure_s: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


class BulkGrid:
    """Bulk transmission grid driven by feeder loads and market curves; see the module docstring.

    Parameters
    ----------
    case : BulkCase
        The ``_pp.json`` contents (any bus numbering and size).
    options : BulkOptions, optional
        Skip tolerances and OPF timing.
    """

    def __init__(self, case: BulkCase, options: BulkOptions | None = None) -> None:
        self.case = case
        self.opts = options or BulkOptions()
        self.base = float(case.base_mva)
        self.bus_ids = case.bus[:, BUS_I].astype(int)
        self.index = {int(b): i for i, b in enumerate(self.bus_ids)}
        nb = len(self.bus_ids)
        # internal copies: bus numbers -> 0..nb-1
        self.bus = case.bus.copy()
        self.bus[:, BUS_I] = np.arange(nb)
        if self.bus.shape[1] <= LAM_Q:
            self.bus = np.hstack([self.bus, np.zeros((nb, LAM_Q + 1 - self.bus.shape[1]))])
        self.branch = case.branch.copy()
        self.branch[:, F_BUS] = [self.index[int(b)] for b in case.branch[:, F_BUS]]
        self.branch[:, T_BUS] = [self.index[int(b)] for b in case.branch[:, T_BUS]]
        gen = case.gen.copy()
        if gen.shape[1] < 21:
            gen = np.hstack([gen, np.zeros((gen.shape[0], 21 - gen.shape[1]))])
        gen[:, GEN_BUS] = [self.index[int(b)] for b in case.gen[:, GEN_BUS]]
        self.n_real_gen = gen.shape[0]
        # one dispatchable-load row per DSO bus, out of service until a market sends a curve
        ncost = max(3, case.gencost.shape[1])
        gencost = np.zeros((gen.shape[0], ncost))
        gencost[:, :case.gencost.shape[1]] = case.gencost
        disp_rows, disp_costs = [], []
        for d in case.dso:
            row = np.zeros(gen.shape[1])
            row[GEN_BUS] = self.index[d.bus]
            row[VG] = 1.0
            row[MBASE] = self.base
            row[QMAX], row[QMIN] = 0.0, 0.0
            disp_rows.append(row)
            cost = np.zeros(ncost)
            cost[MODEL], cost[NCOST] = POLYNOMIAL, 3
            disp_costs.append(cost)
        self.gen = np.vstack([gen] + disp_rows) if disp_rows else gen
        self.gencost = np.vstack([gencost] + disp_costs) if disp_costs else gencost
        self.disp_row = {d.bus: self.n_real_gen + k for k, d in enumerate(case.dso)}
        self.base_status = self.gen[:, GEN_STATUS].copy()
        self.base_status[self.n_real_gen:] = 0
        self.base_branch_status = self.branch[:, BR_STATUS].copy()
        # static loads and their power factors (background CSV rescales Pd and Qd together)
        self.pd0 = self.bus[:, PD].copy()
        self.qd0 = self.bus[:, QD].copy()
        self.dso_index = {d.bus: self.index[d.bus] for d in case.dso}
        self.scale = {d.bus: d.scale for d in case.dso}
        self.feeder_mw = {d.bus: 0.0 for d in case.dso}
        self.feeder_mvar = {d.bus: 0.0 for d in case.dso}
        for d in case.dso:  # ERCOT rows carry Pinit, Qinit (MW, MVAr per bus) as a first guess
            if len(d.extra) >= 6:
                try:
                    self.feeder_mw[d.bus], self.feeder_mvar[d.bus] = float(d.extra[4]), float(d.extra[5])
                except (TypeError, ValueError):
                    pass
        self.curves: dict[int, ResponsiveCurve | None] = {d.bus: None for d in case.dso}
        self.opf_offset = case.dt if self.opts.opf_offset is None else float(self.opts.opf_offset)
        # solver state
        self._nets: dict[bytes, Network] = {}
        self._dcopf = DcOpfSolver()
        self.dispatch = self.gen[:, PG].copy()
        self.dispatch[self.n_real_gen:] = 0.0
        self.pf_dispatch = self.dispatch.copy()  # the dispatch after sharing the last power flow's imbalance
        self.opf_loss = 0.0  # MW of losses the DC OPF serves (loss_compensation)
        self.v: np.ndarray | None = None
        self.lmp = np.zeros(nb)   # $/MWh
        self.lmp_q = np.zeros(nb)  # $/MVArh
        self.converged = False
        self._gen_bus = self.gen[:, GEN_BUS].astype(int)
        self._types_cache: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._pf_state: tuple[Any, ...] | None = None
        self._pf_outputs: tuple[np.ndarray, np.ndarray, float] | None = None
        self.bus_pd = self.pd0.copy()
        self.bus_qd = self.qd0.copy()
        self._last_sbus: np.ndarray | None = None
        self._last_pf_key: bytes | None = None
        self._last_opf_inputs: tuple[Any, ...] | None = None
        self._gen_status_prev: np.ndarray | None = None
        self._vmin: dict[int, float] = {}
        self._vmax: dict[int, float] = {}
        self.counters = _Counters()
        self._started = False

    # ------------------------------------------------------------------ inputs
    @property
    def dso_buses(self) -> list[int]:
        """External numbers of the buses that host a simulated feeder."""
        return [d.bus for d in self.case.dso]

    def set_feeder_load(self, bus: int, s_va: complex) -> None:
        """The simulated feeder at ``bus`` draws ``s_va`` (VA, complex); the grid sees it times the DSO scale."""
        k = self.scale[bus] / 1e6
        self.feeder_mw[bus] = s_va.real * k
        self.feeder_mvar[bus] = s_va.imag * k

    def set_curve(self, bus: int, curve: ResponsiveCurve | None) -> None:
        """A market's responsive-load curve for the feeder at ``bus`` (None: no market, the OPF sees the load)."""
        self.curves[bus] = curve

    # --------------------------------------------------------------- schedule
    def is_opf_time(self, t: float) -> bool:
        """Whether ``t`` (s) is an OPF time: ``(t + opf_offset)`` a multiple of ``Period``."""
        return abs(math.remainder(t + self.opf_offset, self.case.period)) < 1e-6

    def _statuses(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        gs = self.base_status.copy()
        for o in self.case.units_out:
            if o.active(t):
                gs[o.index] = 0
        bs = self.base_branch_status.copy()
        for o in self.case.branches_out:
            if o.active(t):
                bs[o.index] = 0
        return gs, bs

    def _network(self, branch_status: np.ndarray) -> Network:
        key = branch_status.astype(np.int8).tobytes()
        net = self._nets.get(key)
        if net is None:
            branch = self.branch.copy()
            branch[:, BR_STATUS] = branch_status
            net = Network.build(self.base, self.bus, branch)
            self._nets[key] = net
        return net

    # ------------------------------------------------------------------ loads
    def _base_loads(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        pd, qd = self.pd0.copy(), self.qd0.copy()
        bg = self.case.background
        if bg is not None:
            mw = bg.at(t)
            for col, b in enumerate(bg.buses):
                i = self.index[b]
                if bg.q_follows:
                    ratio = self.qd0[i] / self.pd0[i] if self.pd0[i] != 0 else 0.0
                    pd[i], qd[i] = mw[col], mw[col] * ratio
                else:
                    pd[i] = mw[col]
        return pd, qd

    def _pf_loads(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        pd, qd = self._base_loads(t)
        for b, i in self.dso_index.items():
            pd[i] += self.feeder_mw[b]
            qd[i] += self.feeder_mvar[b]
        return pd, qd

    def _active_curve(self, bus: int) -> ResponsiveCurve | None:
        c = self.curves.get(bus)
        return c if c is not None else None

    def _opf_inputs(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """OPF loads (MW, MVAr), generator statuses incl. dispatchable loads, and [Pmin, Pmax, cost row] per
        generator (Pmax lowered by ``PmaxProfiles`` at ``t``)."""
        pd, qd = self._base_loads(t)
        status = np.zeros(self.gen.shape[0])
        cost = self.gencost.copy()
        pmin, pmax = self._limits(t)
        for b, i in self.dso_index.items():
            curve = self._active_curve(b)
            scale = self.scale[b]
            qd[i] += self.feeder_mvar[b]
            if curve is None:
                pd[i] += self.feeder_mw[b]
                continue
            pd[i] += curve.unresponsive_mw * scale
            row = self.disp_row[b]
            qmax = curve.responsive_max_mw * scale
            if curve.deg > 0 and qmax > 0:
                c2 = -curve.c2 / scale if curve.deg >= 2 else 0.0
                if c2 < 0:
                    log.warning("bus %s: responsive_c2 %.6g > 0 gives a non-convex bid; using a linear bid", b,
                                curve.c2)
                    c2 = 0.0
                status[row] = 1
                pmin[row] = -qmax
                cost[row, COST:COST + 3] = [c2, curve.c1, 0.0]
            else:
                pd[i] += qmax  # a responsive block without a price behaves as unresponsive load
        if self._compensates_losses() and self._pf_state is not None:
            if abs(self.ploss - self.opf_loss) > self.opts.opf_tol_mw:  # small moves keep the OPF skippable
                self.opf_loss = self.ploss
            share = np.clip(pd, 0.0, None)
            if share.sum() > 0:
                pd = pd + self.opf_loss * share / share.sum()
        return pd, qd, status, np.c_[pmin, pmax, cost]

    def _limits(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Pmin, Pmax (MW) per generator row at ``t``: Pmax lowered by ``PmaxProfiles`` (wind, solar)."""
        pmin = self.gen[:, PMIN].copy()
        pmax = self.gen[:, PMAX].copy()
        for prof in self.case.pmax_profiles:
            pmax[prof.index] = min(pmax[prof.index], prof.at(t))
            pmin[prof.index] = min(pmin[prof.index], pmax[prof.index])
        return pmin, pmax

    # ------------------------------------------------------------------- step
    def start(self) -> StepReport:
        """Solve at t = 0 (OPF + power flow) so voltages and LMPs exist before the first exchange; with
        ``loss_compensation`` the OPF is solved once more with the losses of that first power flow."""
        report = self.step(0.0)
        if self._compensates_losses():
            gen_status, branch_status = self._statuses(0.0)
            net = self._network(branch_status)
            for _ in range(3):  # losses -> dispatch -> losses: a change of 1 % of the losses in the second round
                if abs(self.ploss - self.opf_loss) <= self.opts.opf_tol_mw:
                    break
                self._run_opf(0.0, gen_status, branch_status, net, force=True)
                self._run_pf(0.0, gen_status, branch_status, net)
                report = StepReport(True, True, self.converged)
        return report

    def _compensates_losses(self) -> bool:
        return self.opts.loss_compensation and self.case.opf_dc and not self.case.pf_dc

    def step(self, t: float) -> StepReport:
        """Advance to ``t`` seconds: outages, OPF when due, power flow when inputs moved; see the module docstring."""
        gen_status, branch_status = self._statuses(t)
        status_changed = self._gen_status_prev is None or not np.array_equal(gen_status, self._gen_status_prev)
        self._gen_status_prev = gen_status
        net = self._network(branch_status)
        opf_solved = False
        if not self._started or self.is_opf_time(t) or status_changed:
            opf_solved = self._run_opf(t, gen_status, branch_status, net, force=status_changed or not self._started)
        self._started = True
        pf_solved = self._run_pf(t, gen_status, branch_status, net)
        self._track_voltages()
        return StepReport(pf_solved, opf_solved, self.converged)

    def _run_opf(self, t: float, gen_status: np.ndarray, branch_status: np.ndarray, net: Network,
                 force: bool) -> bool:
        self.counters.opf_calls += 1
        pd, qd, disp_status, cost_ext = self._opf_inputs(t)
        status = gen_status.copy()
        status[self.n_real_gen:] = disp_status[self.n_real_gen:]
        pmin, pmax, gencost = cost_ext[:, 0], cost_ext[:, 1], cost_ext[:, 2:]
        key = (status.tobytes(), branch_status.tobytes(), gencost.tobytes(), pmin.tobytes(), pmax.tobytes())
        if (not force and self._last_opf_inputs is not None and self._last_opf_inputs[0] == key
                and np.max(np.abs(pd - self._last_opf_inputs[1]), initial=0.0) <= self.opts.opf_tol_mw
                and np.max(np.abs(qd - self._last_opf_inputs[2]), initial=0.0) <= self.opts.opf_tol_mw):
            return False
        bus = self.bus.copy()
        bus[:, PD], bus[:, QD] = pd, qd
        gen = self.gen.copy()
        gen[:, GEN_STATUS] = status
        gen[:, PMIN] = pmin
        gen[:, PMAX] = pmax
        branch = self.branch.copy()
        branch[:, BR_STATUS] = branch_status
        if self.case.opf_dc:
            ref, _, _ = bus_types(bus, gen[:self.n_real_gen])
            res = self._dcopf.solve(self.base, bus, gen, gencost, branch, net, ref)
            ok, pg, lmp, lmp_q = res.success, res.pg, res.lmp, np.zeros_like(res.lmp)
            if not ok:  # safety net: pypower's own DC OPF (PIPS), ~10x slower, same model
                log.info("t=%.0f s: HiGHS DC OPF %s; falling back to pypower's rundcopf", t, res.status)
                ok, pg, lmp, lmp_q = self._pypower_opf(bus, gen, gencost, branch, dc=True)
        else:
            ok, pg, lmp, lmp_q = self._pypower_opf(bus, gen, gencost, branch, dc=False)
        self.counters.opf_solved += 1
        if not ok:
            log.warning("t=%.0f s: OPF did not converge; keeping the previous dispatch and prices", t)
            return True
        self._last_opf_inputs = (key, pd, qd)
        self.dispatch = np.where(status > 0, pg, 0.0)
        self.lmp, self.lmp_q = lmp, lmp_q
        return True

    def _pypower_opf(self, bus: np.ndarray, gen: np.ndarray, gencost: np.ndarray, branch: np.ndarray,
                     dc: bool) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray]:
        """pypower's OPF (PIPS) on the external-number case: AC when not ``opf_dc`` (~0.25 s on 9 buses), DC as the
        fall-back of the HiGHS solver. Generators out of service are dropped by pypower and come back as 0 MW."""
        from pypower.api import ppoption, rundcopf, runopf

        ppc = self._external(bus, gen, branch)
        ppc["gencost"] = gencost
        r = (rundcopf if dc else runopf)(ppc, ppoption(VERBOSE=0, OUT_ALL=0))
        pg = np.where(gen[:, GEN_STATUS] > 0, r["gen"][:, PG], 0.0)
        return bool(r["success"]), pg, r["bus"][:, LAM_P].copy(), r["bus"][:, LAM_Q].copy()

    def _external(self, bus: np.ndarray, gen: np.ndarray, branch: np.ndarray) -> dict[str, Any]:
        bus, gen, branch = bus.copy(), gen.copy(), branch.copy()
        bus[:, BUS_I] = self.bus_ids
        gen[:, GEN_BUS] = self.bus_ids[gen[:, GEN_BUS].astype(int)]
        branch[:, F_BUS] = self.bus_ids[branch[:, F_BUS].astype(int)]
        branch[:, T_BUS] = self.bus_ids[branch[:, T_BUS].astype(int)]
        return {"version": "2", "baseMVA": self.base, "bus": bus, "gen": gen, "branch": branch,
                "areas": self.case.areas}

    def _types(self, gen_status: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = gen_status.tobytes()
        types = self._types_cache.get(key)
        if types is None:
            gen = self.gen.copy()
            gen[:, GEN_STATUS] = gen_status
            types = bus_types(self.bus, gen)
            self._types_cache[key] = types
        return types

    def _run_pf(self, t: float, gen_status: np.ndarray, branch_status: np.ndarray, net: Network) -> bool:
        self.counters.pf_calls += 1
        pd, qd = self._pf_loads(t)
        # dispatchable loads stay out of the power flow: the measured feeder load already contains them
        on = gen_status > 0
        sbus = -(pd + 1j * qd)
        np.add.at(sbus, self._gen_bus[on], self.dispatch[on] + 1j * self.gen[on, QG])
        key = gen_status.tobytes() + branch_status.tobytes()
        if (self.v is not None and key == self._last_pf_key and self._last_sbus is not None
                and np.max(np.abs(sbus.real - self._last_sbus.real)) <= self.opts.pf_tol_mw
                and np.max(np.abs(sbus.imag - self._last_sbus.imag)) <= self.opts.pf_tol_mw):
            return False
        ref, pv, pq = self._types(gen_status)
        if self.case.pf_dc:
            bus = self.bus.copy()
            bus[:, PD], bus[:, QD] = pd, qd
            gen = self.gen.copy()
            gen[:, GEN_STATUS], gen[:, PG] = gen_status, self.dispatch
            v = solve_dc(net, self.base, bus, gen, ref, float(bus[ref[0], VA]) * np.pi / 180.0)
            ok, iters = True, 1
            self.pf_dispatch = self.dispatch.copy()
        else:
            if self.v is None:
                v0 = self.bus[:, VM] * np.exp(1j * np.pi / 180.0 * self.bus[:, VA])
            else:
                v0 = self.v.copy()
            gb = self._gen_bus[on]
            v0[gb] = self.gen[on, VG] / np.abs(v0[gb]) * v0[gb]
            v, ok, iters = self._solve_sharing(t, net, pd, qd, gen_status, v0, ref, pv, pq)
        self.counters.pf_solved += 1
        self.counters.pf_iterations += iters
        self.converged = bool(ok)
        if not ok:
            self.counters.pf_failed += 1
            if self.counters.first_pf_failure_s is None:
                self.counters.first_pf_failure_s = float(t)
            log.warning("t=%.0f s: power flow did not converge in %d iterations", t, iters)
            if self.v is not None:
                return True  # keep the last good voltages
        self.v = v
        self.bus_pd, self.bus_qd = pd, qd
        self._last_sbus, self._last_pf_key = sbus, key
        self._pf_state = (gen_status, branch_status, net, ref)  # slack output and losses computed when asked
        self._pf_outputs = None
        return True

    def _solve_sharing(self, t: float, net: Network, pd: np.ndarray, qd: np.ndarray, gen_status: np.ndarray,
                       v0: np.ndarray, ref: np.ndarray, pv: np.ndarray, pq: np.ndarray) -> tuple[np.ndarray, bool, int]:
        """AC power flow from the OPF dispatch; with ``slack_sharing``, what the slack unit would take beyond its
        dispatch is shared out (:meth:`_share`) and the flow solved again, up to :data:`SHARING_SOLVES` times.
        Sets :attr:`pf_dispatch`; returns (voltages, converged, Newton iterations in all)."""
        on = gen_status > 0
        x = self.dispatch.copy()
        rows = np.flatnonzero(on[:self.n_real_gen] & (self._gen_bus[:self.n_real_gen] == ref[0]))
        total = 0
        for _ in range(SHARING_SOLVES):
            sbus = -(pd + 1j * qd)
            np.add.at(sbus, self._gen_bus[on], x[on] + 1j * self.gen[on, QG])
            v, ok, iters = solve_ac(net, sbus / self.base, v0, ref, pv, pq, tol=self.opts.pf_tol_pu)
            total += iters
            if not ok:  # the caller keeps the last good voltages; keep the dispatch they belong to
                return v, ok, total
            if not self.opts.slack_sharing or rows.size == 0:
                break
            r = int(ref[0])
            injected = float((v[r] * np.conj(np.asarray(net.ybus[r] @ v).ravel()[0])).real) * self.base
            slack = injected + pd[r] - x[rows[1:]].sum()  # what the first unit at the reference bus produces
            mismatch = slack - x[rows[0]]
            if abs(mismatch) <= SHARING_TOL_MW:
                break
            x = self._share(x, mismatch, on, rows[0], t)
            v0 = v
        self.pf_dispatch = x
        return v, ok, total

    def _share(self, x: np.ndarray, amount: float, on: np.ndarray, slack_row: int, t: float) -> np.ndarray:
        """``x`` with ``amount`` MW (positive: more generation) spread over the online units in proportion to their
        Pmax and within [Pmin, Pmax]; what no unit can take goes to the slack unit, beyond its limit."""
        pmin, pmax = self._limits(t)
        x = x.copy()
        units = np.zeros(x.size, dtype=bool)
        units[:self.n_real_gen] = on[:self.n_real_gen]
        sign = 1.0 if amount > 0 else -1.0
        left = abs(amount)
        for _ in range(self.n_real_gen):
            room = np.where(units, np.maximum(pmax - x if sign > 0 else x - pmin, 0.0), 0.0)
            weight = np.where(room > 1e-9, np.maximum(pmax, 0.0), 0.0)
            if left <= 1e-9 or weight.sum() <= 0:
                break
            step = np.minimum(left * weight / weight.sum(), room)
            x += sign * step
            left -= float(step.sum())
            units &= room - step > 1e-9
        x[slack_row] += sign * left
        return x

    def _outputs(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(Pg, Qg per generator row, losses MW) of the last power flow, as pypower's ``pfsoln`` reports them."""
        if self._pf_outputs is None:
            if self._pf_state is None or self.v is None:
                return self.dispatch.copy(), np.zeros(self.gen.shape[0]), 0.0
            gen_status, branch_status, net, ref = self._pf_state
            bus = self.bus.copy()
            bus[:, PD], bus[:, QD] = self.bus_pd, self.bus_qd
            gen = self.gen.copy()
            gen[:, GEN_STATUS], gen[:, PG] = gen_status, self.pf_dispatch
            if not self.case.pf_dc:
                update_generators(self.base, bus, gen, net, self.v, ref)
            branch = self.branch.copy()
            branch[:, BR_STATUS] = branch_status
            sf, st = branch_flows(self.base, branch, net, self.v)
            self._pf_outputs = (np.where(gen_status > 0, gen[:, PG], 0.0), np.where(gen_status > 0, gen[:, QG], 0.0),
                                float(np.sum(sf.real + st.real)))
        return self._pf_outputs

    @property
    def pg_pf(self) -> np.ndarray:
        """Generator active power (MW) of the last power flow: the dispatch, with the slack's actual output."""
        return self._outputs()[0]

    @property
    def qg_pf(self) -> np.ndarray:
        """Generator reactive power (MVAr) of the last power flow."""
        return self._outputs()[1]

    @property
    def ploss(self) -> float:
        """Active losses (MW) of the last power flow."""
        return self._outputs()[2]

    def _track_voltages(self) -> None:
        if self.v is None:
            return
        for b, i in self.dso_index.items():
            vm = float(abs(self.v[i]))
            self._vmin[b] = min(self._vmin.get(b, vm), vm)
            self._vmax[b] = max(self._vmax.get(b, vm), vm)

    # ----------------------------------------------------------------- outputs
    def voltage_ln(self, bus: int) -> float:
        """Line-to-neutral voltage magnitude at ``bus`` in volts: ``1000·Vm·baseKV/√3``."""
        i = self.index[bus]
        vm = abs(self.v[i]) if self.v is not None else float(self.bus[i, VM])
        return 1000.0 * vm * float(self.bus[i, BASE_KV]) / math.sqrt(3.0)

    def lmp_kwh(self, bus: int) -> float:
        """Locational marginal price at ``bus`` from the last OPF in $/kWh (``0.001·λ``)."""
        return 0.001 * float(self.lmp[self.index[bus]])

    def metrics(self, root: str) -> dict[str, dict[str, list[float]]]:
        """One TESP metrics sample: ``{"bus": {...}, "gen": {...}, "sys": {...}}``; resets the Vmin/Vmax window.

        bus rows (DSO buses, uid = bus number): LMP_P, LMP_Q ($/kWh), PD, QD (MW, MVAr), Vang (deg), Vmag, and the
        largest/smallest Vmag seen since the previous sample (pu). gen rows (uid = 1-based row, dispatchable loads
        after the real units): Pgen, Qgen from the power flow (dispatchable loads: their OPF dispatch), LMP_P at the
        generator's bus. sys: Ploss (MW), Converged (1/0).
        """
        bus_rows: dict[str, list[float]] = {}
        for b, i in self.dso_index.items():
            vm = float(abs(self.v[i])) if self.v is not None else float(self.bus[i, VM])
            va = float(np.angle(self.v[i], deg=True)) if self.v is not None else float(self.bus[i, VA])
            bus_rows[str(b)] = [0.001 * float(self.lmp[i]), 0.001 * float(self.lmp_q[i]), float(self.bus_pd[i]),
                                float(self.bus_qd[i]), va, vm, self._vmax.get(b, vm), self._vmin.get(b, vm)]
        self._vmin.clear()
        self._vmax.clear()
        gen_rows: dict[str, list[float]] = {}
        pg, qg, ploss = self._outputs()
        for g in range(self.gen.shape[0]):
            i = int(self.gen[g, GEN_BUS])
            p = float(pg[g]) if g < self.n_real_gen else float(self.dispatch[g])
            q = float(qg[g]) if g < self.n_real_gen else 0.0
            gen_rows[str(g + 1)] = [p, q, 0.001 * float(self.lmp[i])]
        return {"bus": bus_rows, "gen": gen_rows, "sys": {root: [ploss, 1 if self.converged else 0]}}

    def model_dict(self) -> dict[str, Any]:
        """TESP's ``model_dict.json``: baseMVA, DSO buses, generators with costs, outages."""
        dso = {}
        for d in self.case.dso:
            i = self.index[d.bus]
            dso[str(d.bus)] = {"Pnom": float(self.pd0[i]), "Qnom": float(self.qd0[i]),
                               "area": int(self.bus[i, BUS_AREA]), "zone": int(self.bus[i, ZONE]),
                               "ampFactor": d.scale, "GLDsubstations": [d.name]}
        gens = {}
        fuels = self.case.genfuel or []
        for g in range(self.gen.shape[0]):
            i = int(self.gen[g, GEN_BUS])
            row = self.gencost[g]
            c2 = c1 = c0 = 0.0
            if row[MODEL] == POLYNOMIAL:
                n = int(row[NCOST])
                coef = list(row[COST:COST + n][::-1]) + [0.0, 0.0, 0.0]
                c0, c1, c2 = float(coef[0]), float(coef[1]), float(coef[2])
            disp = g >= self.n_real_gen
            gens[str(g + 1)] = {
                "bus": int(self.bus_ids[i]), "bustype": int(self.bus[i, BUS_TYPE]),
                "Pmin": float(self.gen[g, PMIN]), "Pmax": float(self.gen[g, PMAX]),
                "genfuel": "dispatchable_load" if disp else (fuels[g] if g < len(fuels) else "unknown"),
                "gentype": "load" if disp else "generator",
                "StartupCost": float(row[1]), "ShutdownCost": float(row[2]), "c2": c2, "c1": c1, "c0": c0}
        return {"baseMVA": self.base, "dsoBuses": dso, "generators": gens,
                "UnitsOut": [[o.index, o.t_out, o.t_in] for o in self.case.units_out],
                "BranchesOut": [[o.index, o.t_out, o.t_in] for o in self.case.branches_out]}
