"""A stand-in feeder for battery federate tests: a deterministic load profile and a GridLAB-D-style LI_ION battery.

``python battery_plant_federate.py --config plant.json --hours H [--delay S] [--out plant.csv]`` publishes
``distribution_load`` (complex VA: load minus the battery output), ``Bat1/state_of_charge`` and ``Inv1/VA_Out``, and
subscribes to ``battery/p_out``. Same inputs, same bytes: the kill-and-resume test relies on it.
"""
from __future__ import annotations

import math
import sys
import time

from vppfed.federates.battery.plant import LiIonPlant
from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds


def load_w(t: float) -> float:
    """Feeder load [W]: ~9 kW daily swing plus a 7 kW evening peak at 19:00 (deterministic)."""
    hour = t / 3600.0 % 24
    return 9000 + 3000 * math.sin((hour - 9) / 24 * 2 * math.pi) + 7000 * math.exp(-((hour - 19) / 1.5) ** 2)


class PlantFederate(FederateBase):
    def __init__(self, args):
        super().__init__(args.config, stop_seconds(args))
        self.delay = args.delay
        self.out = open(args.out, "w") if args.out else None
        self.plant = LiIonPlant(13500.0, 480.0, 5000.0, 0.86, 0.5)
        self.command = 0.0
        self.delivered = 0.0
        self.last_t = 0.0

    def _publish(self, t: float) -> None:
        self.publish("distribution_load", complex(load_w(t) - self.delivered, 1000.0))
        self.publish("Bat1/state_of_charge", self.plant.soc)
        self.publish("Inv1/VA_Out", complex(self.delivered, 0.0))

    def on_start(self) -> None:
        self._publish(0.0)

    def on_step(self, t: float) -> None:
        self.delivered, _ = self.plant.step(self.command, t - self.last_t)
        self.last_t = t
        value = self.updated("battery/p_out")
        if value is not None:
            self.command = value
        self._publish(t)
        if self.out:
            self.out.write(f"{t:.0f},{load_w(t) - self.delivered:.6f},{self.plant.soc:.9f},{self.command:.6f}\n")
            self.out.flush()
        if self.delay:
            time.sleep(self.delay)

    def on_finish(self, failed: bool) -> None:
        if self.out:
            self.out.close()


def main() -> int:
    parser = base_argument_parser("stand-in feeder with a LI_ION battery")
    parser.add_argument("--delay", type=float, default=0.0, help="wall seconds to sleep per step")
    parser.add_argument("--out", default=None, help="CSV of t, net load, SOC, command")
    return run_federate(PlantFederate, parser)


if __name__ == "__main__":
    sys.exit(main())
