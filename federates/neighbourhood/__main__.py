"""``python -m vppfed.federates.neighbourhood --role manager|consumers|producers --config X.json --setup S.json``."""
from __future__ import annotations

import sys
from typing import Sequence

from vppfed.federates.runtime import base_argument_parser, run_federate, stop_seconds


def build_parser():
    """The neighbourhood federates' command line (the case builder writes it into the runner JSON)."""
    parser = base_argument_parser("CoSSMic-style neighbourhood federate: manager, consumers or producers as HELICS "
                                  "endpoints negotiating PV energy for shiftable jobs")
    parser.add_argument("--role", required=True, choices=["manager", "consumers", "producers"])
    parser.add_argument("--setup", required=True, help="neighbourhood_setup.json written by the case builder")
    parser.add_argument("--start", default="", help="StartTime of the metrics file (consumers)")
    parser.add_argument("--metrics-interval", type=float, default=3600.0, help="seconds between metrics samples")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    def factory(args):
        from vppfed.federates.neighbourhood.federate import ConsumersFederate, ManagerFederate, ProducersFederate

        stop = stop_seconds(args, default_hours=24.0)
        if args.role == "manager":
            return ManagerFederate(args.config, stop, args.setup)
        if args.role == "producers":
            return ProducersFederate(args.config, stop, args.setup)
        return ConsumersFederate(args.config, stop, args.setup, args.metrics_root or "neighbourhood", args.start,
                                 args.metrics_interval)

    return run_federate(factory, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
