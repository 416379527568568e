"""The one launcher: run a ``helics run`` runner JSON with a private broker port and a clean teardown.

Why not ``helics run``: it starts the broker on the default port 23404 (two runs at once collide, and a leftover
broker silently captures new federates), it cannot say which federate failed, and it leaves processes behind when a
federate dies. This launcher keeps the runner format (the same file still works with ``helics run --path``) and adds:

- a free port per run, passed to every federate through HELICS's own ``HELICS_BROKER_PORT``;
- vppfed's own federates of one folder and broker in one process on one shared HELICS core
  (:mod:`vppfed.federates.host`; measured on te30, 12 h at load 2.5-3.4, three alternating pairs: 17.0/16.6/28.9 s
  wall against 32.5/29.5/29.7 s with a process per federate, and 25-34 CPU s against 44-46), with an in-process
  broker when that is every federate; ``cohost=False`` or the runner's ``vppfed.cohost: false`` start a process per
  federate as ``helics run`` does;
- every process (the real ``helics_broker`` binary, not its Python wrapper, and each federate) in its own process
  group, one log file per federate in the run folder;
- on the first federate that exits non-zero, on a timeout or on Ctrl-C: SIGTERM to every group, SIGKILL after a
  grace period, and the child processes the federates recorded (GridLAB-D workers) ended too;
- if the launcher itself dies with no chance to tear down (SIGKILL, a killed test worker), Linux sends SIGTERM to
  the broker and every federate it started (``PR_SET_PDEATHSIG``): a broker left listening would otherwise keep
  its port while the port block is free again, and capture the federates of the next run;
- a progress bar over simulated time (from the files the federate runtime writes) and a summary at the end;
- stall detection: when no federate's granted time has advanced for the stall window (``vppfed.stall_s`` of the
  runner; default from the horizon), the run ends and the federate that stalled it is named from the heartbeat files
  of the runtime (a stopped or frozen process, or one that stopped requesting time), not merely one still running;
  the same diagnosis names the culprit of a timeout. A federate working on one step while it (or its GridLAB-D
  worker) uses CPU is computing, not stalled (:class:`ComputeWatch`): only the timeout bounds it;
- SIGTERM to the launcher is handled as Ctrl-C: teardown, summary.json, a message, exit 143;
- a run whose federates all exited 0 but did not reach the stop time is a failure, never a success.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from vppfed.envvars import ENV_CORE_INIT, ENV_PID_DIR, ENV_PROFILE_DIR, ENV_PROGRESS_DIR, ENV_RESUME
from vppfed.errors import CosimError, RunInterrupted, UserError
from vppfed.io import load_json, proc_stat_fields, process_cpu_seconds

log = logging.getLogger(__name__)

#: HELICS options of every broker and every vppfed federate's core under this launcher. Why: HELICS pings between
#: cores and brokers and declares "lost connection" after two silent ticks (5 s each); on a starved machine (a
#: 2-core box at load 20, a sub-broker descheduled while 8 GridLAB-D feeders load) a healthy run then died with
#: "core lost connection with broker" (measured: a sub-broker stopped for 40 s). The launcher watches every process
#: itself (a dead process or a stalled federation ends the run within seconds), so HELICS's own timers are off here:
#: cores ``--disable_timer``, brokers ``--slow_responding`` (nobody pings them). Outside the launcher (``helics run``)
#: HELICS keeps its timers.
WATCHED_CORE_INIT = "--disable_timer"
WATCHED_BROKER_ARGS = ("--slow_responding",)
GRACE_SECONDS = 3.0
LOG_TAIL_LINES = 25
#: A federate whose heartbeat file is older than this is frozen (stopped by a signal, or stuck holding the GIL).
HEARTBEAT_STALE_SECONDS = 5.0


#: A federate working on one step is computing, not stalled, while its process or a child process it recorded (its
#: GridLAB-D worker) gains at least this share of one core's CPU time.
BUSY_CPU_SHARE = 0.25


class ComputeWatch:
    """Tells a federate that computes one long step from one that is stuck: samples the CPU time of given processes.

    Why (issue 15): the stall window is minutes at most, and one step of a large feeder can take longer (a
    3,000-house feeder's first step ran past the 60 s window of a 6-minute run and was ended as "stalled" while its
    GridLAB-D worker computed). A stuck federate (sleeping, blocked on I/O, deadlocked in HELICS) gains no CPU time, so
    it is still caught; one computing forever is bounded by the run's timeout instead.
    """

    def __init__(self) -> None:
        self._cpu: dict[int, float] = {}
        self._at = time.monotonic()

    def computing(self, pids: Sequence[int], now: float) -> bool:
        """True when one of ``pids`` gained :data:`BUSY_CPU_SHARE` of a core since the last call (a process not
        sampled then counts from now on)."""
        elapsed = now - self._at
        cpu = {pid: process_cpu_seconds(pid) for pid in set(pids)}
        busy = elapsed > 0 and any(seconds - self._cpu[pid] >= BUSY_CPU_SHARE * elapsed
                                   for pid, seconds in cpu.items() if pid in self._cpu)
        self._cpu, self._at = cpu, now
        return busy


def default_stall_seconds(stop_seconds: float) -> float:
    """Stall window derived from the horizon: 5 wall seconds per simulated hour, within [60, 600] s.

    Why these numbers: the slowest single steps measured in the built-in cases (a neighbourhood MILP, a large
    feeder) take seconds to minutes; a window below a minute would end healthy runs on a loaded machine, one above ten
    minutes keeps a user waiting for a run that will never move again. A step that computes for longer than the
    window (a 3,000-house feeder's first one) is not a stall: see :class:`ComputeWatch`.
    """
    return min(600.0, max(60.0, 5.0 * stop_seconds / 3600.0))


def _proc_state(pid: int) -> str:
    """The Linux process state letter (R, S, D, T, Z ...) or '' when unknown."""
    fields = proc_stat_fields(pid)
    return fields[0] if fields else ""


def read_states(records: Sequence["ProcessRecord"], state_dir: Path) -> dict[str, dict[str, Any]]:
    """The last heartbeat of each federate that wrote one (``federates.runtime.StateReporter``), by name."""
    states: dict[str, dict[str, Any]] = {}
    for record in records:
        try:
            states[record.name] = json.loads((state_dir / "progress" / f"{record.name}.state").read_text())
        except (OSError, ValueError):
            continue
    return states


def diagnose_stall(records: Sequence["ProcessRecord"], state_dir: Path, now: float | None = None) -> tuple[str, str]:
    """Name the federate that holds a stalled run and say why, from process states and heartbeat files.

    Order of blame: a federate process stopped by a signal (state T); a federate whose heartbeat stopped (frozen);
    the federate working on one step for the longest (it stopped requesting time); when every federate waits for time,
    the lowest granted time (a time-coordination deadlock, said as such).
    """
    now = time.time() if now is None else now
    running = [r for r in records if r.popen.poll() is None]
    if not running:
        return "broker", "no federate is running but the broker did not end"
    for record in running:
        if _proc_state(record.popen.pid) == "T":
            return record.name, "its process is stopped (SIGSTOP or a debugger): it stopped requesting time"
    states = read_states(running, state_dir)
    frozen = [(now - float(st.get("beat", now)), name) for name, st in states.items()
              if now - float(st.get("beat", now)) > HEARTBEAT_STALE_SECONDS]
    if frozen:
        age, name = max(frozen)
        return name, f"no heartbeat for {age:.0f} s (the process is frozen): it stopped requesting time"
    working = [(now - float(st.get("since", now)), name, st) for name, st in states.items()
               if st.get("phase") in ("working", "starting")]
    if working:
        age, name, st = max(working, key=lambda w: w[0])
        where = "while starting" if st.get("phase") == "starting" else f"at t={float(st.get('granted', 0)):g} s"
        return name, f"busy in one step for {age:.0f} s {where}: it stopped requesting time"
    unknown = [r.name for r in running if r.name not in states]
    if unknown:
        return unknown[0], "no heartbeat file (not a vppfed federate runtime); every vppfed federate waits for time"
    lowest = min(states.items(), key=lambda kv: float(kv[1].get("granted", 0.0)))
    return lowest[0], (f"every federate waits for time (a time-coordination deadlock); lowest granted time "
                       f"t={float(lowest[1].get('granted', 0.0)):g} s")


def _hold_signals() -> dict[int, Any]:
    """Ignore SIGINT and SIGTERM (main thread only); returns the handlers to put back."""
    held: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            held[signum] = signal.signal(signum, signal.SIG_IGN)
        except ValueError:
            pass
    return held


_PR_SET_PDEATHSIG = 1
#: ``prctl`` resolved once in the launcher, so the child only makes one foreign call between fork and exec.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _end_with_launcher() -> None:
    """Between fork and exec in every child: ask Linux for SIGTERM when the launcher goes away."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def helics_broker_binary() -> str:
    """Path of the real ``helics_broker`` binary shipped in the helics wheel (not the console-script wrapper)."""
    try:
        import helics  # noqa: F401  (only to locate the wheel)
        from helics._build import PYHELICS_INSTALL

        path = Path(PYHELICS_INSTALL) / "bin" / "helics_broker"
        if path.exists():
            return str(path)
    except Exception:  # noqa: BLE001 - fall back to PATH
        pass
    found = subprocess.run(["which", "helics_broker"], capture_output=True, text=True).stdout.strip()
    if not found:
        raise UserError("helics_broker not found: install the 'helics' package (pip install helics)")
    return found


#: Brokers get ports from blocks below Linux's ephemeral range (32768-60999): a ZMQ broker on port P listens on P and
#: P+1 and hands its cores P+5, P+6, ... (measured), and ports in the ephemeral range are also taken at random by
#: every outgoing connection on the machine, which made a core fail with "Unable to bind zmq pull socket".
PORT_RANGE = (20000, 32700)
PORT_BLOCK = 100


def _bindable(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class PortBlock:
    """A block of ``PORT_BLOCK`` ports reserved for one broker and its cores for the life of a run.

    Reservation is a ``flock`` on a file per block in a folder of the temporary folder, so runs (and test workers) on
    one machine never share a block; the lock goes with the process, so a killed launcher frees its blocks. Ports are
    a machine-wide resource, so the folder is shared by every user of the machine: world-writable with the sticky bit
    (as /tmp itself), lock files opened read-only (a lock file another user created is readable, and ``flock`` needs
    no write access). A folder left unusable by someone else (created 0755 by an older vppfed) falls back to a
    per-user folder, said in a warning.
    """

    def __init__(self, seed: int | None = None) -> None:
        blocks = list(range((PORT_RANGE[1] - PORT_RANGE[0]) // PORT_BLOCK))
        random.Random(seed if seed is not None else (os.getpid() << 20) ^ time.time_ns()).shuffle(blocks)
        for lock_dir in port_lock_dirs():
            for block in blocks:
                try:
                    fd = os.open(lock_dir / f"block{block}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
                except OSError:
                    continue   # another user's folder we cannot add to: try the next block, then our own folder
                handle = os.fdopen(fd, "rb")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    handle.close()
                    continue
                start = PORT_RANGE[0] + block * PORT_BLOCK
                if all(_bindable(port) for port in range(start, start + 12)):
                    self.port, self._handle = start, handle
                    return
                handle.close()
        raise CosimError(f"no free block of {PORT_BLOCK} ports in {PORT_RANGE} for the broker")

    def release(self) -> None:
        """Give the block back (idempotent)."""
        if not self._handle.closed:
            self._handle.close()


def port_lock_dirs() -> list[Path]:
    """Folders of the port-block locks, the shared one first (see :class:`PortBlock`)."""
    shared = Path(tempfile.gettempdir()) / "vppfed-ports"
    dirs: list[Path] = []
    try:
        shared.mkdir(mode=0o1777, exist_ok=True)
        if shared.stat().st_uid == os.getuid() and (shared.stat().st_mode & 0o7777) != 0o1777:
            shared.chmod(0o1777)   # mkdir's mode is cut by the umask
        dirs.append(shared)
    except OSError as exc:
        log.warning("port locks: %s is not usable (%s); using a per-user folder", shared, exc)
    if not dirs or not os.access(shared, os.W_OK | os.X_OK):
        own = Path(tempfile.gettempdir()) / f"vppfed-ports-{os.getuid()}"
        own.mkdir(mode=0o700, exist_ok=True)
        if dirs:
            log.warning("port locks: %s belongs to another user and is not writable; runs of this user lock in %s "
                        "(ports are then only kept apart from this user's runs)", shared, own)
        dirs.append(own)
    return dirs


def free_port(host: str = "127.0.0.1", span: int = 2) -> int:
    """A port whose ``span`` consecutive ports are free now (for tests and tools that need a single port)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port + span < 65535 and all(_bindable(port + extra, host) for extra in range(1, span)):
            return port
    raise CosimError("no free port pair found")


@dataclass
class ProcessRecord:
    """A process the launcher started."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    started: float
    ended: float | None = None
    returncode: int | None = None
    #: it ended while the run was watched, before the launcher sent any signal
    ended_in_run: bool = False

    @property
    def wall_seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started


@dataclass
class RunSummary:
    """What a run did: success, wall time, simulated time reached, and each federate's status."""

    ok: bool
    wall_seconds: float
    simulated_seconds: float
    stop_seconds: float
    federates: list[dict[str, Any]] = field(default_factory=list)
    failed: str | None = None
    reason: str = ""
    port: int = 0
    #: key figures the federates left (``FederateBase.write_report``), by federate
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)

    def table(self) -> str:
        """A human summary: one line per federate with its exit code and wall time."""
        lines = [f"{'federate':<22} {'status':<10} {'exit':>5} {'wall s':>8}"]
        for fed in self.federates:
            lines.append(f"{fed['name']:<22} {fed['status']:<10} {str(fed['returncode']):>5} {fed['wall_s']:>8.1f}")
        lines += [f"{name}: {figures['say']}" for name, figures in sorted(self.reports.items()) if figures.get("say")]
        verdict = "finished" if self.ok else f"FAILED ({self.failed}: {self.reason})"
        lines.append(f"run {verdict}: {self.simulated_seconds / 3600:.2f} of {self.stop_seconds / 3600:.2f} "
                     f"simulated h in {self.wall_seconds:.1f} s wall "
                     + (f"(broker port {self.port})" if self.port else "(one process, in-process broker)"))
        return "\n".join(lines)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone: only its parent can reap it)."""
    state = _proc_state(pid)
    return state != "" and state != "Z"


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def broker_parents(runner: dict[str, Any], placement: dict[str, str], where: Path) -> dict[str, str]:
    """``vppfed.broker_parents`` of a runner: sub-broker -> its parent sub-broker (absent: under the root), for a
    hierarchy deeper than root + sub-brokers (e.g. root, region brokers, feeder-group brokers). Checked: names are
    strings, no broker is its own ancestor."""
    raw = (runner.get("vppfed") or {}).get("broker_parents") or {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                            for k, v in raw.items()):
        raise UserError(f"{where}: vppfed.broker_parents: expected a mapping of sub-broker names to parent names")
    for start in raw:
        seen, b = {start}, raw[start]
        while b in raw:
            if b in seen:
                raise UserError(f"{where}: vppfed.broker_parents: {start} is its own ancestor")
            seen.add(b)
            b = raw[b]
    return dict(raw)


def _depth(broker: str, parents: dict[str, str]) -> int:
    depth = 0
    while broker in parents:
        broker, depth = parents[broker], depth + 1
    return depth


def _below(broker: str, ancestor: str, parents: dict[str, str]) -> bool:
    while broker in parents:
        broker = parents[broker]
        if broker == ancestor:
            return True
    return False


class Launcher:
    """Start a broker and the federates of a runner JSON, watch them, and always clean up.

    Parameters
    ----------
    runner_path : path
        ``helics run`` runner JSON; federate ``directory`` entries are relative to its folder.
    timeout : float, optional
        Wall seconds before the run is ended as failed (default: the runner's ``vppfed.timeout`` or 1 hour).
    resume : bool
        Set ``VPPFED_RESUME=1`` for every federate (those with saved state continue from it).
    progress : callable, optional
        Called with (simulated seconds reached, stop seconds) about every 0.5 s.
    """

    def __init__(self, runner_path: str | Path, *, timeout: float | None = None, resume: bool = False,
                 progress: Callable[[float, float], None] | None = None, log_dir: str | Path | None = None,
                 broker_log_level: str = "warning", cohost: bool = True) -> None:
        self.runner_path = Path(runner_path).resolve()
        if not self.runner_path.exists():
            raise UserError(f"{runner_path}: runner file not found")
        self.runner = load_json(self.runner_path, "helics runner JSON")
        feds = self.runner.get("federates")
        if not isinstance(feds, list) or not feds:
            raise UserError(f"{runner_path}: federates: must be a non-empty list")
        for i, fed in enumerate(feds):
            for key in ("name", "exec"):
                if not isinstance(fed, dict) or not isinstance(fed.get(key), str) or not fed.get(key):
                    raise UserError(f"{runner_path}: federates[{i}].{key}: required string is missing")
        names = [f["name"] for f in feds]
        if len(set(names)) != len(names):
            raise UserError(f"{runner_path}: federates: repeated names {sorted({n for n in names if names.count(n) > 1})}")
        extra = self.runner.get("vppfed", {})
        self.stop_seconds = float(extra.get("stop_seconds", 0.0))
        self.timeout = float(timeout or extra.get("timeout") or 0.0) or 3600.0
        self.stall_seconds = float(extra.get("stall_s") or 0.0) or default_stall_seconds(self.stop_seconds)
        #: federates seen reporting progress during the run (see :meth:`_incomplete`)
        self._reported: set[str] = set()
        self.resume = resume
        self.progress = progress
        self.base = self.runner_path.parent
        self.log_dir = Path(log_dir) if log_dir else self.base
        self.broker_log_level = broker_log_level
        self.state_dir = self.base / ".vppfed"
        self.processes: list[ProcessRecord] = []
        self.broker: ProcessRecord | None = None
        self.sub_brokers: list[ProcessRecord] = []
        self.port_blocks: list[PortBlock] = []
        self.port = 0
        # co-hosting (vppfed.federates.host): off when asked, in the runner or here, and when profiling (cProfile
        # profiles one thread; a process per federate gives one profile each)
        self.cohost = (cohost and extra.get("cohost", True) is not False
                       and not os.environ.get(ENV_PROFILE_DIR))
        #: host process name -> its members, for the summary
        self.hosts: dict[str, list[str]] = {}

    # -------------------------------------------------------------- starting
    def _environment(self, extra: dict[str, str], port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update({k: str(v) for k, v in extra.items()})
        env["HELICS_BROKER_PORT"] = str(port)
        env.pop("HELICS_BROKER_ADDRESS", None)
        env[ENV_PROGRESS_DIR] = str(self.state_dir / "progress")
        env[ENV_PID_DIR] = str(self.state_dir / "pids")
        env.setdefault(ENV_CORE_INIT, WATCHED_CORE_INIT)
        env["PYTHONUNBUFFERED"] = "1"
        # a federate started by python must find the same vppfed as the launcher
        env.setdefault("MPLBACKEND", "Agg")
        if self.resume:
            env[ENV_RESUME] = "1"
        else:
            env.pop(ENV_RESUME, None)
        return env

    @staticmethod
    def _command(exec_line: str) -> list[str]:
        args = shlex.split(exec_line)
        if args and args[0] in ("python", "python3"):
            args[0] = sys.executable
        return args

    def _spawn(self, name: str, args: Sequence[str], cwd: Path, env: dict[str, str]) -> ProcessRecord:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as log_file:
            try:
                popen = subprocess.Popen(list(args), cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_end_with_launcher)
            except FileNotFoundError:
                raise CosimError(f"federate '{name}': command not found: {args[0]}") from None
        return ProcessRecord(name=name, popen=popen, log_path=log_path, started=time.monotonic())

    def _spawn_broker(self, name: str, count: int, parent_port: int | None = None) -> tuple[ProcessRecord, int]:
        """Start a broker (the root, or a sub-broker under ``parent_port``) on a free port; retried on a clash."""
        record: ProcessRecord | None = None
        for attempt in range(3):
            block = PortBlock()
            self.port_blocks.append(block)
            port = block.port
            args = [helics_broker_binary(), "-f", str(count), f"--loglevel={self.broker_log_level}",
                    f"--port={port}", f"--name={name}_{os.getpid()}_{port}", "--terminate_on_error",
                    "--timeout=60s", *WATCHED_BROKER_ARGS]
            if parent_port is not None:
                args.append(f"--broker_address=tcp://127.0.0.1:{parent_port}")
            record = self._spawn(name, args, self.base, dict(os.environ))
            time.sleep(0.2)
            if record.popen.poll() is None:
                return record, port
            log.warning("%s exited at once on port %d (attempt %d): %s", name, port, attempt + 1,
                        tail(record.log_path, 3))
        raise CosimError(f"{name} could not start: {tail(record.log_path) if record else ''}")

    def _start_brokers(self, feds: list[dict[str, Any]]) -> dict[str, int]:
        """Start the root broker and the sub-brokers the runner asks for; returns each federate's broker port.

        The runner's ``vppfed.brokers`` maps a federate name to a sub-broker name; federates not listed connect to
        the root. This is HELICS's own broker hierarchy (sub-brokers register with the root over zmq), the same
        structure a multi-host run uses with real addresses.
        """
        placement: dict[str, str] = dict((self.runner.get("vppfed") or {}).get("brokers") or {})
        unknown = sorted(set(placement) - {f["name"] for f in feds})
        if unknown:
            raise UserError(f"{self.runner_path}: vppfed.brokers names unknown federates {unknown}")
        parents = broker_parents(self.runner, placement, self.runner_path)
        self.broker, self.port = self._spawn_broker("broker", len(feds))
        ports: dict[str, int] = {}
        broker_ports: dict[str, int] = {}
        for sub in sorted(set(placement.values()) | set(parents.values()), key=lambda b: (_depth(b, parents), b)):
            # -f: every federate below this broker (through its own sub-brokers too), as the root counts all
            members = [name for name, b in placement.items() if b == sub or _below(b, sub, parents)]
            parent = parents.get(sub)
            record, port = self._spawn_broker(sub, len(members),
                                              parent_port=broker_ports[parent] if parent else self.port)
            self.sub_brokers.append(record)
            broker_ports[sub] = port
            for name, b in placement.items():
                if b == sub:
                    ports[name] = port
        return {f["name"]: ports.get(f["name"], self.port) for f in feds}

    def _host_groups(self, feds: list[dict[str, Any]], ports: dict[str, int]) -> list[list[dict[str, Any]]]:
        """The runner's federates that one co-hosting process runs together: vppfed federates that share a folder,
        an environment and a broker (groups of one stay processes of their own)."""
        if not self.cohost:
            return []
        from vppfed.federates.host import hostable_command

        groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for fed in feds:
            if hostable_command(fed["exec"]) is None:
                continue
            key = (str(self._federate_dir(fed)),
                   json.dumps(fed.get("env") or {}, sort_keys=True), ports.get(fed["name"], 0))
            groups.setdefault(key, []).append(fed)
        return [group for group in groups.values() if len(group) > 1]

    def _federate_dir(self, fed: dict[str, Any]) -> Path:
        """The folder a runner entry runs in: its ``directory``, relative to the runner's folder (default: that)."""
        return (self.base / fed.get("directory", ".")).resolve()

    def _one_host_for_all(self, feds: list[dict[str, Any]]) -> bool:
        """True when every federate can run in one process with no broker process at all (an in-process core
        and broker): all are hostable vppfed federates in one folder and environment, and no sub-broker is asked."""
        if not self.cohost or len(feds) < 2 or (self.runner.get("vppfed") or {}).get("brokers"):
            return False
        groups = self._host_groups(feds, {})
        return len(groups) == 1 and len(groups[0]) == len(feds)

    def _spawn_host(self, group: list[dict[str, Any]], port: int | None, index: int) -> list[ProcessRecord]:
        """Start one co-hosting process for ``group``; one record per member (sharing the process), so progress,
        logs, failures and the summary stay per federate."""
        names = [fed["name"] for fed in group]
        host_name = f"host_{index}" if index else "host"
        cwd = self._federate_dir(group[0])
        env = self._environment(group[0].get("env") or {}, port or 0)
        core_type = "zmq"
        if port is None:
            env.pop("HELICS_BROKER_PORT", None)
            core_type = "inproc"
        args = [sys.executable, "-m", "vppfed.federates.host", "--runner", str(self.runner_path),
                "--log-dir", str(self.log_dir.resolve()), "--core-type", core_type, *names]
        record = self._spawn(host_name, args, cwd, env)
        self.hosts[host_name] = names
        return [ProcessRecord(name=name, popen=record.popen, log_path=self.log_dir / f"{name}.log",
                              started=record.started) for name in names]

    def _start_federates(self, feds: list[dict[str, Any]]) -> None:
        """Start the brokers and every federate: co-hosted groups as one process each, the rest one process each."""
        if self._one_host_for_all(feds):
            records = self._spawn_host(feds, None, 0)
        else:
            ports = self._start_brokers(feds)
            records = []
            hosted: set[str] = set()
            for index, group in enumerate(self._host_groups(feds, ports)):
                records += self._spawn_host(group, ports[group[0]["name"]], index)
                hosted |= {fed["name"] for fed in group}
            for fed in feds:
                if fed["name"] in hosted:
                    continue
                cwd = self._federate_dir(fed)
                env = self._environment(fed.get("env") or {}, ports[fed["name"]])
                records.append(self._spawn(fed["name"], self._command(fed["exec"]), cwd, env))
        order = {fed["name"]: i for i, fed in enumerate(feds)}
        self.processes.extend(sorted(records, key=lambda r: order[r.name]))

    # ------------------------------------------------------------- teardown
    def _all_records(self) -> list[ProcessRecord]:
        return self.processes + self.sub_brokers + ([self.broker] if self.broker else [])

    def _recorded_children(self) -> list[int]:
        pids = []
        pid_dir = self.state_dir / "pids"
        if pid_dir.exists():
            for path in pid_dir.glob("*.pid"):
                try:
                    pids.append(int(path.read_text().strip()))
                except (OSError, ValueError):
                    continue
        return pids

    @staticmethod
    def _signal_group(popen: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def teardown(self) -> None:
        """End every process this run started: federates, their recorded children and the broker."""
        for record in self._all_records():
            if record.popen.poll() is None:
                self._signal_group(record.popen, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and any(r.popen.poll() is None for r in self._all_records()):
            time.sleep(0.05)
        for record in self._all_records():
            if record.popen.poll() is None:
                self._signal_group(record.popen, signal.SIGKILL)
            try:
                record.popen.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            if record.ended is None:
                record.ended = time.monotonic()
                record.returncode = record.popen.returncode
        children = self._recorded_children()
        for pid in children:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                except (ProcessLookupError, PermissionError):
                    try:
                        os.kill(pid, sig)
                    except (ProcessLookupError, PermissionError):
                        break
                time.sleep(0.05)
        deadline = time.monotonic() + 2.0
        while children and time.monotonic() < deadline:
            children = [pid for pid in children if _alive(pid)]
            time.sleep(0.05)

    def _first_failure(self, failed: str, reason: str) -> tuple[str, str]:
        """The federate that failed first.

        A federate that died by a signal the launcher did not send (SIGKILL from outside, a segfault) is the origin:
        federates that fail on their own exit with code 1 after leaving a note, and those that follow a failure of
        another federate do the same, so a signal death is never a consequence. Otherwise the earliest note whose
        error is the federate's own (not a termination by the federation) wins; otherwise the first exit seen.
        """
        signalled = [r for r in self.processes if r.returncode is not None and r.returncode < 0 and r.ended_in_run]
        if signalled:
            first = min(signalled, key=lambda r: r.ended or 0.0)
            why = f"killed by {_signal_name(-first.returncode)} (exit code {first.returncode})"
            for host_name, members in self.hosts.items():
                if first.name in members:   # the process of several federates died, not one of them
                    return host_name, f"{why}; it ran {', '.join(members)}"
            return first.name, why
        notes = []
        for path in (self.state_dir / "failures").glob("*.json"):
            try:
                notes.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        own = [n for n in notes if "terminate" not in n.get("error", "").lower()] or notes
        if not own:
            return failed, reason
        first = min(own, key=lambda n: n.get("time", 0.0))
        return str(first["name"]), f"{first.get('error', reason)} at t={first.get('sim_time', 0)} s"

    # ------------------------------------------------------------------ run
    def _incomplete(self) -> tuple[str, str] | None:
        """(federate, reason) when every process exited 0 but a federate did not reach its stop time, else None.

        A vppfed federate's last heartbeat says ``done`` with its granted and stop times (a federate may end early on
        purpose by lowering its own stop, as COHDA agents do when the negotiation ends). Federates of other runtimes
        (TESP's) write none and are not judged; a federate seen reporting during the run whose files are gone at the
        end means the run folder was replaced under the run.
        """
        states = read_states(self.processes, self.state_dir)
        try:
            replaced = os.stat(self.base).st_ino != self._base_inode
        except OSError:
            replaced = True
        if replaced:
            return self.processes[0].name if self.processes else "launcher", (
                f"{self.base} was replaced or removed during the run (another command wrote into it), so nothing in "
                "it can be trusted")
        vanished = sorted(self._reported - set(states))
        if vanished:
            return vanished[0], ("exited 0 but its progress files are gone: the run folder was replaced or emptied "
                                 "during the run, so nothing in it can be trusted")
        for name, st in sorted(states.items(), key=lambda kv: float(kv[1].get("granted", 0.0))):
            granted, stop = float(st.get("granted", 0.0)), float(st.get("stop", float("nan")))
            if st.get("phase") != "done":
                return name, f"exited 0 but its last state was '{st.get('phase')}' at t={granted:g} s"
            if stop == stop and granted < stop - 1e-6:
                return name, f"exited 0 at t={granted:g} s before its stop time t={stop:g} s"
        return None

    def _granted_times(self) -> list[float]:
        """Granted time of each federate that has reported one (its progress file)."""
        progress_dir = self.state_dir / "progress"
        values = []
        for record in self.processes:
            path = progress_dir / record.name
            try:
                values.append(float(path.read_text().strip() or 0.0))
            except (OSError, ValueError):
                continue
            self._reported.add(record.name)
        return values

    def _working_pids(self) -> list[int]:
        """Processes of the federates working on a step (their heartbeat says so) and the child processes the
        federates recorded (GridLAB-D workers, which use CPU only when their federate asks them to)."""
        running = [r for r in self.processes if r.ended is None]
        states = read_states(running, self.state_dir)
        working = [r.popen.pid for r in running if states.get(r.name, {}).get("phase") == "working"]
        return working + self._recorded_children()

    def _simulated_seconds(self) -> float:
        """Simulated time the whole federation has reached (the slowest federate's)."""
        values = self._granted_times()
        return min(values) if values else 0.0

    def run(self) -> RunSummary:
        """Run the federation to the end; never leaves a process behind. Raises CosimError on failure."""
        started = time.monotonic()
        self._base_inode = os.stat(self.base).st_ino
        if self.state_dir.exists():
            for sub in ("progress", "pids", "failures", "reports"):
                for path in (self.state_dir / sub).glob("*"):
                    path.unlink(missing_ok=True)
        feds = self.runner["federates"]
        failed: str | None = None
        reason = ""
        interrupted: RunInterrupted | None = None

        def _on_sigterm(_signum: int, _frame: Any) -> None:
            raise RunInterrupted("SIGTERM")

        try:
            previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:   # not the main thread (a launcher inside a test thread): SIGTERM stays as it was
            previous_sigterm = None
        try:
            self._start_federates(feds)
            last_progress = cpu_checked = 0.0
            advanced_at, reached, reached_min = time.monotonic(), -1.0, 0.0
            compute_watch = ComputeWatch()
            while True:
                for record in self.processes:
                    if record.ended is None and record.popen.poll() is not None:
                        record.ended = time.monotonic()
                        record.returncode = record.popen.returncode
                        record.ended_in_run = True
                        if record.returncode != 0 and failed is None:
                            failed, reason = record.name, f"exit code {record.returncode}"
                for broker in ([self.broker] if self.broker else []) + self.sub_brokers:
                    if failed is None and broker.popen.poll() not in (None, 0):
                        failed, reason = broker.name, f"exit code {broker.popen.returncode}"
                if failed or all(r.ended is not None for r in self.processes):
                    break
                now = time.monotonic()
                # any federate advancing counts (the sum): one that ended early on purpose (a COHDA agent whose
                # negotiation is over) keeps the slowest time still while the others go on
                granted = self._granted_times()
                if granted and sum(granted) > reached:
                    advanced_at, reached = now, sum(granted)
                    reached_min = min(granted)
                if not any(r.ended is None and r.name in self._reported for r in self.processes):
                    # only federates that report no progress are left (TESP's own, running on to their Tmax):
                    # nothing to judge a stall by; the timeout still bounds the run
                    advanced_at = now
                if now - cpu_checked >= 1.0:
                    cpu_checked = now
                    if compute_watch.computing(self._working_pids(), now):
                        advanced_at = now
                if now - started > self.timeout:
                    failed, why = diagnose_stall(self.processes, self.state_dir)
                    reason = f"timeout after {self.timeout:.0f} s; {why}"
                    break
                if now - advanced_at > self.stall_seconds:
                    failed, why = diagnose_stall(self.processes, self.state_dir)
                    reason = (f"stalled: no federate advanced (slowest at t={reached_min:g} s) for "
                              f"{now - advanced_at:.0f} s; {why}")
                    break
                if self.progress and now - last_progress >= 0.5:
                    last_progress = now
                    self.progress(min(granted) if granted else 0.0, self.stop_seconds)
                time.sleep(0.1)
            if failed is None:
                for broker in self.sub_brokers + ([self.broker] if self.broker else []):
                    try:
                        broker.popen.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        log.warning("%s still running 10 s after the last federate ended; ending it", broker.name)
        except KeyboardInterrupt as exc:
            interrupted = exc if isinstance(exc, RunInterrupted) else RunInterrupted("SIGINT")
            failed = failed or "launcher"
            reason = "interrupted (Ctrl-C)" if interrupted.signal_name == "SIGINT" else "terminated (SIGTERM)"
        finally:
            # a second Ctrl-C or SIGTERM must not cut the teardown short (it is bounded: GRACE_SECONDS, then SIGKILL)
            held = _hold_signals() if previous_sigterm is not None else {}
            try:
                self.teardown()
            finally:
                for block in self.port_blocks:
                    block.release()
                for signum, handler in held.items():
                    signal.signal(signum, handler)
                if previous_sigterm is not None:
                    signal.signal(signal.SIGTERM, previous_sigterm)
        if failed is not None and interrupted is None and not reason.startswith(("stalled", "timeout")):
            failed, reason = self._first_failure(failed, reason)
        simulated = self._simulated_seconds()
        if failed is None:
            incomplete = self._incomplete()
            if incomplete is not None:
                failed, reason = incomplete
        if self.progress:
            self.progress(simulated, self.stop_seconds)
        summary = RunSummary(ok=failed is None, wall_seconds=time.monotonic() - started,
                             simulated_seconds=simulated, stop_seconds=self.stop_seconds, failed=failed,
                             reason=reason, port=self.port)
        for path in sorted((self.state_dir / "reports").glob("*.json")):
            try:
                summary.reports[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("%s: unreadable federate report; left out of the summary", path)
        for record in self.processes:
            status = "ok" if record.returncode == 0 else ("FAILED" if record.name == failed else "stopped")
            summary.federates.append({"name": record.name, "status": status, "returncode": record.returncode,
                                      "wall_s": record.wall_seconds, "log": str(record.log_path)})
        (self.state_dir).mkdir(exist_ok=True)
        (self.state_dir / "summary.json").write_text(json.dumps(summary.__dict__, indent=1), encoding="utf-8")
        if interrupted is not None:
            interrupted.summary = summary
            raise interrupted
        if failed is not None:
            log_path = self.log_dir / f"{failed}.log"
            raise CosimError(f"federate '{failed}' failed ({reason}); last lines of {log_path}:\n"
                             f"{tail(log_path)}\n\n{summary.table()}")
        return summary
