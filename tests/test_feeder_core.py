"""Feeder federate config binding (TESP <root>_gridlabd.json) and the feeder section's HELICS JSON."""
import json

import pytest

from vppfed.configs.feeder_glm import FeederSpec, generate_feeder
from vppfed.configs.feeder_helics import FeederHelicsConfig
from vppfed.federates.feeder.core import _convert_out, load_gridlabd_config, normalize_key


def test_tesp_config_with_info_dicts_and_hash_keys_is_read():
    doc = {"name": "gld_7", "period": 15,
           "publications": [{"global": False, "key": "distribution_load", "type": "complex",
                             "info": {"object": "network_node", "property": "distribution_load"}},
                            {"global": False, "key": "F1_house_B0#air_temperature", "type": "double",
                             "info": "{\"object\": \"F1_house_B0\", \"property\": \"air_temperature\"}"}],
           "subscriptions": [{"key": "pypower/three_phase_voltage_7", "type": "complex",
                              "info": {"object": "network_node", "property": "positive_sequence_voltage"}},
                             {"key": "sub_7/F1_house_B0#cooling_setpoint", "type": "double"}]}
    cfg = load_gridlabd_config(doc)
    assert cfg.period == 15 and [p.obj for p in cfg.publications] == ["network_node", "F1_house_B0"]
    sub = cfg.subscriptions[1]
    assert (sub.obj, sub.prop) == ("F1_house_B0", "cooling_setpoint")  # derived from the '#' key
    assert normalize_key(sub.key) == "sub_7/F1_house_B0/cooling_setpoint"


@pytest.mark.parametrize("entry,message", [
    ({"key": "distribution_load", "type": "complex"}, "does not name them"),
    ({"key": "a/b", "type": "quaternion"}, "unknown type"),
    ({"type": "double"}, "missing 'key'"),
    ({"key": "x", "info": {"object": "n"}}, "needs both"),
])
def test_bad_entries_name_the_file_and_entry(tmp_path, entry, message):
    path = tmp_path / "x_gridlabd.json"
    path.write_text(json.dumps({"name": "g", "publications": [entry]}))
    with pytest.raises(ValueError, match=rf"x_gridlabd.json: publications\[0\]: .*{message}"):
        load_gridlabd_config(path)


def test_values_are_published_in_gridlabd_units_and_types():
    assert _convert_out("+1.5 kW", "double") == 1.5
    assert _convert_out("+120-120d V", "complex") == pytest.approx(complex(-60, -103.9230485))
    assert _convert_out("ON", "string") == "ON"
    assert _convert_out("+3+4j VA", "double") == 5.0  # complex as double: magnitude (HELICS rule)


def test_te30_interface_uses_separator_and_refuses_two_writers():
    inv = generate_feeder(FeederSpec(houses=3)).inventory
    cfg = FeederHelicsConfig("gld_7", 15, separator="#")
    cfg.add_te30_defaults(inv, "pypower", 7, weather_federate="localWeather")
    keys = [p["key"] for p in cfg.publications]
    assert keys[0] == "distribution_load" and "F1_house_B2#hvac_load" in keys and "F1_tpm_B1#measured_voltage_1" in keys
    assert len(keys) == 1 + 3 * 3 + 3
    targets = [s["key"] for s in cfg.subscriptions]
    assert targets[0] == "pypower/three_phase_voltage_7" and "localWeather/#solar_direct" in targets
    with pytest.raises(ValueError, match="already written"):
        cfg.subscribe("vpp_7/v", "network_node", "positive_sequence_voltage")
    doc = cfg.document()
    assert doc["terminate_on_error"] is True and doc["log_level"] == "warning"


def test_core_modules_do_not_import_helics():
    import subprocess
    import sys

    code = ("import sys; import vppfed.federates.feeder.core, vppfed.federates.feeder.session, "
            "vppfed.federates.feeder.gld_metrics, vppfed.federates.feeder.discover, vppfed.configs.sections.feeder; "
            "assert 'helics' not in sys.modules, 'helics imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
