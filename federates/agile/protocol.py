"""Messages between the aggregator and the units, and the rule a unit applies to a command.

Messages are small dicts (JSON over HELICS endpoints), always carrying the sender's own step ``k``:

``register``    unit -> aggregator, at start: ``unit`` and its parameters (the params CSV row) and state, with
                ``avail`` when the unit starts unavailable
``report``      unit -> aggregator, every step: energy ``E`` at the start of step ``k`` (after integration), the
                power ``P`` it applies during step ``k``, bakery ``running`` and, from hosts of real devices, ``avail``
                (false while the device cannot take power, e.g. an EV that is not plugged in); a report is also a
                keep-alive
``keepalive``   unit -> aggregator, on steps without a report
``dispatch``    aggregator -> unit: power ``P`` for step ``k``
``deregister``  unit -> aggregator, at the end

:func:`apply_command` is the unit's own safety rule, used by the units *and* by the aggregator to predict them: the
command is clipped to the limits of the current step, never below the unit's forced power (``strict`` agility), a
started bakery keeps running until full and an idle bakery that is told to run starts at full power; an unavailable
unit takes nothing. Whatever the network does, a unit that follows this rule never leaves its power or energy limits.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, FLOAT_FIELDS, Portfolio

REGISTER, REPORT, KEEPALIVE, DISPATCH, DEREGISTER = "register", "report", "keepalive", "dispatch", "deregister"
RELIABLE_TYPES = frozenset({REGISTER, DEREGISTER})
"""Sent reliably (retried by the transport): the link model never drops or delays them."""


def register_message(portfolio: Portfolio, i: int, k: int = 0, available: bool = True) -> dict[str, Any]:
    """Registration of unit ``i`` of ``portfolio`` with its parameters (``avail`` only when it starts unavailable)."""
    msg: dict[str, Any] = {"type": REGISTER, "unit": portfolio.names[i], "k": k}
    for f in FLOAT_FIELDS:
        msg[f] = float(getattr(portfolio, f)[i])
    if not available:
        msg["avail"] = False
    return msg


def forced_strict(p: Portfolio, k: int, E: np.ndarray, running: np.ndarray, Ts: float = 1.0) -> np.ndarray:
    """Forced power [kW] under the ``strict`` definitions for every unit (0 for buckets)."""
    room = np.maximum(np.minimum(p.Pmax, (p.Emax - E) / Ts), 0.0)
    is_bat, is_bak = p.kind == BATTERY, p.kind == BAKERY
    K_bat = p.Tend - k - (p.Emax - E) / (Ts * p.Pmax)
    f_bat = np.where(K_bat > 1, 0.0, np.where(K_bat > 0, np.minimum(p.Pmax * (1 - K_bat), room), room))
    K_bak = p.Tend - p.Trun - k
    f_bak = np.where(running | (K_bak <= 0), room, 0.0)
    return np.where(is_bat, f_bat, np.where(is_bak, f_bak, 0.0))


def apply_command(p: Portfolio, k: int, E: np.ndarray, command: np.ndarray, running: np.ndarray,
                  Ts: float = 1.0, available: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Power each unit applies at step ``k`` given its energy [kWh] and the last command [kW].

    ``available`` (default: all) marks units that can take power at all this step; the others apply 0 kW (an EV
    that is away cannot charge, whatever its forced power says).

    Returns
    -------
    power : ndarray
        Within ``[max(Pmin, (Emin-E)/Ts), min(Pmax, (Emax-E)/Ts)]`` and at least the forced power [kW].
    running : ndarray of bool
        Bakery running flags after this step's decision.
    """
    up = np.maximum(np.minimum(p.Pmax, (p.Emax - E) / Ts), 0.0)
    down = np.maximum(np.minimum(-p.Pmin, (E - p.Emin) / Ts), 0.0)
    forced = forced_strict(p, k, E, running, Ts)
    P = np.clip(command, -down, up)
    P = np.where(p.kind == BUCKET, P, np.maximum(P, forced))  # buckets have no floor (forced is 0, not a minimum)
    is_bak = p.kind == BAKERY
    start = is_bak & (running | (forced > 0) | (command > 0)) & (up > 0)
    P = np.where(is_bak, np.where(start, up, 0.0), P)
    if available is not None:
        P = np.where(available, P, 0.0)
    return P, (running | (is_bak & (P > 0)))
