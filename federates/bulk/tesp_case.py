"""Read a TESP PYPOWER case JSON (``te30_pp.json`` and its kin) the way TESP's ``tso_pypower_loop`` reads it.

The file is used as it is given: nothing is rewritten, so TESP's own ``tso_pypower_loop`` can run on the same file
beside (or instead of) our bulk federate. The result is the :class:`~vppfed.federates.bulk.ppcase.BulkCase` the bulk
core already runs; what TESP's loop hard-wires to the TE30 layout is read here from the file's own structure:

``bus``, ``gen``, ``branch``, ``gencost``, ``areas``, ``baseMVA``
    MATPOWER version-2 arrays, bus numbers as given, bus types as given (TE30: bus 2 is the swing). An ERCOT-style
    ``swing_bus`` key makes that bus the reference bus.
``gen`` rows with a negative ``Pmin`` and ``Pmax <= 0`` (dispatchable loads)
    TESP's TE30 puts the responsive load of the DSO bus there (row 5 at bus 7, ``Pmin`` −80, zero cost) and
    rewrites its limits and cost from the market's bid at every OPF. A row at a DSO bus becomes that bus's
    responsive-load slot of the core (the core adds one per DSO bus, after the real units, so the ``gen_`` metrics
    keep TESP's row numbers when the row is the last one, as in TE30); its ``Pmin`` is ignored as TESP ignores it.
    A dispatchable load at any other bus stays a ``gen`` row with its own cost (MATPOWER's meaning).
``DSO``
    Rows ``[bus, name, scale, ...]``: the simulated feeder at ``bus`` stands for ``scale`` feeders (TESP's
    ``ampFactor``); its ``distribution_load`` (VA) enters the bus as ``Re(S)·scale/1e6`` MW.
``UnitsOut``, ``BranchesOut``
    ``[index, t_out, t_in]`` with 0-based rows of the file's ``gen``/``branch`` and seconds from the start; out of
    service for ``t_out <= t <= t_in`` (both ends included, as TESP tests them).
``CSVFile`` (TESP's ``NonGLDLoad.txt``)
    The non-GridLAB-D load in MW, one row per ``Period`` seconds, looped, any line ending (TESP's uses CR). Row
    ``(t + dt) // Period`` is in force at ``t`` (TESP reads it so, so that the OPF at T − dt sees the row of T).
    Column 0 is the static load of the first DSO bus (TE30: bus 7; the feeder's scaled load is added to it); the
    other columns go, in bus order, to the other buses with a non-zero ``Pd`` (TE30: buses 5 and 9). The CSV value
    replaces the bus's ``Pd``; ``Qd`` stays as given (TESP does not change it). Our key ``CSVBuses`` (bus of each
    column) overrides this mapping. Resolved relative to the JSON's folder (TESP resolves it relative to its
    working folder, which is the case folder). Read by :func:`vppfed.formats.ppcase.read_load_csv`, the reader of our
    own ``_pp.json`` CSVs too (an empty cell is an error; an optional header line is skipped).
``StartTime``, ``Tmax``, ``Period``, ``dt``, ``opf_dc``, ``pf_dc``
    Start, horizon (s), OPF period (s, run at T − dt), power-flow step (s), DC OPF and DC power flow switches.

What TESP's loop does that this reading leaves to the core's options: it moves the swing from bus 2 to bus 9 when
unit 2 is dispatched above 180 MW (the core's ``slack_sharing``, the default, shares the imbalance over the units
instead, which makes the choice of swing unit immaterial for dispatch), and it takes only the real part of the feeder
load (the core adds the feeder's reactive power too).

Bad input is one :class:`~vppfed.errors.UserError` line naming the file and the field.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vppfed.errors import UserError
from vppfed.io import load_json

from vppfed.formats.ppcase import BackgroundLoad, BulkCase, Outage, case_from_dict, read_load_csv

__all__ = ["load_tesp_case", "tesp_case_from_dict", "dispatchable_load_rows", "csv_buses"]

#: MATPOWER gen columns used here
_GEN_BUS, _PMAX, _PMIN = 0, 8, 9
_PD, _BUS_TYPE, _REF, _PV = 2, 1, 3, 2


def dispatchable_load_rows(gen: np.ndarray, dso_buses: list[int]) -> dict[int, int]:
    """``{row: bus}`` of the ``gen`` rows that are a DSO bus's dispatchable load (``Pmin < 0``, ``Pmax <= 0``).

    Only the first such row per DSO bus is taken (a second one stays an ordinary ``gen`` row).
    """
    rows: dict[int, int] = {}
    for r in range(gen.shape[0]):
        bus = int(gen[r, _GEN_BUS])
        if gen[r, _PMIN] < 0 and gen[r, _PMAX] <= 0 and bus in dso_buses and bus not in rows.values():
            rows[r] = bus
    return rows


def csv_buses(bus: np.ndarray, dso_buses: list[int], ncols: int) -> list[int]:
    """Bus of each CSV column as TESP's loop assigns them: column 0 the first DSO bus, the others the remaining
    buses with a non-zero static ``Pd`` in the order of the ``bus`` array (TE30: 7, 5, 9)."""
    loaded = [int(b) for b in bus[bus[:, _PD] != 0, 0]]
    first = dso_buses[0] if dso_buses else (loaded[0] if loaded else None)
    order = ([first] if first is not None else []) + [b for b in loaded if b != first]
    return order[:ncols]


def _remap_outages(outages: list[Outage], removed: set[int], key: str, where: str) -> list[Outage]:
    """Shift ``gen`` row indices past removed dispatchable-load rows; TESP's windows include ``t_in``."""
    out: list[Outage] = []
    for i, o in enumerate(outages):
        if o.index in removed:
            raise UserError(f"{where}: field '{key}[{i}]': row {o.index} is a DSO bus's dispatchable load; take the "
                            "responsive load out through the market instead")
        shift = sum(1 for r in removed if r < o.index)
        out.append(Outage(o.index - shift, o.t_out, o.t_in, inclusive=True))
    return out


def tesp_case_from_dict(doc: Any, source: str = "<dict>", base_dir: Path | None = None) -> BulkCase:
    """A :class:`BulkCase` from a parsed TESP case JSON; ``base_dir`` resolves ``CSVFile``. See the module
    docstring for how each field is read."""
    where = source
    if not isinstance(doc, dict):
        raise UserError(f"{where}: expected a JSON object")
    for key in ("bus", "gen", "branch", "gencost"):
        if key not in doc:
            raise UserError(f"{where}: field '{key}' is missing")
    if not doc.get("DSO"):
        raise UserError(f"{where}: field 'DSO': no DSO row ([bus, name, scale]) for the simulated feeder")
    for key in ("UnitsOut", "BranchesOut"):
        if doc.get(key) is not None and not isinstance(doc[key], list):
            raise UserError(f"{where}: field '{key}': expected a list of [index, t_out, t_in]")
    # the MATPOWER arrays, DSO rows and outages are checked by the common reader; the CSV is read here
    plain = {k: v for k, v in doc.items() if k not in ("CSVFile", "CSVBuses", "CSVInterval")}
    case = case_from_dict(plain, source=source, base_dir=base_dir)
    dso_buses = [d.bus for d in case.dso]
    disp = dispatchable_load_rows(case.gen, dso_buses)
    keep = [r for r in range(case.gen.shape[0]) if r not in disp]
    if not keep:
        raise UserError(f"{where}: field 'gen': no generator besides the dispatchable loads")
    case.gen = case.gen[keep]
    case.gencost = case.gencost[keep]
    if case.genfuel is not None and len(case.genfuel) == len(keep) + len(disp):
        case.genfuel = [case.genfuel[r] for r in keep]
    case.units_out = _remap_outages(case.units_out, set(disp), "UnitsOut", where)
    case.branches_out = [Outage(o.index, o.t_out, o.t_in, inclusive=True) for o in case.branches_out]
    if "swing_bus" in doc:
        try:
            swing = int(doc["swing_bus"])
        except (TypeError, ValueError):
            raise UserError(f"{where}: field 'swing_bus': expected a bus number") from None
        hits = np.flatnonzero(case.bus[:, 0].astype(int) == swing)
        if hits.size == 0:
            raise UserError(f"{where}: field 'swing_bus': unknown bus {swing}")
        case.bus[case.bus[:, _BUS_TYPE] == _REF, _BUS_TYPE] = _PV
        case.bus[hits[0], _BUS_TYPE] = _REF
    if case.period % case.dt:
        raise UserError(f"{where}: field 'Period': {case.period:g} s is not a multiple of dt ({case.dt:g} s)")
    if case.tmax <= 0:
        raise UserError(f"{where}: field 'Tmax': must be > 0 seconds")
    if doc.get("CSVFile"):
        csv_path = Path(str(doc["CSVFile"]))
        if not csv_path.is_absolute():
            csv_path = (base_dir or Path.cwd()) / csv_path
        mw = read_load_csv(csv_path, where)
        bus_ids = set(int(b) for b in case.bus[:, 0])
        if "CSVBuses" in doc:
            try:
                buses = [int(b) for b in doc["CSVBuses"]]
            except (TypeError, ValueError):
                raise UserError(f"{where}: field 'CSVBuses': expected a list of bus numbers") from None
            unknown = sorted(set(buses) - bus_ids)
            if unknown:
                raise UserError(f"{where}: field 'CSVBuses': unknown bus(es) {unknown}")
        else:
            buses = csv_buses(case.bus, dso_buses, mw.shape[1])
        if len(buses) != mw.shape[1]:
            raise UserError(f"{where}: field 'CSVFile': {mw.shape[1]} columns in {csv_path.name}, but only "
                            f"{len(buses)} load buses ({buses}) to put them on")
        case.background = BackgroundLoad(buses, mw, interval=case.period, lead=case.dt, q_follows=False)
    return case


def load_tesp_case(path: str | Path) -> BulkCase:
    """Read a TESP PYPOWER case JSON (e.g. ``te30_pp.json``) and its ``CSVFile`` as TESP's ``tso_pypower_loop``
    does; a missing file or a wrong field is one :class:`~vppfed.errors.UserError` line naming file and field."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a TESP PYPOWER case JSON")
    doc = load_json(path, "TESP PYPOWER case JSON")
    return tesp_case_from_dict(doc, source=str(path), base_dir=path.parent)
