"""Layers point one way (issue 17 item 4): every import of every module, top-level and inside functions, is checked.

The layers, bottom first::

    bottom      vppfed.errors, vppfed.envvars, vppfed.io,        imports only the bottom
                vppfed.formats.*, vppfed.plugins (the registries)
    federates   vppfed.federates.*                               bottom, federates (no configs, no postprocess)
    configs     vppfed.configs.*, vppfed.cases                   bottom, federates, configs (no postprocess)
    postprocess vppfed.postprocess.*                             bottom, postprocess (no federate core, no configs)
    top         vppfed (package), cli, launcher, run_lock,       anything
                commands.*, summaries

Imports under ``if TYPE_CHECKING:`` are for the type checker only and are not arrows at run time; they are skipped.
A wrong-way import is reported as ``file:line: importer -> imported: rule``. The walker is checked on a synthetic tree
with one import of each wrong kind, so a walker that finds nothing cannot pass.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package name it is imported as
PACKAGES = {"vppfed": "vppfed", "federates": "vppfed.federates", "configs": "vppfed.configs",
            "postprocess": "vppfed.postprocess", "cases": "vppfed.cases"}

BOTTOM, FEDERATES, CONFIGS, POSTPROCESS, TOP = "bottom", "federates", "configs", "postprocess", "top"
#: layer -> the layers it may import
ALLOWED = {
    BOTTOM: {BOTTOM},
    FEDERATES: {BOTTOM, FEDERATES},
    CONFIGS: {BOTTOM, FEDERATES, CONFIGS},
    POSTPROCESS: {BOTTOM, POSTPROCESS},
    TOP: {BOTTOM, FEDERATES, CONFIGS, POSTPROCESS, TOP},
}
RULES = {
    BOTTOM: "the bottom layer (errors, io, formats) imports no other vppfed layer",
    FEDERATES: "federates import only the bottom layer and federates (no configs, postprocess or CLI)",
    CONFIGS: "configs import the bottom layer, federates and configs (no postprocess or CLI)",
    POSTPROCESS: "postprocess reads outputs through the bottom layer (no federate core, no configs, no CLI)",
    TOP: "",
}


def layer_of(module: str) -> str | None:
    """The layer of a ``vppfed...`` module name (None: not a vppfed module)."""
    parts = module.split(".")
    if parts[0] != "vppfed":
        return None
    if len(parts) == 1:
        return TOP
    head = parts[1]
    if head in ("errors", "envvars", "io", "formats", "plugins"):
        return BOTTOM
    if head == "federates":
        return FEDERATES
    if head in ("configs", "cases"):
        return CONFIGS
    if head == "postprocess":
        return POSTPROCESS
    return TOP


def module_name(path: Path, root: Path) -> str:
    """The dotted name ``path`` is imported as (``federates/agile/link.py`` -> ``vppfed.federates.agile.link``)."""
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    parts[0] = PACKAGES[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _under_symlink(path: Path, root: Path) -> bool:
    """True if a folder between ``root`` and ``path`` is a symbolic link (``vppfed/configs -> ../configs``): the
    same file is walked under its real folder."""
    return any((root / Path(*path.relative_to(root).parts[:i])).is_symlink()
               for i in range(1, len(path.relative_to(root).parts)))


def imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) of every import in ``tree``, at any depth; relative imports are made absolute.

    ``from vppfed import io`` names the module ``vppfed.io`` (the names imported from a package may be modules).
    """
    found: list[tuple[int, str]] = []
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                 for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            if target in ("vppfed", "vppfed.federates", "vppfed.configs", "vppfed.postprocess"):
                found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def wrong_way_imports(root: Path) -> list[str]:
    """Every import under ``root`` that points the wrong way, as ``file:line: importer -> imported: rule``."""
    problems: list[str] = []
    for folder in PACKAGES:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if any(part in ("__pycache__", "build") or part.startswith(".") for part in path.relative_to(root).parts):
                continue
            if _under_symlink(path, root):
                continue
            module = module_name(path, root)
            layer = layer_of(module)
            assert layer is not None
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, target in imported_names(tree, module, path.name == "__init__.py"):
                target_layer = layer_of(target)
                if target_layer is None or target_layer in ALLOWED[layer]:
                    continue
                if target == "vppfed" and layer != TOP:
                    # ``from vppfed import x`` of a bottom module was already checked as vppfed.x
                    continue
                problems.append(f"{path.relative_to(root)}:{line}: {module} ({layer}) -> {target} ({target_layer}): "
                                f"{RULES[layer]}")
    return problems


#: Wrong-way imports not yet turned round, each with why and what would fix it: (file, imported module) -> reason.
#: The test fails on any other wrong-way import AND on an entry here that no longer occurs, so the list only shrinks.
PENDING: dict[tuple[str, str], str] = {}


def test_layers_point_one_way() -> None:
    problems = wrong_way_imports(ROOT)
    key = lambda p: (p.split(":", 1)[0], p.split(" -> ", 1)[1].split(" ", 1)[0])  # noqa: E731
    new = [p for p in problems if key(p) not in PENDING]
    assert not new, "wrong-way imports:\n" + "\n".join(new)
    stale = set(PENDING) - {key(p) for p in problems}
    assert not stale, f"fixed, remove from PENDING: {sorted(stale)}"


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_walker_finds_every_kind_of_wrong_way_import(tmp_path: Path) -> None:
    """A synthetic tree with one wrong import per rule (top-level, in a function, relative): all are reported."""
    for pkg in ("vppfed", "federates", "federates/agile", "configs", "postprocess", "vppfed/formats"):
        _write(tmp_path, f"{pkg}/__init__.py", "")
    _write(tmp_path, "vppfed/io.py", "from vppfed.federates.agile import link\n")                  # bottom -> federates
    _write(tmp_path, "federates/agile/link.py",
           "import json\nfrom vppfed.io import require\n\n\ndef f():\n    from vppfed.configs.validate import require\n")
    _write(tmp_path, "federates/agile/core.py", "from ..metrics import recover\nfrom . import link\n")  # fine
    _write(tmp_path, "configs/sections.py", "def summary():\n    import vppfed.postprocess.metrics_reader\n")
    _write(tmp_path, "postprocess/plots.py", "from vppfed.federates.agile.signal import read_signal_csv\n"
                                              "from vppfed.formats import agile\nfrom vppfed import configs\n")
    _write(tmp_path, "vppfed/cli.py", "from vppfed.postprocess import plots\nfrom vppfed.configs import case\n")
    _write(tmp_path, "vppfed/plugins.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                          "    from vppfed.configs.case import CaseContext\n")  # type-only: fine
    (tmp_path / "vppfed" / "configs").symlink_to("../configs")  # walked once, under configs/
    problems = wrong_way_imports(tmp_path)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert "vppfed/io.py:1: vppfed.io (bottom) -> vppfed.federates.agile (federates)" in text
    assert "federates/agile/link.py:6: vppfed.federates.agile.link (federates) -> vppfed.configs.validate" in text
    assert "configs/sections.py:2: vppfed.configs.sections (configs) -> vppfed.postprocess.metrics_reader" in text
    assert "postprocess/plots.py:1: vppfed.postprocess.plots (postprocess) -> vppfed.federates.agile.signal" in text
    assert "postprocess/plots.py:3: vppfed.postprocess.plots (postprocess) -> vppfed.configs (configs)" in text
    assert all(": " in p and p.split(": ")[-1] for p in problems)  # every line names the rule broken


@pytest.mark.parametrize("module, layer", [("vppfed.io", BOTTOM), ("vppfed.formats.cohda", BOTTOM),
                                           ("vppfed.federates.metrics", FEDERATES), ("vppfed.cases", CONFIGS),
                                           ("vppfed.postprocess.figures", POSTPROCESS), ("vppfed.plugins", BOTTOM),
                                           ("vppfed.commands.run", TOP), ("vppfed.launcher", TOP), ("numpy", None)])
def test_layer_of(module: str, layer: str | None) -> None:
    assert layer_of(module) == layer
