"""Bad battery input gets one clear error naming the field."""
from __future__ import annotations

import pytest

from vppfed.io import parse_dataclass
from vppfed.errors import UserError
from vppfed.federates.battery.config import BatteryConfig

GOOD = dict(capacity_ah=28.125, nominal_voltage_v=480.0, max_charge_w=5000.0, max_discharge_w=5000.0)


def test_good_config_parses_with_defaults():
    cfg = parse_dataclass(BatteryConfig, {**GOOD, "ocv_table": [[0, 420], [1, 480]]}, "case.yaml: battery")
    # the defaults the cases use (issue 17: the section takes them from here)
    assert cfg.policy == "threshold" and cfg.coulombic_efficiency == 1.0 and cfg.idle_rest_s == 3600.0
    assert cfg.reconcile_warn == 0.1 and cfg.degradation_cost == 0.0015
    assert cfg.fingerprint() == parse_dataclass(BatteryConfig, {**GOOD, "ocv_table": [[0, 420], [1, 480]]},
                                                "x").fingerprint()


@pytest.mark.parametrize("change,field,words", [
    ({"capacity_ah": 0}, "capacity_ah", "must be > 0"),
    ({"coulombic_efficiency": -0.9}, "coulombic_efficiency", "(0, 1]"),
    ({"coulombic_efficiency": 1.2}, "coulombic_efficiency", "(0, 1]"),
    ({"soc_low": 0.95, "soc_high": 0.9}, "soc_low", "below soc_high"),
    ({"v_empty": 60.0, "v_full": 54.0}, "v_empty", "below v_full"),
    ({"charge_below_w": 5000.0, "discharge_above_w": 4000.0}, "charge_below_w", "must not exceed"),
    ({"ocv_table": [[0.5, 48.0], [0.2, 46.0]]}, "ocv_table", "strictly increasing"),
    ({"ocv_table": [[0.2, 48.0], [0.5, 46.0]]}, "ocv_table", "must not decrease"),
    ({"charge_window_h": [1.0]}, "charge_window_h", "start_hour"),
    ({"policy": "market"}, "price_forecast", "24 hourly prices"),
    ({"policy": "magic"}, "policy", "must be one of"),
    ({"capacity": 10}, "capacity", "unknown field"),
    ({"soc_hysteresis": 0.9}, "soc_hysteresis", "soc_high - soc_low"),
])
def test_bad_values_name_the_field(change, field, words):
    with pytest.raises(UserError) as info:
        parse_dataclass(BatteryConfig, {**GOOD, **change}, "case.yaml: battery")
    message = str(info.value)
    assert message.startswith(f"case.yaml: battery.{field}:"), message
    assert words in message


def test_missing_required_field_is_named():
    raw = dict(GOOD)
    del raw["nominal_voltage_v"]
    with pytest.raises(UserError, match=r"battery\.nominal_voltage_v: required field is missing"):
        parse_dataclass(BatteryConfig, raw, "case.yaml: battery")
