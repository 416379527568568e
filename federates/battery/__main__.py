"""``python -m vppfed.federates.battery --config X.json --manager M.json [--resume]``: run the battery federate."""
from __future__ import annotations

import sys
from typing import Sequence

from vppfed.federates.runtime import base_argument_parser, run_federate


def build_parser():
    """The battery federate's command line (the case builder writes it into the runner JSON)."""
    parser = base_argument_parser("Battery manager federate: coulomb counting, CHARGE/REST/SELL, peak shaving, "
                                  "state saved every step (resume with --resume)")
    parser.add_argument("--manager", required=True, help="manager JSON: the battery config and the feeder wiring")
    parser.add_argument("--metrics-dir", default=None, help="folder of battery_<root>_metrics.json (default: .)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    def factory(args):
        from vppfed.federates.battery.federate import BatteryFederate  # helics imported only when running

        return BatteryFederate(args)

    return run_federate(factory, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
