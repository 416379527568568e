"""Case-level kill and resume with real GridLAB-D and HELICS: SIGKILL the battery federate of the peak-shaving case in
the middle of a run, resume the case, and compare everything from the resume point on with an uninterrupted run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vppfed.cases import case_yaml
from vppfed.configs.case import build_case
from vppfed.errors import CosimError
from vppfed.formats.metrics import recover
from vppfed.launcher import Launcher

HOURS = 6
KILL_AFTER_S = 3 * 3600.0
# the afternoon and evening, so the battery charges, rests and discharges within the short horizon; no baseline run
OVERRIDES = {"case.hours": HOURS, "case.start": "2013-07-01 14:00:00", "battery.baseline": False}
FEEDER_PREFIXES = ("substation", "house", "billing_meter", "inverter")


def samples(path: Path, after: float = -1.0) -> dict[int, dict]:
    """The samples of a metrics file at times > ``after`` (header removed)."""
    doc = recover(path)
    return {int(k): v for k, v in doc.items() if k not in ("StartTime", "Metadata") and int(k) > after}


def state_last_t(path: Path) -> float | None:
    """Last control time saved in a battery state file (read-only; None while it has none)."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1)
        try:
            return conn.execute("SELECT max(t_s) FROM commands").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def processes_in(folder: Path) -> list[str]:
    """Live processes whose working directory is ``folder`` (federates, brokers, GridLAB-D workers of that run)."""
    found = []
    target = str(folder.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") != target:
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "\nState:\tZ" not in status:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command[:120]}")
    return found


def no_process_left(folder: Path, grace_s: float = 5.0) -> list[str]:
    """``processes_in(folder)`` once it is empty, or after ``grace_s`` (a SIGKILLed process takes a moment to go)."""
    deadline = time.monotonic() + grace_s
    left = processes_in(folder)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_in(folder)
    return left


def vppfed(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vppfed.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of the case (same seed, same horizon)."""
    built = build_case(case_yaml("peak-shaving"), tmp_path_factory.mktemp("ref") / "run", OVERRIDES)
    Launcher(built.runner, timeout=600).run()
    return built.directory


@pytest.mark.slow
def test_sigkill_of_the_battery_then_case_resume_equals_an_uninterrupted_run(reference, tmp_path):
    # GIVEN the case running, WHEN the battery federate is SIGKILLed half-way (pid from the launcher's records)
    built = build_case(case_yaml("peak-shaving"), tmp_path / "run", OVERRIDES)
    run = built.directory
    launcher = Launcher(built.runner, timeout=600, cohost=False)   # the battery in a process of its own, to kill
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            launcher.run()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the failure is what we check
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 300
    killed_at = None
    while time.monotonic() < deadline and thread.is_alive():
        last = state_last_t(run / "battery_state.sqlite")
        if last is not None and last >= KILL_AFTER_S:
            record = next(r for r in launcher.processes if r.name == "battery")
            os.kill(record.popen.pid, signal.SIGKILL)
            killed_at = last
            break
        time.sleep(0.02)
    thread.join(120)
    assert killed_at is not None and killed_at < HOURS * 3600 - 1800, "the battery was not killed mid-run"
    # THEN the launcher fails naming the battery federate, and no process of the run is left
    error = outcome[0]
    assert isinstance(error, CosimError), error
    assert str(error).splitlines()[0].startswith("federate 'battery' failed"), str(error)
    assert all(r.popen.poll() is not None for r in launcher._all_records())
    assert no_process_left(run) == []
    assert samples(run / "battery_PS_metrics.json") != samples(reference / "battery_PS_metrics.json")

    # WHEN the case is resumed from the command line
    done = vppfed("run", "peak-shaving", "--out", str(run), "--resume", "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    log = (run / "battery.log").read_text()
    assert "resuming after t = " in log
    resume_t = float(log.split("resuming after t = ")[1].split()[0])
    assert KILL_AFTER_S - 3600 <= resume_t <= killed_at
    # THEN the battery's and the feeder's metrics equal the uninterrupted run's from the resume point on
    for name in ["battery_PS_metrics.json"] + [f"{p}_PS_metrics.json" for p in FEEDER_PREFIXES]:
        resumed, ref = samples(run / name, after=resume_t), samples(reference / name, after=resume_t)
        assert resumed and resumed == ref, name
    # and the battery metrics as a whole, the samples kept from before the kill included
    assert recover(run / "battery_PS_metrics.json") == recover(reference / "battery_PS_metrics.json")
    assert no_process_left(run) == []


@pytest.mark.slow
def test_a_corrupt_state_file_on_resume_is_a_one_line_error_naming_it(reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference, run, ignore=shutil.ignore_patterns("*.log"))
    state = run / "battery_state.sqlite"
    with open(state, "r+b") as fh:  # a half-written file: garbage where the SQLite header was
        fh.write(b"\x00garbage\x00" * 4)
    done = vppfed("run", str(run), "--resume", "--no-progress")
    assert done.returncode == 1
    first = next(line for line in done.stderr.splitlines() if line.startswith("vppfed:"))
    assert "federate 'battery' failed" in first and str(state) in first, first
    assert "not a battery state database (corrupt or half-written header)" in first
    assert no_process_left(run) == []
    # nothing was reset: the damaged file is still there for the user to look at
    assert state.read_bytes()[:9] == b"\x00garbage\x00"[:9]
    summary = json.loads((run / ".vppfed" / "summary.json").read_text())
    assert summary["failed"] == "battery"
