"""``vppfed neighbourhood``: generate a CoSSMic-style neighbourhood, run it N times in process, plot and compare.

The co-simulated version (HELICS endpoints, optionally beside the feeder) is ``vppfed run neighbourhood``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vppfed.commands import OPTIMIZERS, DeprecatedOption, OptimizerChoices
from vppfed.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "neighbourhood", help="CoSSMic-style neighbourhood: generate, run repeatedly, plot, compare optimisers",
        description="Households with shiftable jobs buy local PV energy from neighbours before the grid. These "
                    "subcommands work on a neighbourhood folder in the PySSMic layout without HELICS; "
                    "'vppfed run neighbourhood' runs the same negotiation as co-simulation federates.",
        epilog="examples:\n"
               "  vppfed neighbourhood generate nb.yaml --out input/demo\n"
               "  vppfed neighbourhood run input/demo --runs 10 --optimizer milp --out results/demo_milp\n"
               "  vppfed neighbourhood compare input/demo --runs 5 --out results/demo\n"
               "  vppfed neighbourhood plot results/demo_milp results/demo_TNC --out figures",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND")

    gen = sub.add_parser("generate", help="write a neighbourhood folder from a generator YAML",
                         description="Write the PySSMic folder layout (consumer_event.csv, producer_event.csv, loads/, "
                                     "predictions/, neighbourhood.xml) from a YAML; same YAML and seed, same bytes.")
    gen.add_argument("spec", type=Path, help="generator YAML (fields of NeighbourhoodSpec; {} for all defaults)")
    gen.add_argument("--out", type=Path, required=True, help="folder to write")
    gen.add_argument("--seed", type=int, help="override the YAML's seed")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="run a neighbourhood folder several seeded times",
                         description="Run the negotiation N times (producer scores carry over from run to run); "
                                     "writes run_NNN.json per run, summary.json and the final producer_scores.json "
                                     "into --out. The neighbourhood folder is only read; the same command twice "
                                     "writes the same bytes. --scores starts from an earlier batch's scores.")
    run.add_argument("folder", type=Path, help="neighbourhood folder (PySSMic layout)")
    run.add_argument("--out", type=Path, required=True, help="output folder")
    _run_options(run)
    run.add_argument("--optimizer", default="milp", choices=OptimizerChoices(OPTIMIZERS), metavar="NAME",
                     help=f"optimiser of the producers: {', '.join(OPTIMIZERS)} (default milp; any case)")
    run.set_defaults(func=cmd_run)

    cmp_ = sub.add_parser("compare", help="run every optimiser on the same neighbourhood and compare",
                          description="Run each optimiser with the same seed and starting scores (fresh, or --scores), "
                                      "write one output folder per optimiser, a comparison figure and a table.")
    cmp_.add_argument("folder", type=Path, help="neighbourhood folder")
    cmp_.add_argument("--out", type=Path, required=True, help="output folder (one subfolder per optimiser)")
    cmp_.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                      help=f"comma-separated optimisers to compare, of {', '.join(OPTIMIZERS)} (default all)")
    _run_options(cmp_)
    cmp_.set_defaults(func=cmd_compare)

    plot = sub.add_parser("plot", help="figures of one or more output folders",
                          description="Per-run figures of each folder; with several folders also the comparison.")
    plot.add_argument("folders", type=Path, nargs="+", help="output folders of 'neighbourhood run'")
    plot.add_argument("--out", type=Path, help="figure folder (default FOLDER/figures; comparison in the first)")
    plot.set_defaults(func=cmd_plot)


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=1, help="number of runs (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="batch seed (default 0)")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours per run (default 24)")
    parser.add_argument("--eps", type=float, default=1e-4, help="scipy step size for the numerical Jacobian")
    parser.add_argument("--solver-tol", type=float, default=100.0,
                        help="termination tolerance of the scipy optimisers (scipy's tol; default 100)")
    # before issue 17 this was --tol, which means an absolute tolerance in 'vppfed agile compare'
    parser.add_argument("--tol", dest="solver_tol", type=float, action=DeprecatedOption, new="--solver-tol",
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.add_argument("--niter", type=int, default=20, help="basin-hopping iterations")
    parser.add_argument("--penalty", type=float, default=1.0, help="penalty on consumption above production")
    parser.add_argument("--max-grid-share", type=float, default=0.5,
                        help="accept a job adding at most this share of its energy as grid import (default 0.5)")
    parser.add_argument("--scores", type=Path, default=None, metavar="FILE",
                        help="start from these producer scores (an earlier run's OUT/producer_scores.json); "
                             "default: fresh scores")
    parser.add_argument("--timings", action="store_true",
                        help="also write timings.jsonl (wall-clock s per run; the one output that varies)")
    # before issue 18 scores lived in the input folder and this flag ignored them; fresh is now the default
    parser.add_argument("--reset-scores", action="store_true", help=argparse.SUPPRESS)


def _settings(args: argparse.Namespace, optimizer: str):
    from vppfed.io import parse_dataclass
    from vppfed.federates.neighbourhood.simulation import RunSettings

    if args.runs < 1:
        raise UserError("--runs: must be >= 1")
    return parse_dataclass(RunSettings, {"optimizer": optimizer, "length_s": args.hours * 3600.0, "eps": args.eps,
                                         "tol": args.solver_tol, "niter": args.niter, "penalty": args.penalty,
                                         "max_grid_share": args.max_grid_share}, "command line")


def cmd_generate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from vppfed.configs.neighbourhood_input import generate_neighbourhood, load_spec
    from vppfed.federates.neighbourhood.inputs import load_neighbourhood

    spec = load_spec(args.spec)
    if args.seed is not None:
        spec = replace(spec, seed=args.seed)
    folder = generate_neighbourhood(spec, args.out)
    nb = load_neighbourhood(folder)
    producers = {e.producer_id for e in nb.producer_events}
    print(f"wrote {folder}: {len(nb.house_ids())} houses, {len(nb.jobs)} jobs, {len(producers)} PV producers "
          f"(seed {spec.seed})")
    return 0


def _print_summary(name: str, summary: dict, wall: float) -> None:
    t = summary["totals"]

    def fmt(key: str, scale: float = 1.0, unit: str = "") -> str:
        s = t[key]
        if s["mean"] is None:
            return "-"
        return f"{s['mean'] * scale:.1f}±{(s['std'] or 0) * scale:.1f}{unit}"

    print(f"{name:<12} self-consumption {fmt('self_consumption', 100, ' %'):>14}  "
          f"self-sufficiency {fmt('self_sufficiency', 100, ' %'):>14}  PV {fmt('pv_wh', 1e-3, ' kWh'):>14}  "
          f"grid {fmt('grid_wh', 1e-3, ' kWh'):>14}  PAR {fmt('par_consumption'):>9}  wall {wall:.1f} s")


def _run(folder: Path, out: Path, settings, args: argparse.Namespace) -> tuple[dict, float]:
    from vppfed.federates.neighbourhood.inputs import load_neighbourhood
    from vppfed.federates.neighbourhood.runs import run_many

    nb = load_neighbourhood(folder)
    if out.resolve() == folder.resolve() or folder.resolve() in out.resolve().parents:
        raise UserError(f"--out: {out} is inside the neighbourhood folder {folder}, which is only read; "
                        "choose another output folder")
    summary = run_many(nb, settings, args.runs, args.seed, out, args.scores, timings=args.timings)
    return summary, float(sum(summary["wall_s"]))


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args, args.optimizer)
    summary, wall = _run(args.folder, args.out, settings, args)
    for i in range(summary["runs"]):
        rec = json.loads((args.out / f"run_{i:03d}.json").read_text())
        t = rec["totals"]
        sc = "-" if t["self_consumption"] is None else f"{100 * t['self_consumption']:.1f} %"
        print(f"run {i:3d}: self-consumption {sc:>8}  PV {t['pv_wh'] / 1e3:8.2f} kWh  grid {t['grid_wh'] / 1e3:8.2f} "
              f"kWh  grid contracts {int(t['n_grid_contracts'])}/{int(t['n_contracts'])}")
    _print_summary(settings.optimizer, summary, wall)
    print(f"outputs in {args.out}; figures: vppfed neighbourhood plot {args.out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from vppfed.postprocess.neighbourhood_plots import compare_optimisers

    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    folders = []
    walls = {}
    for name in names:
        settings = _settings(args, name)
        out = args.out / name
        summary, wall = _run(args.folder, out, settings, args)
        _print_summary(name, summary, wall)
        folders.append(out)
        walls[out] = summary["wall_s"]
    written = compare_optimisers(folders, args.out, wall_s=walls)
    print(f"comparison figure: {written[0] if written else '-'}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from vppfed.postprocess.neighbourhood_plots import compare_optimisers, load_runs, plot_runs
    from vppfed.summaries.neighbourhood import join_run_records

    written = []
    for folder in args.folders:
        join_run_records(folder)   # a co-simulated run's parts, joined before the figures read the record
        runs = load_runs(folder)
        if not runs:
            raise UserError(f"{folder}: no neighbourhood runs (run_NNN.json or neighbourhood_run.json)")
        written += plot_runs(runs, (args.out / folder.name) if args.out and len(args.folders) > 1
                             else (args.out or folder / "figures"))
    if len(args.folders) > 1:
        written += compare_optimisers(args.folders, args.out or args.folders[0] / "figures")
    pngs = [p for p in written if p.suffix == ".png"]
    print(f"wrote {len(pngs)} figures (PNG + PDF):")
    for path in pngs:
        print(f"  {path}")
    return 0
