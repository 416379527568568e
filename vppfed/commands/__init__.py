"""Subcommands of ``vppfed``: each module here defines ``register(subparsers)`` and is listed in
:data:`vppfed.plugins.COMMANDS`.

The helpers below keep old spellings working while users move to the new ones: a renamed command stays as a hidden
alias (:func:`deprecated_command`) and a renamed option as a hidden option (:class:`DeprecatedOption`); both leave a
message in ``args.deprecations`` that :func:`vppfed.cli.main` logs as a warning naming the new spelling (the parser
runs before logging is configured, so the action cannot log itself).
"""
from __future__ import annotations

import argparse
from typing import Any, Callable, Sequence

#: names of the neighbourhood optimisers (``vppfed.federates.neighbourhood.optimisers.OPTIMISERS``, which the tests
#: compare with this tuple; not imported here because that module loads scipy and highspy, seconds of CLI start-up)
OPTIMIZERS: tuple[str, ...] = ("milp", "L-BFGS-B", "SLSQP", "TNC", "fifty_fifty")


def note_deprecation(namespace: argparse.Namespace, message: str) -> None:
    """Remember ``message`` for :func:`vppfed.cli.main` to log once logging is set up."""
    setattr(namespace, "deprecations", [*getattr(namespace, "deprecations", []), message])


class DeprecatedOption(argparse.Action):
    """A hidden old spelling of an option: stores like the new one (same ``dest``) and notes a deprecation.

    Use with ``help=argparse.SUPPRESS`` and ``default=argparse.SUPPRESS`` so that neither the help nor the default of
    the new option changes."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        note_deprecation(namespace, f"{option_string} is deprecated; use {self.new} (same meaning)")


def deprecated_command(subparsers: argparse._SubParsersAction, old: str, new: str,
                       add_arguments: Callable[[argparse.ArgumentParser], None],
                       func: Callable[[argparse.Namespace], int], **kwargs: Any) -> argparse.ArgumentParser:
    """Add ``vppfed OLD`` as a hidden alias of ``vppfed NEW`` (same options, same function) that notes a
    deprecation naming the new command. No ``help=``: argparse then leaves it out of the command list."""
    parser = subparsers.add_parser(old, description=f"Deprecated spelling of 'vppfed {new}'.", **kwargs)
    add_arguments(parser)
    parser.set_defaults(func=func, deprecations=[f"'vppfed {old}' is deprecated; use 'vppfed {new}' (same options)"])
    return parser


class OptimizerChoices(tuple):
    """The optimiser names as argparse ``choices``, matched whatever the case (``tnc`` is ``TNC``, ``fifty-fifty`` is
    ``fifty_fifty``) as :class:`~vppfed.federates.neighbourhood.simulation.RunSettings` always accepted them; the
    value is passed on as typed, so outputs that name the optimiser are unchanged."""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and value.lower() in {c.lower() for c in self} | {"fifty-fifty"}
