"""``vppfed report``: one self-contained HTML page of a run, or of several runs side by side."""
from __future__ import annotations

import argparse
from pathlib import Path

from vppfed.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report", help="write a self-contained HTML report of one or more run folders",
        description="Write one HTML file that opens from disk with no network: what ran (case, federates, horizon, "
                    "seed, versions, wall time, exit status, log warnings), key figures by area, interactive time "
                    "series per metrics family and per household/agent, links to the PNG/PDF figures. With several "
                    "runs: common axes and a table of differences. A damaged or partial run is reported with what "
                    "is missing.",
        epilog="examples:\n  vppfed report runs/te30 --out te30.html\n"
               "  vppfed report runs/te30 runs/te30m --labels base,market --out compare.html",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folder (the --out of 'vppfed run')")
    report.add_argument("--labels", default=None, help="comma-separated names of the runs (default: folder names)")
    report.add_argument("--out", type=Path, default=None,
                        help="HTML file to write (default RUN/report.html for one run, report.html for several)")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from vppfed.postprocess.report import REPORT_NAME, build_report
    from vppfed.summaries.neighbourhood import join_run_records

    missing = [str(r) for r in args.runs if not r.is_dir()]
    if missing:
        raise UserError(f"{missing[0]}: not a folder (expected a run folder written by 'vppfed run')")
    for run in args.runs:
        join_run_records(run)   # the report reads run records only
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    out = args.out or (args.runs[0] / REPORT_NAME if len(args.runs) == 1 else Path(REPORT_NAME))
    if out.exists() and out.is_dir():
        raise UserError(f"--out {out}: is a folder; give the HTML file name")
    path = build_report(args.runs, out, labels)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
