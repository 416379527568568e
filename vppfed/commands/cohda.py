"""``vppfed cohda``: solve and generate COHDA benchmark instances.

    vppfed cohda generate --agents 100 --schedules 10 --intervals 96 --seed 1 --out inst.npz
    vppfed cohda solve --instance inst.npz [--transport inproc|helics] [--seed S] --json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vppfed.errors import UserError

#: Default re-send interval under --loss: HELICS rounds, and simulator time units (a reaction takes 0-10 units).
RESEND_HELICS = 10.0
RESEND_INPROC = 50.0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cohda solve`` and ``cohda generate``."""
    parser = subparsers.add_parser("cohda", help="COHDA distributed schedule optimisation (solve, generate)",
                                   description="COHDA agents negotiate one schedule each so the VPP total follows "
                                               "a target.")
    sub = parser.add_subparsers(title="cohda commands", metavar="COMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    solve_p = sub.add_parser("solve", help="negotiate a selection for an instance (.npz)")
    solve_p.add_argument("--instance", required=True, type=Path,
                         help=".npz with schedules (N x M x T, kW), target (T), edges (E x 2), optional weights, init")
    solve_p.add_argument("--transport", choices=("inproc", "helics"), default="inproc",
                         help="in-process event simulator (default) or a real HELICS federation")
    solve_p.add_argument("--engine", choices=("compiled", "python"), default="compiled",
                         help="inproc implementation: compiled kernels (default, fast) or the Python agents that "
                              "also run on HELICS (reference)")
    solve_p.add_argument("--seed", type=int, default=0, help="seed of message delays and wake-ups (default 0)")
    solve_p.add_argument("--json", action="store_true",
                         help="print one JSON object (selection, D, messages, bytes, seconds, agents, ...) "
                              "instead of a one-line summary")
    solve_p.add_argument("--improve", action="store_true", help="add pairwise-exchange rounds after COHDA")
    solve_p.add_argument("--no-refine", action="store_true",
                         help="skip the annealing token that refines COHDA's result (inproc; on by default)")
    solve_p.add_argument("--trace", action="store_true", help="include the convergence trace in the JSON")
    solve_p.add_argument("--stop-at", type=float, default=None,
                         help="anytime stop at this simulated time (inproc time units; rounds on helics)")
    solve_p.add_argument("--cpu-limit", type=float, default=None,
                         help="anytime stop after this many CPU seconds of the negotiation (inproc)")
    solve_p.add_argument("--warm-start", action="store_true",
                         help="every agent starts knowing the instance's init selection of all agents")
    solve_p.add_argument("--federates", type=int, default=2, help="agent federates for --transport helics")
    solve_p.add_argument("--helics-delay", type=float, default=0.0, metavar="SECONDS",
                         help="--transport helics: every agent message is delivered this much later (1 s = 1 round)")
    solve_p.add_argument("--loss", type=float, default=0.0, metavar="P",
                         help="lose each agent-to-agent message with probability P (seeded by --seed: the same "
                              "run again), at the sending agent federate on helics, in the simulator (Python "
                              "engine) in process; needs --stop-at (a lost message loses termination weight)")
    solve_p.add_argument("--resend", type=float, default=None, metavar="EVERY",
                         help="every agent re-sends its whole working memory this often (rounds on helics, time "
                              "units in process), repairing what lost messages broke (default with --loss: "
                              f"{RESEND_HELICS:g} rounds / {RESEND_INPROC:g} units; else never)")
    solve_p.add_argument("--plots", type=Path, default=None,
                         help="write convergence, target-vs-achieved and per-agent figures (PNG+PDF) here")
    solve_p.set_defaults(func=_solve)

    gen_p = sub.add_parser("generate", help="write a mixed-unit instance with a planted target")
    gen_p.add_argument("--agents", type=int, required=True, help="number of agents (units), N")
    gen_p.add_argument("--schedules", type=int, required=True,
                       help="feasible schedules per agent, M (at most 32766)")
    gen_p.add_argument("--intervals", type=int, required=True, help="intervals per schedule, T")
    gen_p.add_argument("--seed", type=int, default=0, help="seed of the instance draw (default 0)")
    gen_p.add_argument("--out", type=Path, required=True, help="instance file to write (.npz)")
    gen_p.set_defaults(func=_generate)


def _progress(instance, enabled: bool):
    """A tqdm line on stderr while a negotiation runs: events, messages and the best complete solution so far."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    import numpy as np

    w = np.ones_like(instance.target) if instance.weights is None else instance.weights
    norm = float(np.abs(instance.target) @ w) or 1.0
    bar = tqdm(unit=" events", desc="negotiating", dynamic_ncols=True, leave=False)

    def update(events: int, messages: int, best: float) -> None:
        bar.n = events
        best_text = f"{100 * best / norm:.3f}%" if best != float("inf") else "-"
        bar.set_postfix_str(f"messages {messages:,}  best D {best_text} of |target|", refresh=True)

    return update, bar.close


def run_federation(runner: Path, timeout: float) -> None:
    """Run a COHDA runner JSON with the project launcher (``--transport helics``); a failed federation is a
    :class:`~vppfed.errors.CosimError` naming the federate that failed first."""
    from vppfed.errors import CosimError
    from vppfed.launcher import Launcher

    summary = Launcher(runner, timeout=timeout).run()
    if not summary.ok:
        raise CosimError(f"COHDA federation failed: {summary.failed}: {summary.reason}")


def _solve(args: argparse.Namespace) -> int:
    from vppfed.federates.cohda.inproc import InprocConfig
    from vppfed.federates.cohda.instance import load_instance
    from vppfed.federates.cohda.solve import solve

    instance = load_instance(args.instance)
    if args.helics_delay < 0:
        raise UserError("cohda solve: --helics-delay must be >= 0")
    if not 0 <= args.loss < 1:
        raise UserError("cohda solve: --loss must be in [0, 1)")
    resend = args.resend
    if resend is None and args.loss > 0:
        resend = RESEND_HELICS if args.transport == "helics" else RESEND_INPROC
    if resend is not None and not resend > 0:
        raise UserError("cohda solve: --resend must be > 0")
    if (args.loss > 0 or resend is not None) and args.stop_at is None and (
            args.transport == "helics" or args.cpu_limit is None):
        raise UserError("cohda solve: --loss and --resend need --stop-at (a lost message loses termination weight, "
                        "so only the anytime stop ends the negotiation)")
    for name in ("stop_at", "cpu_limit"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise UserError(f"cohda solve: --{name.replace('_', '-')} must be > 0")
    config = InprocConfig(stop_at=args.stop_at, cpu_limit=args.cpu_limit, loss=args.loss,
                          resend_every=resend if args.transport == "inproc" else None)
    progress, close = _progress(instance, enabled=sys.stderr.isatty() and args.transport == "inproc")
    try:
        result = solve(instance, args.transport, args.seed, improve=args.improve, config=config,
                       helics_options={"federates": args.federates, "delay": args.helics_delay,
                                       "loss": args.loss, "resend": int(resend or 0)},
                       warm_start=args.warm_start, run_federation=run_federation,
                       refine=not args.no_refine,
                       engine=args.engine, progress=progress)
    finally:
        close()
    data = result.to_json(with_trace=args.trace)
    if args.plots is not None:
        from vppfed.postprocess.cohda_plots import plot_all

        plot_all(instance, result.to_json(with_trace=True), args.plots)
    if args.json:
        print(json.dumps(data))
    else:
        print(f"agents {data['agents']}  D {data['D']:.3f} kW ({100 * data['rel_D']:.2f}% of |target|)  "
              f"messages {data['messages']} ({data['messages_total']} with the token's)  bytes {data['bytes']}  "
              f"{data['seconds']:.2f} s")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from vppfed.federates.cohda.instance import generate

    for name in ("agents", "schedules", "intervals"):
        if getattr(args, name) < 1:
            raise UserError(f"cohda generate: --{name} must be a positive integer")
    if args.schedules > 32766:
        raise UserError("cohda generate: --schedules must be at most 32766")
    if not args.out.parent.exists():
        raise UserError(f"{args.out}: folder {args.out.parent} does not exist")
    generate(args.agents, args.schedules, args.intervals, args.seed).save(args.out)
    print(json.dumps({"out": str(args.out), "agents": args.agents, "schedules": args.schedules,
                      "intervals": args.intervals, "seed": args.seed}))
    return 0
