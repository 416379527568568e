"""The bindings' GridLAB-D client, started on :mod:`.gld_worker` so that one co-simulation step is one round trip.

:class:`BatchingGridLabD` is the PyPI bindings' ``gridlabd.GridLabD`` (``IsolatedGridLabD``): every method of the
bindings works unchanged; only the worker it starts is ours (the bindings' handlers plus a batch command), and
:meth:`BatchingGridLabD.batch` sends a list of the bindings' commands in one message. Imported only where a worker is
started (importing it loads GridLAB-D's bindings).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from typing import Any

import gridlabd
from gridlabd._time_utils import gld_to_iso

from vppfed.federates.feeder.gld_worker import BATCH_COMMAND

__all__ = ["BatchingGridLabD", "WORKER_MODULE"]

#: the module the worker process runs
WORKER_MODULE = "vppfed.federates.feeder.gld_worker"


class BatchingGridLabD(gridlabd.GridLabD):  # type: ignore[misc, valid-type]
    """``gridlabd.GridLabD`` whose worker also answers a batch of commands in one round trip."""

    def _spawn_worker(self) -> None:
        """Start :data:`WORKER_MODULE` the way the bindings start theirs (pipes, own session, stderr when verbose)."""
        kwargs: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE,
                                  "stderr": sys.stderr if self._verbose else subprocess.DEVNULL,
                                  "text": True, "bufsize": 1, "env": os.environ.copy()}
        if platform.system() == "Windows":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        else:
            kwargs["start_new_session"] = True
        self._process = subprocess.Popen([sys.executable, "-m", WORKER_MODULE], **kwargs)
        ready = self._process.stdout.readline().strip() if self._process.stdout else ""
        if ready != "READY":
            code = self._process.poll()
            if code is None:
                self._process.kill()
                self._process.wait(timeout=5)
            raise RuntimeError(f"the GridLAB-D worker ({WORKER_MODULE}) did not start (exit code {code}, said "
                               f"{ready!r}); it needs the gridlabd bindings' worker module gridlabd._worker "
                               f"(gridlabd {getattr(gridlabd, '__version__', '?')} installed; measured with 6.0.0)")

    def batch(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run the bindings' commands ``calls`` (``{"command": "set_property", "args": {...}}``) in one round trip.

        Returns one ``{"success", "result", "error", "seconds"}`` per call that ran: the worker stops after the first
        call that fails or answers a non-zero GridLAB-D code. Raises RuntimeError if the worker is gone.
        """
        proc = self._process
        if proc is None or proc.poll() is not None or proc.stdin is None or proc.stdout is None:
            raise RuntimeError("Worker process is not running")
        try:
            proc.stdin.write(json.dumps({"command": BATCH_COMMAND, "args": {"calls": calls}}) + "\n")
            proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"Failed to send a batch to the worker (exit code {proc.poll()}): {exc}") from None
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"Worker process exited unexpectedly with code {proc.poll()} during a batch")
            line = line.strip()
            if not line:
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue   # GridLAB-D console chatter on stdout, as the bindings' client skips it
            if isinstance(doc, dict) and "success" in doc:
                break
        if not doc.get("success"):
            raise RuntimeError(str(doc.get("error")))
        replies = list(doc.get("result") or [])
        for call, reply in zip(calls, replies):
            if call.get("command") == "step_to" and reply.get("success") and isinstance(reply.get("result"), dict):
                # as the bindings' own step_to answers: an ISO 8601 time in the model's zone (None for a sentinel)
                reply["result"]["time"] = gld_to_iso(str(reply["result"].get("time")))
        return replies
