"""The feeder: section builder: files, HELICS JSON with requested extras, exec line, errors naming the field."""
import json
import shlex

import pytest

from vppfed.configs.case import build_case
from vppfed.errors import UserError


def _case(tmp_path, feeder, separator="/", with_bulk=True):
    raw = {"case": {"name": "ft", "root": "FTR", "hours": 2, "seed": 1, "separator": separator}, "feeder": feeder}
    if with_bulk:
        raw["bulk"] = {"bus": 7}
    return build_case(raw, tmp_path / "out")


def test_section_writes_model_dicts_weather_and_tesp_config(tmp_path):
    built = _case(tmp_path, {"houses": 5, "water_heater_fraction": 0.4}, separator="#")
    out = built.directory
    for name in ("FTR.glm", "FTR_glm_dict.json", "FTR_inventory.json", "weather.dat", "FTR_gridlabd.json"):
        assert (out / name).is_file(), name
    cfg = json.loads((out / "FTR_gridlabd.json").read_text())
    assert cfg["name"] == "gld_7" and cfg["period"] == 15
    keys = [p["key"] for p in cfg["publications"]]
    assert keys[0] == "distribution_load" and "F1_house_B4#air_temperature" in keys
    assert {"key": "pypower/three_phase_voltage_7", "type": "complex",
            "info": {"object": "network_node", "property": "positive_sequence_voltage"}} in cfg["subscriptions"]
    args = shlex.split(next(f for f in built.federates if f.name == "gld_7").exec)
    assert args[:3] == ["python", "-m", "vppfed.federates.feeder"]
    for flag, value in (("--config", "FTR_gridlabd.json"), ("--glm", "FTR.glm"), ("--metrics-root", "FTR"),
                        ("--hours", "2"), ("--weather", "weather.dat")):
        assert args[args.index(flag) + 1] == value
    assert "interval 15;" in (out / "FTR.glm").read_text()


def test_same_case_gives_same_model_bytes(tmp_path):
    a = _case(tmp_path / "a", {"houses": 4, "ev_fraction": 0.5}).directory
    b = _case(tmp_path / "b", {"houses": 4, "ev_fraction": 0.5}).directory
    for name in ("FTR.glm", "FTR_glm_dict.json", "weather.dat", "FTR_gridlabd.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_handle_takes_extra_publications_and_subscriptions_before_the_json_is_written(tmp_path):
    from vppfed.configs.case import CaseContext, CaseSettings
    from vppfed.configs.sections import feeder

    settings = CaseSettings(name="x", hours=1)
    settings.validate()
    ctx = CaseContext(settings, {"feeder": {}}, tmp_path, "case.yaml")
    feeder.build(ctx, {"houses": 3, "battery_fraction": 1.0})
    handle = ctx.handles["feeder"]
    bat = handle.inventory.batteries[0]
    ibat = handle.inventory.battery_inverters[0]
    assert handle.publish(bat, "state_of_charge") == f"gld_7/{bat}/state_of_charge"
    assert handle.publish("network_node", "distribution_load", "complex") == "gld_7/distribution_load"
    handle.subscribe(f"vpp_7/{ibat}/p_out", ibat, "P_Out")
    with pytest.raises(UserError, match="already written"):
        handle.subscribe("other_7/x", ibat, "P_Out")
    ctx.finalize()
    cfg = json.loads((tmp_path / "x_gridlabd.json").read_text())
    assert any(p["key"] == f"{bat}/state_of_charge" for p in cfg["publications"])
    assert [s["key"] for s in cfg["subscriptions"]] == [f"vpp_7/{ibat}/p_out"]  # no bulk section: no voltage sub


@pytest.mark.parametrize("feeder,message", [
    ({"houses": 0}, "case.yaml: feeder.houses: must be at least 1"),
    ({"spec": {"seed": 3}}, "case.yaml: feeder.spec.seed: set in the case: section"),
    ({"spec": {"colour": "red"}}, "case.yaml: feeder.spec.colour: unknown field"),
    ({"weather": "tmy"}, "case.yaml: feeder.weather: must be one of"),
    ({"weather_spec": {"clearness": 3}}, "case.yaml: feeder.weather_spec.clearness: must be within"),
])
def test_bad_feeder_section_is_one_line_naming_the_field(tmp_path, feeder, message):
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        build_case({"case": {"name": "ft"}, "feeder": feeder}, tmp_path / "o", source="case.yaml")
    assert not (tmp_path / "o").exists()
