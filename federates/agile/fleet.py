"""The dispatch engine: per-unit arrays per unit group, compiled passes over them, no Python loop over units.

Units are split into two groups kept in file order: buckets, and *deferrable* units (batteries and bakeries,
distinguished by a mask because the rules sort them together by agility and break ties by file order). The
per-unit arithmetic of a step (integration, headroom, agility, forced power, wants) is one compiled pass per group
(:mod:`~vppfed.federates.agile.kernels`), the greedy allocation one compiled walk along the agility order, and sums
stay with ``np.sum`` in file order. Results equal :class:`~vppfed.federates.agile.reference.LoopEngine` and the
numpy engine before issue 15 (tests/agile_fleet_reference.py) bit for bit (same operations in the same order).

At 10^6 units what costs is memory traffic and putting units in agility order: each ordering is repaired from the
previous step's (:class:`~vppfed.federates.agile.ordering.StableOrder`, the same permutation as a stable argsort),
and the walk reads only the part of the order it reaches.
"""
from __future__ import annotations

import numpy as np

from vppfed.federates.agile.greedy import greedy_fill
from vppfed.federates.agile.kernels import RULE_CODE, bucket_pass, deferrable_pass, finish, walk
from vppfed.federates.agile.ordering import MIN_SIZE, StableOrder
from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, Portfolio
from vppfed.federates.agile.rules import BAKERY_ID_TIEBREAK, StepSummary, check_rules, summarise_sums


class AgileFleet:
    """Dispatch a whole portfolio with per-unit arrays and compiled passes over them.

    Parameters
    ----------
    portfolio : Portfolio
        Units in file order.
    rules : {"strict", "2015b", "2015a"}
        Rule set (see :mod:`~vppfed.federates.agile.rules`).
    Ts : float
        Step length [h].
    incremental_min_size : int
        Orderings of at least this many units are repaired from the previous step's order instead of sorted from
        scratch (:class:`~vppfed.federates.agile.ordering.StableOrder`; same result, less time). Tests pass 0 to
        exercise the repair on small portfolios.
    """

    def __init__(self, portfolio: Portfolio, rules: str = "strict", Ts: float = 1.0,
                 incremental_min_size: int = MIN_SIZE) -> None:
        self.rules = check_rules(rules)
        self.Ts = float(Ts)
        self.portfolio = portfolio
        kind = portfolio.kind
        self.bkt = np.flatnonzero(kind == BUCKET)
        self.dfr = np.flatnonzero(kind != BUCKET)
        # bucket parameters
        self.b_Pmax = portfolio.Pmax[self.bkt].copy()
        self.b_Pmin = portfolio.Pmin[self.bkt].copy()
        self.b_Emax = portfolio.Emax[self.bkt].copy()
        self.b_Emin = portfolio.Emin[self.bkt].copy()
        # deferrable (battery + bakery) parameters
        self.is_bak = kind[self.dfr] == BAKERY
        self.is_bat = kind[self.dfr] == BATTERY
        self.d_Pmax = portfolio.Pmax[self.dfr].copy()
        self.d_Emax = portfolio.Emax[self.dfr].copy()
        self.d_Emin = portfolio.Emin[self.dfr].copy()
        self.d_Tend = portfolio.Tend[self.dfr].copy()
        self.d_Trun = portfolio.Trun[self.dfr].copy()
        self.d_tiebreak = portfolio.ident[self.dfr] * BAKERY_ID_TIEBREAK
        # constant parts of the agility, computed once with the same operations the formulas would repeat
        self._b_TsPmax = self.Ts * self.b_Pmax
        self._d_TsPmax = self.Ts * self.d_Pmax
        self._d_TendTrun = self.d_Tend - self.d_Trun
        self._no_aon_d = np.zeros(self.dfr.size, dtype=bool)
        self._no_aon_b = np.zeros(self.bkt.size, dtype=bool)
        self._code = RULE_CODE[self.rules]
        self._b_negPmin = -self.b_Pmin
        self._d_T0 = np.where(self.is_bak, self._d_TendTrun, self.d_Tend)  # the time term of each unit's agility
        # per-step quantities written in place by the compiled passes (kernels.py); nothing outside keeps them
        nd, nb = self.dfr.size, self.bkt.size
        self._room, self._K, self._F, self._want = (np.empty(nd, dtype=np.float64) for _ in range(4))
        self._b_up, self._b_down, self._kb, self._neg_kb = (np.empty(nb, dtype=np.float64) for _ in range(4))
        # each type's powers in file order, plus the one spare slot the branch-free finish pass writes
        self._n_bak, self._n_bat = int(np.count_nonzero(self.is_bak)), int(np.count_nonzero(self.is_bat))
        self._bak_out = np.empty(self._n_bak + 1, dtype=np.float64)
        self._bat_out = np.empty(self._n_bat + 1, dtype=np.float64)
        # state
        self.b_E = portfolio.E0[self.bkt].copy()
        self.b_P = portfolio.P0[self.bkt].copy()
        self.b_last = np.zeros(self.bkt.size, dtype=np.int64)
        self.d_E = portfolio.E0[self.dfr].copy()
        self.d_P = portfolio.P0[self.dfr].copy()
        self.d_last = np.zeros(self.dfr.size, dtype=np.int64)
        self._last_k = 0  # >= 0: every unit's power was last set at this step (d_last/b_last not kept up to date)
        self._P_spare: np.ndarray | None = None  # last step's deferrable powers: the buffer for the next step's
        self.running = np.zeros(self.dfr.size, dtype=bool)
        self.ever_on = np.zeros(self.dfr.size, dtype=bool)
        # orderings by agility recur every step and change little: one repairable order per sort site
        self._d_order = StableOrder(incremental_min_size)
        self._b_order_up = StableOrder(incremental_min_size)     # buckets by kb (giving back, strict/2015b), and
        #                                                          by -kb derived from it (taking, strict/2015b)
        self._b_order_down = StableOrder(incremental_min_size)   # buckets by -kb (2015a, both ways)

    # ----------------------------------------------------------------------------------------------- views
    def unit_power(self) -> np.ndarray:
        """Power last given to each unit, file order [kW]."""
        out = np.empty(len(self.portfolio), dtype=np.float64)
        out[self.bkt] = self.b_P
        out[self.dfr] = self.d_P
        return out

    def unit_energy(self) -> np.ndarray:
        """Energy of each unit after the last integration, file order [kWh]."""
        out = np.empty(len(self.portfolio), dtype=np.float64)
        out[self.bkt] = self.b_E
        out[self.dfr] = self.d_E
        return out

    # ----------------------------------------------------------------------------------------------- physics
    def agility(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Agility K [steps] of (buckets, deferrable units) at step ``k`` with the current energies."""
        kb = (self.b_Emax - self.b_E) / self._b_TsPmax
        k_bat = self.d_Tend - k - (self.d_Emax - self.d_E) / self._d_TsPmax
        k_bak = self._d_TendTrun - k
        if self.rules == "2015b":
            k_bak = k_bak - self.d_tiebreak
        elif self.rules == "2015a":
            k_bak = np.where(self.running, 0.0, k_bak)
        return kb, np.where(self.is_bak, k_bak, k_bat)

    def forced(self, k: int) -> np.ndarray:
        """Forced power [kW] of every unit (file order; 0 for buckets) at step ``k`` with the current energies."""
        room = np.maximum(np.minimum(self.d_Pmax, (self.d_Emax - self.d_E) / self.Ts), 0.0)
        out = np.zeros(len(self.portfolio), dtype=np.float64)
        out[self.dfr] = self._forced(self.agility(k)[1], room)
        return out

    def _forced(self, K: np.ndarray, room: np.ndarray) -> np.ndarray:
        f_bat = np.where(K > 1, 0.0, np.where(K > 0, np.minimum(self.d_Pmax * (1 - K), room), room))
        if self.rules == "strict":
            on = self.running | (K <= 0)
        elif self.rules == "2015b":
            on = self.ever_on | (K <= 1)
        else:
            on = (K <= 0) & (self.d_E < self.d_Emax)
        return np.where(self.is_bak, np.where(on, room, 0.0), f_bat)

    # ----------------------------------------------------------------------------------------------- dispatch
    def step(self, k: int, signal: float) -> StepSummary:
        """Integrate, then dispatch ``signal`` [kW] at step ``k``; returns the step's aggregates."""
        return self._dispatch(k, signal, integrate=True)

    def set_state(self, energy: np.ndarray, power: np.ndarray, running: np.ndarray, last_k: int | np.ndarray) -> None:
        """Overwrite the state (file order): energy [kWh] at the start of the step, power [kW], bakery running flags.

        Used by an aggregator that dispatches on its *estimates* of the units' energies (then calls
        :meth:`dispatch`, which does not integrate).
        """
        self.b_E = np.asarray(energy, dtype=np.float64)[self.bkt]
        self.d_E = np.asarray(energy, dtype=np.float64)[self.dfr]
        self.b_P = np.asarray(power, dtype=np.float64)[self.bkt]
        self.d_P = np.asarray(power, dtype=np.float64)[self.dfr]
        run = np.asarray(running, dtype=bool)[self.dfr] & self.is_bak
        self.running = run.copy()
        self.ever_on = self.ever_on | run
        last = np.broadcast_to(np.asarray(last_k, dtype=np.int64), (len(self.portfolio),))
        self.b_last = last[self.bkt].copy()
        self.d_last = last[self.dfr].copy()
        self._last_k = int(last_k) if np.ndim(last_k) == 0 and int(last_k) >= 0 else -1  # -1: read the arrays
        self._P_spare = None

    def dispatch(self, k: int, signal: float) -> StepSummary:
        """Dispatch ``signal`` [kW] at step ``k`` on the current energies (no integration)."""
        return self._dispatch(k, signal, integrate=False)

    def _dispatch(self, k: int, signal: float, integrate: bool) -> StepSummary:
        """One step: the compiled passes (integration if asked, headroom, agility, forced power, wants), the
        orderings and greedy walks, then the compiled finish (running flags, each type's powers for its sum). Same
        operations, same order, as the numpy engine (tests/agile_fleet_reference.py)."""
        rules, code = self.rules, self._code
        signal = float(signal)
        k = int(k)
        room, K, F = self._room, self._K, self._F
        b_up, b_down, kb = self._b_up, self._b_down, self._kb
        # strict: filled with min(F + 0.0, room) by the pass; two buffers in turn (the pass reads last step's)
        P = self._P_spare if self._P_spare is not None else np.empty(self.dfr.size, dtype=np.float64)
        deferrable_pass(k, code, self.Ts, integrate, self.d_E, self.d_P, self.d_last, self._last_k, self.d_Emin,
                        self.d_Emax, self.d_Pmax, self._d_T0, self.d_tiebreak, self.is_bak, self.running,
                        self.ever_on, room, K, F, self._want, P)
        bucket_pass(k, code, self.Ts, integrate, self.b_E, self.b_P, self.b_last, self._last_k, self.b_Emin,
                    self.b_Emax, self.b_Pmax, self._b_negPmin, b_up, b_down, kb, self._neg_kb)
        sum_f = float(np.sum(F))
        if rules == "strict":
            # forced + top-up, capped at the headroom (the sum can round one ulp above it); a walk with nothing to
            # hand out changes nothing, and its order is not built (the next repair starts from an older one)
            budget = signal - sum_f
            if budget > 0:
                walk(self._d_order.argsort(K), self._want, self.is_bak, budget, 0, P, F, room)
        elif sum_f > signal and rules == "2015b":
            P[:] = F
        elif sum_f > signal:
            available = signal + float(np.sum(b_down))
            P = greedy_fill(F, self._no_aon_d, available)
        else:
            P[:] = 0.0
            if signal > 0:
                walk(self._d_order.argsort(K), room, self.is_bak if rules == "2015b" else self._no_aon_d, signal, 1,
                     P, F, room)
        finish(P, self.is_bak, self.is_bat, self.running, self.ever_on, self._bak_out, self._bat_out)
        rest = signal - float(np.sum(P))
        Pb = np.zeros(self.bkt.size, dtype=np.float64)
        if rest < 0:
            if rules in ("strict", "2015b"):
                border = self._b_order_up.argsort(kb)
            else:
                border = self._b_order_down.argsort(self._neg_kb)
            Pb[:] = -0.0  # minus the walk's +0.0 for the units it gives nothing
            walk(border, b_down, self._no_aon_b, -rest, 2, Pb, b_down, b_down)
        elif rest > 0:
            if rules in ("strict", "2015b"):
                border = self._b_order_up.argsort_negated(kb)  # kb's order serves both ways: repaired every step
            else:
                border = self._b_order_down.argsort(self._neg_kb)
            walk(border, b_up, self._no_aon_b, rest, 1, Pb, b_up, b_up)
        p_min = sum_f - float(np.sum(b_down))
        p_max = float(np.sum(room)) + float(np.sum(b_up))
        self._P_spare = self.d_P if P is not self.d_P and self.d_P.size == P.size else None
        self.d_P = P
        self.b_P = Pb
        if k >= 0:
            self._last_k = k
        else:
            self._last_k = -1
            self.d_last[:] = k
            self.b_last[:] = k
        # the bakeries' and batteries' powers in file order, as np.sum(P[is_bak]) would see them
        return summarise_sums(k, signal, float(np.sum(self._bak_out[:self._n_bak])),
                              float(np.sum(self._bat_out[:self._n_bat])), float(np.sum(Pb)),
                              p_min, p_max)
