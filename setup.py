"""Setuptools shim: maps the repository's top-level folders onto the ``vppfed`` namespace.

Metadata lives in pyproject.toml. The folders ``federates/``, ``configs/``, ``cases/`` and ``postprocess/`` sit at the top
of the repository (one folder per concern, as users browse them) and are importable as ``vppfed.federates`` etc.
"""
from setuptools import find_packages, setup

FOLDERS = {
    "vppfed": "vppfed",
    "vppfed.federates": "federates",
    "vppfed.configs": "configs",
    "vppfed.cases": "cases",
    "vppfed.postprocess": "postprocess",
}

packages: list[str] = []
package_dir: dict[str, str] = {}
for package, folder in FOLDERS.items():
    package_dir[package] = folder
    packages.append(package)
    packages.extend(f"{package}.{sub}" for sub in find_packages(folder))

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "vppfed.cases": ["*/*.yaml", "*/*.md", "*/*.csv", "*/*.json"],
        "vppfed.configs": ["*.json", "*.yaml"],
    },
    include_package_data=True,
)
