"""Unit side of the VPP: many units behind one host (one federate process), each with its own physics and clock.

Per step ``k`` the host integrates every unit's energy over the step just finished, takes the newest command per
unit that arrived (older or future-tagged commands are ignored), applies :func:`~.protocol.apply_command` (so a unit
that hears nothing keeps ``clip(last P)``, never below its forced power, and a started bakery keeps running) and
returns one report per unit (every ``report_every`` steps, keep-alives in between).
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from vppfed.federates.agile.portfolio import BAKERY, Portfolio
from vppfed.federates.agile.protocol import DEREGISTER, DISPATCH, KEEPALIVE, REPORT, apply_command, register_message


class UnitHost:
    """The true state of a group of units.

    Parameters
    ----------
    portfolio : Portfolio
        The units of this host.
    Ts : float
        Step length [h].
    report_every : int
        Send a full report every this many steps, a keep-alive on the others.
    silent : iterable of str
        Units that never send anything (fault injection: a dead radio).
    """

    def __init__(self, portfolio: Portfolio, Ts: float = 1.0, report_every: int = 1,
                 silent: Iterable[str] = ()) -> None:
        self.p = portfolio
        self.Ts = float(Ts)
        self.report_every = max(1, int(report_every))
        self.index = {name: i for i, name in enumerate(portfolio.names)}
        n = len(portfolio)
        self.E = portfolio.E0.copy()
        self.P = portfolio.P0.copy()
        self.command = portfolio.P0.copy()
        self.command_k = np.zeros(n, dtype=np.int64)
        self.running = np.zeros(n, dtype=bool)
        self.silent = np.array([name in set(silent) for name in portfolio.names], dtype=bool)
        self.k = 0

    def registrations(self) -> list[dict[str, Any]]:
        """One ``register`` message per unit (sent at step 0)."""
        return [register_message(self.p, i, 0) for i in range(len(self.p))]

    def deregistrations(self) -> list[dict[str, Any]]:
        return [{"type": DEREGISTER, "unit": name, "k": self.k} for name in self.p.names]

    def step(self, k: int, commands: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Advance to step ``k`` (one integration per elapsed step), apply commands, return reports."""
        Ts = self.Ts
        for _ in range(self.k, k - 1):  # steps skipped by the caller: hold power, one integration each
            self.E = np.clip(self.E + Ts * self.P, self.p.Emin, self.p.Emax)
        if k > self.k:
            self.E = np.clip(self.E + Ts * self.P * 1, self.p.Emin, self.p.Emax)
        is_bak = self.p.kind == BAKERY
        self.running &= ~is_bak | (self.E < self.p.Emax)
        for cmd in commands:
            if cmd.get("type") != DISPATCH:
                continue
            i = self.index.get(cmd["unit"])
            if i is None:
                continue
            tag = int(cmd["k"])
            if self.command_k[i] < tag <= k:   # newest command wins; late ones are stale, future ones impossible
                self.command[i] = float(cmd["P"])
                self.command_k[i] = tag
        self.P, self.running = apply_command(self.p, k, self.E, self.command, self.running, Ts)
        self.k = k
        if k % self.report_every == 0:
            return [{"type": REPORT, "unit": self.p.names[i], "k": k, "E": float(self.E[i]), "P": float(self.P[i]),
                     "running": bool(self.running[i])} for i in np.flatnonzero(~self.silent)]
        return [{"type": KEEPALIVE, "unit": self.p.names[i], "k": k} for i in np.flatnonzero(~self.silent)]
