"""The ``vppfed`` command line.

Each module in :mod:`vppfed.commands` contributes its subcommands through ``register(subparsers)``, so a new area of the
package adds a command without touching this file. Errors a user can fix (:class:`~vppfed.errors.UserError`) are
printed as one line with exit code 2; a failed co-simulation (:class:`~vppfed.errors.CosimError`) exits 1.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from typing import Sequence

from vppfed import __version__, commands
from vppfed.errors import CosimError, UserError

DESCRIPTION = """\
HELICS co-simulation federates for virtual power plants.

Typical session:
  vppfed cases                                 list the built-in cases
  vppfed run te30 --hours 24 --out runs/te30   build the case folder and run it
  vppfed plot runs/te30                        write PNG/PDF figures from its metrics
  vppfed config my_case.yaml --out cases/mine  generate HELICS configs and a runner from a YAML description
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every subcommand found in :mod:`vppfed.commands` (stable order, so --help is too)."""
    parser = argparse.ArgumentParser(
        prog="vppfed", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"vppfed {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    # the case workflow first (run, config, cases, plot), then each area's tools in name order
    first = {"run": 0, "plot": 1}
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: (first.get(m.name, 2), m.name)):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vppfed`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except UserError as exc:
        print(f"vppfed: error: {exc}", file=sys.stderr)
        return 2
    except CosimError as exc:
        print(f"vppfed: co-simulation failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vppfed: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
