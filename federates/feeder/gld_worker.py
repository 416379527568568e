"""The GridLAB-D worker process, with one more command: a batch of the bindings' own commands in one round trip.

Why (issue 15): the PyPI bindings run GridLAB-D in a worker process and answer one command per pipe round trip. A
co-simulation step of a TESP feeder writes the setpoints it received, steps, and reads its publications and the
metrics' properties: twenty and more round trips a step, each two context switches, and on a loaded two-core machine
each switch waits for a free core (13,923 reads took 57 s in a 12 h te30 run at load 15, more than GridLAB-D's own
solves). Run as ``python -m vppfed.federates.feeder.gld_worker`` in place of the bindings' ``gridlabd._worker``, this
module answers every command of the bindings' protocol with the bindings' own handlers, and the command
:data:`BATCH_COMMAND` (``{"calls": [{"command": ..., "args": ...}, ...]}``) with one reply listing each call's
``{"success", "result", "error", "seconds"}``. It stops at the first call that fails or answers a non-zero GridLAB-D
code, so a step never runs on half of its writes. Nothing else differs: the same handlers, the same GridLAB-D.

It uses the bindings' private worker module (``gridlabd._worker``, measured with gridlabd 6.0.0): if a later release
moves it, the session fails at start with a message that says so (see :mod:`.session`).
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

__all__ = ["BATCH_COMMAND", "run_batch", "main"]

#: the one command this worker adds to the bindings' protocol
BATCH_COMMAND = "vppfed_batch"

#: commands whose result carries a GridLAB-D return code (0 = done): a batch stops at a non-zero one
_CODED = {"set_property", "step_to", "get_property"}


def _code(command: str, result: Any) -> int:
    """The GridLAB-D return code of a successful call's ``result`` (0 for commands that have none)."""
    if command not in _CODED:
        return 0
    if isinstance(result, dict):
        return int(result.get("code", 0))
    return int(result) if isinstance(result, int) else 0


def run_batch(calls: list[dict[str, Any]], handlers: Any, message_type: Any, command_type: Any) -> list[dict[str, Any]]:
    """Run ``calls`` in order with the bindings' ``handlers``; stop after the first that fails or answers a code.

    ``message_type``/``command_type`` are the bindings' ``Message`` and ``Command`` (passed in, so this function is
    testable without GridLAB-D). Each reply also carries the call's ``seconds`` (the step's solve time, measured here
    where no pipe is in it).
    """
    replies: list[dict[str, Any]] = []
    for call in calls:
        name = str(call.get("command"))
        t0 = time.perf_counter()
        try:
            handler = handlers[command_type(name)]
        except (ValueError, KeyError):
            replies.append({"success": False, "result": None, "error": f"unknown command {name!r}", "seconds": 0.0})
            break
        response = handler(message_type(command=command_type(name), args=dict(call.get("args") or {})))
        replies.append({"success": bool(response.success), "result": response.result, "error": response.error,
                        "seconds": time.perf_counter() - t0})
        if not response.success or _code(name, response.result) != 0:
            break
    return replies


def _reply(out: TextIO, doc: dict[str, Any]) -> None:
    out.write(json.dumps(doc) + "\n")
    out.flush()


def main() -> int:
    """The worker loop: one JSON command a line on stdin, one JSON reply a line on stdout (the bindings' protocol)."""
    from gridlabd import _worker as bindings   # loads GridLAB-D itself; only ever imported in the worker process

    handlers = bindings.COMMAND_HANDLERS
    stop_after = {bindings.Command.EXIT_GLD.value, bindings.Command.FINALIZE.value}
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            command = doc.get("command")
            if command == BATCH_COMMAND:
                replies = run_batch(list(doc.get("args", {}).get("calls", [])), handlers, bindings.Message,
                                    bindings.Command)
                _reply(out, {"success": True, "result": replies, "error": None})
                continue
            message = bindings.Message.from_json(line)
            handler = handlers.get(message.command)
            if handler is None:
                _reply(out, {"success": False, "result": None, "error": f"Unknown command: {command}"})
                continue
            response = handler(message)
            _reply(out, {"success": response.success, "result": response.result, "error": response.error})
            if command in stop_after:
                break
        except Exception as exc:  # noqa: BLE001 - the parent reads the error from the reply, as with the bindings
            _reply(out, {"success": False, "result": None, "error": f"Worker error: {exc}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
