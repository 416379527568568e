"""Several vppfed federates in one process: one thread each, all on one shared HELICS core.

Why (issue 15, measured on te30, 48 h, 2 cores): with one process per federate, ``pypower`` spent 38.6 CPU s and
``sub_7`` 31.1 CPU s, of which ``sub_7``'s own Python was under 1 s (288 grants in 12 h): the rest is each process's
HELICS zmq core threads (futex, poll, epoll; 83 of the run's 172 CPU s were system time). A probe with three federates
stepping 12 simulated hours at 15/15/60 s took 2.67 s wall and 4.3 CPU s as three processes, 0.91 s as three threads
on one zmq core. HELICS routes values and time messages between federates of one core inside that core, and the
federates' algorithms do not change: their outputs are the same bytes.

The runner JSON does not change: every federate keeps its own ``exec`` line, which ``helics run`` and TESP's
runners start as separate processes. ``vppfed run`` (:class:`vppfed.launcher.Launcher`) groups the runner's vppfed
federates that share a folder, an environment and a broker, and starts this module once per group::

    python -m vppfed.federates.host --runner runner.json --log-dir DIR [--core-type zmq] NAME [NAME ...]

Each member is built exactly as its own ``python -m vppfed.federates.<name>`` would build it (the adapter's
``build_parser`` and ``build_federate`` on the same arguments), and logs to ``DIR/<name>.log`` as it would alone.
Signals go to the main thread, which asks every member to stop (:meth:`FederateBase.request_stop`) and raises a
HELICS error to wake the members blocked in a time request, so each still runs its ``on_finish``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
import resource
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vppfed.envvars import ENV_CORE_INIT
from vppfed.federates.runtime import STOP_GRACE_SECONDS, FederateBase, h, write_failure_note

log = logging.getLogger(__name__)

#: Federate packages whose adapters build a :class:`FederateBase` from their command line and keep no process-wide
#: state (COHDA and the neighbourhood keep their own runtimes and solver thread pools: they stay processes).
HOSTABLE = ("feeder", "bulk", "market", "weather", "battery", "agile")

_MODULE = re.compile(r"vppfed\.federates\.(\w+)")


def hostable_command(exec_line: str) -> tuple[str, list[str]] | None:
    """(package, arguments) when ``exec_line`` starts a hostable vppfed federate (``python -m vppfed.federates.X``)."""
    try:
        args = shlex.split(exec_line)
    except ValueError:
        return None
    if len(args) < 3 or Path(args[0]).name not in ("python", "python3") or args[1] != "-m":
        return None
    found = _MODULE.fullmatch(args[2])
    if found is None or found[1] not in HOSTABLE:
        return None
    return found[1], args[3:]


@dataclass
class Member:
    """One federate of the group: its runner name, its adapter's federate, and what its thread returned."""

    name: str
    package: str
    argv: list[str]
    federate: FederateBase | None = None
    returncode: int | None = None
    thread: threading.Thread | None = None
    log_handler: logging.Handler | None = field(default=None, repr=False)


class _ThreadFilter(logging.Filter):
    """Passes the records logged from one member's thread, so each member's log file holds its own lines."""

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self.thread_name = thread_name

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName == self.thread_name


class _NotMembers(logging.Filter):
    """Passes records from no member's thread (the host's own lines) to the process's stderr."""

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName not in self.names


_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _members_of(runner_path: Path, names: Sequence[str]) -> list[Member]:
    runner = json.loads(runner_path.read_text(encoding="utf-8"))
    by_name = {f.get("name"): f for f in runner.get("federates", [])}
    members = []
    for name in names:
        fed = by_name.get(name)
        if fed is None:
            raise SystemExit(f"{runner_path}: no federate named {name!r}")
        parsed = hostable_command(str(fed.get("exec", "")))
        if parsed is None:
            raise SystemExit(f"{runner_path}: federate {name!r} is not a hostable vppfed federate: {fed.get('exec')}")
        members.append(Member(name=name, package=parsed[0], argv=parsed[1]))
    return members


def _setup_logs(members: list[Member], log_dir: Path) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    own = logging.StreamHandler(sys.stderr)
    own.setFormatter(logging.Formatter(_FORMAT))
    own.addFilter(_NotMembers({m.name for m in members}))
    root.addHandler(own)
    log_dir.mkdir(parents=True, exist_ok=True)
    for member in members:
        handler = logging.FileHandler(log_dir / f"{member.name}.log", mode="w", encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(_ThreadFilter(member.name))
        root.addHandler(handler)
        member.log_handler = handler


def _build(member: Member) -> FederateBase:
    """The member's federate, built by its own adapter from its own command line."""
    adapter = importlib.import_module(f"vppfed.federates.{member.package}.adapter")
    args = adapter.build_parser().parse_args(member.argv)
    if getattr(args, "verbose", 0):
        logging.getLogger().setLevel(logging.DEBUG)
    return adapter.build_federate(args)


def _core_overrides(core_type: str, core_name: str, count: int, broker: str | None) -> dict[str, Any]:
    init = f"--federates={count}"
    if broker:
        init += f" --broker={broker}"
    return {"coreType": core_type, "coreName": core_name, "core_init_string": init}


def _inproc_broker_init(count: int) -> str:
    """Init string of the in-process broker of an all-hosted federation.

    Under the launcher (its cores get ``--disable_timer`` through ``VPPFED_CORE_INIT``) the broker's timers go off as
    well, as the launcher's broker processes run with theirs off (:data:`vppfed.launcher.WATCHED_BROKER_ARGS`): the
    launcher watches the process itself. Why: on a starved machine the broker's ping of a core went unanswered for
    two ticks and it ended a healthy te30 run with "lost comms" (CI at load 6, two te30 runs beside a 3,000-house
    feeder)."""
    init = f"-f {count} --terminate_on_error --timeout=60s"
    if "--disable_timer" in os.environ.get(ENV_CORE_INIT, ""):
        init += " --slow_responding --disable_timer"
    return init


def _name_native_thread(name: str) -> None:
    """Give the OS thread the member's name (``top -H``, ``perf`` and /proc show it; Linux keeps 15 bytes)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)   # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def _run_member(member: Member) -> None:
    assert member.federate is not None
    _name_native_thread(member.name)
    try:
        member.returncode = member.federate.run(install_signal_handlers=False)
    except BaseException:  # noqa: BLE001 - a member's thread must always leave a code
        logging.getLogger(__name__).exception("%s: unexpected error", member.name)
        member.returncode = 1


def _exit_code(members: list[Member]) -> int:
    codes = [m.returncode if m.returncode is not None else 1 for m in members]
    for wanted in (1, 2, 143):
        if wanted in codes:
            return wanted
    return max(codes) if codes else 0


def host(runner_path: Path, names: Sequence[str], log_dir: Path, core_type: str = "zmq") -> int:
    """Build every member, run each in its own thread on one shared core, and return the group's exit code."""
    members = _members_of(runner_path, names)
    _setup_logs(members, log_dir)
    # named after its first member, unique within the federation (members are), and the same from run to run, so
    # that the effective configs the members write are too (no pid: zmq cores register with their own broker)
    core_name = f"vppfed_host_{members[0].name}"
    broker: Any = None
    broker_name = None
    if core_type == "inproc":
        broker_name = f"{core_name}_broker"
        broker = h.helicsCreateBroker("inproc", broker_name, _inproc_broker_init(len(members)))
    overrides = _core_overrides(core_type, core_name, len(members), broker_name)
    for member in members:
        threading.current_thread().name = member.name  # the build's log lines go to the member's file
        try:
            member.federate = _build(member)
        except Exception as exc:  # noqa: BLE001 - one line per member, as run_federate says it alone
            log.error("cannot start federate: %s", exc)
            write_failure_note(member.name, exc, 0.0)
            threading.current_thread().name = "MainThread"
            _finish_built(members)
            return 2
        member.federate.core_overrides = dict(overrides)  # (which also makes it `hosted`)
    threading.current_thread().name = "MainThread"
    stopping: list[str] = []

    def _stop(signum: int, _frame: Any) -> None:
        stopping.append(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    for member in members:
        member.thread = threading.Thread(target=_run_member, args=(member,), name=member.name, daemon=True)
        member.thread.start()
    log.info("hosting %s on one %s core (%s)", ", ".join(m.name for m in members), core_type, core_name)
    deadline: float | None = None
    while any(m.thread is not None and m.thread.is_alive() for m in members):
        if stopping and deadline is None:
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            _request_stop(members, stopping[0])
        if deadline is not None and time.monotonic() > deadline:
            log.error("still running %.0f s after %s (blocked in a HELICS call?): exiting hard",
                      STOP_GRACE_SECONDS, stopping[0])
            logging.shutdown()
            os._exit(143)
        for member in members:
            if member.thread is not None:
                member.thread.join(timeout=0.1)
    if broker is not None:
        h.helicsBrokerWaitForDisconnect(broker, 10_000)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    log.info("host: %.2f CPU s in this process, %.2f in its child processes", own.ru_utime + own.ru_stime,
             children.ru_utime + children.ru_stime)
    return 143 if stopping and _exit_code(members) == 0 else _exit_code(members)


def _finish_built(members: list[Member]) -> None:
    """After a member could not be built: the members built before it end their child processes (a feeder's
    GridLAB-D worker) through their own ``on_finish``, as a federate process that failed would."""
    for member in members:
        if member.federate is not None:
            threading.current_thread().name = member.name
            try:
                member.federate.on_finish(failed=True)
            except Exception:  # noqa: BLE001
                log.exception("%s: on_finish failed", member.name)
    threading.current_thread().name = "MainThread"


def _request_stop(members: list[Member], why: str) -> None:
    """Every member ends at its next step; those blocked in a time request are woken by a HELICS error."""
    log.warning("%s: stopping %d federates", why, len(members))
    for member in members:
        if member.federate is not None:
            member.federate.request_stop()
    for member in members:
        fed = member.federate.fed if member.federate is not None else None
        if fed is not None and member.thread is not None and member.thread.is_alive():
            try:
                h.helicsFederateLocalError(fed, 143, f"{member.name}: stopped by {why}")
            except Exception:  # noqa: BLE001 - the federation may already be ending
                pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vppfed.federates.host",
        description="Run several vppfed federates of a runner JSON in one process (one thread each, one shared "
                    "HELICS core). vppfed run does this by itself; the runner stays valid for helics run.")
    parser.add_argument("--runner", required=True, help="the runner JSON that lists the federates and their commands")
    parser.add_argument("--log-dir", default=".", help="folder of the members' log files (<name>.log)")
    parser.add_argument("--core-type", choices=("zmq", "tcp", "inproc"), default="zmq",
                        help="HELICS core type of the shared core; inproc brings its own broker in this process "
                             "(only when every federate of the run is in this group)")
    parser.add_argument("names", nargs="+", help="runner names of the federates to host")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m vppfed.federates.host``."""
    args = build_parser().parse_args(argv)
    return host(Path(args.runner), args.names, Path(args.log_dir), args.core_type)


if __name__ == "__main__":
    sys.exit(main())
