"""The one metrics writer: TESP's ``<prefix>_<root>_metrics.json`` layout, valid after every flushed sample.

TESP's readers (``process_*``) pop ``StartTime`` and ``Metadata`` and ``int()`` every other key, then look columns up
by their Metadata name. A run that is killed must keep what it wrote, so the file is kept a complete JSON document
after every :meth:`MetricsWriter.write`: each sample goes on its own line and the closing brace is rewritten after
it. A crash in the middle of a write leaves at most one partial last line, which :func:`recover` (and the reader in
:mod:`vppfed.postprocess.metrics_reader`) drops. An optional HDF5 copy in GridLAB-D's layout is written at close.

Layout::

    {"StartTime": "2013-07-01 00:00:00 PDT",
     "Metadata": {"LMP_P": {"index": 0, "units": "USD/kwh"}, ...},
    "300": {"7": [0.021, 0.0, ...]},
    "600": {"7": [...]}
    }
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from vppfed.formats.metrics import metrics_path, recover

__all__ = ["MetricsWriter", "metrics_path", "recover"]

_HEADER_END = "\n"
_CLOSE = "\n}\n"


def _number(value: Any) -> Any:
    """JSON-safe value: NaN/inf become None (JSON has no NaN), numpy scalars become Python numbers."""
    if type(value) is float:   # the common case first: a feeder writes hundreds of values a row
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsWriter:
    """Append samples to a TESP-layout metrics file, keeping it valid JSON after each sample.

    Parameters
    ----------
    directory : path
        Folder of the run (the file is named by :func:`metrics_path`).
    prefix : str
        TESP prefix such as ``bus``, ``house``, ``auction``, ``battery``.
    root : str
        Metrics root of the run (``TE_ChallengeH`` in TESP's TE30).
    columns : sequence of (name, units)
        Column names and units in ``index`` order.
    start_time : str
        ``StartTime`` value, e.g. ``"2013-07-01 00:00:00 PDT"``.
    resume_after : int, optional
        Reopen an existing file and keep only samples at or before this time (seconds), for a resumed run.
    h5 : bool
        Also write a GridLAB-D-style HDF5 copy (``.h5``) when closed.
    """

    def __init__(self, directory: str | Path, prefix: str, root: str, columns: Sequence[tuple[str, str]],
                 start_time: str, *, resume_after: int | None = None, h5: bool = False) -> None:
        self.path = metrics_path(directory, prefix, root)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.columns = [(str(n), str(u)) for n, u in columns]
        names = [n for n, _ in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.path.name}: duplicate column names in {names}")
        self.start_time = start_time
        self.h5 = h5
        self._samples: list[tuple[int, dict[str, list[Any]]]] = []
        self._count = 0
        kept: list[tuple[int, dict[str, Any]]] = []
        if resume_after is not None and self.path.exists():
            doc = recover(self.path)
            kept = sorted(((int(k), v) for k, v in doc.items() if k not in ("StartTime", "Metadata")
                           and int(k) <= resume_after), key=lambda kv: kv[0])
        self._fh = open(self.path, "wb")
        header = {"StartTime": start_time,
                  "Metadata": {name: {"index": i, "units": units} for i, (name, units) in enumerate(self.columns)}}
        head = json.dumps(header, separators=(", ", ": "))
        # drop the closing brace: samples follow, then the brace (ASCII only: json.dumps escapes the rest)
        self._fh.write((head[:-1] + _HEADER_END + _CLOSE[1:]).encode("ascii"))
        self._fh.flush()
        for t, rows in kept:
            self._append(t, rows)

    # The file always ends with "}\n" after the last complete sample; appending overwrites those two bytes.
    def _append(self, t: int, rows: Mapping[str, Any]) -> None:
        self._fh.seek(-len(_CLOSE) + 1, os.SEEK_END)
        line = "," + json.dumps(str(int(t))) + ": " + json.dumps(rows, separators=(",", ":")) + _CLOSE
        self._fh.write(line.encode("ascii"))
        self._fh.flush()
        self._count += 1
        if self.h5:
            self._samples.append((int(t), dict(rows)))

    def write(self, t: float, rows: Mapping[str, Sequence[Any] | Mapping[str, Any]]) -> None:
        """Write the sample at ``t`` seconds: ``rows`` maps each uid to its values (a list in column order, or a
        mapping column name → value, missing columns written as null)."""
        out: dict[str, list[Any]] = {}
        names = [n for n, _ in self.columns]
        for uid, values in rows.items():
            if isinstance(values, Mapping):
                unknown = set(values) - set(names)
                if unknown:
                    raise KeyError(f"{self.path.name}: unknown column(s) {sorted(unknown)} for '{uid}'")
                vals = [_number(values.get(n)) for n in names]
            else:
                vals = [_number(v) for v in values]
                if len(vals) != len(names):
                    raise ValueError(f"{self.path.name}: '{uid}' has {len(vals)} values for {len(names)} columns")
            out[str(uid)] = vals
        self._append(int(round(t)), out)

    @property
    def samples_written(self) -> int:
        """How many samples this writer has in its file (kept ones of a resumed file included)."""
        return self._count

    def close(self) -> None:
        """Make the file durable (fsync) and write the HDF5 copy if asked; safe to call twice."""
        if self._fh.closed:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        if self.h5:
            self._write_h5()

    def _write_h5(self) -> None:
        """GridLAB-D-style HDF5: a ``Metadata`` table of (name, value) and one compound dataset ``index1``."""
        import h5py  # optional output; imported only when asked
        import numpy as np

        path = self.path.with_suffix(".h5")
        meta = [(n.encode(), u.encode()) for n, u in self.columns] + [(b"StartTime", self.start_time.encode())]
        fields = [("time", "i8"), ("name", "S48")] + [(n, "f8") for n, _ in self.columns]
        rows = [tuple([t, uid.encode()] + [np.nan if v is None or isinstance(v, str) else float(v) for v in vals])
                for t, sample in self._samples for uid, vals in sample.items()]
        with h5py.File(path, "w") as f:
            f.create_dataset("Metadata", data=np.array(meta, dtype=[("name", "S48"), ("value", "S28")]))
            f.create_dataset("index1", data=np.array(rows, dtype=fields))

    def __enter__(self) -> "MetricsWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
