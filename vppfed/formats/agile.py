"""The agile VPP's CSV files (reference layouts): signal, params and output readers (bottom layer).

The agile federate and ``vppfed agile vv`` write them (:mod:`vppfed.federates.agile`); postprocess reads them here,
without importing a federate core. Every error is one :class:`~vppfed.errors.UserError` naming file, line and column.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import IO, Iterator, Sequence

import numpy as np

from vppfed.errors import UserError

__all__ = ["SIGNAL_COLUMNS", "PARAM_COLUMNS", "read_signal_csv", "read_param_names", "read_output_csv"]

#: Header of a signal CSV (``Timestep`` 1, 2, ...; ``VPP Power`` in kW).
SIGNAL_COLUMNS = ("Timestep", "VPP Power")
#: Header of a params CSV (the reference ``*_params.csv``); -1 marks a parameter that does not apply to the unit type.
PARAM_COLUMNS = ("Type-ID", "P", "E", "Pmax", "Pmin", "Emax", "Emin", "Tend", "Trun")


def read_signal_csv(path: str | Path) -> np.ndarray:
    """Read ``Timestep,VPP Power`` [kW]; timesteps must be 1, 2, 3, ... (step k is element k-1).

    Raises
    ------
    UserError
        Naming file, line and column of a bad value or a gap in the timesteps.
    """
    path = Path(path)
    values = []
    for line_no, row in _csv_rows(path, SIGNAL_COLUMNS):
        step = _number(row[0], path, line_no, "Timestep")
        if step != len(values) + 1:
            raise UserError(f"{path}: line {line_no}, column 'Timestep': expected {len(values) + 1}, got {row[0].strip()}")
        values.append(_number(row[1], path, line_no, "VPP Power"))
    if not values:
        raise UserError(f"{path}: no timesteps (only a header)")
    return np.asarray(values, dtype=np.float64)


def read_param_names(path: str | Path) -> list[str]:
    """The unit names (``Type-ID``) of a params CSV in file order; header, row length and duplicates are checked.

    For readers that need the units' order only (postprocess); the federates read the whole portfolio with
    :func:`vppfed.federates.agile.portfolio.read_params_csv`.
    """
    path = Path(path)
    names: list[str] = []
    seen: dict[str, int] = {}
    for line_no, row in _csv_rows(path, PARAM_COLUMNS):
        name = row[0].strip()
        if name in seen:
            raise UserError(f"{path}: line {line_no}, column 'Type-ID': duplicate unit {name!r} (first on line "
                            f"{seen[name]})")
        seen[name] = line_no
        names.append(name)
    return names


def _open_csv(path: Path) -> IO[str]:
    """Open a CSV the user named; a missing or unreadable file is one UserError line naming it."""
    try:
        return path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def read_output_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read an output CSV (any numeric columns, header first) into arrays; errors name file, line and column."""
    path = Path(path)
    fh = _open_csv(path)
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise UserError(f"{path}: empty file (expected a header such as {','.join(OUTPUT_COLUMNS)})")
        header = [h.strip().lstrip("\ufeff") for h in header]
        if len(set(header)) != len(header):
            raise UserError(f"{path}: line 1: duplicate column names in {','.join(header)}")
        cols: dict[str, list[float]] = {h: [] for h in header}
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise UserError(f"{path}: line {reader.line_num}: expected {len(header)} columns, got {len(row)}")
            for h, cell in zip(header, row):
                try:
                    v = float(cell)
                except ValueError:
                    raise UserError(f"{path}: line {reader.line_num}, column '{h}': expected a number, "
                                    f"got {cell.strip()!r}") from None
                if not math.isfinite(v):
                    raise UserError(f"{path}: line {reader.line_num}, column '{h}': must be finite, got {cell!r}")
                cols[h].append(v)
    return {h: np.asarray(v, dtype=np.float64) for h, v in cols.items()}


def _csv_rows(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, cells) of a CSV whose header must equal ``columns``; errors name file and line."""
    fh = _open_csv(path)
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise UserError(f"{path}: empty file (expected header {','.join(columns)})")
        header = [h.strip().lstrip("\ufeff") for h in header]
        if header != list(columns):
            raise UserError(f"{path}: line 1: header must be {','.join(columns)}, got {','.join(header)}")
        for row in reader:
            line_no = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(columns):
                raise UserError(f"{path}: line {line_no}: expected {len(columns)} columns, got {len(row)}")
            yield line_no, row


def _number(text: str, path: Path, line_no: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{path}: line {line_no}, column '{column}': expected a number, got {text.strip()!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{path}: line {line_no}, column '{column}': must be finite, got {text.strip()!r}")
    return value
