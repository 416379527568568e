"""A GridLAB-D model driven step by step through the PyPI ``gridlabd`` bindings, with every trap handled once.

Why a wrapper (FACTS.md, gridlabd-devices.md §1): ``load_glm``/``step_to``/``set_property`` return codes instead of
raising, and the parser's own explanation (``f.glm(302): missing ; ...``) goes to the worker's stderr, not to
``get_messages()``; ``step_to`` to an earlier time is a silent no-op; the typed reads mangle polar values; killing the
parent can leave the worker process alive. :class:`GridlabdSession` checks every code and raises
:class:`GridlabdError` with GridLAB-D's own messages, keeps the worker's stderr in a log file, converts HELICS seconds
through :class:`~vppfed.federates.feeder.clock.GldClock` only, reads untyped and parses with
:mod:`~vppfed.federates.feeder.gld_strings`, records the worker pid in a file if asked, and on :meth:`close` ends the
worker the way a batch run ends (:meth:`finish`: GridLAB-D's end-of-run commit and ``finalize``, so the model's own
recorders and metrics files are complete; SIGKILL only after a timeout, logged), also from ``__exit__`` on exceptions
(the runtime turns SIGTERM/SIGINT into an exception).

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
from typing import Any, Iterable, Mapping, Sequence

from vppfed.federates.feeder.clock import GldClock
from vppfed.formats.gld_strings import format_complex
from vppfed.io import process_cpu_seconds

log = logging.getLogger(__name__)

__all__ = ["GridlabdError", "GridlabdSession", "SessionStats", "error_summary", "load_error_line"]

# Creating the worker swaps sys.stderr for a moment (the bindings pass it to Popen): one spawn at a time.
_SPAWN_LOCK = threading.Lock()


_TZ_RE = re.compile(r"^\s*timezone\s+([^;\s]+)\s*;", re.MULTILINE)


def _glm_timezone(glm: Path) -> str | None:
    """The ``timezone`` of a GLM's clock block (first match), or None."""
    match = _TZ_RE.search(glm.read_text(encoding="utf-8", errors="replace"))
    return match.group(1).strip("'\"") if match else None


#: a GridLAB-D parser message: ``/path/file.glm(12): expected ';' at end of property specification``
_GLM_MESSAGE_RE = re.compile(r"^(?P<file>[^\s(][^(]*?\.glm)\((?P<line>\d+)\): (?P<msg>.+)$")
#: follow-up lines GridLAB-D prints after the real message
_GLM_FOLLOW_UPS = ("load failed at or near", "#include failed")


def load_error_line(worker_stderr: str) -> str | None:
    """The first ``file(line): message`` of GridLAB-D's parser in its stderr (the message ``get_messages()`` lacks),
    with the file's bare name; None if there is none."""
    for line in worker_stderr.splitlines():
        match = _GLM_MESSAGE_RE.match(line.strip())
        if match and not match.group("msg").startswith(_GLM_FOLLOW_UPS):
            return f"{Path(match.group('file')).name}({match.group('line')}): {match.group('msg').strip()}"
    return None


#: GridLAB-D's own error lines in its stderr: ``ERROR    [2013-07-01 00:00:00 CDT] : message``
_GLD_ERROR_RE = re.compile(r"^(?:ERROR|FATAL)\s+\[[^\]]*\]\s*:\s*(?P<msg>.*)$")
#: the line GridLAB-D prints instead of repeating one: ``last error message was repeated 10614 times``
_GLD_REPEATED_RE = re.compile(r"^last error message was repeated (\d+) times")


def error_summary(worker_stderr: str) -> tuple[int, str | None]:
    """How many errors GridLAB-D reported in its stderr (a "repeated N times" line counts N) and the first one.

    Why: GridLAB-D reports a diverged power flow or a device out of range as ERROR lines and goes on with return code
    0, so a run "succeeds" with wrong physics (measured: a generated 3,000-house feeder, "Water heater line voltage
    ... exceeds twice nominal voltage", 10,615 times in 3 steps). The feeder federate says so at the end.
    """
    count, first = 0, None
    for line in worker_stderr.splitlines():
        match = _GLD_ERROR_RE.match(line.strip())
        if match is None:
            continue
        message = match.group("msg").strip()
        repeated = _GLD_REPEATED_RE.match(message)
        if repeated:
            count += int(repeated.group(1))
            continue
        count += 1
        if first is None:
            first = message
    return count, first


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
    round_trips: int = 0      # batched steps (:meth:`GridlabdSession.exchange`): one pipe round trip each
    pipe_s: float = 0.0       # their wall time outside GridLAB-D's own calls (pipe, JSON, waiting for a core)
    worker_cpu_s: float = 0.0  # the worker process's CPU, read from /proc as it ends (not part of the summary line)

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)

    def summary(self) -> str:
        """The feeder federate's closing log line about GridLAB-D (:meth:`parse_summary` reads it back)."""
        return (f"GridLAB-D {self.steps} steps, solve {self.solve_s:.2f} s, reads {self.read_s:.2f} s ({self.reads}), "
                f"writes {self.write_s:.2f} s ({self.writes}), {self.round_trips} worker round trips with "
                f"{self.pipe_s:.2f} s in the pipe")

    @classmethod
    def parse_summary(cls, text: str) -> "SessionStats | None":
        """The stats of the last :meth:`summary` line in ``text`` (a federate log), None if there is none; the
        benchmarks read a run's GridLAB-D time this way."""
        found = None
        for found in _SUMMARY_RE.finditer(text):
            pass
        if found is None:
            return None
        g = found.groups()
        return cls(solve_s=float(g[1]), read_s=float(g[2]), write_s=float(g[4]), steps=int(g[0]), reads=int(g[3]),
                   writes=int(g[5]), round_trips=int(g[6]), pipe_s=float(g[7]))


_SUMMARY_RE = re.compile(r"GridLAB-D (\d+) steps, solve ([\d.]+) s, reads ([\d.]+) s \((\d+)\), writes ([\d.]+) s "
                         r"\((\d+)\), (\d+) worker round trips with ([\d.]+) s in the pipe")


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
    env : mapping, optional
        Extra environment of the worker process (e.g. ``GLPATH``).
    """

    def __init__(self, glm: str | Path, *, pid_file: str | Path | None = None,
                 worker_log: str | Path | None = None, timezone: str | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.glm = Path(glm).resolve()
        #: environment the worker starts with on top of ours (``GLPATH`` for a user model's relative includes:
        #: GridLAB-D reads it only at start, ``#setenv GLPATH`` in the model does not change the search)
        self.env = dict(env or {})
        self.timezone = timezone
        self.pid_file = Path(pid_file) if pid_file else None
        self._worker_log_given = worker_log is not None
        self.worker_log = Path(worker_log) if worker_log else None
        self._gld: Any = None
        self.clock: GldClock | None = None
        self.time_s: float | None = None   # HELICS seconds GridLAB-D has reached (None before the first step)
        self.stats = SessionStats()
        #: (count, first message) of the errors GridLAB-D wrote to its stderr, read when the session closes
        self.errors: tuple[int, str | None] = (0, None)

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> "GridlabdSession":
        """Start the worker and load the model; raise :class:`GridlabdError` with GridLAB-D's messages on failure."""
        # the worker process is the heavy part; importing here keeps the core importable without the bindings
        from vppfed.federates.feeder.gld_client import BatchingGridLabD

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
            # the bindings copy os.environ into the worker at spawn: set ours for that moment only (under the lock)
            saved_env = {k: os.environ.get(k) for k in self.env}
            os.environ.update(self.env)
            try:
                self._gld = BatchingGridLabD(verbose=True)
            finally:
                sys.stderr = saved
                for k, v in saved_env.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        # verbose only served to route the worker's stderr to our file; off again, so the bindings do not echo
        # GridLAB-D's stdout chatter onto our stderr
        self._gld._verbose = False
        try:
            if self.pid_file is not None:
                self.pid_file.parent.mkdir(parents=True, exist_ok=True)
                self.pid_file.write_text(f"{self.pid}\n", encoding="utf-8")
            code = self._gld.load_glm(str(self.glm), workdir=str(self.glm.parent))
            if code != 0:
                first = load_error_line(self.worker_log.read_text(encoding="utf-8", errors="replace"))
                raise GridlabdError((first or f"{self.glm.name}: GridLAB-D could not load the model (code {code})")
                                    + "\n" + self._diagnostics())
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

    # ------------------------------------------------------------------ finishing
    #: Seconds GridLAB-D gets to end a run that reached its stop (GridLAB-D's end-of-run commit, then ``finalize``:
    #: recorders flushed and closed, metrics_collector_writer's last dump) before its worker is killed. Measured
    #: (2026-12-07, 2 loaded cores): generated te30 feeder, 2 h, 0.01-0.06 s; 100 houses with 201 metrics collectors
    #: over 48 h, the last day's 36 MB of metrics JSON written at the end, 0.8 s.
    FINISH_TIMEOUT_S: float = 60.0
    #: The same after a failure or SIGTERM/SIGINT: the launcher SIGKILLs a federate 3 s after its SIGTERM and the
    #: runtime exits hard after 5 s, so finishing must be done before that or it is cut anyway.
    ABORT_FINISH_TIMEOUT_S: float = 2.0

    def set_stop(self, seconds: float) -> None:
        """Make HELICS time ``seconds`` GridLAB-D's ``stoptime`` (call after :meth:`open`, before the first step).

        Why: GridLAB-D's own outputs end the way a batch run ends only at its stop time. A
        ``metrics_collector_writer`` keeps its rows in memory and writes them at each ``interim`` (a day by default)
        and at the stop time it read when the model was initialised (at the first step), never at ``finalize``: a
        model whose clock runs longer than the co-simulation would leave metrics files holding only Metadata.
        """
        gld = self._require_open()
        assert self.clock is not None
        if self.time_s is not None:
            raise GridlabdError(f"{self.glm.name}: set_stop must come before the first step (GridLAB-D reads the stop "
                                "time when it initialises the model)")
        target = self.clock.to_local(seconds)
        before = str(gld.global_getvar("stoptime")).strip()
        gld.global_setvar("stoptime", target)   # answers 1 on success in 6.0.0: check by reading it back
        now = str(gld.global_getvar("stoptime")).strip()
        if now[:19] != target:
            raise GridlabdError(f"{self.glm.name}: cannot set the stop time to {target} (GridLAB-D has {now!r})")
        self._stop_s = float(seconds)
        if before[:19] != target:
            log.info("%s: GridLAB-D stoptime %s -> %s (the co-simulation's stop)", self.glm.name, before, now)

    def _at_stop(self) -> bool:
        """True when GridLAB-D stands exactly at its stop time (its end-of-run commit is then still due)."""
        if self.time_s is None or self.clock is None:
            return False
        stop = getattr(self, "_stop_s", None)
        if stop is None:
            ok, text = _bounded(lambda: str(self._gld.global_getvar("stoptime")).strip(), self.ABORT_FINISH_TIMEOUT_S)
            if not ok or not isinstance(text, str) or len(text) < 19 or not text[:4].isdigit():
                return False
            stop = self.clock.to_seconds(text[:19])
        return abs(self.time_s - stop) < 0.5

    def finish(self, *, failed: bool = False, timeout_s: float | None = None) -> float | None:
        """End the worker the way a batch run ends, so the model's own outputs are complete; return the seconds taken.

        Normal end (``failed`` False) at the stop time: one more ``step()``, which GridLAB-D blocks at the stop time
        but which runs the end-of-run commit (metrics_collector_writer's last dump; ``step_to`` alone leaves it
        undone), then ``finalize`` (``exit_gld``: recorders, multi_recorders, collectors flushed and closed) and the
        worker's exit. After a failure or a stop signal (``failed`` True) only ``finalize``: no further GridLAB-D
        call is trusted (the call a signal interrupted may still be answering); recorder files then hold the lines a
        batch run stopped at the last completed step writes, and metrics files the interim dumps so far. Whatever
        takes longer than ``timeout_s`` (default :attr:`FINISH_TIMEOUT_S`, :attr:`ABORT_FINISH_TIMEOUT_S` when
        failed) ends in SIGKILL, logged with the reason. Returns None when there was no running worker.
        """
        proc = getattr(self._gld, "_process", None)
        if proc is None or proc.poll() is not None:
            return None
        if timeout_s is None:
            timeout_s = self.ABORT_FINISH_TIMEOUT_S if failed else self.FINISH_TIMEOUT_S
        t0 = time.perf_counter()
        deadline = t0 + timeout_s
        stage = "finalize"
        try:
            if not failed and self._at_stop():
                stage = "the end-of-run step"
                ok, result = _bounded(self._final_step, max(0.0, deadline - time.perf_counter()))
                if not ok:
                    raise _FinishTimeout(stage)
                if isinstance(result, BaseException):
                    log.warning("%s: GridLAB-D's end-of-run step failed (%s); finalizing anyway", self.glm.name, result)
                stage = "finalize"
            self.stats.worker_cpu_s = process_cpu_seconds(proc.pid)   # finalize exits the worker
            ok, result = _bounded(self._gld.exit_gld, max(0.0, deadline - time.perf_counter()))
            if not ok:
                raise _FinishTimeout(stage)
            if isinstance(result, BaseException):
                log.warning("%s: GridLAB-D finalize failed (%s)", self.glm.name, result)
            stage = "the worker's exit"
            try:
                proc.wait(timeout=max(0.01, deadline - time.perf_counter()))
            except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
                raise _FinishTimeout(stage) from None
        except _FinishTimeout:
            log.error("%s: GridLAB-D worker %s did not finish in %.1f s (stuck in %s): killed with SIGKILL; its "
                      "recorder and metrics files may be cut", self.glm.name, proc.pid, timeout_s, stage)
            _kill(proc)
            return time.perf_counter() - t0
        except BaseException as exc:  # a second stop signal while finishing: do not leave the worker behind
            log.error("%s: interrupted while GridLAB-D was finishing (%s, in %s): worker %s killed with SIGKILL",
                      self.glm.name, type(exc).__name__, stage, proc.pid)
            _kill(proc)
            raise
        seconds = time.perf_counter() - t0
        log.log(logging.INFO if self.time_s is not None else logging.DEBUG,
                "%s: GridLAB-D finished its outputs in %.2f s%s", self.glm.name, seconds,
                " (after a failure: lines up to the last step)" if failed else "")
        return seconds

    def _final_step(self) -> Any:
        """``step()`` at the stop time; the bindings print a 'blocked at stoptime' note meant for interactive use: it
        goes to the worker log, not the federate's log."""
        saved = sys.stderr
        try:
            with open(self.worker_log or os.devnull, "a", encoding="utf-8") as sink:
                sys.stderr = sink
                return self._gld.step()
        finally:
            sys.stderr = saved

    def close(self, *, failed: bool = False, timeout_s: float | None = None) -> None:
        """Finish the worker (:meth:`finish`: outputs complete, SIGKILL only after a timeout) and clean up.

        ``failed`` True (an exception, a stop signal) finishes without trusting further GridLAB-D calls. Safe to call
        twice and on a session that never opened.
        """
        proc = getattr(self._gld, "_process", None)
        try:
            if proc is not None:
                self.finish(failed=failed, timeout_s=timeout_s)
        finally:   # also when a second stop signal interrupts finish(): no worker and no stale pid file left
            if proc is not None:
                if proc.poll() is None:
                    _kill(proc)
                for stream in (proc.stdin, proc.stdout):
                    try:
                        if stream is not None:
                            stream.close()
                    except Exception:  # noqa: BLE001
                        pass
                if self._gld is not None:
                    self._gld._process = None
            if self.pid_file is not None:
                try:
                    self.pid_file.unlink()
                except FileNotFoundError:
                    pass
            if self.worker_log is not None and self.worker_log.exists():
                self.errors = error_summary(self.worker_log.read_text(encoding="utf-8", errors="replace"))
            if self.worker_log is not None and not self._worker_log_given:
                try:
                    self.worker_log.unlink()
                except FileNotFoundError:
                    pass

    def __enter__(self) -> "GridlabdSession":
        return self.open() if self._gld is None else self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failed=exc_type is not None)

    def __del__(self) -> None:  # last resort; close() is the contract
        try:
            self.close(failed=True)
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
        self.exchange(seconds)

    def exchange(self, seconds: float, writes: Sequence[tuple[str, str, Any]] = (),
                 class_reads: Sequence[tuple[str, str]] = (), object_reads: Sequence[tuple[str, str]] = ()
                 ) -> tuple[dict[tuple[str, str], dict[str, str]], dict[tuple[str, str], str]]:
        """One co-simulation step in one worker round trip: write, step to ``seconds``, read.

        Why: each worker call is a pipe round trip (two context switches; on a loaded two-core machine each waits for
        a core), and a TESP feeder step made twenty and more of them. The checks are those of :meth:`set`,
        :meth:`get_class` and :meth:`get`, with the same messages (:meth:`step_to` is this call with nothing else
        asked); the worker stops at the first write that fails, so GridLAB-D never steps on half of a step's writes.

        Parameters
        ----------
        seconds : float
            HELICS time to reach; the time already reached only writes and reads (GridLAB-D does not re-solve).
        writes : sequence of (object, property, value)
            Applied in order before the step (complex values in rectangular form).
        class_reads : sequence of (class, property)
            Raw text of ``property`` for every object of ``class`` after the step.
        object_reads : sequence of (object, property)
            Raw text of single properties after the step.

        Returns
        -------
        (dict, dict)
            ``{(class, property): {object: text}}`` and ``{(object, property): text}``.
        """
        gld = self._require_open()
        assert self.clock is not None
        if self.time_s is not None and seconds < self.time_s:
            raise GridlabdError(f"{self.glm.name}: cannot step back from t={self.time_s} s to t={seconds} s")
        step = self.time_s is None or seconds != self.time_s
        target = self.clock.to_local(seconds) if step else None
        calls: list[dict[str, Any]] = [
            {"command": "set_property",
             "args": {"object_name": o, "property_name": p, "value": _property_text(v), "detailed": False}}
            for o, p, v in writes]
        if step:
            calls.append({"command": "step_to", "args": {"target_time": target}})
        elif not (writes or class_reads or object_reads):
            return {}, {}   # the time already reached, nothing asked: no round trip
        calls += [{"command": "get_properties_by_class", "args": {"class_name": c, "property_name": p, "typed": False}}
                  for c, p in class_reads]
        calls += [{"command": "get_property", "args": {"object_name": o, "property_name": p, "typed": False}}
                  for o, p in object_reads]
        t0 = time.perf_counter()
        try:
            replies = gld.batch(calls)
        except RuntimeError as exc:   # the worker died (inside the step, most likely)
            raise GridlabdError(f"{self.glm.name}: the GridLAB-D worker died at t={seconds:g} s ({target}): "
                                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}\n"
                                + self._diagnostics()) from None
        elapsed = time.perf_counter() - t0
        worked = sum(float(r.get("seconds", 0.0)) for r in replies)
        self.stats.round_trips += 1
        self.stats.pipe_s += max(0.0, elapsed - worked)
        answers = iter(replies)
        for obj, prop, value in writes:
            reply = next(answers)
            self.stats.writes += 1
            self.stats.write_s += float(reply.get("seconds", 0.0))
            if not reply.get("success") or _reply_code(reply) != 0:
                raise GridlabdError(f"{self.glm.name}: cannot write {obj}.{prop} = {value!r} "
                                    f"(code {_reply_code(reply)}{'; ' + str(reply.get('error')) if reply.get('error') else ''})")
        if step:
            reply = next(answers)
            self.stats.solve_s += float(reply.get("seconds", 0.0))
            self.stats.steps += 1
            if not reply.get("success"):
                raise GridlabdError(f"{self.glm.name}: step to t={seconds:g} s ({target}) failed: {reply.get('error')}\n"
                                    + self._diagnostics())
            code, reached = _reply_code(reply), reply["result"].get("time")
            if code != 0:
                raise GridlabdError(f"{self.glm.name}: step to t={seconds:g} s ({target}) failed (code {code}):\n"
                                    + self._diagnostics())
            if reached is None or abs(self.clock.to_seconds(reached) - seconds) > 0.5:
                raise GridlabdError(f"{self.glm.name}: asked for t={seconds:g} s ({target}), GridLAB-D is at "
                                    f"{reached}:\n" + self._diagnostics())
            self.time_s = float(seconds)
        classes: dict[tuple[str, str], dict[str, str]] = {}
        for cls, prop in class_reads:
            reply = next(answers)
            self.stats.reads += 1
            self.stats.read_s += float(reply.get("seconds", 0.0))
            if not reply.get("success") or not isinstance(reply.get("result"), dict):
                raise GridlabdError(f"{self.glm.name}: cannot read {cls}.{prop} ({reply.get('error')})")
            classes[(cls, prop)] = {str(k): str(v) for k, v in reply["result"].items()}
        objects: dict[tuple[str, str], str] = {}
        for obj, prop in object_reads:
            reply = next(answers)
            self.stats.reads += 1
            self.stats.read_s += float(reply.get("seconds", 0.0))
            if not reply.get("success") or _reply_code(reply) != 0:
                raise GridlabdError(f"{self.glm.name}: cannot read {obj}.{prop} (code {_reply_code(reply)}; unknown "
                                    "object or property)")
            objects[(obj, prop)] = str(reply["result"].get("value"))
        return classes, objects

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


def _property_text(value: Any) -> str:
    """``value`` as the text ``set_property`` takes (the bindings' rules; complex in rectangular form)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, complex):
        return format_complex(value)
    return value if isinstance(value, str) else str(value)


def _reply_code(reply: Mapping[str, Any]) -> int:
    """The GridLAB-D return code of one batch reply (``set_property`` answers an int, the others a dict)."""
    result = reply.get("result")
    if isinstance(result, dict):
        return int(result.get("code", 0) or 0)
    return int(result) if isinstance(result, int) else (0 if reply.get("success") else -1)


class _FinishTimeout(Exception):
    """A finishing stage outlived its time budget (carries the stage's name)."""


def _bounded(call: Any, timeout_s: float) -> tuple[bool, Any]:
    """Run ``call()`` in a daemon thread for at most ``timeout_s``: ``(True, result or raised exception)`` if it
    returned in time, ``(False, None)`` if not. Why: a worker call blocks reading the worker's answer forever if the
    worker hangs, and only a kill of the worker (which the caller then does) unblocks it."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box.append(exc)

    thread = threading.Thread(target=run, name="gridlabd-finish", daemon=True)
    try:
        thread.start()
    except RuntimeError:   # no new threads at interpreter shutdown: the caller kills the worker
        return False, None
    thread.join(timeout_s)
    return (True, box[0]) if box else (False, None)


def _kill(proc: Any) -> None:
    """SIGKILL ``proc`` (a Popen) if alive and reap it."""
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except Exception:  # noqa: BLE001
        log.error("GridLAB-D worker %s did not exit after SIGKILL", proc.pid)
