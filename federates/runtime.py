"""The one federate runtime: a HELICS federate from a TESP-style JSON config, one time loop, documented hooks.

Every vppfed federate is a pure algorithm core plus a thin adapter that subclasses :class:`FederateBase`. The base
owns everything HELICS-specific and every rule measured on this machine (``../shared/FACTS.md``):

- the federate is created from the JSON config (``helicsCreateCombinationFederateFromConfig``), so a TESP user's
  file works unchanged; ``terminate_on_error`` is forced on (without it a dependent federate hung 30 s after an error);
- the broker is found through HELICS's own environment variables (``HELICS_BROKER_PORT``, ``HELICS_BROKER_ADDRESS``,
  ``HELICS_CORE_TYPE``), which the launcher sets per run, so configs never carry a fixed port;
- one time loop ``while t < stop``, with the hooks below called in this order::

      on_start()                 executing mode entered, t = 0: publish initial values (e.g. the bulk voltage)
      repeat:  t = granted time
          on_step(t)             read updated inputs, advance the core, publish
          is_converged(t)        only if ``max_iterations`` > 0: False asks HELICS to iterate at the same t,
          on_iterate(t, k)       ... and on_iterate is called for iteration k = 1, 2, ...
      on_finish(failed)          always, after the loop or after an error, before disconnect

- inputs are read only when ``is_updated`` (reading clears the flag); the federate is never destroyed by hand
  (pyhelics does it), and ``disconnect`` always runs in ``finally``; SIGTERM/SIGINT end the loop cleanly so
  ``on_finish`` still flushes metrics and ends child processes (GridLAB-D workers), and a federate still alive
  ``STOP_GRACE_SECONDS`` later (blocked inside a HELICS call) exits hard;
- progress (the granted time) is written to ``$VPPFED_PROGRESS_DIR/<name>`` at most once per wall second, so the
  launcher can draw a progress bar over simulated time without parsing logs; a heartbeat thread writes
  ``<name>.state`` (granted time, whether the federate is *working* on a step or *waiting* in a time request, since
  when, and the wall time of the beat) every second, so the launcher can tell which federate stalled a run: the one
  working for too long, or the one whose heartbeat stopped (a stopped or frozen process), not merely one still running.

Algorithm cores must never import this module (nor helics).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from vppfed.envvars import ENV_CORE_INIT, ENV_PID_DIR, ENV_PROFILE_DIR, ENV_PROGRESS_DIR, ENV_RESUME
from vppfed.io import atomic_write_json, atomic_write_text, normalize_key, parse_complex  # noqa: F401

log = logging.getLogger(__name__)


class _LazyHelics:
    """The ``helics`` module, imported at the first use of one of its names (each name is then cached here).

    Why: every federate's adapter subclasses :class:`FederateBase` and its ``main`` parses the command line first, so
    ``python -m vppfed.federates.<name> --help`` (and a wrong option) must work where helics is not installed; helics
    is needed only once a federate is created.
    """

    def __getattr__(self, name: str) -> Any:
        import helics

        value = getattr(helics, name)
        setattr(self, name, value)  # later look-ups find it in the instance dict, without __getattr__
        return value


h = _LazyHelics()


#: Seconds a federate has, after SIGTERM/SIGINT, to end by itself before it exits hard (see below).
STOP_GRACE_SECONDS = 5.0


def _exit_hard_if_stuck_after_stop_signal() -> None:
    """Exit with 143 if the process is still alive ``STOP_GRACE_SECONDS`` after SIGTERM/SIGINT.

    Why: Python runs a signal handler only between bytecodes, so a federate blocked inside a HELICS call (a time
    request that a deadlocked federation never grants) would never see its SIGTERM; when the launcher itself was
    killed (``PR_SET_PDEATHSIG`` sends only SIGTERM) nobody follows up with SIGKILL and the process stays forever.
    The C-level handler still writes the signal number to the wakeup fd, which this watcher thread reads (pyhelics
    calls release the GIL). Called from the main thread (``set_wakeup_fd`` requires it).
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)

    def watch() -> None:
        while True:
            received = os.read(read_fd, 1)
            if not received:
                return
            if received[0] in (signal.SIGTERM, signal.SIGINT):
                break
        time.sleep(STOP_GRACE_SECONDS)
        log.error("still running %.0f s after %s (blocked in a HELICS call?): exiting hard",
                  STOP_GRACE_SECONDS, signal.Signals(received[0]).name)
        logging.shutdown()
        os._exit(143)

    threading.Thread(target=watch, name="vppfed-stop-watch", daemon=True).start()


#: Seconds between two heartbeats of a federate's state file.
HEARTBEAT_SECONDS = 1.0


class StateReporter:
    """Writes ``<progress dir>/<name>.state`` every :data:`HEARTBEAT_SECONDS` from a daemon thread.

    The time loop only updates two attributes (no file access per step); the thread runs while the main thread is
    blocked inside a HELICS call (pyhelics releases the GIL), so a federate waiting for time keeps beating, and a
    federate whose beats stop is frozen (SIGSTOP, or stuck in C code holding the GIL).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.granted = 0.0
        self.stop_time = float("nan")   # the federate's own stop time (it may end early on purpose, e.g. COHDA)
        self.phase = "starting"
        self.since = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="vppfed-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def set(self, phase: str, granted: float | None = None) -> None:
        """Enter ``phase`` ("working", "waiting", "finishing") now; ``granted`` updates the granted time."""
        if granted is not None:
            self.granted = granted
        if phase != self.phase:
            self.phase = phase
            self.since = time.time()

    def write(self) -> None:
        doc = {"granted": self.granted, "phase": self.phase, "since": self.since, "beat": time.time(),
               "pid": os.getpid(), "stop": self.stop_time}
        try:
            atomic_write_json(self.path, doc, fsync=False)
        except OSError:
            pass   # a full or vanished folder must not end the federate

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.write()

    def stop(self) -> None:
        """End the beats and wait for a write in flight: a beat that read phase 'working' and renamed its file after
        the final 'done' write would otherwise leave 'working' as the last state (seen at 32 feeders, load 37)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)


def write_failure_note(name: str, exc: BaseException, sim_time: float) -> None:
    """``<state dir>/failures/<name>.json`` for the launcher (only under one), which names the federate that failed
    first from these notes, not the ones that followed it."""
    directory = os.environ.get(ENV_PROGRESS_DIR)
    if not directory:
        return
    path = Path(directory).parent / "failures"
    path.mkdir(parents=True, exist_ok=True)
    note = {"name": name, "time": time.time(), "sim_time": sim_time, "error": f"{type(exc).__name__}: {exc}"}
    (path / f"{name}.json").write_text(json.dumps(note), encoding="utf-8")


class FederateStopped(Exception):
    """Raised inside the loop when SIGTERM/SIGINT arrives, so ``finally`` blocks run."""


@dataclass
class Interfaces:
    """The HELICS interfaces of a federate, keyed for lookup by local key, global name and target."""

    publications: dict[str, Any]
    inputs: dict[str, Any]
    endpoints: dict[str, Any]


@dataclass(frozen=True)
class FederateOptions:
    """What every federate adapter is started with; each adapter's options dataclass extends it with its own.

    Attributes
    ----------
    config : Path
        HELICS JSON config of the federate.
    stop_s : float
        Simulated seconds to run.
    """

    config: Path
    stop_s: float


class FederateBase:
    """Base of every vppfed federate: create from config, loop over granted times, call hooks, always disconnect.

    Subclasses override the hooks; they never call HELICS time functions themselves.

    Parameters
    ----------
    config_path : path
        HELICS JSON config (TESP layout: ``name``, ``period``, ``publications``, ``subscriptions``, ``endpoints``).
    stop_seconds : float
        Simulated seconds from the start; the loop runs ``while t < stop_seconds``.
    """

    #: > 0 enables HELICS iteration at each time step for T&D convergence (see :meth:`is_converged`).
    max_iterations: int = 0

    def __init__(self, config_path: str | Path, stop_seconds: float) -> None:
        self.config_path = Path(config_path)
        self.config: dict[str, Any] = json.loads(self.config_path.read_text(encoding="utf-8"))
        self.stop_seconds = float(stop_seconds)
        self.period = float(self.config.get("period", 1.0) or 1.0)
        self.resume = os.environ.get(ENV_RESUME, "") not in ("", "0")
        self.fed: Any = None
        self.name: str = str(self.config.get("name", self.config_path.stem))
        self.time = 0.0
        self._stop_requested = False
        self._progress_path = self._progress_file()
        self._progress_written = 0.0
        self._state = StateReporter(self._progress_path.with_name(f"{self.name}.state")) \
            if self._progress_path is not None else None
        #: HELICS config keys that replace the file's when the federate is created (a co-hosting process puts all
        #: its federates on one shared core this way; see :mod:`vppfed.federates.host`)
        self.core_overrides: dict[str, Any] = {}

    @property
    def hosted(self) -> bool:
        """True when this federate runs in a thread of a co-hosting process, beside others (its CPU is then its
        thread's): exactly when the host gave it the shared core's settings."""
        return bool(self.core_overrides)

    # ------------------------------------------------------------------ hooks
    def on_start(self) -> None:
        """Called once in executing mode at t = 0, before the first time request: publish initial values here."""

    def on_step(self, t: float) -> None:
        """Called at every granted time ``t`` (seconds): read updated inputs, advance the core, publish."""

    def is_converged(self, t: float) -> bool:
        """Called after :meth:`on_step` when ``max_iterations`` > 0; return False to iterate at the same ``t``."""
        return True

    def on_iterate(self, t: float, iteration: int) -> None:
        """Called for each HELICS iteration at the same time ``t`` (iteration = 1, 2, ...)."""

    def next_time(self, t: float) -> float:
        """The next time to request after ``t``; the default is one ``period`` later."""
        return t + self.period

    def on_finish(self, failed: bool) -> None:
        """Called exactly once after the loop ends (``failed`` tells why): flush outputs, end child processes."""

    # ------------------------------------------------------------- interfaces
    def _progress_file(self) -> Path | None:
        directory = os.environ.get(ENV_PROGRESS_DIR)
        if not directory:
            return None
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        return path / self.name

    def _report_progress(self, t: float, force: bool = False) -> None:
        if self._progress_path is None:
            return
        now = time.monotonic()
        if force or now - self._progress_written >= 1.0:
            self._progress_written = now
            try:
                atomic_write_text(self._progress_path, f"{t}\n", fsync=False)
            except FileNotFoundError:
                # the launcher made this folder before starting us: gone means the run folder was removed or
                # replaced under the run, and our outputs with it; go on writing into nothing would be data loss
                raise RuntimeError(f"the run's state folder {self._progress_path.parent} disappeared: the run folder "
                                   "was removed or replaced during the run") from None

    def write_report(self, figures: Mapping[str, Any]) -> None:
        """Leave key figures of the run for the launcher's summary (``summary.json`` and the table it prints).

        ``figures`` is JSON-able; a ``"say"`` entry is the one line the summary prints for this federate (e.g. how
        many power flows did not converge). Written only under a launcher (its progress folder is set)."""
        directory = os.environ.get(ENV_PROGRESS_DIR)
        if not directory:
            return
        path = Path(directory).parent / "reports"
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path / f"{self.name}.json", dict(figures))

    def _report_failure(self, exc: BaseException) -> None:
        """Leave a note for the launcher: it names the federate that failed first, not the ones that followed."""
        write_failure_note(self.name, exc, self.time)

    def _create(self) -> None:
        """Create the HELICS federate from the config, with ``terminate_on_error`` forced on."""
        config = dict(self.config)
        config.setdefault("terminate_on_error", True)
        for dead_key, live_key in (("logging", "log_level"), ("coreInit", "core_init_string")):
            # helics 3.6.1 silently ignores the first spelling (FACTS.md): honour it by renaming
            if dead_key in config and live_key not in config:
                config[live_key] = config.pop(dead_key)
        for sub in config.get("subscriptions", []):
            if "require" in sub and "required" not in sub:
                sub["required"] = sub.pop("require")
        config.update(self.core_overrides)
        extra = os.environ.get(ENV_CORE_INIT, "").strip()
        if extra:
            config["core_init_string"] = f"{config.get('core_init_string', '')} {extra}".strip()
        # HELICS reads the file itself; write the effective config beside the original only if it changed
        if config != self.config:
            effective = self.config_path.with_name(f".{self.config_path.stem}.effective.json")
            effective.write_text(json.dumps(config, indent=1), encoding="utf-8")
            source = effective
        else:
            source = self.config_path
        self.fed = h.helicsCreateCombinationFederateFromConfig(str(source))
        self.name = h.helicsFederateGetName(self.fed)
        self._index_interfaces()

    def _index_interfaces(self) -> None:
        pubs: dict[str, Any] = {}
        for i in range(h.helicsFederateGetPublicationCount(self.fed)):
            pub = h.helicsFederateGetPublicationByIndex(self.fed, i)
            name = h.helicsPublicationGetName(pub)
            pubs[normalize_key(name)] = pub
            prefix = f"{self.name}/"
            if name.startswith(prefix):
                pubs.setdefault(normalize_key(name[len(prefix):]), pub)
        inputs: dict[str, Any] = {}
        for i in range(h.helicsFederateGetInputCount(self.fed)):
            inp = h.helicsFederateGetInputByIndex(self.fed, i)
            target = h.helicsInputGetTarget(inp)
            if target:
                inputs[normalize_key(target)] = inp
            name = h.helicsInputGetName(inp)
            if name:
                inputs.setdefault(normalize_key(name), inp)
        endpoints: dict[str, Any] = {}
        for i in range(h.helicsFederateGetEndpointCount(self.fed)):
            ep = h.helicsFederateGetEndpointByIndex(self.fed, i)
            name = h.helicsEndpointGetName(ep)
            endpoints[name] = ep
            prefix = f"{self.name}/"
            if name.startswith(prefix):
                endpoints.setdefault(name[len(prefix):], ep)
        self.interfaces = Interfaces(pubs, inputs, endpoints)

    def publication(self, key: str) -> Any:
        """The publication with local key or global name ``key`` (``/`` and ``#`` are interchangeable)."""
        try:
            return self.interfaces.publications[normalize_key(key)]
        except KeyError:
            raise KeyError(f"{self.name}: no publication '{key}' in {self.config_path.name}") from None

    def has_publication(self, key: str) -> bool:
        """Whether the config declares a publication ``key``."""
        return normalize_key(key) in self.interfaces.publications

    def input(self, target: str) -> Any | None:
        """The input subscribed to ``target`` (e.g. ``pypower/LMP_7``), or None if the config has none."""
        return self.interfaces.inputs.get(normalize_key(target))

    def inputs_matching(self, predicate: Callable[[str], bool]) -> list[tuple[str, Any]]:
        """All (target, input) pairs whose normalised target satisfies ``predicate``."""
        return [(t, i) for t, i in self.interfaces.inputs.items() if predicate(t)]

    def endpoint(self, name: str) -> Any:
        """The endpoint with local or global ``name``."""
        try:
            return self.interfaces.endpoints[name]
        except KeyError:
            raise KeyError(f"{self.name}: no endpoint '{name}' in {self.config_path.name}") from None

    # ------------------------------------------------------------ values I/O
    def publish(self, key: str, value: Any) -> None:
        """Publish ``value`` on publication ``key`` with the call that matches its Python type."""
        pub = self.publication(key)
        if isinstance(value, bool):
            h.helicsPublicationPublishBoolean(pub, value)
        elif isinstance(value, complex):
            h.helicsPublicationPublishComplex(pub, value.real, value.imag)
        elif isinstance(value, int):
            h.helicsPublicationPublishInteger(pub, value)
        elif isinstance(value, float):
            h.helicsPublicationPublishDouble(pub, value)
        elif isinstance(value, str):
            h.helicsPublicationPublishString(pub, value)
        elif isinstance(value, (list, tuple)):
            h.helicsPublicationPublishVector(pub, [float(v) for v in value])
        else:
            h.helicsPublicationPublishDouble(pub, float(value))

    @staticmethod
    def is_updated(inp: Any) -> bool:
        """Whether ``inp`` has a new value since it was last read."""
        return bool(h.helicsInputIsUpdated(inp))

    @staticmethod
    def read_double(inp: Any) -> float:
        return float(h.helicsInputGetDouble(inp))

    @staticmethod
    def read_complex(inp: Any) -> complex:
        value = h.helicsInputGetComplex(inp)
        return complex(value) if not isinstance(value, tuple) else complex(value[0], value[1])

    @staticmethod
    def read_string(inp: Any) -> str:
        return str(h.helicsInputGetString(inp))

    @staticmethod
    def read_integer(inp: Any) -> int:
        return int(h.helicsInputGetInteger(inp))

    def updated(self, target: str, kind: str = "double") -> Any | None:
        """The new value of the input subscribed to ``target`` if it was updated, else None.

        ``kind`` is ``double``, ``complex``, ``string`` or ``integer``. Reading clears the updated flag.
        """
        inp = self.input(target)
        if inp is None or not self.is_updated(inp):
            return None
        return {"double": self.read_double, "complex": self.read_complex, "string": self.read_string,
                "integer": self.read_integer}[kind](inp)

    # ------------------------------------------------------------- messages
    def send(self, endpoint: str, destination: str, payload: bytes | str | dict, delay: float = 0.0) -> None:
        """Send ``payload`` (dicts as JSON) from local ``endpoint`` to the global endpoint ``destination``.

        ``delay`` > 0 stamps the message with ``now + delay`` (``helicsEndpointSendBytesToAt``), so HELICS delivers
        it that much later: a link delay without a delay filter, whose filter federate deadlocked 25-40 % of
        loaded runs of periodic message federates on helics 3.6.1 (all federates asking for the next round,
        none granted; HELICS issue #1995 is of this kind).
        """
        data = json.dumps(payload, separators=(",", ":")) if isinstance(payload, dict) else payload
        ep = self.endpoint(endpoint)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if delay > 0:
            h.helicsEndpointSendBytesToAt(ep, raw, destination, self.time + delay)
        else:
            h.helicsEndpointSendBytesTo(ep, raw, destination)

    def receive(self, endpoint: str) -> Iterable[tuple[str, bytes, float]]:
        """Yield (source, payload, time) for every message waiting on ``endpoint``."""
        ep = self.endpoint(endpoint)
        while h.helicsEndpointHasMessage(ep):
            msg = h.helicsEndpointGetMessage(ep)
            yield h.helicsMessageGetSource(msg), h.helicsMessageGetBytes(msg), h.helicsMessageGetTime(msg)

    # ------------------------------------------------------------------ loop
    def _install_signal_handlers(self) -> None:
        def _stop(signum: int, _frame: Any) -> None:
            self._stop_requested = True
            raise FederateStopped(f"signal {signal.Signals(signum).name}")

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _stop)
        _exit_hard_if_stuck_after_stop_signal()

    def _request(self, t_request: float) -> float:
        if self._state is not None:
            self._state.set("waiting")
        granted = float(h.helicsFederateRequestTime(self.fed, t_request))
        if self._state is not None:
            self._state.set("working", granted)
        return granted

    def _iterate(self, t: float) -> None:
        iteration = 0
        while iteration < self.max_iterations and not self.is_converged(t):
            granted, state = h.helicsFederateRequestTimeIterative(
                self.fed, t, h.HELICS_ITERATION_REQUEST_ITERATE_IF_NEEDED)
            if state != h.HELICS_ITERATION_RESULT_ITERATING:
                break
            iteration += 1
            self.on_iterate(float(granted), iteration)

    def request_stop(self) -> None:
        """Ask the loop to end at its next step as if SIGTERM had arrived (a co-hosting process forwards signals)."""
        self._stop_requested = True

    def run(self, install_signal_handlers: bool = True) -> int:
        """Create the federate, run the time loop and always disconnect; returns the process exit code.

        ``install_signal_handlers`` is False in a thread of a co-hosting process: only the main thread may install
        them, and that process forwards SIGTERM/SIGINT through :meth:`request_stop`."""
        if install_signal_handlers:
            self._install_signal_handlers()
        failed = True
        finished = False
        if self._state is not None:
            self._state.start()
        try:
            self._create()
            h.helicsFederateEnterExecutingMode(self.fed)
            self.time = 0.0
            self.on_start()
            while self.time < self.stop_seconds:
                if self._stop_requested:
                    raise FederateStopped("a stop request")
                t_request = min(self.next_time(self.time), self.stop_seconds)
                granted = self._request(t_request)
                if granted > self.stop_seconds + 1e-9:
                    break
                self.time = granted
                self.on_step(granted)
                if self.max_iterations > 0:
                    self._iterate(granted)
                self._report_progress(granted)
            failed = False
            self._report_progress(self.time, force=True)
            finished = True
            if self._state is not None:
                self._state.set("finishing")
            self.on_finish(failed=False)
            return 0
        except FederateStopped as exc:
            log.warning("%s stopped by %s at t=%s s", self.name, exc, self.time)
            return 143
        except Exception as exc:  # noqa: BLE001 - a federate must report any failure to the federation
            if self._stop_requested:
                # the stop signal's exception was raised inside a library call (the GridLAB-D worker pipe) and
                # re-raised by it as its own error: it is still the requested stop, not a failure
                log.warning("%s stopped by a signal at t=%s s (interrupting: %s)", self.name, self.time, exc)
                return 143
            log.exception("%s failed at t=%s s: %s", self.name, self.time, exc)
            self._report_failure(exc)
            if self.fed is not None:
                try:
                    h.helicsFederateLocalError(self.fed, 1, f"{self.name}: {type(exc).__name__}: {exc}")
                except Exception:  # noqa: BLE001
                    pass
            return 1
        finally:
            if self._state is not None:
                self._state.set("finishing")
            if not finished:
                try:
                    self.on_finish(failed=failed)
                except Exception:  # noqa: BLE001
                    log.exception("%s: on_finish failed", self.name)
            if self.fed is not None:
                try:
                    h.helicsFederateDisconnect(self.fed)
                except Exception:  # noqa: BLE001
                    pass
            if self._state is not None:
                self._state.stop()
                self._state.stop_time = self.stop_seconds
                self._state.set("done" if finished else "failed")
                self._state.write()
            self._log_cpu()

    def _log_cpu(self) -> None:
        """Where a run's time goes (issue 15): this federate's CPU and its child processes' (GridLAB-D's worker).

        In a co-hosting process the federate's own CPU is its thread's; its children are the ones it recorded
        (read from /proc before they end, see :meth:`child_cpu_seconds`), since the process's reaped-children
        total mixes every federate's."""
        if self.hosted:
            own = resource.getrusage(resource.RUSAGE_THREAD)
            log.info("%s: %.2f CPU s in this thread, %.2f in its child processes", self.name,
                     own.ru_utime + own.ru_stime, self.child_cpu_seconds())
            return
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        log.info("%s: %.2f CPU s in this process, %.2f in its child processes", self.name,
                 own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime)

    def child_cpu_seconds(self) -> float:
        """CPU seconds of this federate's child processes (overridden by federates that start one)."""
        return 0.0


def base_argument_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every federate takes: ``--config``, ``--hours``/``--stop``, ``-v``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help="HELICS JSON config of this federate (TESP layout)")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--hours", type=float, help="simulated hours to run")
    stop.add_argument("--stop", type=float, help="simulated seconds to run")
    parser.add_argument("--metrics-root", default=None, help="root of the metrics file names (<prefix>_<root>_metrics.json)")
    parser.add_argument("--resume", action="store_true", help="continue from this federate's saved state, if it has one")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    return parser


def stop_seconds(args: argparse.Namespace, default_hours: float = 48.0) -> float:
    """Seconds to run from ``--stop``/``--hours`` (default ``default_hours``)."""
    if getattr(args, "stop", None) is not None:
        return float(args.stop)
    if getattr(args, "hours", None) is not None:
        return float(args.hours) * 3600.0
    return default_hours * 3600.0


def setup_logging(verbose: int = 0) -> None:
    """Log to stderr (the launcher sends it to the federate's log file) with time stamps."""
    level = logging.INFO if verbose <= 0 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_federate(factory: Callable[[argparse.Namespace], FederateBase], parser: argparse.ArgumentParser,
                 argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, build the federate with ``factory`` and run it; the ``main`` of every federate module.

    A failure while building (bad config, missing file) is logged as one line and gives exit code 2.
    """
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if getattr(args, "resume", False):
        os.environ[ENV_RESUME] = "1"
    try:
        federate = factory(args)
    except Exception as exc:  # noqa: BLE001 - report config errors as one line
        log.error("cannot start federate: %s", exc)
        return 2
    profile_dir = os.environ.get(ENV_PROFILE_DIR)
    if not profile_dir:
        return federate.run()
    # where the time goes, per federate: VPPFED_PROFILE_DIR=DIR writes DIR/<name>.prof (pstats format)
    import cProfile

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(federate.run)
    finally:
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(Path(profile_dir) / f"{federate.name}.prof"))


def write_pid(name: str, pid: int) -> None:
    """Record a child process (e.g. a GridLAB-D worker) so the launcher can end it if this federate dies."""
    directory = os.environ.get(ENV_PID_DIR)
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / f"{name}.pid").write_text(f"{pid}\n", encoding="utf-8")
