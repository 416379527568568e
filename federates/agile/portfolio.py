"""A portfolio of bucket/battery/bakery units and its CSV layout (the reference ``*_params.csv``).

The portfolio is immutable parameter data in *file order*: the dispatch rules break every tie in a sort by file
order, so the order of rows is part of the input. Mutable state (energy, last power) lives in the dispatch engines.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vppfed.errors import UserError
from vppfed.formats.agile import PARAM_COLUMNS, _csv_rows, _number  # noqa: F401

BUCKET, BATTERY, BAKERY = 0, 1, 2
"""Unit type codes (``Portfolio.kind``)."""

PREFIX_TO_KIND = {"Bkt": BUCKET, "Bat": BATTERY, "Bak": BAKERY}
KIND_TO_PREFIX = {v: k for k, v in PREFIX_TO_KIND.items()}
KIND_NAMES = {BUCKET: "bucket", BATTERY: "battery", BAKERY: "bakery"}

FLOAT_FIELDS = ("P0", "E0", "Pmax", "Pmin", "Emax", "Emin", "Tend", "Trun")
_COLUMN_OF_FIELD = dict(zip(FLOAT_FIELDS, PARAM_COLUMNS[1:]))


@dataclass(frozen=True)
class Portfolio:
    """Parameters of every unit, one numpy array per field, in file order.

    Attributes
    ----------
    names : tuple of str
        ``Bkt-1``, ``Bat-7``, ... as in the file.
    kind : ndarray of int8
        BUCKET, BATTERY or BAKERY.
    ident : ndarray of int64
        The number after the prefix (used by the ``2015b`` bakery tie-break).
    P0, E0 : ndarray
        Initial power [kW] and energy [kWh].
    Pmax, Pmin : ndarray
        Power limits [kW] (Pmin <= 0 <= Pmax; Pmin = 0 for batteries and bakeries).
    Emax, Emin : ndarray
        Energy limits [kWh]. The model says a bakery's Emax = Pmax * Trun, but the reference scenario 1 has a bakery
        with Emax < Pmax * Trun (its last step runs at partial power), so Emax is taken as given, not checked.
    Tend : ndarray
        Deadline step of batteries and bakeries (-1 for buckets).
    Trun : ndarray
        Run length [steps] of bakeries (-1 otherwise).
    """

    names: tuple[str, ...]
    kind: np.ndarray
    ident: np.ndarray
    P0: np.ndarray
    E0: np.ndarray
    Pmax: np.ndarray
    Pmin: np.ndarray
    Emax: np.ndarray
    Emin: np.ndarray
    Tend: np.ndarray
    Trun: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def count(self, kind: int) -> int:
        """Number of units of one type."""
        return int(np.count_nonzero(self.kind == kind))

    def subset(self, index: Sequence[int] | np.ndarray) -> "Portfolio":
        """The units at ``index`` (kept in the given order), e.g. the share of one unit-host federate."""
        index = np.asarray(index, dtype=np.int64)
        return Portfolio(
            names=tuple(self.names[i] for i in index),
            kind=self.kind[index], ident=self.ident[index],
            **{f: getattr(self, f)[index] for f in FLOAT_FIELDS},
        )


def make_portfolio(rows: Iterable[Sequence], where: str = "portfolio") -> Portfolio:
    """Build and validate a portfolio from rows ``(name, P, E, Pmax, Pmin, Emax, Emin, Tend, Trun)``.

    Raises
    ------
    UserError
        Naming ``where`` and the unit when a name or a limit is impossible.
    """
    rows = list(rows)
    names, kinds, idents = [], [], []
    values = np.zeros((len(rows), len(FLOAT_FIELDS)), dtype=np.float64)
    for i, row in enumerate(rows):
        name = str(row[0]).strip()
        kinds.append(_kind_of(name, f"{where}: unit {i + 1}"))
        idents.append(_ident_of(name, f"{where}: unit {i + 1}"))
        names.append(name)
        values[i] = [float(v) for v in row[1:]]
    portfolio = Portfolio(
        names=tuple(names), kind=np.asarray(kinds, dtype=np.int8), ident=np.asarray(idents, dtype=np.int64),
        **{f: values[:, j].copy() for j, f in enumerate(FLOAT_FIELDS)},
    )
    problems = check_limits(portfolio)
    if problems:
        unit, field, reason = problems[0]
        raise UserError(f"{where}: unit {portfolio.names[unit]} (row {unit + 1}), {field}: {reason}")
    return portfolio


def check_limits(p: Portfolio) -> list[tuple[int, str, str]]:
    """Every (unit index, column, reason) whose parameters break the unit model; empty when valid."""
    problems: list[tuple[int, str, str]] = []
    for i in range(len(p)):
        k = int(p.kind[i])
        if not p.Pmax[i] > 0:
            problems.append((i, "Pmax", f"must be > 0, got {p.Pmax[i]:g}"))
        if p.Pmin[i] > 0:
            problems.append((i, "Pmin", f"must be <= 0, got {p.Pmin[i]:g}"))
        if not p.Emin[i] <= p.E0[i] <= p.Emax[i]:
            problems.append((i, "E", f"must lie in [Emin, Emax] = [{p.Emin[i]:g}, {p.Emax[i]:g}], got {p.E0[i]:g}"))
        if not p.Pmin[i] <= p.P0[i] <= p.Pmax[i]:
            problems.append((i, "P", f"must lie in [Pmin, Pmax], got {p.P0[i]:g}"))
        if k in (BATTERY, BAKERY):
            if p.Pmin[i] != 0:
                problems.append((i, "Pmin", f"a {KIND_NAMES[k]} cannot return energy: must be 0, got {p.Pmin[i]:g}"))
            if not p.Tend[i] >= 1:
                problems.append((i, "Tend", f"must be a step >= 1, got {p.Tend[i]:g}"))
        if k == BAKERY:
            if not (p.Trun[i] >= 1 and float(p.Trun[i]).is_integer()):
                problems.append((i, "Trun", f"must be a whole number of steps >= 1, got {p.Trun[i]:g}"))
    return problems


def _kind_of(name: str, where: str) -> int:
    prefix = name.split("-", 1)[0]
    if prefix not in PREFIX_TO_KIND or "-" not in name:
        raise UserError(f"{where}: Type-ID {name!r} must start with Bkt-, Bat- or Bak- followed by a number")
    return PREFIX_TO_KIND[prefix]


def _ident_of(name: str, where: str) -> int:
    tail = name.split("-", 1)[1]
    try:
        return int(tail)
    except ValueError:
        raise UserError(f"{where}: Type-ID {name!r}: the part after '-' must be a whole number") from None


def read_params_csv(path: str | Path) -> Portfolio:
    """Read a params CSV in the reference layout (``Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun``).

    Raises
    ------
    UserError
        Naming the file, line and column of the first bad value.
    """
    path = Path(path)
    rows = []
    for line_no, row in _csv_rows(path, PARAM_COLUMNS):
        name = row[0].strip()
        _kind_of(name, f"{path}: line {line_no}, column 'Type-ID'")
        _ident_of(name, f"{path}: line {line_no}, column 'Type-ID'")
        numbers = [_number(row[j], path, line_no, PARAM_COLUMNS[j]) for j in range(1, len(PARAM_COLUMNS))]
        rows.append((name, *numbers))
    if not rows:
        raise UserError(f"{path}: no units (only a header)")
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r[0] in seen:
            raise UserError(f"{path}: line {i + 2}, column 'Type-ID': duplicate unit {r[0]!r} (first on line "
                            f"{seen[r[0]] + 2})")
        seen[r[0]] = i
    portfolio = make_portfolio(rows, where=str(path))
    return portfolio


def write_params_csv(portfolio: Portfolio, path: str | Path) -> None:
    """Write ``portfolio`` in the reference params layout (6 decimals, like the reference exports)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = np.column_stack([getattr(portfolio, f) for f in FLOAT_FIELDS])
    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(PARAM_COLUMNS) + "\n")
        for name, vals in zip(portfolio.names, cols):
            fh.write(name + "," + ",".join(f"{v:.6f}" for v in vals) + "\n")
