"""A GridLAB-D model driven step by step through the PyPI ``gridlabd`` bindings, with every trap handled once.

Why a wrapper (FACTS.md, gridlabd-devices.md §1): ``load_glm``/``step_to``/``set_property`` return codes instead of
raising, and the parser's own explanation (``f.glm(302): missing ; ...``) goes to the worker's stderr, not to
``get_messages()``; ``step_to`` to an earlier time is a silent no-op; the typed reads mangle polar values; killing the
parent can leave the worker process alive. :class:`GridlabdSession` checks every code and raises
:class:`GridlabdError` with GridLAB-D's own messages, keeps the worker's stderr in a log file, converts HELICS seconds
through :class:`~vppfed.federates.feeder.clock.GldClock` only, reads untyped and parses with
:mod:`~vppfed.federates.feeder.gld_strings`, records the worker pid in a file if asked and kills the worker on
:meth:`close` (also from ``__exit__`` on exceptions; the runtime turns SIGTERM/SIGINT into an exception).

It also times what it does (``stats``): seconds spent in ``step_to`` (the solve) versus property reads and writes.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vppfed.federates.feeder.clock import GldClock
from vppfed.federates.feeder.gld_strings import format_complex

log = logging.getLogger(__name__)

__all__ = ["GridlabdError", "GridlabdSession", "SessionStats"]

# Creating the worker swaps sys.stderr for a moment (the bindings pass it to Popen): one spawn at a time.
_SPAWN_LOCK = threading.Lock()


_TZ_RE = re.compile(r"^\s*timezone\s+([^;\s]+)\s*;", re.MULTILINE)


def _glm_timezone(glm: Path) -> str | None:
    """The ``timezone`` of a GLM's clock block (first match), or None."""
    match = _TZ_RE.search(glm.read_text(encoding="utf-8", errors="replace"))
    return match.group(1).strip("'\"") if match else None


class GridlabdError(RuntimeError):
    """GridLAB-D refused a model, a step or a property; the message carries GridLAB-D's own words."""


@dataclass
class SessionStats:
    """Wall seconds and call counts of a session (for the benchmark and the federate's closing log line)."""

    load_s: float = 0.0
    solve_s: float = 0.0
    read_s: float = 0.0
    write_s: float = 0.0
    steps: int = 0
    reads: int = 0
    writes: int = 0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


class GridlabdSession:
    """One GridLAB-D model in its own worker process.

    Parameters
    ----------
    glm : path
        The model. Relative paths inside it resolve against its folder.
    pid_file : path, optional
        Where to write the worker's pid while it lives (the launcher ends it if this process dies uncleanly).
    worker_log : path, optional
        File for the worker's stderr (GridLAB-D's parser and solver diagnostics); a temporary file if None.
    timezone : str, optional
        GridLAB-D zone name of the model; read from the GLM's ``clock`` block if None (the bindings do not expose it).
    """

    def __init__(self, glm: str | Path, *, pid_file: str | Path | None = None,
                 worker_log: str | Path | None = None, timezone: str | None = None) -> None:
        self.glm = Path(glm).resolve()
        self.timezone = timezone
        self.pid_file = Path(pid_file) if pid_file else None
        self._worker_log_given = worker_log is not None
        self.worker_log = Path(worker_log) if worker_log else None
        self._gld: Any = None
        self.clock: GldClock | None = None
        self.time_s: float | None = None   # HELICS seconds GridLAB-D has reached (None before the first step)
        self.stats = SessionStats()

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> "GridlabdSession":
        """Start the worker and load the model; raise :class:`GridlabdError` with GridLAB-D's messages on failure."""
        import gridlabd  # the worker process is the heavy part; importing here keeps the core importable without it

        if not self.glm.is_file():
            raise GridlabdError(f"{self.glm}: GLM file not found")
        if self.worker_log is None:
            fd, name = tempfile.mkstemp(prefix="gridlabd_worker_", suffix=".log")
            os.close(fd)
            self.worker_log = Path(name)
        self.worker_log.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with _SPAWN_LOCK, open(self.worker_log, "w", encoding="utf-8") as errfile:
            saved = sys.stderr
            sys.stderr = errfile  # IsolatedGridLabD(verbose=True) hands sys.stderr to the worker's Popen
            try:
                self._gld = gridlabd.GridLabD(verbose=True)
            finally:
                sys.stderr = saved
        # verbose only served to route the worker's stderr to our file; off again, so the bindings do not echo
        # GridLAB-D's stdout chatter onto our stderr
        self._gld._verbose = False
        try:
            if self.pid_file is not None:
                self.pid_file.parent.mkdir(parents=True, exist_ok=True)
                self.pid_file.write_text(f"{self.pid}\n", encoding="utf-8")
            code = self._gld.load_glm(str(self.glm), workdir=str(self.glm.parent))
            if code != 0:
                raise GridlabdError(f"{self.glm.name}: GridLAB-D could not load the model (code {code}):\n"
                                    + self._diagnostics())
            start = self._gld.global_getvar("starttime").strip()
            # the bindings answer '' for the global 'timezone': take it from the GLM's clock block
            zone = self.timezone or _glm_timezone(self.glm)
            if not zone:
                raise GridlabdError(f"{self.glm.name}: no 'timezone' in the clock block; pass timezone=...")
            self.clock = GldClock(start=start[:19], timezone=zone)
            self.clock.zone  # noqa: B018 - fail now on a zone we cannot convert
        except BaseException:
            self.close()
            raise
        self.stats.load_s += time.perf_counter() - t0
        log.info("GridLAB-D worker %s loaded %s (start %s %s)", self.pid, self.glm.name, self.clock.start,
                 self.clock.timezone)
        return self

    @property
    def pid(self) -> int | None:
        """Process id of the worker (None when not running)."""
        proc = getattr(self._gld, "_process", None)
        return proc.pid if proc is not None else None

    @property
    def alive(self) -> bool:
        proc = getattr(self._gld, "_process", None)
        return proc is not None and proc.poll() is None

    def close(self) -> None:
        """Kill the worker and wait for it (recorder files are not needed: the heartbeat writes to /dev/null)."""
        proc = getattr(self._gld, "_process", None)
        if proc is not None:
            if proc.poll() is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
            try:
                proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 - still report below
                log.error("GridLAB-D worker %s did not exit after SIGKILL", proc.pid)
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except Exception:  # noqa: BLE001
                    pass
            self._gld._process = None
        if self.pid_file is not None:
            try:
                self.pid_file.unlink()
            except FileNotFoundError:
                pass
        if self.worker_log is not None and not self._worker_log_given:
            try:
                self.worker_log.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> "GridlabdSession":
        return self.open() if self._gld is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the contract
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # ----------------------------------------------------------------- diagnostics
    def _diagnostics(self, tail: int = 20) -> str:
        lines: list[str] = []
        if self.worker_log is not None and self.worker_log.exists():
            text = self.worker_log.read_text(encoding="utf-8", errors="replace").splitlines()
            lines += [ln for ln in text if ln.strip()][-tail:]
        try:
            if self.alive:
                for m in self._gld.get_messages()[-tail:]:
                    if m.get("type") in ("ERROR", "FATAL") or not lines:
                        lines.append(f"{m.get('type')} [{m.get('timestamp')}]: {m.get('message')}")
        except Exception as exc:  # noqa: BLE001 - the worker may be gone
            lines.append(f"(messages unavailable: {exc})")
        return "\n".join("  " + ln for ln in lines) if lines else "  (GridLAB-D gave no message)"

    def messages(self) -> list[dict[str, str]]:
        """GridLAB-D's captured warnings and errors so far."""
        return list(self._gld.get_messages())

    def _require_open(self) -> Any:
        if self._gld is None or not self.alive:
            raise GridlabdError(f"{self.glm.name}: the GridLAB-D worker is not running")
        return self._gld

    # ------------------------------------------------------------------ stepping
    def step_to(self, seconds: float) -> None:
        """Advance GridLAB-D to HELICS time ``seconds``; raise if it fails or lands elsewhere.

        Values set before this call are used in the solve that reaches ``seconds``. Stepping to the time already
        reached is a no-op (GridLAB-D does not re-solve; FACTS.md).
        """
        gld = self._require_open()
        assert self.clock is not None
        if self.time_s is not None and seconds < self.time_s:
            raise GridlabdError(f"{self.glm.name}: cannot step back from t={self.time_s} s to t={seconds} s")
        if self.time_s is not None and seconds == self.time_s:
            return
        target = self.clock.to_local(seconds)
        t0 = time.perf_counter()
        code, reached = gld.step_to(target)
        self.stats.solve_s += time.perf_counter() - t0
        self.stats.steps += 1
        if code != 0:
            raise GridlabdError(f"{self.glm.name}: step to t={seconds:g} s ({target}) failed (code {code}):\n"
                                + self._diagnostics())
        if reached is None or abs(self.clock.to_seconds(reached) - seconds) > 0.5:
            raise GridlabdError(f"{self.glm.name}: asked for t={seconds:g} s ({target}), GridLAB-D is at {reached}:\n"
                                + self._diagnostics())
        self.time_s = float(seconds)

    # -------------------------------------------------------------- properties
    def get(self, obj: str, prop: str) -> str:
        """Raw text of ``obj.prop`` (units included, e.g. ``'+119.8-0.2d V'``); parse with gld_strings."""
        gld = self._require_open()
        t0 = time.perf_counter()
        code, value = gld.get_property(obj, prop, typed=False)
        self.stats.read_s += time.perf_counter() - t0
        self.stats.reads += 1
        if code != 0:
            raise GridlabdError(f"{self.glm.name}: cannot read {obj}.{prop} (code {code}; unknown object or property)")
        return str(value)

    def get_class(self, cls: str, prop: str) -> dict[str, str]:
        """Raw text of ``prop`` for every object of class ``cls``: ``{name: text}`` in one worker round trip."""
        gld = self._require_open()
        t0 = time.perf_counter()
        values = gld.get_properties_by_class(cls, prop, typed=False)
        self.stats.read_s += time.perf_counter() - t0
        self.stats.reads += 1
        return {str(k): str(v) for k, v in values.items()}

    def set(self, obj: str, prop: str, value: Any) -> None:
        """Write ``obj.prop``; complex values go out in rectangular form; raise on an unknown object/property."""
        gld = self._require_open()
        text = format_complex(value) if isinstance(value, complex) else value
        t0 = time.perf_counter()
        code = gld.set_property(obj, prop, text)
        self.stats.write_s += time.perf_counter() - t0
        self.stats.writes += 1
        if code != 0:
            raise GridlabdError(f"{self.glm.name}: cannot write {obj}.{prop} = {value!r} (code {code})")

    def names(self, cls: str) -> list[str]:
        """Names of every object of class ``cls`` in load order (empty for a class without objects)."""
        gld = self._require_open()
        return [str(n) for n in gld.get_object_names_by_class(cls)]

    def set_many(self, items: Iterable[tuple[str, str, Any]]) -> None:
        """Write several (object, property, value) triples."""
        for obj, prop, value in items:
            self.set(obj, prop, value)
