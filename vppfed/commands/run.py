"""``vppfed run``, ``vppfed config`` and ``vppfed cases``: build a case folder from its description and run it."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any


from vppfed.commands import OPTIMIZERS, OptimizerChoices
from vppfed.io import parse_yaml_text
from vppfed.errors import CosimError, UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="build a case folder and run the co-simulation",
        description="Build the case folder from its YAML description (a built-in case name, a YAML file, or an "
                    "existing case folder) and run it: vppfed's own federates in one process on one HELICS core "
                    "(with its own broker when they are all there is; otherwise a private HELICS broker on a free "
                    "port), one log per federate, a progress bar over simulated time and a summary. A failing "
                    "federate ends the whole run within seconds and is named with the tail of its log.",
        epilog="examples:\n  vppfed run te30 --hours 24 --out runs/te30\n  vppfed run te30 --market --out runs/te30m\n"
               "  vppfed run my_case.yaml --set feeder.houses=60 --seed 3\n  vppfed run runs/te30 --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("case", help="built-in case name (see 'vppfed cases'), a case YAML, or a case folder")
    run.add_argument("--out", type=Path, help="run folder (default runs/<case>)")
    _add_override_options(run)
    run.add_argument("--resume", action="store_true",
                     help="continue a killed run in --out: reuse its folder; federates with saved state resume")
    run.add_argument("--timeout", type=float, default=None, help="wall seconds before the run is ended as failed")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--process-per-federate", action="store_true",
                     help="start every federate as its own process, as helics run does (default: vppfed's own "
                          "federates share one process and one HELICS core: te30 48 h took 68 s instead of 106 s "
                          "on an idle 2-core machine)")
    run.add_argument("--no-report", action="store_true",
                     help="do not write RUN_DIR/report.html (the self-contained HTML report of the run)")
    run.set_defaults(func=cmd_run)

    config = subparsers.add_parser(
        "config", help="generate a case folder (federate JSONs + runner JSON) without running it",
        description="Turn a case YAML into a folder with every HELICS federate JSON, TESP-style dictionaries and a "
                    "runner JSON that both 'vppfed run DIR' and 'helics run --path DIR/runner.json' accept.")
    config.add_argument("case", help="built-in case name or a case YAML")
    config.add_argument("--out", type=Path, required=True, help="folder to write (replaced only if vppfed made it)")
    _add_override_options(config)
    config.set_defaults(func=cmd_config)

    cases = subparsers.add_parser("cases", help="list the built-in cases",
                                  description="List the built-in cases with a line about each.")
    cases.set_defaults(func=cmd_cases)


def _add_override_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hours", type=float, help="simulated hours (case.hours)")
    parser.add_argument("--seed", type=int, help="seed of every random draw (case.seed)")
    market = parser.add_mutually_exclusive_group()
    market.add_argument("--market", dest="market", action="store_true", default=None,
                        help="with the double-auction market (market.enabled=true)")
    market.add_argument("--no-market", dest="market", action="store_false", help="without the market")
    parser.add_argument("--runs", type=int, help="seeded repetitions, each in run_NN/ (case.runs)")
    parser.add_argument("--optimizer", choices=OptimizerChoices(OPTIMIZERS), metavar="NAME",
                        help=f"optimiser of the neighbourhood producers (neighbourhood.optimizer): "
                             f"{', '.join(OPTIMIZERS)}")
    parser.add_argument("--houses-per-feeder", type=int, help="houses per generated feeder (feeder.houses)")
    parser.add_argument("--buses", type=int, help="number of transmission buses with a feeder (bulk.buses)")
    parser.add_argument("--separator", choices=["/", "#"], help="object/property key separator (case.separator)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any field of the case YAML (value parsed as YAML), repeatable")


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted-path overrides of the case description from the command-line options."""
    out: dict[str, Any] = {}
    named = {"hours": "case.hours", "seed": "case.seed", "runs": "case.runs", "optimizer": "neighbourhood.optimizer",
             "houses_per_feeder": "feeder.houses", "buses": "bulk.buses", "separator": "case.separator"}
    for attr, path in named.items():
        value = getattr(args, attr, None)
        if value is not None:
            out[path] = value
    if getattr(args, "market", None) is not None:
        out["market.enabled"] = bool(args.market)
    for item in getattr(args, "sets", []) or []:
        if "=" not in item:
            raise UserError(f"--set {item}: expected SECTION.KEY=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_yaml_text(value, f"--set {item}")
    return out


def resolve_case(case: str) -> Path:
    """A case argument -> the YAML to build from (built-in name, YAML path) or a built folder's runner.json."""
    path = Path(case)
    if path.is_dir() and (path / "runner.json").exists():
        return path / "runner.json"
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise UserError(f"{path}: file not found")
        return path
    if path.is_dir() and (path / "case.yaml").exists():
        return path / "case.yaml"
    from vppfed.cases import case_yaml

    return case_yaml(case)


def _section_summaries(run_dir: Path) -> list[str]:
    """Lines from the run summaries of :data:`vppfed.plugins.SUMMARIES` (e.g. neighbourhood energy)."""
    from vppfed import plugins

    lines = []
    for module in plugins.load("summaries"):
        text = module.summarize(run_dir)
        if text:
            lines.append(text)
    return lines


def _progress_bar(enabled: bool):
    """A progress callback drawing a tqdm bar over simulated hours (and a closer)."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: float, total: float) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=round(total / 3600.0, 2), unit="h", desc="simulated", dynamic_ncols=True,
                              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total:.2f} h "
                                         "[{elapsed}<{remaining}]")
        b = bar["bar"]
        b.n = round(min(done, total) / 3600.0, 2)
        b.refresh()

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return update, close


def run_one(case_source: Path, out: Path, overrides: dict[str, Any], *, resume: bool, timeout: float | None,
            progress: bool, cohost: bool = True) -> Any:
    """Build (unless resuming a built folder) and launch one run; returns the launcher's summary."""
    from vppfed.configs.case import build_case
    from vppfed.launcher import Launcher

    if case_source.name == "runner.json":
        runner = case_source
        if overrides:
            raise UserError(f"{case_source.parent}: a built case folder cannot take overrides; rebuild from its case.yaml")
    elif resume and (out / "runner.json").exists():
        runner = out / "runner.json"
    else:
        if resume:
            raise UserError(f"{out}: nothing to resume (no runner.json); run without --resume first")
        built = build_case(case_source, out, overrides)
        runner = built.runner
        print(f"case folder: {built.directory} ({len(built.federates)} federates: "
              f"{', '.join(f.name for f in built.federates)})")
    update, close = _progress_bar(progress)
    try:
        summary = Launcher(runner, timeout=timeout, resume=resume, progress=update, cohost=cohost).run()
    finally:
        close()
    return summary


def cmd_run(args: argparse.Namespace) -> int:
    source = resolve_case(args.case)
    overrides = overrides_from(args)
    if source.name == "runner.json":
        out = source.parent
        runs = 1
    else:
        name = Path(args.case).stem if source.name != "case.yaml" else source.parent.name
        out = args.out or Path("runs") / name
        from vppfed.configs.case import apply_overrides, parse_case
        from vppfed.io import load_yaml

        settings = parse_case(apply_overrides(load_yaml(source), overrides), source.name)
        runs = settings.runs
    from vppfed.io import check_out_dir
    from vppfed.run_lock import RunLock

    check_out_dir(out)
    with RunLock(out, "run"):
        return _run_all(args, source, out, overrides, runs, settings if runs > 1 else None)


def _run_all(args: argparse.Namespace, source: Path, out: Path, overrides: dict[str, Any], runs: int,
             settings: Any) -> int:
    """The runs of ``vppfed run`` into ``out`` (locked by the caller)."""
    results = []
    for i in range(runs):
        run_dir = out if runs == 1 else out / f"run_{i:02d}"
        run_overrides = dict(overrides)
        if runs > 1:
            run_overrides["case.seed"] = (args.seed if args.seed is not None else settings.seed) + i
            run_overrides["case.runs"] = 1
            print(f"run {i + 1}/{runs} (seed {run_overrides['case.seed']}) -> {run_dir}")
        try:
            summary = run_one(source, run_dir, run_overrides, resume=args.resume, timeout=args.timeout,
                              progress=not args.no_progress, cohost=not args.process_per_federate)
        except CosimError:
            if not args.no_report:
                _report(run_dir)   # a failed run's report says what is missing
            raise
        except KeyboardInterrupt as exc:
            # SIGINT and SIGTERM: the same summary table as a finished run, then the CLI's one-line message
            partial = getattr(exc, "summary", None)
            if partial is not None:
                print(partial.table())
            raise
        print(summary.table())
        for line in _section_summaries(run_dir):
            print(line)
        if not args.no_report and runs == 1:
            _report(run_dir)
        results.append({"run_dir": str(run_dir), "wall_s": summary.wall_seconds,
                        "simulated_h": summary.simulated_seconds / 3600})
    if runs > 1:
        (out / "runs.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
        for line in _section_summaries(out):
            print(line)
        if not args.no_report:
            _report(out)   # one page comparing the run_NN/ runs
    print(f"outputs in {out}; figures: vppfed plot {out}")
    return 0


def _report(run_dir: Path) -> None:
    """Write the run's HTML report and say where (never fails the command: a report is a convenience)."""
    from vppfed.postprocess.report import write_run_report

    path = write_run_report(run_dir)
    if path is not None:
        print(f"report: {path}")


def cmd_config(args: argparse.Namespace) -> int:
    from vppfed.configs.case import build_case

    source = resolve_case(args.case)
    if source.name == "runner.json":
        raise UserError(f"{args.case}: already a built case folder")
    from vppfed.io import check_out_dir
    from vppfed.run_lock import RunLock

    check_out_dir(args.out)
    with RunLock(args.out, "config"):
        built = build_case(source, args.out, overrides_from(args))
    print(f"wrote {built.directory}:")
    for entry in built.federates:
        print(f"  {entry.name:<20} {entry.config_file or '-':<36} {entry.exec}")
    print(f"run it with:  vppfed run {built.directory}")
    print(f"         or:  helics run --path {built.runner}")
    return 0


def cmd_cases(args: argparse.Namespace) -> int:
    from vppfed.cases import case_names, describe

    names = case_names()
    if not names:
        print("no built-in cases")
        return 0
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name:<{width}}  {describe(name)}")
    return 0
