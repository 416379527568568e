"""Messages between the aggregator and the units, and the rule a unit applies to a command.

Messages are small dicts (JSON over HELICS endpoints), always carrying the sender's own step ``k``:

``register``    unit -> aggregator, at start: ``unit`` and its parameters (the params CSV row) and state
``report``      unit -> aggregator, every step: energy ``E`` at the start of step ``k`` (after integration), the
                power ``P`` it applies during step ``k``, bakery ``running``; a report is also a keep-alive
``keepalive``   unit -> aggregator, on steps without a report
``dispatch``    aggregator -> unit: power ``P`` for step ``k``
``deregister``  unit -> aggregator, at the end

:func:`apply_command` is the unit's own safety rule, used by the units *and* by the aggregator to predict them: the
command is clipped to the limits of the current step, never below the unit's forced power (``strict`` agility), a
started bakery keeps running until full and an idle bakery that is told to run starts at full power. Whatever the
network does, a unit that follows this rule never leaves its power or energy limits.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, FLOAT_FIELDS, Portfolio

REGISTER, REPORT, KEEPALIVE, DISPATCH, DEREGISTER = "register", "report", "keepalive", "dispatch", "deregister"
RELIABLE_TYPES = frozenset({REGISTER, DEREGISTER})
"""Sent reliably (retried by the transport): the link model never drops or delays them."""


def register_message(portfolio: Portfolio, i: int, k: int = 0) -> dict[str, Any]:
    """Registration of unit ``i`` of ``portfolio`` with its parameters."""
    msg: dict[str, Any] = {"type": REGISTER, "unit": portfolio.names[i], "k": k}
    for f in FLOAT_FIELDS:
        msg[f] = float(getattr(portfolio, f)[i])
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
                  Ts: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Power each unit applies at step ``k`` given its energy [kWh] and the last command [kW].

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
    return P, (running | (is_bak & (P > 0)))
