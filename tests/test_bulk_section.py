"""The ``bulk:`` section of a case YAML: files, the pypower HELICS config in TESP's layout, the handle, errors."""
from __future__ import annotations

import json
import shlex

import pytest

from vppfed.configs.case import build_case
from vppfed.errors import UserError
from vppfed.formats.ppcase import load_pp_case


def describe(**bulk):
    return {"case": {"name": "bt", "hours": 2}, "bulk": bulk}


def test_section_writes_model_config_and_runner_entry(tmp_path):
    built = build_case(describe(), tmp_path / "case")
    d = built.directory
    case = load_pp_case(d / "te30_pp.json")
    assert [x.bus for x in case.dso] == [7] and case.dso[0].scale == 250.0
    assert case.tmax == 7200 and case.background is not None
    cfg = json.loads((d / "bt_pypower.json").read_text())
    assert cfg["name"] == "pypower" and cfg["period"] == 15
    assert [p["key"] for p in cfg["publications"]] == ["three_phase_voltage_7", "LMP_7"]
    assert cfg["subscriptions"] == [{"key": "gld_7/distribution_load", "type": "complex"}]
    runner = json.loads(built.runner.read_text())
    entry = next(f for f in runner["federates"] if f["name"] == "pypower")
    args = shlex.split(entry["exec"])
    assert args[:3] == ["python", "-m", "vppfed.federates.bulk"]
    assert args[args.index("--case") + 1] == "te30_pp.json" and args[args.index("--hours") + 1] == "2"


def test_curve_source_adds_the_five_tesp_bid_subscriptions(tmp_path):
    built = build_case(describe(curve_source="sub_7", bus=5, outage_gen=None), tmp_path / "case")
    cfg = json.loads((built.directory / "bt_pypower.json").read_text())
    keys = {s["key"]: s["type"] for s in cfg["subscriptions"]}
    assert keys["gld_5/distribution_load"] == "complex"
    assert keys["sub_7/responsive_deg"] == "integer"
    assert {k for k in keys if k.startswith("sub_7/")} == {
        f"sub_7/{k}" for k in ("unresponsive_mw", "responsive_max_mw", "responsive_c2", "responsive_c1",
                               "responsive_deg")}
    assert load_pp_case(built.directory / "te30_pp.json").units_out == []


@pytest.mark.parametrize("bulk,message", [
    ({"scale": 0}, "bulk.scale: must be > 0"),
    ({"bus": 4}, "bulk.bus: the te30 model has load buses 5, 7 and 9"),
    ({"sclae": 3}, "bulk.sclae: unknown field"),
    ({"model": "nowhere_pp.json"}, "nowhere_pp.json: file not found"),
])
def test_bad_fields_are_one_line_errors_naming_the_field(tmp_path, bulk, message):
    with pytest.raises(UserError, match=message):
        build_case(describe(**bulk), tmp_path / "case")
    assert not (tmp_path / "case").exists()


def test_tesp_dispatch_is_one_yaml_switch_away_and_reaches_the_federate(tmp_path):
    from vppfed.federates.bulk.adapter import build_parser

    def bulk_args(**bulk):
        runner = json.loads(build_case(describe(**bulk), tmp_path / str(len(bulk))).runner.read_text())
        exec_line = next(f for f in runner["federates"] if f["name"] == "pypower")["exec"]
        return build_parser().parse_args(shlex.split(exec_line)[3:])

    # GIVEN the default case THEN the units share the imbalance and the OPF serves the losses
    default = bulk_args()
    assert not default.slack_only and not default.no_loss_compensation
    # GIVEN TESP's behaviour asked for THEN the federate gets both switches
    tesp = bulk_args(slack_sharing=False, loss_compensation=False)
    assert tesp.slack_only and tesp.no_loss_compensation
    with pytest.raises(UserError, match="slack_sharing"):
        build_case(describe(slack_sharing="sometimes"), tmp_path / "bad")
