"""The neighbourhood run record (``neighbourhood_run.json``) as postprocess reads it (bottom layer).

The record is written by the neighbourhood's run code (an in-process run, or ``vppfed run`` joining the co-simulated
federates' parts with :func:`vppfed.federates.neighbourhood.protocol.assemble_run_record`); figures and reports only
read it, through this module, so they need no federate core. A contract in the record is the dict of
:meth:`vppfed.federates.neighbourhood.model.Contract.to_dict`: ``house``, ``start_s`` (s since the neighbourhood's
start) and ``profile`` (``times_s`` relative to the start, ``cumulative_wh``; a cumulative curve, linear in time
between samples).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["RECORD_FILE", "SETUP_FILE", "read_run_record", "job_power_series_kw"]

#: the run record of one run folder
RECORD_FILE = "neighbourhood_run.json"
#: what the case builder tells the neighbourhood federates (households, feeder mapping, run length)
SETUP_FILE = "neighbourhood_setup.json"


def read_run_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The run record of ``run_dir``, or None when the folder has none (not a neighbourhood run, a run that failed
    before its parts were joined, or an unreadable file)."""
    path = Path(run_dir) / RECORD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def job_power_series_kw(contracts: Iterable[Mapping[str, Any]], households: Sequence[str],
                        edges_s: np.ndarray) -> np.ndarray:
    """Mean job power per household (rows, in ``households`` order) in each interval between ``edges_s``, kW.

    ``contracts`` are record dicts (see the module docstring). Energy-exact: each interval gets the difference of
    the job's cumulative load at its ends (Wh) over its length, so the series holds exactly the jobs' energy on any
    grid of edges.
    """
    edges = np.asarray(edges_s, dtype=float)
    index = {h: i for i, h in enumerate(households)}
    out = np.zeros((len(households), max(edges.size - 1, 0)))
    widths = np.diff(edges)
    for c in contracts:
        i = index.get(c["house"])
        if i is None:
            continue
        profile = c["profile"]
        cumulative = np.interp(edges - float(c["start_s"]), np.asarray(profile["times_s"], dtype=float),
                               np.asarray(profile["cumulative_wh"], dtype=float))
        out[i] += np.diff(cumulative) * 3.6 / widths
    return out
