"""Aggregator side of the VPP: an estimate of every unit's state, keep-alive bookkeeping and ``strict`` dispatch.

Per step ``k`` (:meth:`Aggregator.step`, or :meth:`begin_step` + :meth:`finish_step`):

1. the inbox is snapshotted: a message that arrives while the dispatch is being computed waits for the next step;
2. every estimate is rolled forward one step with the power the unit is predicted to apply (the unit's own rule,
   :func:`~.protocol.apply_command`, on the last command sent);
3. reports are applied: a report older than (or as old as) what is already known is stale and ignored; a fresh one
   replaces the estimate at its own step and is rolled forward over the steps that elapsed since (the reported power
   for its step, then the commands sent for later steps), so several elapsed steps are integrated, not one;
4. a unit silent for more than ``keepalive_timeout`` steps becomes *unmanaged*: it gets no commands and its predicted
   power (clip of its last command, at least its forced power) is counted as fixed; a fresh report re-admits it;
   a unit whose last report said ``avail: false`` (an EV away from home) is left out the same way, with 0 kW;
5. the managed units are dispatched with the ``strict`` rules on the estimates, against ``signal - fixed``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vppfed.io import require
from vppfed.federates.agile.fleet import AgileFleet
from vppfed.federates.agile.portfolio import BAKERY, FLOAT_FIELDS, Portfolio, make_portfolio
from vppfed.federates.agile.protocol import DEREGISTER, DISPATCH, KEEPALIVE, REGISTER, REPORT, apply_command


@dataclass
class AggregatorConfig:
    """Aggregator settings: step [h], keep-alive timeout and report history [steps], dispatch rules."""

    Ts: float = 1.0
    keepalive_timeout: int = 3
    history: int = 64
    rules: str = "strict"

    def validate(self) -> None:
        require(self.Ts > 0, "Ts", "must be > 0")
        require(self.keepalive_timeout >= 1, "keepalive_timeout", "must be >= 1 step")
        require(self.history >= 2, "history", "must be >= 2 steps")


@dataclass(frozen=True)
class AggregatorStep:
    """What the aggregator decided at one step (its own view; true powers are known only to the units)."""

    k: int
    signal: float
    planned: float
    fixed: float
    managed: int
    unmanaged: int
    reports: int
    stale: int
    p_min: float = float("nan")
    p_max: float = float("nan")
    unavailable: int = 0


class Aggregator:
    """Estimates, keep-alive and dispatch for a portfolio that registers itself."""

    def __init__(self, config: AggregatorConfig | None = None) -> None:
        self.cfg = config or AggregatorConfig()
        self.cfg.validate()
        self.rows: list[tuple] = []
        self.p: Portfolio | None = None
        self.index: dict[str, int] = {}
        self.inbox: list[dict[str, Any]] = []
        self._work: list[dict[str, Any]] = []
        self._fleet: AgileFleet | None = None
        self._fleet_members: np.ndarray | None = None
        self.k = 0
        self.stale_total = 0
        self._alloc(0)

    # ------------------------------------------------------------------ state
    def _alloc(self, n: int) -> None:
        self.E = np.zeros(n)
        self.P_assumed = np.zeros(n)
        self.command = np.zeros(n)
        self.running = np.zeros(n, dtype=bool)
        self.k_known = np.zeros(n, dtype=np.int64)
        self.last_heard = np.zeros(n, dtype=np.int64)
        self.managed = np.ones(n, dtype=bool)
        self.active = np.ones(n, dtype=bool)
        self.available = np.ones(n, dtype=bool)
        self.cmd_hist = np.zeros((self.cfg.history, n))

    def _register(self, msgs: list[dict[str, Any]], k: int) -> None:
        new = [m for m in msgs if m["unit"] not in self.index]
        if not new:
            return
        old_n = len(self.rows)
        saved = {name: getattr(self, name) for name in ("E", "P_assumed", "command", "running", "k_known",
                                                        "last_heard", "managed", "active", "available", "cmd_hist")}
        for m in new:
            self.index[m["unit"]] = len(self.rows)
            self.rows.append((m["unit"], *(m[f] for f in FLOAT_FIELDS)))
        self.p = make_portfolio(self.rows, where="registrations")
        self._alloc(len(self.rows))
        for name, arr in saved.items():
            getattr(self, name)[..., :old_n] = arr
        sl = slice(old_n, None)
        self.E[sl] = self.p.E0[sl]
        self.P_assumed[sl] = self.p.P0[sl]
        self.command[sl] = self.p.P0[sl]
        self.k_known[sl] = [int(m.get("k", 0)) for m in new]
        self.last_heard[sl] = self.k_known[sl]
        self.available[sl] = [bool(m.get("avail", True)) for m in new]
        self._fleet = None

    def receive(self, msg: dict[str, Any]) -> None:
        """Queue one message; it is used at the next :meth:`begin_step`."""
        self.inbox.append(msg)

    # ------------------------------------------------------------------ step
    def begin_step(self, k: int) -> None:
        """Snapshot the inbox for step ``k``; later messages wait for step ``k + 1``."""
        self._work, self.inbox = self.inbox, []

    def finish_step(self, k: int, signal: float) -> tuple[list[dict[str, Any]], AggregatorStep]:
        """Update estimates from the snapshot, dispatch ``signal`` [kW]; returns (dispatch messages, summary)."""
        msgs = self._work
        self._work = []
        self._register([m for m in msgs if m.get("type") == REGISTER], k)
        for m in msgs:
            if m.get("type") == DEREGISTER and m["unit"] in self.index:
                self.active[self.index[m["unit"]]] = False
        if self.p is None:
            return [], AggregatorStep(k, float(signal), 0.0, 0.0, 0, 0, 0, 0)
        p, Ts = self.p, self.cfg.Ts
        for kk in range(self.k + 1, k + 1):  # roll every estimate to step k (several steps if some were skipped)
            self.E = np.clip(self.E + Ts * self.P_assumed, p.Emin, p.Emax)
            self.running &= (p.kind != BAKERY) | (self.E < p.Emax)
            if kk < k:
                self.P_assumed, self.running = apply_command(p, kk, self.E, self.command, self.running, Ts,
                                                             self.available)
        reports, stale = self._apply_reports(msgs, k)
        silent = (k - 1) - self.last_heard
        self.managed &= silent <= self.cfg.keepalive_timeout
        self.managed |= reports  # a fresh report is a resync: re-admit
        managed = self.managed & self.active & self.available
        fixed_mask = ~managed & self.active
        P_pred, _ = apply_command(p, k, self.E, self.command, self.running, Ts, self.available)
        fixed = float(np.sum(P_pred[fixed_mask]))
        messages: list[dict[str, Any]] = []
        members = np.flatnonzero(managed)
        p_min = p_max = fixed
        if members.size:
            fleet = self._fleet_for(members)
            fleet.set_state(self.E[members], self.P_assumed[members], self.running[members], k)
            result = fleet.dispatch(k, float(signal) - fixed)
            p_min, p_max = fixed + result.p_agg_min, fixed + result.p_agg_max
            P_m = fleet.unit_power()
            self.command[members] = P_m
            messages = [{"type": DISPATCH, "unit": p.names[i], "k": k, "P": float(P_m[j])}
                        for j, i in enumerate(members.tolist())]
        self.P_assumed, self.running = apply_command(p, k, self.E, self.command, self.running, Ts, self.available)
        self.cmd_hist[k % self.cfg.history] = self.command
        self.k = k
        summary = AggregatorStep(k=k, signal=float(signal), planned=float(np.sum(self.P_assumed[self.active])), fixed=fixed,
                                 managed=int(members.size),
                                 unmanaged=int(np.sum(~self.managed & self.active & self.available)),
                                 reports=int(np.sum(reports)), stale=stale, p_min=p_min, p_max=p_max,
                                 unavailable=int(np.sum(~self.available & self.active)))
        return messages, summary

    def step(self, k: int, signal: float) -> tuple[list[dict[str, Any]], AggregatorStep]:
        """:meth:`begin_step` then :meth:`finish_step`."""
        self.begin_step(k)
        return self.finish_step(k, signal)

    def _fleet_for(self, members: np.ndarray) -> AgileFleet:
        if self._fleet is None or self._fleet_members is None or not np.array_equal(members, self._fleet_members):
            assert self.p is not None
            self._fleet = AgileFleet(self.p.subset(members), rules=self.cfg.rules, Ts=self.cfg.Ts)
            self._fleet_members = members.copy()
        return self._fleet

    def _apply_reports(self, msgs: list[dict[str, Any]], k: int) -> tuple[np.ndarray, int]:
        """Apply the snapshot's reports: returns (units with a fresh report, number of stale reports).

        Reports are judged in arrival order (a report no newer than the last accepted one for its unit is stale);
        the last accepted report of each unit is then rolled forward from its own step to ``k``, all units whose
        report is from the same step together (array operations, element for element what a per-unit walk gives).
        """
        assert self.p is not None
        p, Ts, H = self.p, self.cfg.Ts, self.cfg.history
        fresh = np.zeros(len(self.rows), dtype=bool)
        stale = 0
        known = self.k_known.copy()
        latest: dict[int, dict[str, Any]] = {}
        for m in msgs:
            kind = m.get("type")
            i = self.index.get(m.get("unit", ""))
            if i is None or kind not in (REPORT, KEEPALIVE):
                continue
            kr = int(m["k"])
            self.last_heard[i] = max(self.last_heard[i], kr)
            if kind == KEEPALIVE:
                continue
            if kr <= known[i] or kr >= k or k - kr >= H:
                stale += 1
                continue
            known[i] = kr
            latest[i] = m
        by_step: dict[int, list[int]] = {}
        for i, m in latest.items():
            by_step.setdefault(int(m["k"]), []).append(i)
        for kr, units in by_step.items():
            idx = np.array(units, dtype=np.int64)
            sub = p.subset(idx)
            E = np.array([float(latest[i]["E"]) for i in units])
            P = np.array([float(latest[i]["P"]) for i in units])
            run = np.array([bool(latest[i]["running"]) for i in units])
            avail = np.array([bool(latest[i].get("avail", True)) for i in units])
            for j in range(kr + 1, k):  # roll forward over the steps elapsed since the report
                E = np.clip(E + Ts * P, sub.Emin, sub.Emax)
                run &= (sub.kind != BAKERY) | (E < sub.Emax)
                P, run = apply_command(sub, j, E, self.cmd_hist[j % H, idx], run, Ts, avail)
            E = np.clip(E + Ts * P, sub.Emin, sub.Emax)   # and the step that brings it to k
            run &= (sub.kind != BAKERY) | (E < sub.Emax)
            self.E[idx], self.running[idx], self.k_known[idx], self.available[idx] = E, run, kr, avail
            fresh[idx] = True
        self.stale_total += stale
        return fresh, stale
