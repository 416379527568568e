"""The CHARGE / REST / SELL state machine of the battery manager.

Why explicit states: the original manager (seed 003) kept three booleans that could contradict each other and changed
them in several places. Here the state is one :class:`BatteryState`, only :meth:`StateMachine.step` changes it, only
along the edges CHARGE -> REST -> SELL -> REST -> CHARGE (REST may also return to the direction it came from), and
every change is logged with its cause and kept in :attr:`StateMachine.transitions` for the metrics.

Guards, checked in this order on every step:

* CHARGE -> REST: voltage at/above ``v_full`` (the current stops in the same step), SOC at/above ``soc_high``, the
  charge window closed, the policy wants to discharge, or it wanted nothing for ``idle_rest_s``.
* SELL -> REST: voltage at/below ``v_empty``, SOC at/below ``soc_low``, the sell window closed, the policy wants
  to charge, or it wanted nothing for ``idle_rest_s`` (a peak-shaving battery waits in SELL through the short dips
  of an evening peak, but not through the whole next day).
* REST -> CHARGE / SELL: only after ``rest_min_s`` in REST, when the policy wants that direction, its window is open,
  the SOC is at least ``soc_hysteresis`` away from the stop threshold and the voltage is inside the limits.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Any

from vppfed.federates.battery.config import BatteryConfig, in_window

LOG = logging.getLogger(__name__)


class BatteryState(str, enum.Enum):
    """Operating state of the string; the value is what metrics and the persisted state store."""

    CHARGE = "CHARGE"
    REST = "REST"
    SELL = "SELL"

    @property
    def code(self) -> int:
        """Numeric code for plots and metrics: CHARGE -1, REST 0, SELL +1 (the sign of the power)."""
        return {"CHARGE": -1, "REST": 0, "SELL": 1}[self.value]


ALLOWED: frozenset[tuple[BatteryState, BatteryState]] = frozenset({
    (BatteryState.CHARGE, BatteryState.REST),
    (BatteryState.REST, BatteryState.SELL),
    (BatteryState.SELL, BatteryState.REST),
    (BatteryState.REST, BatteryState.CHARGE),
})


@dataclass(frozen=True)
class Transition:
    """One state change: when [s], from, to, and why (a short machine-readable cause)."""

    t_s: float
    source: BatteryState
    target: BatteryState
    cause: str

    def to_dict(self) -> dict[str, Any]:
        return {"t_s": self.t_s, "source": self.source.value, "target": self.target.value, "cause": self.cause}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Transition":
        return cls(float(data["t_s"]), BatteryState(data["source"]), BatteryState(data["target"]), str(data["cause"]))


@dataclass
class Observation:
    """What the state machine looks at on one step."""

    t_s: float  # simulation time [s]
    hour: float  # local hour of day [h], for the windows
    soc: float  # estimated state of charge [pu]
    voltage_v: float | None  # string voltage [V], None when unknown
    wanted_w: float  # power the policy asks for [W], > 0 discharge, < 0 charge


@dataclass
class StateMachine:
    """CHARGE / REST / SELL with guarded transitions; see the module docstring for the rules."""

    config: BatteryConfig
    state: BatteryState = BatteryState.REST
    entered_at_s: float = 0.0
    transitions: list[Transition] = field(default_factory=list)
    idle_since_s: float | None = None  # since when the policy has wanted 0 W in an active state

    def _go(self, t_s: float, target: BatteryState, cause: str) -> None:
        if (self.state, target) not in ALLOWED:
            raise RuntimeError(f"illegal battery state transition {self.state.value} -> {target.value} ({cause})")
        transition = Transition(t_s, self.state, target, cause)
        LOG.info("t=%.0f s: %s -> %s (%s)", t_s, self.state.value, target.value, cause)
        self.transitions.append(transition)
        self.state = target
        self.entered_at_s = t_s
        self.idle_since_s = None

    def _exit_cause(self, obs: Observation) -> str | None:
        """Why the current CHARGE/SELL state must end now, or None."""
        cfg = self.config
        v = obs.voltage_v
        if self.state is BatteryState.CHARGE:
            if v is not None and v >= cfg.v_full:
                return "voltage_full"
            if obs.soc >= cfg.soc_high:
                return "soc_high"
            if not in_window(obs.hour, cfg.charge_window_h):
                return "charge_window_closed"
            if obs.wanted_w > 0:
                return "policy_discharge"
            if self._idle_long_enough(obs):
                return "policy_idle"
        elif self.state is BatteryState.SELL:
            if v is not None and v <= cfg.v_empty:
                return "voltage_empty"
            if obs.soc <= cfg.soc_low:
                return "soc_low"
            if not in_window(obs.hour, cfg.sell_window_h):
                return "sell_window_closed"
            if obs.wanted_w < 0:
                return "policy_charge"
            if self._idle_long_enough(obs):
                return "policy_idle"
        return None

    def _idle_long_enough(self, obs: Observation) -> bool:
        """Track how long the policy has wanted 0 W; True once that lasted ``idle_rest_s`` (0 disables)."""
        if obs.wanted_w != 0.0:
            self.idle_since_s = None
            return False
        if self.idle_since_s is None:
            self.idle_since_s = obs.t_s
        return self.config.idle_rest_s > 0 and obs.t_s - self.idle_since_s >= self.config.idle_rest_s

    def _entry(self, obs: Observation) -> tuple[BatteryState, str] | None:
        """Which active state REST may enter now, with its cause, or None."""
        cfg = self.config
        if obs.t_s - self.entered_at_s < cfg.rest_min_s:
            return None
        v = obs.voltage_v
        if obs.wanted_w < 0 and in_window(obs.hour, cfg.charge_window_h) \
                and obs.soc <= cfg.soc_high - cfg.soc_hysteresis and (v is None or v < cfg.v_full):
            return BatteryState.CHARGE, "policy_charge"
        if obs.wanted_w > 0 and in_window(obs.hour, cfg.sell_window_h) \
                and obs.soc >= cfg.soc_low + cfg.soc_hysteresis and (v is None or v > cfg.v_empty):
            return BatteryState.SELL, "policy_discharge"
        return None

    def step(self, obs: Observation) -> BatteryState:
        """Apply the guards for one step and return the state in force for this step's command.

        An active state that must end goes to REST at ``obs.t_s`` (so a voltage breach zeroes the very command being
        computed); REST may enter an active state in the same call only after its minimum rest time.
        """
        if self.state is not BatteryState.REST:
            cause = self._exit_cause(obs)
            if cause is not None:
                self._go(obs.t_s, BatteryState.REST, cause)
        else:
            entry = self._entry(obs)
            if entry is not None:
                self._go(obs.t_s, *entry)
        return self.state

    def could_run(self, direction: BatteryState, hour: float, soc: float, voltage_v: float | None = None) -> bool:
        """Whether the machine could be in ``direction`` (CHARGE or SELL) at local ``hour`` with ``soc``.

        What a market bid may offer: a state already active continues until its stop threshold; otherwise the entry
        guard (hysteresis away from the threshold, voltage inside the limits) must hold; the window must be open.
        The minimum rest is not checked (a bid is for a later interval).
        """
        cfg = self.config
        if direction is BatteryState.CHARGE:
            if not in_window(hour, cfg.charge_window_h) or (voltage_v is not None and voltage_v >= cfg.v_full):
                return False
            limit = cfg.soc_high if self.state is BatteryState.CHARGE else cfg.soc_high - cfg.soc_hysteresis
            return soc < limit if self.state is BatteryState.CHARGE else soc <= limit
        if direction is BatteryState.SELL:
            if not in_window(hour, cfg.sell_window_h) or (voltage_v is not None and voltage_v <= cfg.v_empty):
                return False
            limit = cfg.soc_low if self.state is BatteryState.SELL else cfg.soc_low + cfg.soc_hysteresis
            return soc > limit if self.state is BatteryState.SELL else soc >= limit
        return False

    def clip(self, wanted_w: float) -> float:
        """The part of ``wanted_w`` [W] the current state allows, within the inverter limits."""
        if self.state is BatteryState.CHARGE:
            return max(min(wanted_w, 0.0), -self.config.max_charge_w)
        if self.state is BatteryState.SELL:
            return min(max(wanted_w, 0.0), self.config.max_discharge_w)
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "entered_at_s": self.entered_at_s, "idle_since_s": self.idle_since_s,
                "transitions": [t.to_dict() for t in self.transitions]}

    @classmethod
    def from_dict(cls, config: BatteryConfig, data: dict[str, Any]) -> "StateMachine":
        idle = data["idle_since_s"]
        return cls(config, BatteryState(data["state"]), float(data["entered_at_s"]),
                   [Transition.from_dict(t) for t in data["transitions"]], None if idle is None else float(idle))


__all__ = ["ALLOWED", "BatteryState", "Observation", "StateMachine", "Transition"]
