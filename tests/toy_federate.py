"""A tiny federate for launcher/runtime tests: counts, publishes, and can crash or hang on purpose.

``python toy_federate.py --config X.json --hours H [--crash-at T] [--hang-at T] [--child]`` — ``--child`` starts a
sleeping child process in its own session and records its pid, like the GridLAB-D worker does.
"""
from __future__ import annotations

import subprocess
import sys
import time

from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds, write_pid


class ToyFederate(FederateBase):
    def __init__(self, args):
        super().__init__(args.config, stop_seconds(args))
        self.crash_at = args.crash_at
        self.hang_at = args.hang_at
        self.child = None
        self.spawn_child = args.child
        self.received: list[tuple[float, float]] = []
        self.count = 0

    def on_start(self) -> None:
        if self.spawn_child:
            self.child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                          start_new_session=True)
            write_pid(f"{self.name}_child", self.child.pid)
        if self.has_publication("count"):
            self.publish("count", 0.0)

    def on_step(self, t: float) -> None:
        self.count += 1
        for target, inp in self.inputs_matching(lambda _t: True):
            if self.is_updated(inp):
                self.received.append((t, self.read_double(inp)))
        if self.has_publication("count"):
            self.publish("count", float(self.count))
        if self.crash_at is not None and t >= self.crash_at:
            raise RuntimeError(f"deliberate crash at t={t}")
        if self.hang_at is not None and t >= self.hang_at:
            time.sleep(3600)

    def on_finish(self, failed: bool) -> None:
        print(f"finished failed={failed} steps={self.count} received={len(self.received)}", flush=True)


def main() -> int:
    parser = base_argument_parser("toy federate for tests")
    parser.add_argument("--crash-at", type=float, default=None)
    parser.add_argument("--hang-at", type=float, default=None)
    parser.add_argument("--child", action="store_true")
    return run_federate(ToyFederate, parser)


if __name__ == "__main__":
    sys.exit(main())
