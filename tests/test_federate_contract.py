"""One federate contract: ``federates/<name>/`` = pure cores + ``adapter.py`` (``build_parser``, ``main``) + a
``__main__`` that only calls ``adapter.main``; typed constructors; ``--help`` works where helics is not installed."""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import vppfed.federates
from vppfed.federates.runtime import FederateBase

FEDERATES_DIR = Path(vppfed.federates.__file__).resolve().parent
FEDERATES = sorted(p.parent.name for p in FEDERATES_DIR.glob("*/__main__.py"))

#: Runs ``python -m vppfed.federates.<name> ...`` with every import of helics failing, as on a machine without it.
NO_HELICS = """
import runpy, sys

class NoHelics:
    def find_spec(self, name, path=None, target=None):
        if name == "helics" or name.startswith("helics."):
            raise ImportError("helics is blocked by the test")
        return None

sys.meta_path.insert(0, NoHelics())
for name in [m for m in sys.modules if m == "helics" or m.startswith("helics.")]:
    del sys.modules[name]
module = sys.argv[1]
sys.argv = [module] + sys.argv[2:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def test_every_federate_folder_is_covered():
    assert set(FEDERATES) == {"agile", "battery", "bulk", "cohda", "feeder", "market", "neighbourhood", "weather"}


@pytest.mark.parametrize("name", FEDERATES)
def test_help_works_without_helics(name):
    module = f"vppfed.federates.{name}"
    proc = subprocess.run([sys.executable, "-c", NO_HELICS, module, "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"usage: python -m {module} "), proc.stdout[:500]
    assert "--config" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_the_blocker_really_blocks_helics():
    """The prelude must make an import of helics fail: otherwise the --help test proves nothing."""
    proc = subprocess.run([sys.executable, "-c", NO_HELICS, "helics", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "helics is blocked by the test" in proc.stderr


@pytest.mark.parametrize("name", FEDERATES)
def test_main_module_only_calls_the_adapter(name):
    tree = ast.parse((FEDERATES_DIR / name / "__main__.py").read_text(encoding="utf-8"))
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    from_imports = [(node.module, [a.name for a in node.names]) for node in imports if isinstance(node, ast.ImportFrom)]
    assert from_imports == [(f"vppfed.federates.{name}.adapter", ["main"])]
    assert not [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Assign))]
    calls = [ast.unparse(node) for node in tree.body if isinstance(node, ast.Expr)
             and not isinstance(node.value, ast.Constant)]
    assert calls == ["sys.exit(main())"]


@pytest.mark.parametrize("name", FEDERATES)
def test_adapter_has_the_contract_and_typed_constructors(name):
    adapter = importlib.import_module(f"vppfed.federates.{name}.adapter")
    parser = adapter.build_parser()
    assert isinstance(parser, argparse.ArgumentParser)
    assert callable(adapter.main) and callable(adapter.build_federate)
    classes = [c for _, c in inspect.getmembers(adapter, inspect.isclass)
               if issubclass(c, FederateBase) and c is not FederateBase and c.__module__ == adapter.__name__]
    assert classes, f"{name}: no federate class in the adapter"
    for cls in classes:
        hints = typing.get_type_hints(cls.__init__)
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        assert params, cls
        for param in params:
            assert param in hints, f"{cls.__name__}.__init__: {param} has no type"
            assert hints[param] is not argparse.Namespace, f"{cls.__name__}.__init__ takes an argparse.Namespace"


@pytest.mark.parametrize("name", FEDERATES)
def test_no_other_module_of_a_federate_builds_a_federate_or_a_parser(name):
    """One adapter per federate: no other module of the folder subclasses FederateBase or parses a command line."""
    for path in sorted((FEDERATES_DIR / name).glob("*.py")):
        if path.name in ("adapter.py", "__main__.py"):
            continue
        text = path.read_text(encoding="utf-8")
        assert "FederateBase" not in text, path
        assert "base_argument_parser" not in text and "ArgumentParser(" not in text, path
