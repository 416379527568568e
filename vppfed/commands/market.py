"""``vppfed market-plot``: market figures of one run, or a comparison of several runs on common axes."""
from __future__ import annotations

import argparse
from pathlib import Path

from vppfed.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "market-plot", help="market figures: cleared price vs LMP, highest bidder, surpluses, total bids",
        description="Write PNG+PDF market figures from a run folder's auction_/controller_/bus_ metrics. With several "
                    "run folders, also a comparison figure (LMP, cleared price, total bids, feeder load) on common axes.",
        epilog="examples:\n  vppfed market-plot runs/te30m\n"
               "  vppfed market-plot runs/te30m runs/te30 runs/te30vpp --labels market,no-market,VPP --out figs",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run folder(s) with the metrics files")
    p.add_argument("--labels", help="comma-separated legend labels, one per run (default: folder names)")
    p.add_argument("--out", type=Path, help="figure folder (default: <first run>/figures)")
    p.set_defaults(func=cmd_market_plot)


def cmd_market_plot(args: argparse.Namespace) -> int:
    from vppfed.postprocess.market_plots import find_metrics, plot_comparison, plot_market

    labels = args.labels.split(",") if args.labels else [r.name for r in args.runs]
    if len(labels) != len(args.runs):
        raise UserError(f"--labels: {len(labels)} labels for {len(args.runs)} runs")
    if len(args.runs) > 4:
        raise UserError("runs: give at most four run folders")
    for run in args.runs:
        if not run.is_dir():
            raise UserError(f"{run}: not a folder")
        if find_metrics(run, "auction") is None:
            raise UserError(f"{run}: no auction_<root>_metrics.json (was the run made with a market: section?)")
    out = args.out or args.runs[0] / "figures"
    written = []
    for run, label in zip(args.runs, labels):
        target = out if len(args.runs) == 1 else out / label
        written += plot_market(run, target, label)
    if len(args.runs) > 1:
        written += plot_comparison(args.runs, out, labels)
    for path in written:
        if path.suffix == ".png":
            print(path)
    return 0
