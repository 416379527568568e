"""COHDA: agents that agree on one operational schedule each so that the VPP total follows a target.

Pure core (no HELICS here): data classes (:mod:`.data`), messages and their byte codec (:mod:`.messages`), the
negotiation logic (:mod:`.agent`), the controller with overlay and weight-throwing termination detection
(:mod:`.controller`), the deterministic in-process transport (:mod:`.inproc`), instances (:mod:`.instance`),
baselines (:mod:`.baselines`), the beyond-1-opt improvement (:mod:`.improve`) and the possible schedules of feeder
devices (:mod:`.devices`). :func:`.solve.solve` ties them together. The HELICS adapter :mod:`.adapter` runs the same
agent code: agents as endpoints (roles agents and controller; :mod:`.helics_run` writes their federation for
``--transport helics`` and runs it with the runner it is given, the launcher from :mod:`vppfed.commands.cohda`) and
the day plan of a feeder's devices, played into GridLAB-D (role plan).
"""
from vppfed.federates.cohda.objectives import L1Objective, Objective, PeakShaving, ValleyFilling

__all__ = ["Objective", "L1Objective", "PeakShaving", "ValleyFilling"]
