"""Battery manager: coulomb counting, a CHARGE/REST/SELL state machine, peak shaving and crash-safe state.

The pure core (everything here except :mod:`.adapter` and :mod:`.__main__`) imports no HELICS, so it is unit-tested
on its own; the HELICS adapter in :mod:`.adapter` only maps feeder measurements onto
:meth:`~vppfed.federates.battery.manager.BatteryManager.step` and publishes the inverter setpoint it returns.
"""
from vppfed.federates.battery.config import BatteryConfig
from vppfed.federates.battery.coulomb import CoulombCounter
from vppfed.federates.battery.manager import BatteryManager, StepInput, StepOutput
from vppfed.federates.battery.state_machine import BatteryState, StateMachine, Transition

__all__ = [
    "BatteryConfig",
    "BatteryManager",
    "BatteryState",
    "CoulombCounter",
    "StateMachine",
    "StepInput",
    "StepOutput",
    "Transition",
]
