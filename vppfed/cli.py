"""The ``vppfed`` command line.

Each module of :mod:`vppfed.commands` contributes its subcommands through ``register(subparsers)``; the modules are
listed in :data:`vppfed.plugins.COMMANDS` (a new area adds one line there, and a test fails for a command module that
is not listed or lacks ``register``). Errors a user can fix (:class:`~vppfed.errors.UserError`) are
printed as one line with exit code 2; a failed co-simulation (:class:`~vppfed.errors.CosimError`) exits 1.
"""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
from typing import Sequence

from vppfed import __version__, plugins
from vppfed.io import check_timeout
from vppfed.errors import CosimError, RunInterrupted, UserError

log = logging.getLogger(__name__)

DESCRIPTION = """\
HELICS co-simulation federates for virtual power plants.

Typical session:
  vppfed cases                                 list the built-in cases
  vppfed run te30 --hours 24 --out runs/te30   build the case folder and run it
  vppfed plot runs/te30                        write PNG/PDF figures from its metrics
  vppfed config my_case.yaml --out cases/mine  generate HELICS configs and a runner from a YAML description
  vppfed import-tesp DIR --out mine.yaml       a case YAML that runs a TESP case folder (your GLM, *_pp.json)
  vppfed report runs/te30                      one self-contained HTML page of a run (also written by run)
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with the subcommands of every module in :data:`vppfed.plugins.COMMANDS`, in that order."""
    parser = argparse.ArgumentParser(
        prog="vppfed", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"vppfed {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in plugins.load("commands"):
        module.register(subparsers)
    return parser


def check_options(args: argparse.Namespace) -> None:
    """Checks every command shares: no option takes inf or nan (argparse's ``type=float`` accepts both, and
    ``--hours inf`` overflowed deep inside a generator), and ``--timeout`` is a positive number of seconds."""
    for dest, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"--{dest.replace('_', '-')} {value}: must be a finite number")
    check_timeout(getattr(args, "timeout", None))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vppfed`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for message in getattr(args, "deprecations", None) or []:  # old command and option names (vppfed.commands)
        log.warning(message)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    previous = _sigterm_as_interrupt()
    try:
        check_options(args)
        return int(func(args) or 0)
    except UserError as exc:
        print(f"vppfed: error: {exc}", file=sys.stderr)
        return 2
    except CosimError as exc:
        print(f"vppfed: co-simulation failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        stop = exc if isinstance(exc, RunInterrupted) else RunInterrupted("SIGINT")
        what = "terminated (SIGTERM)" if stop.signal_name == "SIGTERM" else "interrupted (Ctrl-C)"
        print(f"vppfed: {what}; every process it started has ended", file=sys.stderr)
        return stop.exit_code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _sigterm_as_interrupt() -> object | None:
    """Make SIGTERM raise :class:`RunInterrupted` (so teardowns and staging clean-ups run as for Ctrl-C).

    Returns the previous handler, or None when not on the main thread (the CLI called from a test thread)."""
    def on_sigterm(_signum: int, _frame: object) -> None:
        raise RunInterrupted("SIGTERM")

    try:
        return signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:
        return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
