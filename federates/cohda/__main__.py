"""``python -m vppfed.federates.cohda --role agents|controller --config X.json --instance I.npz ...``"""
from __future__ import annotations

import sys

from vppfed.federates.runtime import base_argument_parser, run_federate, stop_seconds


def main(argv: list[str] | None = None) -> int:
    parser = base_argument_parser("COHDA federate: a host of many agents, or the controller")
    parser.add_argument("--role", choices=("agents", "controller"), required=True)
    parser.add_argument("--instance", required=True, help="instance .npz (the schedule catalogue)")
    parser.add_argument("--slots", default="", help="agents: first:last (inclusive) slots hosted here")
    parser.add_argument("--out", default="cohda_result.json", help="controller: result JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop-round", type=float, default=None, help="controller: anytime stop at this round")
    parser.add_argument("--link-delay", type=float, default=0.0,
                        help="agents: every message is delivered this many seconds (rounds) after it is sent")
    parser.add_argument("--resend-every", type=int, default=0,
                        help="agents: re-send the whole working memory every N rounds (lossy links; 0 = never)")
    parser.add_argument("--loss", type=float, default=0.0,
                        help="agents: drop each step message with this probability (seeded by --seed and the host)")
    parser.add_argument("--ignore-weights", action="store_true",
                        help="controller: agents re-send their memory, so weights cannot prove termination")
    parser.add_argument("--starters", choices=("one", "all"), default="one",
                        help="controller: one seeded agent starts deciding, or all at once (robust to lost messages)")
    parser.add_argument("--warm-start", action="store_true", help="controller: agents start from the instance's init")

    def factory(args):
        from vppfed.federates.cohda.helics_federates import AgentHostFederate, ControllerFederate

        stop = stop_seconds(args, default_hours=1000.0 / 3600.0 * 100)
        if args.role == "controller":
            return ControllerFederate(args.config, stop, args.instance, args.out, args.seed, args.stop_round,
                                      args.warm_start, args.starters, not args.ignore_weights)
        first, last = (int(v) for v in args.slots.split(":"))
        return AgentHostFederate(args.config, stop, args.instance, list(range(first, last + 1)), args.link_delay,
                                 args.resend_every, args.loss, args.seed)

    return run_federate(factory, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
