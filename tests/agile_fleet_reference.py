"""Frozen copy of the agile numpy engine as it was before issue 15 item 5 (one full stable argsort per ordering).

The reference of ``tests/test_agile_fast_dispatch.py``: the faster engine must reproduce it bit for bit. Do not
optimise this file; it is the definition of today's results. Only the class name and this docstring differ from
``federates/agile/fleet.py`` at that time. It imports the greedy walk and the summary from the package; the tests of
``greedy_fill`` against its literal loop (test_agile_vectorised.py) pin those down.
"""
from __future__ import annotations

import numpy as np

from vppfed.federates.agile.greedy import greedy_fill
from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, Portfolio
from vppfed.federates.agile.rules import BAKERY_ID_TIEBREAK, StepSummary, check_rules, summarise


class ReferenceFleet:
    """Dispatch a whole portfolio with array operations.

    Parameters
    ----------
    portfolio : Portfolio
        Units in file order.
    rules : {"strict", "2015b", "2015a"}
        Rule set (see :mod:`~vppfed.federates.agile.rules`).
    Ts : float
        Step length [h].
    """

    def __init__(self, portfolio: Portfolio, rules: str = "strict", Ts: float = 1.0) -> None:
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
        Ts = self.Ts
        kb = (self.b_Emax - self.b_E) / (Ts * self.b_Pmax)
        k_bat = self.d_Tend - k - (self.d_Emax - self.d_E) / (Ts * self.d_Pmax)
        k_bak = self.d_Tend - self.d_Trun - k
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
            order = np.argsort(K, kind="stable")
            want = np.where(self.is_bak, np.where(self.running | (F > 0), 0.0, room), room - F)
            P = F.copy()
            P[order] = P[order] + greedy_fill(want[order], self.is_bak[order], signal - sum_f)
            P = np.minimum(P, room)  # forced + top-up can round one ulp above the headroom
        elif sum_f > signal and rules == "2015b":
            P = F
        elif sum_f > signal:
            available = signal + float(np.sum(b_down))
            P = greedy_fill(F, self._no_aon_d, available)
        else:
            order = np.argsort(K, kind="stable")
            aon = self.is_bak[order] if rules == "2015b" else self._no_aon_d
            P = np.zeros(self.dfr.size, dtype=np.float64)
            P[order] = greedy_fill(room[order], aon, signal)
        rest = signal - float(np.sum(P))
        Pb = np.zeros(self.bkt.size, dtype=np.float64)
        if rest < 0:
            border = np.argsort(kb if rules in ("strict", "2015b") else -kb, kind="stable")
            Pb[border] = -greedy_fill(b_down[border], self._no_aon_b, -rest)
        elif rest > 0:
            border = np.argsort(-kb, kind="stable")
            Pb[border] = greedy_fill(b_up[border], self._no_aon_b, rest)
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
        return summarise(k, signal, self.portfolio.kind, self.unit_power(), p_min, p_max)
