"""The explicit plugin registries of vppfed.plugins: every module that looks like a plugin is listed, every listed one
satisfies its protocol, and a misspelt hook fails instead of being skipped in silence."""
from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import types
from pathlib import Path

import pytest

from vppfed import plugins


def _modules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def _top_level_names(module_name: str) -> set[str]:
    """Names a module defines at top level, read from its source (no import: a broken hook must still be seen)."""
    spec = importlib.util.find_spec(module_name)
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


@pytest.mark.parametrize("registry", sorted(plugins.REGISTRIES))
def test_every_registered_module_satisfies_its_protocol(registry):
    names = plugins.REGISTRIES[registry][0]
    assert len(set(names)) == len(names), f"{registry}: a module listed twice"
    modules = plugins.load(registry)
    assert [m.__name__ for m in modules] == list(names)
    protocol = plugins.REGISTRIES[registry][1]
    assert all(isinstance(m, protocol) for m in modules)


def test_every_command_module_is_registered():
    assert sorted(plugins.COMMANDS) == _modules("vppfed.commands")


def test_every_section_module_is_registered_and_keys_are_unique():
    assert sorted(plugins.SECTIONS) == _modules("vppfed.configs.sections")
    keys = [m.SECTION for m in plugins.load("sections")]
    assert len(keys) == len(set(keys))


def test_every_plots_module_is_registered():
    """A ``*_plots`` module, or any postprocess module defining ``plot_run`` besides figures.py (which calls them)."""
    looks_like_plots = {name for name in _modules("vppfed.postprocess")
                        if name.endswith("_plots") or "plot_run" in _top_level_names(name)}
    looks_like_plots.discard("vppfed.postprocess.figures")
    assert looks_like_plots == set(plugins.PLOTS)


def test_every_summary_hook_is_registered_and_spelt_right():
    """A summaries or section module with any spelling of a summary hook (summarize, summarise, summary, ...) must be listed in
    SUMMARIES, whose protocol wants exactly ``summarize``: ``summarise`` alone fails here instead of vanishing."""
    hook = re.compile(r"^summar(y|i[sz]e)$")
    with_hook = {name for name in _modules("vppfed.summaries") + _modules("vppfed.configs.sections")
                 if any(hook.match(n) for n in _top_level_names(name))}
    assert with_hook == set(plugins.SUMMARIES)


def test_a_misspelt_or_missing_hook_fails_the_check():
    wrong = types.ModuleType("fake_summary")
    wrong.summarise = lambda run_dir: None  # British spelling: not the protocol's hook
    with pytest.raises(plugins.PluginError, match="fake_summary.*no summarize"):
        plugins.check(wrong, "summaries")
    section = types.ModuleType("fake_section")
    section.SECTION, section.ORDER, section.build = "x", "10", lambda ctx, raw: None
    with pytest.raises(plugins.PluginError, match="ORDER is not an int"):
        plugins.check(section, "sections")
    command = types.ModuleType("fake_command")
    command.register = "not callable"
    with pytest.raises(plugins.PluginError, match="register is not callable"):
        plugins.check(command, "commands")
    good = types.ModuleType("fake_plots")
    good.plot_run = lambda run_dir, out_dir: []
    assert plugins.check(good, "plots") is good


def test_plugins_module_imports_no_other_layer():
    """vppfed.plugins names modules as strings, so any layer (configs, postprocess, cli) may import it."""
    tree = ast.parse(Path(plugins.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    runtime = {m for m in imported if m.startswith("vppfed")}
    # the only vppfed import is the annotation-only one under TYPE_CHECKING
    assert runtime <= {"vppfed.configs.case"}
    guarded = [n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING"]
    assert guarded and any(isinstance(b, ast.ImportFrom) and b.module == "vppfed.configs.case" for b in guarded[0].body)
