"""Battery manager: coulomb counting, a CHARGE/REST/SELL state machine, peak shaving and crash-safe state.

The pure core (everything here except :mod:`.federate` and :mod:`.__main__`) imports no HELICS, so it is unit-tested
on its own; the HELICS adapter in :mod:`.federate` only maps feeder measurements onto
:meth:`~vppfed.federates.battery.manager.BatteryManager.step` and publishes the inverter setpoint it returns.
"""
