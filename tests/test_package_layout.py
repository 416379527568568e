"""The package layout: the top-level folders are importable as ``vppfed.*`` with one identity each, and nothing else is.

The folders ``federates/``, ``configs/``, ``cases/`` and ``postprocess/`` sit beside ``setup.py``; ``vppfed/`` holds a
relative symbolic link to each (README, "Layout"). These tests fail when someone brings back runtime path surgery
(``__path__`` appends), when a stray folder becomes importable under ``vppfed``, or when a link stops pointing at its
folder.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import vppfed

SUBPACKAGES = ("federates", "configs", "cases", "postprocess")
NOT_PACKAGE = ("vppfed.tests", "vppfed.benchmarks", "vppfed.vppfed", "vppfed.setup", "vppfed.build")


def test_vppfed_has_one_folder_on_its_path() -> None:
    assert len(vppfed.__path__) == 1, f"vppfed.__path__ was extended at run time: {list(vppfed.__path__)}"


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_each_subpackage_is_the_top_level_folder(name: str) -> None:
    module = importlib.import_module(f"vppfed.{name}")
    folder = Path(module.__file__).resolve().parent
    package_folder = Path(vppfed.__file__).resolve().parent
    assert folder.name == name
    # in a source checkout the subpackage folder is the top-level folder beside vppfed/ (through the link); in an
    # installed copy it is an ordinary folder inside vppfed/
    assert folder.parent in (package_folder, package_folder.parent)
    link = Path(vppfed.__file__).parent / name
    if link.is_symlink():
        assert os.readlink(link) == f"../{name}", f"vppfed/{name} must be the relative link ../{name}"


@pytest.mark.parametrize("name", NOT_PACKAGE)
def test_nothing_but_the_package_is_importable_under_vppfed(name: str) -> None:
    with pytest.raises(ImportError):
        importlib.import_module(name)


def test_walking_the_package_ends_and_stays_inside_it() -> None:
    names = [info.name for info in pkgutil.walk_packages(vppfed.__path__, "vppfed.", onerror=lambda _name: None)]
    assert names, "walk_packages found nothing"
    assert all(n.startswith("vppfed.") and ".vppfed." not in n for n in names)
    assert len(names) == len(set(names))
    assert "vppfed.federates.battery.coulomb" in names


def test_one_identity_whichever_way_python_is_started(tmp_path: Path) -> None:
    """``python -m`` from the repository root (root first on sys.path) and from elsewhere load the same files."""
    probe = ("import sys, os, vppfed.cli, vppfed.federates.battery.coulomb, vppfed.io; "
             "files = [os.path.realpath(m.__file__) for n, m in list(sys.modules.items()) "
             "if n.split('.')[0] == 'vppfed' and getattr(m, '__file__', None)]; "
             "print(len(files) == len(set(files))); print(vppfed.errors.__file__); "
             "print(vppfed.federates.battery.coulomb.__file__)")
    root = Path(vppfed.__file__).resolve().parent.parent
    outputs = []
    for cwd in (root, tmp_path):
        done = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.split()
        assert lines[0] == "True", "a module was loaded twice under two names"
        outputs.append([str(Path(p).resolve()) for p in lines[1:3]])
    assert outputs[0] == outputs[1]
