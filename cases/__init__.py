"""Built-in cases: one folder per case with its ``case.yaml`` description and a README.

``vppfed cases`` lists them; ``vppfed run <name>`` builds the folder from the description and runs it.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from vppfed.errors import UserError

CASES_DIR = Path(__file__).resolve().parent


def case_names() -> list[str]:
    """Names of the built-in cases (folders here that hold a ``case.yaml``)."""
    return sorted(p.parent.name for p in CASES_DIR.glob("*/case.yaml"))


def case_yaml(name: str) -> Path:
    """The ``case.yaml`` of built-in case ``name``; a UserError lists the cases if there is none."""
    path = CASES_DIR / name / "case.yaml"
    if not path.exists():
        raise UserError(f"unknown case '{name}' (built-in cases: {', '.join(case_names())}; "
                        "or give a path to a case YAML or a case folder)")
    return path


def describe(name: str) -> str:
    """One line about a built-in case: its ``case.description``."""
    try:
        data = yaml.safe_load(case_yaml(name).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return "(invalid case.yaml)"
    return str((data.get("case") or {}).get("description", "")).strip().splitlines()[0:1][0] \
        if (data.get("case") or {}).get("description") else ""
