"""``python -m vppfed.federates.feeder --config <root>_gridlabd.json --glm <root>.glm [...]``: run the feeder federate."""
from __future__ import annotations

import sys
from typing import Sequence

from vppfed.federates.runtime import base_argument_parser, run_federate


def build_parser():
    """The feeder federate's command line (the case builder writes it into the runner JSON)."""
    parser = base_argument_parser("GridLAB-D feeder federate: drives the PyPI gridlabd bindings in lockstep with "
                                  "HELICS, using a TESP-style <root>_gridlabd.json")
    parser.add_argument("--glm", required=True, help="GridLAB-D model (with the co-simulation heartbeat recorder)")
    parser.add_argument("--weather", default=None,
                        help="TESP weather.dat written into the climate object each step (omit when a weather "
                             "federate publishes localWeather/#<param>)")
    parser.add_argument("--inventory", default=None,
                        help="object inventory JSON from the generator (default: <glm stem>_inventory.json beside the "
                             "GLM if present, else objects are discovered by class)")
    parser.add_argument("--metrics-dir", default=None, help="folder of the metrics files (default: current folder)")
    parser.add_argument("--metrics-interval", type=float, default=300.0,
                        help="seconds per metrics row (TESP: 300)")
    parser.add_argument("--metrics-sample", type=float, default=60.0,
                        help="seconds between metrics samples, rounded to a multiple of the period (default 60)")
    parser.add_argument("--pid-dir", default=None,
                        help="write the GridLAB-D worker's pid to <dir>/<federate>_gridlabd.pid while it runs "
                             "(default: $VPPFED_PID_DIR)")
    parser.add_argument("--worker-log", default=None, help="file for GridLAB-D's own stderr (parser/solver messages)")
    parser.add_argument("--glpath", default=None,
                        help="GLPATH of the GridLAB-D worker: the folder of a user's own model (feeder.glm), where "
                             "its relative #include files are found")
    parser.add_argument("--head-voltage-base", type=float, default=None,
                        help="volts at the bulk bus that make 1 pu at the head of a user's model (feeder.glm): the "
                             "bulk voltage is written scaled by the head's nominal voltage (a SWING node's "
                             "voltage_A/B/C, a substation's positive_sequence_voltage)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    def factory(args):
        from vppfed.federates.feeder.adapter import FeederFederate  # helics imported only when running

        return FeederFederate(args)

    return run_federate(factory, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
