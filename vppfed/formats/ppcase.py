"""Read a TESP-style ``<case>_pp.json`` bulk-grid description into numpy arrays, with errors that name the field.

The file holds MATPOWER arrays (``version``, ``baseMVA``, ``bus``, ``gen``, ``branch``, ``areas``, ``gencost``) plus the
co-simulation keys TESP's ``tso_PYPOWER`` reads: ``DSO`` rows ``[bus, "SUBSTATION<bus>", scale, ...]``, ``UnitsOut``
``[[gen_index, t_out, t_in]]`` (0-based row of ``gen``, seconds from the start), ``BranchesOut`` (same for
``branch``), ``StartTime``, ``Tmax``, ``Period`` (OPF), ``dt`` (power flow), ``opf_dc``, ``pf_dc`` and an optional
``CSVFile`` of background (non-feeder) loads.

Background-load CSV: one row per ``CSVInterval`` seconds (default 300), looped over the day, comma-separated MW, an
optional header row, any line ending (TESP's ``NonGLDLoad.txt`` uses CR). ``CSVBuses`` (our extension; TESP ignores
unknown keys) names the bus of each column; without it the columns go, in order, to the buses with a non-zero ``Pd`` in
the ``bus`` array (TESP's TE30 layout: buses 5, 7, 9). A CSV value replaces that bus's static ``Pd``; its ``Qd`` is
scaled by the same factor so the power factor of the static row is kept.

Bottom layer: configs write these files, the bulk federate (:mod:`vppfed.federates.bulk`) and postprocess
(:mod:`vppfed.postprocess.ercot_plots`) read them here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vppfed.errors import UserError
from vppfed.io import load_json

__all__ = ["BulkCase", "DsoBus", "Outage", "BackgroundLoad", "PmaxProfile", "load_pp_case", "case_from_dict",
           "read_load_csv"]

# MATPOWER column counts (minimum) per array
_MIN_COLS = {"bus": 13, "gen": 10, "branch": 11}


@dataclass(frozen=True)
class DsoBus:
    """A transmission bus that hosts one simulated feeder scaled by ``scale`` (TESP's ``ampFactor``)."""

    bus: int
    name: str
    scale: float
    extra: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Outage:
    """Element ``index`` (0-based row) is out of service for ``t_out <= t < t_in`` (seconds from the start), or
    ``t_out <= t <= t_in`` when ``inclusive`` (TESP's ``tso_PYPOWER`` tests both ends)."""

    index: int
    t_out: float
    t_in: float
    inclusive: bool = False

    def active(self, t: float) -> bool:
        return self.t_out <= t <= self.t_in if self.inclusive else self.t_out <= t < self.t_in


@dataclass
class BackgroundLoad:
    """Looped background load: ``mw[row, column]`` at bus ``buses[column]``, one row per ``interval`` seconds."""

    buses: list[int]
    mw: np.ndarray
    interval: float = 300.0
    #: seconds by which a row takes effect early: row ``k`` is in force from ``k·interval − lead`` (TESP's
    #: ``tso_PYPOWER`` reads row ``(t + dt) // Period``, so the OPF at T − dt already sees the row of T)
    lead: float = 0.0
    #: the bus's reactive load follows the CSV in proportion (keeps the power factor); False keeps the static ``Qd``
    #: as TESP's ``tso_PYPOWER`` does
    q_follows: bool = True

    def at(self, t: float) -> np.ndarray:
        """MW per column at ``t`` seconds (the row in force, looped: step-wise as TESP reads it)."""
        row = int((t + self.lead) // self.interval) % self.mw.shape[0]
        return self.mw[row]


@dataclass(frozen=True)
class PmaxProfile:
    """A time-varying maximum output (wind, solar) of generator row ``index``: ``mw[k]`` from ``k·interval`` s,
    looped. Our extension ``PmaxProfiles: [[gen_index, interval_s, [MW, ...]], ...]`` (TESP ignores it)."""

    index: int
    interval: float
    mw: tuple[float, ...]

    def at(self, t: float) -> float:
        return self.mw[int(t // self.interval) % len(self.mw)]


@dataclass
class BulkCase:
    """A bulk-grid case: MATPOWER arrays (external bus numbers) plus the co-simulation schedule."""

    base_mva: float
    bus: np.ndarray
    gen: np.ndarray
    branch: np.ndarray
    gencost: np.ndarray
    areas: np.ndarray
    dso: list[DsoBus]
    units_out: list[Outage] = field(default_factory=list)
    branches_out: list[Outage] = field(default_factory=list)
    start_time: str = "2013-07-01 00:00:00"
    tmax: float = 172800.0
    period: float = 300.0
    dt: float = 15.0
    opf_dc: bool = True
    pf_dc: bool = False
    background: BackgroundLoad | None = None
    genfuel: list[str] | None = None
    pmax_profiles: list[PmaxProfile] = field(default_factory=list)
    source: str = "<dict>"

    def ppc(self) -> dict[str, Any]:
        """A PYPOWER case dict (copies) of the static arrays, for pypower's own solvers."""
        return {"version": "2", "baseMVA": self.base_mva, "bus": self.bus.copy(), "gen": self.gen.copy(),
                "branch": self.branch.copy(), "gencost": self.gencost.copy(), "areas": self.areas.copy()}


def _array(doc: dict[str, Any], key: str, where: str, required: bool = True) -> np.ndarray:
    if key not in doc:
        if required:
            raise UserError(f"{where}: field '{key}' is missing")
        return np.zeros((0, 2))
    try:
        arr = np.array(doc[key], dtype=float)
    except (TypeError, ValueError):
        raise UserError(f"{where}: field '{key}': expected a table of numbers") from None
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise UserError(f"{where}: field '{key}': expected a non-empty table (list of rows)")
    if key in _MIN_COLS and arr.shape[1] < _MIN_COLS[key]:
        raise UserError(f"{where}: field '{key}': rows need at least {_MIN_COLS[key]} columns, got {arr.shape[1]}")
    return arr


def _outages(doc: dict[str, Any], key: str, n: int, where: str) -> list[Outage]:
    rows = doc.get(key) or []
    out: list[Outage] = []
    for i, row in enumerate(rows):
        try:
            idx, t_out, t_in = int(row[0]), float(row[1]), float(row[2])
        except (TypeError, ValueError, IndexError):
            raise UserError(f"{where}: field '{key}[{i}]': expected [index, t_out, t_in]") from None
        if not 0 <= idx < n:
            raise UserError(f"{where}: field '{key}[{i}]': index {idx} outside 0..{n - 1}")
        if t_in < t_out:
            raise UserError(f"{where}: field '{key}[{i}]': t_in {t_in} before t_out {t_out}")
        out.append(Outage(idx, t_out, t_in))
    return out


def read_load_csv(path: Path, where: str) -> np.ndarray:
    """The MW table of a background-load CSV (``CSVFile``): one row per line, comma-separated, one column per bus.

    The one reader of these files, for our ``_pp.json`` and for TESP's own case JSON (``NonGLDLoad.txt``) alike, so
    a file that one of them accepts the other accepts too. Any line ending (TESP's uses CR); blank lines are skipped;
    the first non-blank line may be a header (it is skipped when it is not all numbers). Every cell of a data row must
    be a finite number: an **empty cell is an error**, wherever it is (a trailing comma included), because dropping
    it would silently move the values after it onto the next bus. All rows must have the first row's column count.
    ``where`` is the JSON that names the file; each error is one :class:`~vppfed.errors.UserError` line naming the
    CSV, the line and the field ``CSVFile`` of ``where``.
    """
    of = f"(field 'CSVFile' of {where})"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{where}: field 'CSVFile': cannot read {path} ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file {of}") from None
    rows: list[list[float]] = []
    seen_line = False
    for n, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")):
        line = line.strip()
        if not line:
            continue
        first, seen_line = not seen_line, True
        cells = [c.strip() for c in line.split(",")]
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if first and all(cells) and not any(_is_number(c) for c in cells):
                continue  # header row
            if "" in cells:
                raise UserError(f"{path}: line {n + 1}: empty cell in column {cells.index('') + 1} {of}") from None
            raise UserError(f"{path}: line {n + 1}: expected comma-separated MW values {of}") from None
        if not all(math.isfinite(v) for v in values):
            raise UserError(f"{path}: line {n + 1}: values must be finite {of}")
        if rows and len(values) != len(rows[0]):
            raise UserError(f"{path}: line {n + 1}: {len(values)} columns, the first row has {len(rows[0])} {of}")
        rows.append(values)
    if not rows:
        raise UserError(f"{path}: no rows {of}")
    return np.array(rows, dtype=float)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def case_from_dict(doc: dict[str, Any], source: str = "<dict>", base_dir: Path | None = None) -> BulkCase:
    """Build a :class:`BulkCase` from a parsed ``_pp.json`` mapping; ``base_dir`` resolves ``CSVFile``."""
    where = source
    if not isinstance(doc, dict):
        raise UserError(f"{where}: expected a JSON object")
    try:
        base_mva = float(doc.get("baseMVA", 100.0))
    except (TypeError, ValueError):
        raise UserError(f"{where}: field 'baseMVA': expected a number") from None
    bus = _array(doc, "bus", where)
    gen = _array(doc, "gen", where)
    branch = _array(doc, "branch", where)
    gencost = _array(doc, "gencost", where)
    if gencost.shape[0] != gen.shape[0]:
        raise UserError(f"{where}: field 'gencost': {gencost.shape[0]} rows for {gen.shape[0]} generators")
    areas = _array(doc, "areas", where, required=False)
    bus_ids = set(int(b) for b in bus[:, 0])
    for key, arr, cols in (("gen", gen, (0,)), ("branch", branch, (0, 1))):
        for c in cols:
            missing = sorted(set(int(b) for b in arr[:, c]) - bus_ids)
            if missing:
                raise UserError(f"{where}: field '{key}': refers to unknown bus(es) {missing}")
    dso: list[DsoBus] = []
    for i, row in enumerate(doc.get("DSO") or []):
        try:
            b, name, scale = int(row[0]), str(row[1]), float(row[2])
        except (TypeError, ValueError, IndexError):
            raise UserError(f"{where}: field 'DSO[{i}]': expected [bus, name, scale, ...]") from None
        if b not in bus_ids:
            raise UserError(f"{where}: field 'DSO[{i}]': unknown bus {b}")
        if scale <= 0:
            raise UserError(f"{where}: field 'DSO[{i}]': scale must be > 0")
        dso.append(DsoBus(b, name, scale, tuple(row[3:])))
    background = None
    if doc.get("CSVFile"):
        csv_path = Path(str(doc["CSVFile"]))
        if not csv_path.is_absolute():
            csv_path = (base_dir or Path.cwd()) / csv_path
        mw = read_load_csv(csv_path, where)
        if "CSVBuses" in doc:
            buses = [int(b) for b in doc["CSVBuses"]]
        else:
            buses = [int(b) for b in bus[bus[:, 2] != 0, 0]]
        if len(buses) != mw.shape[1]:
            raise UserError(f"{where}: field 'CSVBuses': {len(buses)} buses for {mw.shape[1]} CSV columns")
        unknown = sorted(set(buses) - bus_ids)
        if unknown:
            raise UserError(f"{where}: field 'CSVBuses': unknown bus(es) {unknown}")
        background = BackgroundLoad(buses, mw, float(doc.get("CSVInterval", 300.0)))
    try:
        period = float(doc.get("Period", 300))
        dt = float(doc.get("dt", 15))
        tmax = float(doc.get("Tmax", 172800))
    except (TypeError, ValueError):
        raise UserError(f"{where}: fields 'Period', 'dt', 'Tmax': expected numbers") from None
    if period <= 0 or dt <= 0:
        raise UserError(f"{where}: fields 'Period' and 'dt' must be > 0")
    genfuel = doc.get("genfuel")
    profiles: list[PmaxProfile] = []
    for i, row in enumerate(doc.get("PmaxProfiles") or []):
        try:
            idx, interval, mw = int(row[0]), float(row[1]), tuple(float(v) for v in row[2])
        except (TypeError, ValueError, IndexError):
            raise UserError(f"{where}: field 'PmaxProfiles[{i}]': expected [gen_index, interval_s, [MW, ...]]") from None
        if not 0 <= idx < gen.shape[0] or interval <= 0 or not mw:
            raise UserError(f"{where}: field 'PmaxProfiles[{i}]': bad generator index, interval or empty profile")
        profiles.append(PmaxProfile(idx, interval, mw))
    return BulkCase(
        base_mva=base_mva, bus=bus, gen=gen, branch=branch, gencost=gencost, areas=areas, dso=dso,
        units_out=_outages(doc, "UnitsOut", gen.shape[0], where),
        branches_out=_outages(doc, "BranchesOut", branch.shape[0], where),
        start_time=str(doc.get("StartTime", "2013-07-01 00:00:00")), tmax=tmax, period=period, dt=dt,
        opf_dc=bool(int(doc.get("opf_dc", 1))), pf_dc=bool(int(doc.get("pf_dc", 0))), background=background,
        genfuel=[str(g[0] if isinstance(g, list) else g) for g in genfuel] if genfuel else None,
        pmax_profiles=profiles, source=source)


def load_pp_case(path: str | Path) -> BulkCase:
    """Read ``<case>_pp.json``; a missing file or a wrong field is a :class:`~vppfed.errors.UserError`."""
    path = Path(path)
    doc = load_json(path, "PYPOWER case file (_pp.json)")
    return case_from_dict(doc, source=str(path), base_dir=path.parent)
