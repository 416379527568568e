"""Test peer of the bulk federate: plays a feeder ``gld_7`` (and optionally a market ``sub_7``) over real HELICS.

It publishes ``distribution_load`` (complex VA) from a fixed daily profile, optionally the five responsive-curve keys
as global ``sub_7/...`` publications, subscribes ``pypower/three_phase_voltage_7`` and ``pypower/LMP_7``, and writes
every value it received (time, key, value) to ``--record`` as JSON lines, so the test can check timing and units.

``python bulk_peer_federate.py --config peer.json --hours H --record out.jsonl [--curve]``
"""
from __future__ import annotations

import json
import math
import sys

from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds


def feeder_va(t: float) -> complex:
    """A 100-330 kW feeder with a daytime hump (VA, power factor ~0.96)."""
    h = (t / 3600.0) % 24
    kw = 100.0 + (230.0 * math.sin(math.pi * (h - 7) / 14) if 7 <= h <= 21 else 0.0)
    return complex(kw * 1000.0, 0.3 * kw * 1000.0)


class Peer(FederateBase):
    def __init__(self, args):
        super().__init__(args.config, stop_seconds(args))
        self.record = open(args.record, "w", encoding="utf-8")
        self.curve = args.curve

    def _publish_all(self, t: float) -> None:
        self.publish("distribution_load", feeder_va(t))
        if self.curve:
            kw = feeder_va(t).real / 1000.0
            self.publish("sub_7/unresponsive_mw", 0.7 * kw / 1000.0)
            self.publish("sub_7/responsive_max_mw", 0.3 * kw / 1000.0)
            self.publish("sub_7/responsive_c2", -2000.0)
            self.publish("sub_7/responsive_c1", 100.0)
            self.publish("sub_7/responsive_deg", 2)

    def on_start(self) -> None:
        self._publish_all(0.0)

    def on_step(self, t: float) -> None:
        for target, inp in self.inputs_matching(lambda _t: True):
            if self.is_updated(inp):
                self.record.write(json.dumps({"t": t, "key": target, "value": self.read_double(inp)}) + "\n")
        self._publish_all(t)

    def on_finish(self, failed: bool) -> None:
        self.record.close()


def main() -> int:
    parser = base_argument_parser("bulk test peer")
    parser.add_argument("--record", required=True)
    parser.add_argument("--curve", action="store_true")
    return run_federate(Peer, parser)


if __name__ == "__main__":
    sys.exit(main())
