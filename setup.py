"""Setuptools shim: packages and package data (metadata lives in pyproject.toml).

The repository keeps one top-level folder per concern (``federates/``, ``configs/``, ``cases/``, ``postprocess/``) as
users browse them; ``vppfed/`` holds a relative symbolic link to each, so ``vppfed.federates`` is a real folder path
for Python, IDEs and type checkers alike, and a wheel carries ordinary files (setuptools reads through the links).
"""
from setuptools import find_packages, setup

setup(
    # only the package and its subpackages: tests/, benchmarks/ and build/ never become importable under vppfed
    packages=find_packages(include=["vppfed", "vppfed.*"]),
    package_data={
        "vppfed.cases": ["*/*.yaml", "*/*.md", "*/*.csv", "*/*.json"],
        "vppfed.configs": ["*.json", "*.yaml"],
    },
    include_package_data=True,
)
