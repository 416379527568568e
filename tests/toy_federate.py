"""A tiny federate for launcher/runtime tests: counts, publishes, and can crash or hang on purpose.

``python toy_federate.py --config X.json --hours H [--crash-at T] [--hang-at T] [--child]`` — ``--child`` starts a
sleeping child process in its own session and records its pid, like the GridLAB-D worker does.
``--compute-at T --compute-seconds S`` spends S s of CPU in the step at T (``--compute-in-child``: in a recorded
child process the step waits for, as a feeder waits for its GridLAB-D worker).
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
        self.compute_at, self.compute_seconds, self.compute_in_child = (args.compute_at, args.compute_seconds,
                                                                       args.compute_in_child)
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
        if self.compute_at is not None and t == self.compute_at:
            self._compute()

    def _compute(self) -> None:
        spin = f"import time\nend = time.process_time() + {self.compute_seconds}\nwhile time.process_time() < end: pass"
        if self.compute_in_child:
            child = subprocess.Popen([sys.executable, "-c", spin], start_new_session=True)
            write_pid(f"{self.name}_compute", child.pid)
            child.wait()
        else:
            exec(spin)  # noqa: S102 - the same loop in this process

    def on_finish(self, failed: bool) -> None:
        print(f"finished failed={failed} steps={self.count} received={len(self.received)}", flush=True)


def main() -> int:
    parser = base_argument_parser("toy federate for tests")
    parser.add_argument("--crash-at", type=float, default=None)
    parser.add_argument("--hang-at", type=float, default=None)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--compute-at", type=float, default=None)
    parser.add_argument("--compute-seconds", type=float, default=8.0)
    parser.add_argument("--compute-in-child", action="store_true")
    return run_federate(ToyFederate, parser)


if __name__ == "__main__":
    sys.exit(main())
