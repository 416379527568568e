"""Readers of TESP-layout metrics: ``<prefix>_<root>_metrics.json`` (ours and TESP's) and GridLAB-D-style ``.h5``.

TESP's readers look columns up by Metadata name and accept any key order; so do these. A file cut short by a killed
run is read up to its last complete sample (:func:`vppfed.federates.metrics.recover`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from vppfed.federates.metrics import recover

_NAME = re.compile(r"^(?P<prefix>[A-Za-z]+(?:_meter)?)_(?P<root>.+)_metrics\.(?P<ext>json|h5)$")


@dataclass
class Metrics:
    """One metrics file as arrays.

    Attributes
    ----------
    prefix, root : str
        From the file name ``<prefix>_<root>_metrics.json``.
    start_time : str
        The file's ``StartTime``.
    columns : list of str
        Column names in ``index`` order; ``units`` maps each to its unit.
    times : ndarray of int
        Sample times, seconds after StartTime, sorted.
    uids : list of str
        Object names (uid keys), sorted.
    values : ndarray, shape (times, uids, columns)
        NaN where a sample lacks a uid or a value.
    """

    prefix: str
    root: str
    start_time: str
    columns: list[str]
    units: dict[str, str]
    times: np.ndarray
    uids: list[str]
    values: np.ndarray

    def column(self, name: str) -> np.ndarray:
        """Values of column ``name``, shape (times, uids)."""
        try:
            return self.values[:, :, self.columns.index(name)]
        except ValueError:
            raise KeyError(f"{self.prefix}_{self.root}_metrics: no column '{name}' "
                           f"(columns: {', '.join(self.columns)})") from None

    def series(self, uid: str) -> dict[str, np.ndarray]:
        """Every column of one object: ``{column: values over time}``."""
        try:
            i = self.uids.index(str(uid))
        except ValueError:
            raise KeyError(f"{self.prefix}_{self.root}_metrics: no object '{uid}'") from None
        return {name: self.values[:, i, c] for c, name in enumerate(self.columns)}

    def hours(self) -> np.ndarray:
        """Sample times in hours."""
        return self.times / 3600.0

    def frame(self, column: str) -> pd.DataFrame:
        """One column as a DataFrame indexed by time in seconds with one column per uid."""
        return pd.DataFrame(self.column(column), index=self.times, columns=self.uids)

    def datetimes(self) -> list[datetime]:
        """Sample times as datetimes (the zone suffix of StartTime is ignored)."""
        start = datetime.strptime(self.start_time[:19], "%Y-%m-%d %H:%M:%S")
        return [start + timedelta(seconds=int(t)) for t in self.times]


def _parse_name(path: Path) -> tuple[str, str]:
    match = _NAME.match(path.name)
    if not match:
        return path.stem, ""
    return match.group("prefix"), match.group("root")


def read_metrics(path: str | Path) -> Metrics:
    """Read a metrics file (JSON or GridLAB-D-style HDF5) into :class:`Metrics`."""
    path = Path(path)
    if path.suffix == ".h5":
        return _read_h5(path)
    doc = recover(path)
    start = str(doc.pop("StartTime", ""))
    meta = doc.pop("Metadata", {})
    columns = [name for name, _ in sorted(meta.items(), key=lambda kv: kv[1]["index"])]
    units = {name: str(info.get("units", "")) for name, info in meta.items()}
    times = np.array(sorted(int(k) for k in doc), dtype=np.int64)
    uid_set: set[str] = set()
    for sample in doc.values():
        uid_set.update(sample.keys())
    uids = sorted(uid_set, key=_natural_key)
    values = np.full((len(times), len(uids), len(columns)), np.nan)
    uid_index = {u: i for i, u in enumerate(uids)}
    for ti, t in enumerate(times):
        for uid, row in doc[str(t)].items():
            values[ti, uid_index[uid], :len(row)] = [np.nan if v is None or isinstance(v, str) else v for v in row]
    prefix, root = _parse_name(path)
    return Metrics(prefix, root, start, columns, units, times, uids, values)


def _read_h5(path: Path) -> Metrics:
    import h5py

    with h5py.File(path, "r") as f:
        meta = [(n.decode(), v.decode()) for n, v in f["Metadata"][()]]
        start = dict(meta).get("StartTime", "")
        frames = [f[name][()] for name in sorted(k for k in f.keys() if k.startswith("index"))]
    data = np.concatenate(frames) if frames else np.zeros(0)
    columns = [n for n in data.dtype.names if n not in ("time", "date", "name")] if data.size else []
    units = {n: v for n, v in meta if n != "StartTime"}
    times = np.unique(data["time"]) if data.size else np.zeros(0, dtype=np.int64)
    uids = sorted({n.decode() for n in data["name"]}, key=_natural_key) if data.size else []
    values = np.full((len(times), len(uids), len(columns)), np.nan)
    if data.size:
        ti = np.searchsorted(times, data["time"])
        ui = {u: i for i, u in enumerate(uids)}
        idx = np.array([ui[n.decode()] for n in data["name"]])
        for ci, c in enumerate(columns):
            values[ti, idx, ci] = data[c]
    prefix, root = _parse_name(path)
    return Metrics(prefix, root, start, columns, units, times, uids, values)


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def find_metrics(run_dir: str | Path, prefix: str) -> Path | None:
    """The metrics file with ``prefix`` in ``run_dir`` (JSON preferred over .h5), or None."""
    run_dir = Path(run_dir)
    for ext in ("json", "h5"):
        hits = sorted(run_dir.glob(f"{prefix}_*_metrics.{ext}"))
        hits = [h for h in hits if _parse_name(h)[0] == prefix]
        if hits:
            return hits[0]
    return None


def load_if_present(run_dir: str | Path, prefix: str) -> Metrics | None:
    """:func:`read_metrics` of the ``prefix`` file in ``run_dir`` if there is one with at least one sample."""
    path = find_metrics(run_dir, prefix)
    if path is None:
        return None
    metrics = read_metrics(path)
    return metrics if len(metrics.times) else None
