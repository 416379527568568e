"""Unit side of the VPP: many units behind one host (one federate process), each with its own physics and clock.

Per step ``k`` the host integrates every unit's energy over the step just finished, takes the newest command per
unit that arrived (older or future-tagged commands are ignored), applies :func:`~.protocol.apply_command` (so a unit
that hears nothing keeps ``clip(last P)``, never below its forced power, and a started bakery keeps running) and
returns one report per unit (every ``report_every`` steps, keep-alives in between).

A host of *real devices* (GridLAB-D objects behind the feeder federate, see :mod:`.devices`) passes a
:class:`Measurement` to :meth:`UnitHost.step`: measured energies replace the integrated ones (a battery's state of
charge knows its losses, the model does not), and availability says which units can take power at all (an EV that is
not at home). Its reports then carry ``avail``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from vppfed.federates.agile.portfolio import BAKERY, BUCKET, Portfolio
from vppfed.federates.agile.protocol import DEREGISTER, DISPATCH, KEEPALIVE, REPORT, apply_command, register_message


@dataclass
class Measurement:
    """State read from real devices at the start of a step, in the host's unit order.

    Attributes
    ----------
    E : ndarray
        Energy [kWh]; NaN where the host keeps integrating its own model (e.g. a bakery counts its batch itself).
    available : ndarray of bool
        Whether each unit can take power this step.
    P_meas : ndarray
        Power each unit delivered during the previous step [kW] (NaN if not measured).
    """

    E: np.ndarray
    available: np.ndarray
    P_meas: np.ndarray


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
    available : ndarray of bool, optional
        Initial availability of each unit. Giving it makes the host track availability (reports carry ``avail``);
        without it every unit is always available, as in the reference model.
    discharge_efficiency : ndarray, optional
        Per unit, the share of stored energy that reaches the grid when a bucket gives energy back (1 = lossless).
        A bucket then gives back at most ``eff * (E - Emin) / Ts`` so that its real energy stays above ``Emin``.
    """

    def __init__(self, portfolio: Portfolio, Ts: float = 1.0, report_every: int = 1,
                 silent: Iterable[str] = (), available: np.ndarray | None = None,
                 discharge_efficiency: np.ndarray | None = None) -> None:
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
        silent = set(silent)
        self.silent = np.array([name in silent for name in portfolio.names], dtype=bool)
        self.track_availability = available is not None
        self.available = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool).copy()
        self.eta_d = (np.ones(n) if discharge_efficiency is None
                      else np.asarray(discharge_efficiency, dtype=np.float64).copy())
        self.P_meas = np.full(n, np.nan)
        self.k = 0

    def registrations(self) -> list[dict[str, Any]]:
        """One ``register`` message per unit (sent at step 0)."""
        return [register_message(self.p, i, 0, bool(self.available[i])) for i in range(len(self.p))]

    def deregistrations(self) -> list[dict[str, Any]]:
        return [{"type": DEREGISTER, "unit": name, "k": self.k} for name in self.p.names]

    def step(self, k: int, commands: Iterable[dict[str, Any]],
             measured: Measurement | None = None) -> list[dict[str, Any]]:
        """Advance to step ``k`` (one integration per elapsed step), apply commands, return reports.

        With ``measured``, measured energies replace the integrated ones and availability is updated before the
        command is applied.
        """
        Ts = self.Ts
        for _ in range(self.k, k - 1):  # steps skipped by the caller: hold power, one integration each
            self.E = np.clip(self.E + Ts * self.P, self.p.Emin, self.p.Emax)
        if k > self.k:
            self.E = np.clip(self.E + Ts * self.P * 1, self.p.Emin, self.p.Emax)
        if measured is not None:
            self.E = np.where(np.isfinite(measured.E), measured.E, self.E)
            self.available = np.asarray(measured.available, dtype=bool).copy()
            self.P_meas = np.asarray(measured.P_meas, dtype=np.float64).copy()
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
        avail = self.available if self.track_availability else None
        self.P, self.running = apply_command(self.p, k, self.E, self.command, self.running, Ts, avail)
        lossy = (self.p.kind == BUCKET) & (self.eta_d < 1.0)
        if np.any(lossy):
            floor = -self.eta_d * np.maximum(self.E - self.p.Emin, 0.0) / Ts
            self.P = np.where(lossy, np.maximum(self.P, floor), self.P)
        self.k = k
        live = np.flatnonzero(~self.silent)
        if k % self.report_every == 0:
            reports = [{"type": REPORT, "unit": self.p.names[i], "k": k, "E": float(self.E[i]), "P": float(self.P[i]),
                        "running": bool(self.running[i])} for i in live]
            if self.track_availability:
                for r, i in zip(reports, live):
                    r["avail"] = bool(self.available[i])
            return reports
        return [{"type": KEEPALIVE, "unit": self.p.names[i], "k": k} for i in live]
