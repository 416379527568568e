"""Unit suffixes in YAML field names (issue 17 item 8): the old names keep working with one logged deprecation
warning naming the new name; giving both is one UserError line naming both; the built-in cases use the new names."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from vppfed.configs.case import CaseSettings
from vppfed.configs.sections.vpp import VppSection
from vppfed.io import parse_dataclass
from vppfed.errors import UserError

CASES = Path(__file__).resolve().parents[1] / "cases"
RENAMED = {"case": CaseSettings.RENAMED, "vpp": VppSection.RENAMED}


@pytest.mark.parametrize("old,new", sorted(CaseSettings.RENAMED.items()))
def test_an_old_case_name_still_works_and_warns(old, new, caplog):
    value = 0.0 if old == "timeout" else 300
    with caplog.at_level(logging.WARNING):
        settings = parse_dataclass(CaseSettings, {"name": "x", old: value}, "mine.yaml: case")
    assert getattr(settings, new) == value
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert warnings == [f"mine.yaml: case.{old} is deprecated: rename it to {new} (same meaning and unit)"]


def test_the_old_attribute_names_read_the_new_fields():
    settings = CaseSettings(name="x", period_s=60, metrics_interval_s=600, market_period_s=600, timeout_s=5.0)
    assert (settings.period, settings.metrics_interval, settings.market_period, settings.timeout) == (60, 600, 600, 5.0)


def test_old_and_new_name_together_is_one_error_naming_both():
    with pytest.raises(UserError) as err:
        parse_dataclass(CaseSettings, {"name": "x", "period": 60, "period_s": 60}, "mine.yaml: case")
    assert str(err.value) == ("mine.yaml: case.period: renamed to period_s; give only period_s "
                              "(both period and period_s are set)")


def test_the_vpp_section_reads_its_old_names(caplog):
    raw = {"params": "p.csv", "random_signal": True, "step": 36, "keepalive_timeout": 4}
    with caplog.at_level(logging.WARNING):
        sec = parse_dataclass(VppSection, raw, "mine.yaml: vpp")
    assert (sec.step_s, sec.keepalive_timeout_steps) == (36, 4)
    assert sum("deprecated" in r.getMessage() for r in caplog.records) == 2
    with pytest.raises(UserError, match=r"vpp\.step: renamed to step_s"):
        parse_dataclass(VppSection, {**raw, "step_s": 36}, "mine.yaml: vpp")


def test_a_new_name_is_checked_like_the_old_one():
    with pytest.raises(UserError, match=r"case\.period_s: must be > 0"):
        parse_dataclass(CaseSettings, {"name": "x", "period": 0}, "mine.yaml: case")


@pytest.mark.parametrize("path", sorted(CASES.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_built_in_cases_use_no_deprecated_name(path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for section, renames in RENAMED.items():
        old = sorted(set(doc.get(section) or {}) & set(renames))
        assert old == [], f"{path}: {section}: rename {old} to {[renames[o] for o in old]}"
