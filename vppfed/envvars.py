"""The environment variables vppfed reads: how ``vppfed run`` (the launcher) talks to the federates it starts, and
where the reference data is.

Why one module: the launcher writes these and every federate's runtime reads them, in different processes and
layers (the launcher must not import the federates' HELICS runtime). Defined once here, in the bottom layer, a name
cannot drift between writer and reader.
"""
from __future__ import annotations

ENV_PROGRESS_DIR = "VPPFED_PROGRESS_DIR"
"""Folder where each federate writes its granted time (``<name>``), for the progress bar and the stall watch."""
ENV_PID_DIR = "VPPFED_PID_DIR"
"""Folder where each federate records the pids of processes it starts (a GridLAB-D worker), for clean-up."""
ENV_RESUME = "VPPFED_RESUME"
"""``1``: federates with saved state continue from it (``vppfed run --resume``)."""
ENV_PROFILE_DIR = "VPPFED_PROFILE_DIR"
"""Set by the user: each federate writes ``<name>.prof`` (cProfile) there; co-hosting is then off."""
ENV_CORE_INIT = "VPPFED_CORE_INIT"
"""HELICS core options appended to every vppfed federate's ``coreInitString`` (the launcher's watched-core flags)."""
ENV_SHARED_DATA = "VPPFED_SHARED_DATA"
"""Set by the user: the folder of the reference data (``shared/data``) when it is not beside the working folder."""
