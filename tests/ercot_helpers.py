"""Helpers of the ERCOT case tests (test_ercot_case.py, test_ercot_scale.py)."""
from __future__ import annotations

import json
from pathlib import Path


def small(**extra) -> dict:
    """Overrides for a small, fast build: 3 houses per feeder, 1 h."""
    out = {"case.hours": 1, "feeder.houses": 3}
    out.update(extra)
    return out


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
