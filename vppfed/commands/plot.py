"""``vppfed plot``: figures of a finished (or interrupted) run folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from vppfed.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    plot = subparsers.add_parser(
        "plot", help="write PNG and PDF figures from a run folder's metrics",
        description="Read the metrics files of a run folder (vppfed's or TESP's JSON layout, or GridLAB-D-style .h5) "
                    "and write column-width PNG/PDF figures: substation load, bus voltage and LMP, house air "
                    "temperatures, PV output, generation, plus the figures of every agent present in the run. "
                    "A folder holding several runs (run_NN/) gets figures per run.")
    plot.add_argument("run_dir", type=Path, help="run folder (the --out of 'vppfed run')")
    plot.add_argument("--out", type=Path, default=None, help="figure folder (default RUN_DIR/figures)")
    plot.set_defaults(func=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    from vppfed.postprocess.figures import plot_run
    from vppfed.summaries.neighbourhood import join_run_records

    if not args.run_dir.is_dir():
        raise UserError(f"{args.run_dir}: not a folder")
    join_run_records(args.run_dir)   # figures read run records only
    targets = [args.run_dir]
    sub_runs = sorted(p for p in args.run_dir.glob("run_[0-9]*") if p.is_dir())
    written = plot_run(args.run_dir, args.out)
    for sub in sub_runs:
        written += plot_run(sub, (args.out / sub.name) if args.out else None)
        targets.append(sub)
    if not written:
        raise UserError(f"{args.run_dir}: no metrics files to plot (expected <prefix>_<root>_metrics.json)")
    pngs = [p for p in written if p.suffix == ".png"]
    print(f"wrote {len(pngs)} figures (PNG + PDF):")
    for path in pngs:
        print(f"  {path}")
    return 0
