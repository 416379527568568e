"""Agent dictionary generator: TESP layout, TESP's numbers with its RNG, reproducible bytes with ours."""
from __future__ import annotations

import json

import pytest

from vppfed.federates.market.agent_dict import (AgentDictOptions, HouseInfo, build_agent_dict,
                                                houses_from_glm_dict, market_config_from_agent_dict,
                                                write_agent_dict)
from vppfed.federates.market.hvac import CONTROLLER_KEYS, RampParams

HOUSES = [HouseInfo(f"F1_house_B{i}", f"F1_tpm_rt_B{i}") for i in range(30)]

# TESP TE30's first controller (tesp-contract.md section 5, prep_substation with np.random.seed(0))
TESP_F1_HOUSE_B0 = {"wakeup_start": 6.073, "daylight_start": 8.603, "evening_start": 17.817, "night_start": 22.635,
                    "wakeup_set": 79.292, "daylight_set": 84.875, "evening_set": 79.784, "night_set": 73.927,
                    "weekend_day_start": 8.383, "weekend_day_set": 82.334, "weekend_night_start": 23.058,
                    "weekend_night_set": 73.136, "deadband": 2.926, "offset_limit": 2.142, "ramp": 0.7178,
                    "price_cap": 1.04, "bid_delay": 45.0, "control_mode": "CN_RAMP", "period": 300}


def test_tesp_compatible_seed_0_reproduces_tesps_first_te30_controller():
    d = build_agent_dict(HOUSES, AgentDictOptions(seed=0, tesp_compatible=True))
    row = d["controllers"]["F1_house_B0"]
    for key, value in TESP_F1_HOUSE_B0.items():
        assert row[key] == value, key
    assert list(row) == list(CONTROLLER_KEYS)
    assert row["meterName"] == "F1_tpm_rt_B0"


def test_layout_has_tesp_sections_and_market_row():
    d = build_agent_dict(HOUSES[:2])
    assert set(d) == {"markets", "controllers", "dt", "GridLABD"}
    market = d["markets"]["Market_1"]
    assert (market["pricecap"], market["init_price"], market["init_stdev"]) == (3.78, 0.02078, 0.01)
    assert market["max_capacity_reference_bid_quantity"] == 5000.0
    cfg = market_config_from_agent_dict(d)
    assert (cfg.name, cfg.period, cfg.pricecap) == ("Market_1", 300.0, 3.78)


def test_same_seed_same_bytes_other_seed_other_draws(tmp_path):
    a = write_agent_dict(tmp_path / "a.json", build_agent_dict(HOUSES, AgentDictOptions(seed=5)))
    b = write_agent_dict(tmp_path / "b.json", build_agent_dict(HOUSES, AgentDictOptions(seed=5)))
    c = build_agent_dict(HOUSES, AgentDictOptions(seed=6))
    assert a.read_bytes() == b.read_bytes()
    assert json.loads(a.read_text())["controllers"] != c["controllers"]


def test_drawn_parameters_stay_in_their_ranges_and_rows_load_as_controllers():
    d = build_agent_dict(HOUSES, AgentDictOptions(seed=3))
    for name, row in d["controllers"].items():
        assert 0.5 <= row["ramp"] <= 3.0 and 2.0 <= row["offset_limit"] <= 4.0
        assert 72.0 <= row["night_set"] <= 74.0 and 84.0 <= row["daylight_set"] <= 86.0
        params = RampParams.from_agent_dict(name, row)
        assert params.to_agent_dict() == row


def test_partial_participation_leaves_schedule_only_controllers():
    d = build_agent_dict(HOUSES, AgentDictOptions(seed=1, participation=0.5))
    modes = [row["control_mode"] for row in d["controllers"].values()]
    assert 0 < modes.count("CN_NONE") < len(modes)


def test_tesp_1_3_6_controller_names_and_glm_dict_houses():
    glm = {"houses": {"A": {"cooling": "ELECTRIC", "billingmeter_id": "mA"}, "B": {"cooling": "NONE"}}}
    houses = houses_from_glm_dict(glm)
    assert houses == [HouseInfo("A", "mA", "")]
    d = build_agent_dict(houses, AgentDictOptions(controller_suffix="_hvac"))
    assert list(d["controllers"]) == ["A_hvac"]


def test_missing_key_in_a_controller_row_is_named():
    with pytest.raises(ValueError, match="ramp"):
        RampParams.from_agent_dict("x", {k: 1 for k in CONTROLLER_KEYS if k != "ramp"})
