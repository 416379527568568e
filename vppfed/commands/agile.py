"""``vppfed agile``: ``vv`` (run a portfolio against a signal), ``compare`` (check an output against a reference),
``scenario`` (draw a portfolio and a random signal from a YAML) and ``plot``.

The flat names of before (``vppfed vv``, ``compare``, ``agile-scenario``, ``agile-plot``) still work as hidden aliases
that log a deprecation warning naming the new command.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from vppfed.commands import DeprecatedOption, deprecated_command
from vppfed.errors import UserError
from vppfed.federates.agile.rules import RULES


def _vv(args: argparse.Namespace) -> int:
    from vppfed.federates.agile.portfolio import read_params_csv
    from vppfed.federates.agile.signal import read_signal_csv
    from vppfed.federates.agile.simulate import simulate, write_output_csv, write_unit_trace_csv

    portfolio = read_params_csv(args.params)
    signal = read_signal_csv(args.signal)
    if args.ts <= 0:
        raise UserError(f"--ts: must be > 0, got {args.ts}")
    trace = simulate(portfolio, signal, rules=args.rules, engine=args.engine, Ts=args.ts,
                     record_units=args.units_out is not None)
    write_output_csv(trace, args.out)
    if args.units_out is not None:
        write_unit_trace_csv(trace, portfolio, args.units_out)
    res = trace.column("residual")
    print(f"{args.out}: {len(trace.steps)} steps, {len(portfolio)} units, rules {args.rules}, "
          f"sum|S| = {abs(res).sum():.6f} kW·step")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from vppfed.federates.agile.simulate import compare_outputs

    if args.abs_tol < 0:
        raise UserError(f"--abs-tol: must be >= 0, got {args.abs_tol}")
    cmp = compare_outputs(args.out, args.ref, tol=args.abs_tol)
    width = max(len(c) for c in cmp.max_diff)
    for col, diff in cmp.max_diff.items():
        flag = "ok" if diff <= cmp.tol else "MISMATCH"
        print(f"{col:<{width}}  max|diff| = {diff:.3e}  {flag}")
    if cmp.not_compared:
        print(f"not in the reference, not compared: {', '.join(cmp.not_compared)}")
    print(f"sum|S|: {cmp.sum_abs_residual[0]:.6f} ({args.out}), {cmp.sum_abs_residual[1]:.6f} ({args.ref})")
    print(f"{'MATCH' if cmp.ok else 'MISMATCH'} within {cmp.tol:g} over {cmp.rows} rows")
    return 0 if cmp.ok else 1


def _scenario(args: argparse.Namespace) -> int:
    from vppfed.configs.agile_scenario import write_scenario

    params, signal = write_scenario(args.yaml, args.out)
    print(f"wrote {params}" + (f" and {signal}" if signal else ""))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from vppfed.postprocess.agile_plots import plot_vv

    written = plot_vv(args.output, args.out, units_csv=args.units, signal_csv=args.signal)
    for path in written:
        print(path)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``agile`` group (``vv``, ``compare``, ``scenario``, ``plot``) and the old flat names as hidden
    aliases."""
    parser = subparsers.add_parser(
        "agile", help="agile-balancing VPP: reference V&V, comparison, scenario configurator, figures",
        description="The agile-balancing dispatch of a BBB portfolio without HELICS: run it against a signal in the "
                    "reference exports' layout, compare an output with a reference, draw a scenario from a YAML, "
                    "plot a run. 'vppfed run agile-phase1' runs the same dispatch as co-simulation federates.",
        epilog="examples:\n"
               "  vppfed agile vv --params params.csv --signal vpp.csv --out out.csv\n"
               "  vppfed agile compare out.csv reference.csv --abs-tol 1e-5\n"
               "  vppfed agile scenario scenario.yaml --out scenario\n"
               "  vppfed agile plot out.csv --out figures",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(title="agile commands", metavar="COMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    commands = (("vv", "vv", _vv_arguments, _vv), ("compare", "compare", _compare_arguments, _compare),
                ("scenario", "agile-scenario", _scenario_arguments, _scenario),
                ("plot", "agile-plot", _plot_arguments, _plot))
    for name, _old, add_arguments, func in commands:
        p = sub.add_parser(name, **_TEXTS[name])
        add_arguments(p)
        p.set_defaults(func=func)
    # the flat names of before the group: users have scripts that call them
    for name, old, add_arguments, func in commands:
        deprecated_command(subparsers, old, f"agile {name}", add_arguments, func)


_TEXTS = {
    "vv": dict(help="dispatch a BBB portfolio against a signal (reference output layout)",
               description="Run the agile-balancing dispatch of a params CSV against a signal CSV and write "
                           "Timestep,Residual,Pbak,Pbat,PBkt,VppOut,Delivered: the reference exports' layout and "
                           "meaning (VppOut = the signal of the step, Residual = signal - delivered), then the "
                           "delivered power."),
    "compare": dict(help="compare an output CSV with a reference within a tolerance",
                    description="Per-column maximum |OUT - REF| and sum|Residual|; exit 1 on mismatch."),
    "scenario": dict(help="draw a BBB portfolio (and random signal) from a YAML",
                     description="Write params.csv (reference layout) and vpp.csv into --out."),
    "plot": dict(help="figures of a vv run (signal vs delivered, stacks, energies)",
                 description="Signal against delivered power, the power stack by unit type and the unit energies "
                             "of an 'agile vv' output, as PNG and PDF."),
}


def _vv_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", required=True, type=Path, help="units: Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun")
    p.add_argument("--signal", required=True, type=Path, help="dispatch signal: Timestep,VPP Power [kW]")
    p.add_argument("--rules", choices=RULES, default="strict",
                   help="strict (paper), 2015b (105-unit reference), 2015a (3-unit reference); default strict")
    p.add_argument("--out", required=True, type=Path, help="output CSV")
    p.add_argument("--engine", choices=("vector", "loop"), default="vector",
                   help="numpy engine (default) or the per-unit reference loop")
    p.add_argument("--units-out", type=Path, default=None, help="also write a per-unit power/energy trace CSV")
    p.add_argument("--ts", type=float, default=1.0, help="step length Ts [h] (default 1)")


def _compare_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("out", type=Path, help="output CSV to check (written by 'agile vv')")
    c.add_argument("ref", type=Path, help="reference CSV (the reference exports' layout)")
    c.add_argument("--abs-tol", type=float, default=1e-5,
                   help="two-sided absolute tolerance per value, in the columns' units (default 1e-5)")
    c.add_argument("--tol", dest="abs_tol", type=float, action=DeprecatedOption, new="--abs-tol",
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _scenario_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("yaml", type=Path, help="scenario YAML (portfolio sizes, seed, optional random signal)")
    s.add_argument("--out", required=True, type=Path, help="output folder")


def _plot_arguments(g: argparse.ArgumentParser) -> None:
    g.add_argument("output", type=Path, help="output CSV written by 'agile vv'")
    g.add_argument("--units", type=Path, default=None, help="per-unit trace written by 'agile vv --units-out'")
    g.add_argument("--signal", type=Path, default=None, help="signal CSV (else the output's VppOut column, the signal)")
    g.add_argument("--out", type=Path, required=True, help="folder for PNG/PDF files")
