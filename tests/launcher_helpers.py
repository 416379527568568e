"""Helpers of the tests that act on a run while the launcher runs it (kill, stop, starve a process)."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any


def run_in_thread(launcher: Any) -> tuple[threading.Thread, list[Any]]:
    """Start ``launcher.run()`` in a thread; the list gets its summary or the exception it raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(launcher.run())
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def wait_until_running(folder: Path, federate: str, timeout_s: float = 120.0, settle_s: float = 1.0) -> None:
    """Wait until ``federate`` has reported a granted time in the run ``folder`` (then ``settle_s`` more)."""
    progress = folder / ".vppfed" / "progress" / federate
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not progress.exists():
        time.sleep(0.05)
    assert progress.exists(), f"{federate} never reported progress in {folder}"
    time.sleep(settle_s)
