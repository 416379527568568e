"""The literal, one-unit-at-a-time implementation of the dispatch rules: the yardstick for the numpy engine.

Every quantity is computed per unit with plain Python floats, in the order the rules are written (see
:mod:`~vppfed.federates.agile.rules`). It is slow by design and only used for verification and small portfolios;
:class:`~vppfed.federates.agile.fleet.AgileFleet` must reproduce it bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vppfed.federates.agile.greedy import greedy_fill_loop
from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, Portfolio
from vppfed.federates.agile.rules import BAKERY_ID_TIEBREAK, StepSummary, check_rules, summarise


@dataclass
class LoopUnit:
    """One unit's parameters and state (power [kW], energy [kWh], steps)."""

    name: str
    kind: int
    ident: int
    Pmax: float
    Pmin: float
    Emax: float
    Emin: float
    Tend: float
    Trun: float
    E: float
    P: float
    last_k: int = 0
    running: bool = False
    ever_on: bool = False

    def room(self, Ts: float) -> float:
        """Most power it can take this step without exceeding Pmax or Emax [kW]."""
        return max(min(self.Pmax, (self.Emax - self.E) / Ts), 0.0)

    def give_back(self, Ts: float) -> float:
        """Most power a bucket can return this step without passing -Pmin or Emin [kW] (>= 0)."""
        return max(min(-self.Pmin, (self.E - self.Emin) / Ts), 0.0)


def agility(u: LoopUnit, k: int, rules: str, Ts: float) -> float:
    """Agility K of one unit at step k [steps]: how long it can still wait."""
    if u.kind == BUCKET:
        return (u.Emax - u.E) / (Ts * u.Pmax)
    if u.kind == BATTERY:
        return u.Tend - k - (u.Emax - u.E) / (Ts * u.Pmax)
    if rules == "2015b":
        return u.Tend - u.Trun - k - u.ident * BAKERY_ID_TIEBREAK
    if rules == "2015a" and u.running:
        return 0.0
    return u.Tend - u.Trun - k


def forced_power(u: LoopUnit, K: float, rules: str, Ts: float) -> float:
    """Power a battery or bakery must take at this step whatever the signal [kW]."""
    room = u.room(Ts)
    if u.kind == BATTERY:
        if K > 1:
            return 0.0
        if K > 0:
            return min(u.Pmax * (1 - K), room)
        return room
    if rules == "strict":
        return room if (u.running or K <= 0) else 0.0
    if rules == "2015b":
        return room if (u.ever_on or K <= 1) else 0.0
    return room if (K <= 0 and u.E < u.Emax) else 0.0


class LoopEngine:
    """Dispatch a portfolio one unit at a time.

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
        self.kind = portfolio.kind
        self.units = [
            LoopUnit(name=portfolio.names[i], kind=int(portfolio.kind[i]), ident=int(portfolio.ident[i]),
                     Pmax=float(portfolio.Pmax[i]), Pmin=float(portfolio.Pmin[i]), Emax=float(portfolio.Emax[i]),
                     Emin=float(portfolio.Emin[i]), Tend=float(portfolio.Tend[i]), Trun=float(portfolio.Trun[i]),
                     E=float(portfolio.E0[i]), P=float(portfolio.P0[i]))
            for i in range(len(portfolio))
        ]

    def unit_power(self) -> np.ndarray:
        """Power last given to each unit, file order [kW]."""
        return np.array([u.P for u in self.units], dtype=np.float64)

    def unit_energy(self) -> np.ndarray:
        """Energy of each unit after the last integration, file order [kWh]."""
        return np.array([u.E for u in self.units], dtype=np.float64)

    def _integrate(self, k: int) -> None:
        Ts = self.Ts
        for u in self.units:
            n = (k - u.last_k) if self.rules == "strict" else 1
            E = u.E + Ts * u.P * n
            if self.rules == "strict":
                E = min(max(E, u.Emin), u.Emax)
            u.E = E
            if u.kind == BAKERY and self.rules != "2015b":
                u.running = u.running and u.E < u.Emax

    def step(self, k: int, signal: float) -> StepSummary:
        """Integrate, then dispatch ``signal`` [kW] at step ``k``; returns the step's aggregates."""
        self._integrate(k)
        rules, Ts = self.rules, self.Ts
        defer = [u for u in self.units if u.kind != BUCKET]
        buckets = [u for u in self.units if u.kind == BUCKET]
        K = [agility(u, k, rules, Ts) for u in defer]
        F = [forced_power(u, K[i], rules, Ts) for i, u in enumerate(defer)]
        room = [u.room(Ts) for u in defer]
        sum_f = float(np.sum(np.array(F, dtype=np.float64)))
        order = sorted(range(len(defer)), key=lambda i: K[i])
        is_bak = [u.kind == BAKERY for u in defer]
        P = [0.0] * len(defer)
        if rules == "strict":
            P = list(F)
            want = [(0.0 if (defer[i].running or F[i] > 0) else room[i]) if is_bak[i] else room[i] - F[i]
                    for i in order]
            give = greedy_fill_loop(want, [is_bak[i] for i in order], signal - sum_f)
            for g, i in zip(give, order):
                P[i] = min(P[i] + g, room[i])  # forced + top-up can round one ulp above the headroom
        elif sum_f > signal and rules == "2015b":
            P = list(F)
        elif sum_f > signal:  # 2015a: forced powers in file order against signal + what buckets can give back
            available = signal + float(np.sum(np.array([b.give_back(Ts) for b in buckets], dtype=np.float64)))
            P = greedy_fill_loop(F, [False] * len(defer), available)
        else:
            aon = [is_bak[i] for i in order] if rules == "2015b" else [False] * len(order)
            give = greedy_fill_loop([room[i] for i in order], aon, signal)
            for g, i in zip(give, order):
                P[i] = g
        rest = signal - float(np.sum(np.array(P, dtype=np.float64)))
        Kb = [agility(b, k, rules, Ts) for b in buckets]
        Pb = [0.0] * len(buckets)
        if rest < 0:
            sign = 1.0 if rules in ("strict", "2015b") else -1.0
            border = sorted(range(len(buckets)), key=lambda i: sign * Kb[i])
            give = greedy_fill_loop([buckets[i].give_back(Ts) for i in border], [False] * len(border), -rest)
            for g, i in zip(give, border):
                Pb[i] = -g
        elif rest > 0:
            border = sorted(range(len(buckets)), key=lambda i: -Kb[i])
            give = greedy_fill_loop([buckets[i].room(Ts) for i in border], [False] * len(border), rest)
            for g, i in zip(give, border):
                Pb[i] = g
        p_min = sum_f - float(np.sum(np.array([b.give_back(Ts) for b in buckets], dtype=np.float64)))
        p_max = float(np.sum(np.array(room, dtype=np.float64))) + float(
            np.sum(np.array([b.room(Ts) for b in buckets], dtype=np.float64)))
        for u, p in zip(defer, P):
            u.P = p
            u.last_k = k
            if u.kind == BAKERY and p > 0:
                u.running = True
                u.ever_on = True
        for b, p in zip(buckets, Pb):
            b.P = p
            b.last_k = k
        return summarise(k, signal, self.kind, self.unit_power(), p_min, p_max)
