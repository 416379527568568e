"""The explicit registries of vppfed's plugins: case-YAML sections, run figures, run summaries and CLI commands.

Each registry is one tuple of module names below, in the order the plugins run, and each kind of plugin has a
:class:`typing.Protocol` saying what such a module must define. :func:`load` imports the listed modules and raises
:class:`PluginError` when one does not satisfy its protocol, so a misspelt hook (``summarise`` for ``summarize``,
``Section`` for ``SECTION``) fails the first run and ``tests/test_plugins.py`` instead of being skipped in silence,
as discovery by attribute name did. A new plugin is one line in its tuple; the test fails for a module that looks
like a plugin (a ``*_plots`` module, a module of :mod:`vppfed.commands` or :mod:`vppfed.configs.sections`) but is not
listed.

The module names are strings, imported on demand: this module imports nothing of vppfed, so any layer may use it.
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # only for the annotations: importing the case framework here would make every layer import it
    from vppfed.configs.case import CaseContext


class PluginError(TypeError):
    """A registered module does not satisfy its protocol (a programming error, not a user error)."""


@runtime_checkable
class SectionPlugin(Protocol):
    """A builder of one case-YAML section (a module of :mod:`vppfed.configs.sections`)."""

    #: the YAML key the module builds (``feeder``, ``bulk``, ``market`` ...)
    SECTION: str
    #: builders run in increasing ORDER (the feeder first, so agents can look up its objects)
    ORDER: int

    def build(self, ctx: CaseContext, raw: dict[str, Any]) -> None:
        """Parse ``raw`` (the section's mapping) and add federates and files to ``ctx``."""


@runtime_checkable
class PlotPlugin(Protocol):
    """A module of figures that ``vppfed plot RUN_DIR`` draws after the grid figures of :mod:`postprocess.figures`."""

    def plot_run(self, run_dir: Path, out_dir: Path) -> list[Path]:
        """Draw the figures the run's outputs allow into ``out_dir``; return the files written (none if absent)."""


@runtime_checkable
class SummaryPlugin(Protocol):
    """A module of :mod:`vppfed.summaries` that prints a line about a finished run after ``vppfed run``'s table."""

    def summarize(self, run_dir: Path) -> str | None:
        """One line about the run in ``run_dir``, or None when the run has no outputs of this section."""


@runtime_checkable
class CommandPlugin(Protocol):
    """A module of :mod:`vppfed.commands` that adds its subcommands to the ``vppfed`` parser."""

    def register(self, subparsers: argparse._SubParsersAction) -> None:
        """Add this module's subcommands (each with ``set_defaults(func=...)``) to ``subparsers``."""


#: Section builders; the build order is each module's ORDER, this order only breaks ties.
SECTIONS: tuple[str, ...] = tuple(f"vppfed.configs.sections.{name}" for name in (
    "battery", "bulk", "cohda", "feeder", "feeders", "market", "neighbourhood", "vpp"))

#: Figure modules of ``vppfed plot``, drawn in this order (after the grid figures).
PLOTS: tuple[str, ...] = tuple(f"vppfed.postprocess.{name}" for name in (
    "agile_plots", "battery_plots", "cohda_plots", "ercot_plots", "market_plots", "neighbourhood_feeder_plots",
    "neighbourhood_plots", "vpp_market_plots"))

#: Run summaries printed by ``vppfed run``, in this order.
SUMMARIES: tuple[str, ...] = tuple(f"vppfed.summaries.{name}" for name in (
    "battery", "cohda", "neighbourhood", "vpp"))

#: CLI command modules: the case workflow first (run, config, cases, plot), then each area's tools in name order.
COMMANDS: tuple[str, ...] = tuple(f"vppfed.commands.{name}" for name in (
    "run", "plot", "agile", "cluster", "cohda", "market", "neighbourhood", "report", "tesp"))

#: each registry with the protocol its modules satisfy and the hooks that protocol names (for error messages)
REGISTRIES: dict[str, tuple[tuple[str, ...], type, tuple[str, ...]]] = {
    "sections": (SECTIONS, SectionPlugin, ("SECTION", "ORDER", "build")),
    "plots": (PLOTS, PlotPlugin, ("plot_run",)),
    "summaries": (SUMMARIES, SummaryPlugin, ("summarize",)),
    "commands": (COMMANDS, CommandPlugin, ("register",)),
}


def check(module: ModuleType, registry: str) -> ModuleType:
    """Return ``module`` if it satisfies the protocol of ``registry``; else raise :class:`PluginError` naming what
    is missing (a hook that is absent, not callable, or a constant of the wrong type)."""
    _names, protocol, hooks = REGISTRIES[registry]
    problems = []
    for hook in hooks:
        value = getattr(module, hook, None)
        if value is None:
            problems.append(f"no {hook}")
        elif hook == "SECTION" and not (isinstance(value, str) and value):
            problems.append("SECTION is not a non-empty str")
        elif hook == "ORDER" and (not isinstance(value, int) or isinstance(value, bool)):
            problems.append("ORDER is not an int")
        elif hook not in ("SECTION", "ORDER") and not callable(value):
            problems.append(f"{hook} is not callable")
    if problems or not isinstance(module, protocol):
        raise PluginError(f"{module.__name__} is registered in vppfed.plugins.{registry.upper()} but does not "
                          f"satisfy {protocol.__name__}: {', '.join(problems) or 'protocol check failed'}")
    return module


def load(registry: str) -> list[ModuleType]:
    """Import every module of ``registry`` (``sections``, ``plots``, ``summaries``, ``commands``) in its order,
    each checked against the registry's protocol."""
    names = REGISTRIES[registry][0]
    return [check(importlib.import_module(name), registry) for name in names]
