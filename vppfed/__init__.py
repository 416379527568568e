"""vppfed: HELICS co-simulation federates for virtual power plants.

The top-level package holds what every federate and command shares: the command line (:mod:`vppfed.cli`), the launcher
(:mod:`vppfed.launcher`) and the error type that turns bad user input into one clear line (:mod:`vppfed.errors`).
The federates, config generators, cases and post-processing live in ``vppfed.federates``, ``vppfed.configs``,
``vppfed.cases`` and ``vppfed.postprocess``.
"""
from __future__ import annotations

__version__ = "0.1.0"
