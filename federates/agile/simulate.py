"""Run a portfolio against a whole signal and write/compare the reference output layout."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vppfed.errors import UserError
from vppfed.federates.agile.fleet import AgileFleet
from vppfed.federates.agile.portfolio import Portfolio
from vppfed.federates.agile.reference import LoopEngine
from vppfed.federates.agile.rules import StepSummary
from vppfed.formats.agile import read_output_csv  # noqa: F401

REFERENCE_COLUMNS = ("Timestep", "Residual", "Pbak", "Pbat", "PBkt", "VppOut")
"""Layout of the reference exports (``scenario1_combined_output.csv``): ``VppOut`` is the VPP power asked for at
that step (the signal) and ``Residual`` = signal - delivered, e.g. the 105-unit export at step 15: signal 0,
Residual -4.670793, Pbak 9.670793, PBkt -5.0, VppOut 0.0."""

OUTPUT_COLUMNS = REFERENCE_COLUMNS + ("Delivered",)
"""What ``vppfed agile vv`` writes: the reference layout with the same meanings, then the delivered power
(Pbak + Pbat + PBkt = VppOut - Residual), which the reference exports leave to be derived."""

Engine = Literal["vector", "loop"]


@dataclass
class Trace:
    """Everything a run produced: one summary per step and, if asked for, per-unit power and energy.

    ``power[s, i]`` is the power given to unit i at step s+1 [kW]; ``energy[s, i]`` its energy at the start of that
    step, after integration and before dispatch [kWh]; ``energy_end`` the energy after the last step's power has
    been integrated once more.
    """

    steps: list[StepSummary] = field(default_factory=list)
    power: np.ndarray | None = None
    energy: np.ndarray | None = None
    energy_end: np.ndarray | None = None

    def column(self, name: str) -> np.ndarray:
        """One StepSummary attribute over all steps."""
        return np.array([getattr(s, name) for s in self.steps], dtype=np.float64)


def make_engine(portfolio: Portfolio, rules: str, engine: Engine = "vector", Ts: float = 1.0):
    """An :class:`AgileFleet` (``vector``) or :class:`LoopEngine` (``loop``)."""
    if engine == "vector":
        return AgileFleet(portfolio, rules=rules, Ts=Ts)
    if engine == "loop":
        return LoopEngine(portfolio, rules=rules, Ts=Ts)
    raise ValueError(f"engine: must be 'vector' or 'loop', got {engine!r}")


def simulate(portfolio: Portfolio, signal: np.ndarray, rules: str = "strict", engine: Engine = "vector",
             Ts: float = 1.0, record_units: bool = False) -> Trace:
    """Dispatch ``signal[k-1]`` [kW] at steps k = 1..len(signal).

    Parameters
    ----------
    record_units : bool
        Keep per-unit power and energy (steps x units arrays); leave off for large portfolios.
    """
    eng = make_engine(portfolio, rules, engine, Ts)
    n, m = len(signal), len(portfolio)
    trace = Trace()
    if record_units:
        trace.power = np.empty((n, m))
        trace.energy = np.empty((n, m))
    for s, value in enumerate(signal):
        summary = eng.step(s + 1, float(value))
        trace.steps.append(summary)
        if record_units:
            trace.power[s] = eng.unit_power()
            trace.energy[s] = eng.unit_energy()
    if record_units:
        trace.energy_end = trace.energy[-1] + Ts * trace.power[-1] if n else portfolio.E0.copy()
    return trace


def _six(x: float) -> str:
    """Six decimals without ``-0.000000`` (a residual of -1e-12 is written as the exports write 0)."""
    return f"{(round(x, 6) or 0.0):.6f}"


def write_output_csv(trace: Trace, path: str | Path) -> None:
    """Write the per-step aggregates in the reference output layout (6 decimals), flushed row by row.

    ``VppOut`` is the signal of the step and ``Residual`` = signal - delivered, as in the reference exports; the
    delivered power follows in ``Delivered``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(OUTPUT_COLUMNS) + "\n")
        for s in trace.steps:
            cells = (s.residual, s.p_bakery, s.p_battery, s.p_bucket, s.signal, s.delivered)
            fh.write(f"{s.k}," + ",".join(_six(x) for x in cells) + "\n")
            fh.flush()


UNIT_TRACE_COLUMNS = ("Timestep", "Type-ID", "P", "E", "Emin", "Emax", "Pmin", "Pmax")


def write_unit_trace_csv(trace: Trace, portfolio: Portfolio, path: str | Path) -> None:
    """Long-format per-unit trace (one row per step and unit) for plots of energy against limits."""
    if trace.power is None or trace.energy is None:
        raise ValueError("trace: run simulate(..., record_units=True) to write a unit trace")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(UNIT_TRACE_COLUMNS) + "\n")
        for s in range(trace.power.shape[0]):
            for i, name in enumerate(portfolio.names):
                fh.write(f"{s + 1},{name},{trace.power[s, i]:.9g},{trace.energy[s, i]:.9g},{portfolio.Emin[i]:.9g},"
                         f"{portfolio.Emax[i]:.9g},{portfolio.Pmin[i]:.9g},{portfolio.Pmax[i]:.9g}\n")
        fh.flush()


@dataclass(frozen=True)
class Comparison:
    """Result of comparing two output CSVs column by column."""

    max_diff: dict[str, float]
    sum_abs_residual: tuple[float, float]
    tol: float
    rows: int
    not_compared: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(d <= self.tol for d in self.max_diff.values())


def compare_outputs(out_path: str | Path, ref_path: str | Path, tol: float = 1e-5,
                    key: str = "Timestep", residual: str = "Residual") -> Comparison:
    """Compare ``out_path`` with ``ref_path``: every reference column, same timesteps, ``|out - ref| <= tol``.

    Columns of ``out_path`` that the reference lacks (``Delivered`` of a ``vppfed agile vv`` output) are not compared:
    the reference exports derive the delivered power, they do not carry it.

    Returns per-column maximum absolute differences and ``sum |Residual|`` of both files.

    Raises
    ------
    UserError
        When the files cannot be compared at all (a reference column missing, different timesteps).
    """
    out, ref = read_output_csv(out_path), read_output_csv(ref_path)
    missing = [h for h in ref if h not in out]
    if missing:
        raise UserError(f"{out_path}: no column {','.join(missing)} (the reference {ref_path} has "
                        f"{','.join(ref)})")
    n_out, n_ref = len(next(iter(out.values()))), len(next(iter(ref.values())))
    if n_out != n_ref:
        raise UserError(f"{out_path}: {n_out} rows but {ref_path} has {n_ref}")
    if key in ref and not np.array_equal(out[key], ref[key]):
        bad = int(np.flatnonzero(out[key] != ref[key])[0])
        raise UserError(f"{out_path}: line {bad + 2}, column '{key}': {out[key][bad]:g} but {ref_path} has "
                        f"{ref[key][bad]:g}")
    diffs = {h: float(np.max(np.abs(out[h] - ref[h]))) if n_out else 0.0 for h in ref if h != key}
    sums = (float(np.sum(np.abs(out[residual]))) if residual in out else math.nan,
            float(np.sum(np.abs(ref[residual]))) if residual in ref else math.nan)
    return Comparison(max_diff=diffs, sum_abs_residual=sums, tol=float(tol), rows=n_out,
                      not_compared=tuple(h for h in out if h not in ref))
