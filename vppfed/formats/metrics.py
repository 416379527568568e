"""TESP-layout metrics files: ``<prefix>_<root>_metrics.json`` (ours and TESP's) and GridLAB-D-style ``.h5``.

:class:`vppfed.federates.metrics.MetricsWriter` writes them (see :mod:`vppfed.federates.metrics` for the layout);
postprocess and the configs (a forecast run's metrics) read them here, in the bottom layer, so no reader imports a
federate or postprocess module. TESP's readers look columns up by Metadata name and accept any key order; so do
these. A file cut short by a killed run is read up to its last complete sample (:func:`recover`).
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vppfed.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["metrics_path", "recover", "Metrics", "read_metrics", "find_metrics", "load_if_present"]


def metrics_path(directory: str | Path, prefix: str, root: str) -> Path:
    """TESP's file name for a metrics file: ``<directory>/<prefix>_<root>_metrics.json``."""
    return Path(directory) / f"{prefix}_{root}_metrics.json"


def recover(path: str | Path) -> dict[str, Any]:
    """Read a metrics JSON, dropping a partial last sample left by a crash; returns the parsed document.

    A file cut anywhere after its header still yields every complete sample, which is the point of writing one
    sample per line.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    lines = text.splitlines()
    while lines:
        candidate = "\n".join(lines).rstrip()
        if candidate.endswith("}"):
            candidate_closed = candidate + "\n}" if not candidate.endswith("\n}") else candidate
            for attempt in (candidate, candidate_closed):
                try:
                    return json.loads(attempt)
                except json.JSONDecodeError:
                    continue
        lines.pop()
    raise ValueError(f"{path}: not a metrics file (no complete header)")


log = logging.getLogger(__name__)

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
        import pandas as pd  # only here: the federates import this module and need no pandas

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
    """Read a metrics file (JSON or GridLAB-D-style HDF5) into :class:`Metrics`.

    A file that is empty, not UTF-8, not JSON or not in the metrics layout is a one-line
    :class:`~vppfed.errors.UserError` naming the file. A JSON file cut short (a killed run, a full disk) is read up
    to its last complete sample with a warning naming the file and what was cut.
    """
    path = Path(path)
    try:
        if path.suffix == ".h5":
            return _read_h5(path)
        return _read_json(path)
    except UserError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise UserError(f"{path}: not a readable metrics file ({type(exc).__name__}: {exc})") from None


def _read_json(path: Path) -> Metrics:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a metrics file (binary content, byte {exc.start} is not UTF-8)") from None
    if not text.strip():
        raise UserError(f"{path}: empty metrics file (the run wrote nothing; was it killed at start?)")
    try:
        doc = json.loads(text)
        cut = False
    except json.JSONDecodeError:
        try:
            doc = recover(path)
        except ValueError:
            raise UserError(f"{path}: not a metrics file (not JSON, or cut before its header was complete)") from None
        cut = True
    if not isinstance(doc, dict) or not isinstance(doc.get("Metadata", {}), dict):
        raise UserError(f"{path}: not a metrics file (expected StartTime, Metadata and samples by time)")
    start = str(doc.pop("StartTime", ""))
    meta = doc.pop("Metadata", {})
    try:
        columns = [name for name, _ in sorted(meta.items(), key=lambda kv: int(kv[1]["index"]))]
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path}: Metadata: every column needs an integer 'index'") from None
    units = {name: str(info.get("units", "")) for name, info in meta.items()}
    # GridLAB-D's own metrics_collector_writer writes null for a class without objects (ours writes {})
    doc = {k: ({} if v is None else v) for k, v in doc.items()}
    bad = [k for k in doc if not str(k).lstrip("-").isdigit() or not isinstance(doc[k], dict)]
    if bad:
        raise UserError(f"{path}: {str(bad[0])[:40]!r}: not a sample (expected integer seconds -> {{uid: [values]}})")
    samples = {int(k): v for k, v in doc.items()}
    times = np.array(sorted(samples), dtype=np.int64)
    if cut:
        last = f"t = {int(times[-1])} s" if len(times) else "no sample"
        log.warning("%s: file cut short (killed run?): read %d complete samples up to %s; the partial rest was "
                    "dropped", path, len(times), last)
    uid_set: set[str] = set()
    for sample in samples.values():
        uid_set.update(str(u) for u in sample.keys())
    uids = sorted(uid_set, key=_natural_key)
    values = np.full((len(times), len(uids), len(columns)), np.nan)
    uid_index = {u: i for i, u in enumerate(uids)}
    for ti, t in enumerate(times):
        for uid, row in samples[int(t)].items():
            if not isinstance(row, list):
                row = [row]
            row = row[:len(columns)]
            values[ti, uid_index[str(uid)], :len(row)] = [
                v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan for v in row]
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


def _case_root(run_dir: Path) -> str | None:
    """The metrics root of the case built into ``run_dir`` (its ``case.yaml`` copy), or None."""
    try:
        import yaml

        doc = yaml.safe_load((run_dir / "case.yaml").read_text(encoding="utf-8"))
        root = doc["case"].get("root") or doc["case"].get("name")
        return str(root) if root else None
    except Exception:  # noqa: BLE001 - no readable case copy: fall back to the file names alone
        return None


def find_metrics(run_dir: str | Path, prefix: str) -> Path | None:
    """The metrics file with ``prefix`` in ``run_dir`` (JSON preferred over .h5), or None.

    A run folder can hold two files of one prefix: the federates' ``<prefix>_<root>_metrics.json`` and, for a user's
    GLM with its own ``metrics_collector_writer``, GridLAB-D's ``<prefix>_<root>_gld_metrics.json``. The case's own
    root (from the folder's ``case.yaml``) wins; without one, a root ending in ``_gld`` comes last."""
    run_dir = Path(run_dir)
    root = _case_root(run_dir)
    for ext in ("json", "h5"):
        if root is not None and (run_dir / f"{prefix}_{root}_metrics.{ext}").is_file():
            return run_dir / f"{prefix}_{root}_metrics.{ext}"
    for ext in ("json", "h5"):
        hits = sorted(run_dir.glob(f"{prefix}_*_metrics.{ext}"))
        hits = [h for h in hits if _parse_name(h)[0] == prefix]
        hits.sort(key=lambda h: _parse_name(h)[1].endswith("_gld"))
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
