"""Case descriptions: errors name the field and the file, nothing is half-written, overrides apply."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vppfed.cli import main
from vppfed.configs.case import apply_overrides, build_case, parse_case
from vppfed.errors import UserError


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "mycase.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_missing_case_section_is_named(tmp_path):
    with pytest.raises(UserError, match=r"mycase.yaml: case: required section is missing"):
        build_case(write(tmp_path, {"feeder": {}}), tmp_path / "out")


def test_unknown_section_lists_the_known_ones(tmp_path):
    with pytest.raises(UserError, match=r"mycase.yaml: feedr: unknown section \(known sections: case"):
        build_case(write(tmp_path, {"case": {"name": "x"}, "feedr": {}}), tmp_path / "out")


@pytest.mark.parametrize("case, message", [
    ({"name": "x", "hours": -1}, r"case.hours: must be > 0"),
    ({"name": "x", "hours": "many"}, r"case.hours: expected a number, got 'many'"),
    ({"name": "x", "start": "July 1st"}, r"case.start: expected 'YYYY-mm-dd HH:MM:SS'"),
    ({"name": "x", "separator": "."}, r"case.separator: must be one of '/', '#'"),
    ({"name": "x", "metrics_interval": 100}, r"case.metrics_interval_s: must be a positive multiple of period_s"),
    ({"name": "a b"}, r"case.name: use letters"),
    ({"nam": "x"}, r"case.nam: unknown field"),
])
def test_bad_case_fields_are_named(case, message):
    with pytest.raises(UserError, match=message):
        parse_case({"case": case}, "mycase.yaml")


def test_no_federates_leaves_no_folder(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError, match="no federates"):
        build_case(write(tmp_path, {"case": {"name": "x"}}), out)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.staging*"))


def test_refuses_to_replace_a_folder_it_did_not_make(tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("...")
    with pytest.raises(UserError, match="not a vppfed case folder"):
        build_case(write(tmp_path, {"case": {"name": "x"}}), out)
    assert (out / "thesis.tex").exists()


def test_overrides_create_and_replace_nested_fields():
    raw = {"case": {"name": "x", "hours": 48}}
    out = apply_overrides(raw, {"case.hours": 2, "market.enabled": True})
    assert out == {"case": {"name": "x", "hours": 2}, "market": {"enabled": True}}
    assert raw["case"]["hours"] == 48


def test_cli_reports_user_errors_as_one_line(tmp_path, capsys):
    path = write(tmp_path, {"case": {"name": "x", "hours": "many"}})
    code = main(["config", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "mycase.yaml: case.hours: expected a number" in err
    assert "Traceback" not in err


def test_cli_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "plot", "config", "cases"):
        assert command in out
