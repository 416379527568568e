"""COHDA: agents that agree on one operational schedule each so that the VPP total follows a target.

Pure core (no HELICS here): data classes (:mod:`.data`), messages and their byte codec (:mod:`.messages`), the
negotiation logic (:mod:`.agent`), the controller with overlay and weight-throwing termination detection
(:mod:`.controller`), the deterministic in-process transport (:mod:`.inproc`), instances (:mod:`.instance`),
baselines (:mod:`.baselines`) and the beyond-1-opt improvement (:mod:`.improve`). :func:`.solve.solve` ties them
together. The HELICS adapter lives in :mod:`.helics_transport` and runs the same agent code.
"""
from vppfed.federates.cohda.objectives import L1Objective, Objective, PeakShaving, ValleyFilling

__all__ = ["Objective", "L1Objective", "PeakShaving", "ValleyFilling"]
