"""The vectorised dispatch engine: numpy arrays per unit group, no Python loop over units.

Units are split into two groups kept in file order: buckets, and *deferrable* units (batteries and bakeries,
distinguished by a mask because the rules sort them together by agility and break ties by file order). Every
per-unit quantity is one array expression; the only loop left is inside
:func:`~vppfed.federates.agile.greedy.greedy_fill`, over skipped bakeries, not units. Results equal
:class:`~vppfed.federates.agile.reference.LoopEngine` bit for bit (same operations in the same order).

At 10^6 units what costs is not the arithmetic but putting units in agility order: each ordering is repaired from
the previous step's (:class:`~vppfed.federates.agile.ordering.StableOrder`, the same permutation as a stable
argsort), and a greedy walk gathers only the part of the order it reaches (:func:`fill_in_order`).
"""
from __future__ import annotations

import numpy as np

from vppfed.federates.agile.greedy import greedy_fill, greedy_fill_from
from vppfed.federates.agile.ordering import MIN_SIZE, StableOrder
from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, Portfolio
from vppfed.federates.agile.rules import BAKERY_ID_TIEBREAK, StepSummary, check_rules, summarise_sums

FIRST_CHUNK = 1 << 15
"""Units of the priority order gathered for the first chunk of a greedy walk (then twice as many each time)."""


def fill_in_order(order: np.ndarray, want: np.ndarray, all_or_nothing: np.ndarray, budget: float,
                  first_chunk: int = FIRST_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """``greedy_fill(want[order], all_or_nothing[order], budget)`` without gathering the units the walk never reaches.

    Why: gathering 10^6 values in agility order costs about a sort's worth of cache misses per array, while the
    walk usually ends within the first tenth of the order. The order is fed in chunks of growing size until the
    walk ends (:func:`~vppfed.federates.agile.greedy.greedy_fill_from`); the result is the same walk.

    Returns
    -------
    units : ndarray of int
        The prefix of ``order`` the walk reached (later units get exactly +0.0).
    give : ndarray of float
        Power given to each of ``units`` [kW].
    """
    n = order.size
    if not budget > 0:  # greedy_fill hands out nothing: every unit gets +0.0
        return order[:0], np.zeros(0, dtype=np.float64)
    if n <= first_chunk:
        return order, greedy_fill(want[order], all_or_nothing[order], budget)
    parts, start, size, used = [], 0, first_chunk, 0.0
    while start < n:
        units = order[start:start + size]
        give, used, ended = greedy_fill_from(want[units], all_or_nothing[units], budget, used)
        parts.append(give)
        start += size
        size *= 2
        if ended:
            break
    return order[:min(start, n)], np.concatenate(parts)


class AgileFleet:
    """Dispatch a whole portfolio with array operations.

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
    first_chunk : int
        Units of the agility order gathered for the first chunk of a greedy walk (:func:`fill_in_order`); tests pass
        a few units to exercise the chunks on small portfolios.
    """

    def __init__(self, portfolio: Portfolio, rules: str = "strict", Ts: float = 1.0,
                 incremental_min_size: int = MIN_SIZE, first_chunk: int = FIRST_CHUNK) -> None:
        self.rules = check_rules(rules)
        self.Ts = float(Ts)
        self.first_chunk = int(first_chunk)
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
        # state
        self.b_E = portfolio.E0[self.bkt].copy()
        self.b_P = portfolio.P0[self.bkt].copy()
        self.b_last = np.zeros(self.bkt.size, dtype=np.int64)
        self.d_E = portfolio.E0[self.dfr].copy()
        self.d_P = portfolio.P0[self.dfr].copy()
        self.d_last = np.zeros(self.dfr.size, dtype=np.int64)
        self.running = np.zeros(self.dfr.size, dtype=bool)
        self.ever_on = np.zeros(self.dfr.size, dtype=bool)
        # orderings by agility recur every step and change little: one repairable order per sort site
        self._d_order = StableOrder(incremental_min_size)
        self._b_order_up = StableOrder(incremental_min_size)     # buckets by kb (giving back, strict/2015b)
        self._b_order_down = StableOrder(incremental_min_size)   # buckets by -kb

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
    def _integrate(self, k: int) -> None:
        Ts = self.Ts
        if self.rules == "strict":
            self.b_E = np.clip(self.b_E + Ts * self.b_P * (k - self.b_last), self.b_Emin, self.b_Emax)
            self.d_E = np.clip(self.d_E + Ts * self.d_P * (k - self.d_last), self.d_Emin, self.d_Emax)
        else:
            self.b_E = self.b_E + Ts * self.b_P * 1
            self.d_E = self.d_E + Ts * self.d_P * 1
        if self.rules != "2015b":
            self.running &= self.d_E < self.d_Emax

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
        self._integrate(k)
        return self.dispatch(k, signal)

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

    def dispatch(self, k: int, signal: float) -> StepSummary:
        """Dispatch ``signal`` [kW] at step ``k`` on the current energies (no integration)."""
        rules, Ts = self.rules, self.Ts
        signal = float(signal)
        room = np.maximum(np.minimum(self.d_Pmax, (self.d_Emax - self.d_E) / Ts), 0.0)
        b_up = np.maximum(np.minimum(self.b_Pmax, (self.b_Emax - self.b_E) / Ts), 0.0)
        b_down = np.maximum(np.minimum(-self.b_Pmin, (self.b_E - self.b_Emin) / Ts), 0.0)
        kb, K = self.agility(k)
        F = self._forced(K, room)
        sum_f = float(np.sum(F))
        if rules == "strict":
            order = self._d_order.argsort(K)
            want = np.where(self.is_bak, np.where(self.running | (F > 0), 0.0, room), room - F)
            units, give = fill_in_order(order, want, self.is_bak, signal - sum_f, self.first_chunk)
            P = F + 0.0  # what the units the walk did not reach get: their forced power plus +0.0
            P[units] = F[units] + give
            P = np.minimum(P, room)  # forced + top-up can round one ulp above the headroom
        elif sum_f > signal and rules == "2015b":
            P = F
        elif sum_f > signal:
            available = signal + float(np.sum(b_down))
            P = greedy_fill(F, self._no_aon_d, available)
        else:
            order = self._d_order.argsort(K)
            units, give = fill_in_order(order, room, self.is_bak if rules == "2015b" else self._no_aon_d, signal,
                                        self.first_chunk)
            P = np.zeros(self.dfr.size, dtype=np.float64)
            P[units] = give
        rest = signal - float(np.sum(P))
        Pb = np.zeros(self.bkt.size, dtype=np.float64)
        if rest < 0:
            if rules in ("strict", "2015b"):
                border = self._b_order_up.argsort(kb)
            else:
                border = self._b_order_down.argsort(-kb)
            units, give = fill_in_order(border, b_down, self._no_aon_b, -rest, self.first_chunk)
            Pb = np.full(self.bkt.size, -0.0)  # minus the walk's +0.0 for the units it did not reach
            Pb[units] = -give
        elif rest > 0:
            border = self._b_order_down.argsort(-kb)
            units, give = fill_in_order(border, b_up, self._no_aon_b, rest, self.first_chunk)
            Pb[units] = give
        p_min = sum_f - float(np.sum(b_down))
        p_max = float(np.sum(room)) + float(np.sum(b_up))
        self.d_P = P
        self.b_P = Pb
        self.d_last[:] = k
        self.b_last[:] = k
        on = self.is_bak & (P > 0)
        self.running |= on
        self.ever_on |= on
        return self._summary(k, signal, p_min, p_max)

    def _summary(self, k: int, signal: float, p_min: float, p_max: float) -> StepSummary:
        # deferrable and bucket powers are each in file order, so these are the sums summarise() would take
        return summarise_sums(k, signal, float(np.sum(self.d_P[self.is_bak])), float(np.sum(self.d_P[self.is_bat])),
                              float(np.sum(self.b_P)), p_min, p_max)
