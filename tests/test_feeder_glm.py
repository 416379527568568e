"""Feeder generator: determinism, object counts, TESP glm_dict, validation messages."""
import json
import re

import pytest

from vppfed.configs.feeder_glm import FeederSpec, generate_feeder, write_feeder
from vppfed.io import parse_dataclass
from vppfed.errors import UserError


def _count(glm: str, cls: str) -> int:
    return len(re.findall(rf"^\s*object {cls} {{", glm, flags=re.MULTILINE))


def test_same_seed_gives_same_bytes_and_another_seed_differs():
    spec = dict(houses=12, battery_fraction=0.25, water_heater_fraction=0.5, ev_fraction=0.25)
    a = generate_feeder(FeederSpec(seed=5, **spec))
    b = generate_feeder(FeederSpec(seed=5, **spec))
    c = generate_feeder(FeederSpec(seed=6, **spec))
    assert a.glm == b.glm and json.dumps(a.glm_dict) == json.dumps(b.glm_dict)
    assert a.glm != c.glm


def test_object_counts_follow_the_spec_fractions():
    # GIVEN 20 houses with PV on 50 %, batteries on 25 %, water heaters on 40 %, EVs on 10 %
    res = generate_feeder(FeederSpec(houses=20, pv_fraction=0.5, battery_fraction=0.25, water_heater_fraction=0.4,
                                     ev_fraction=0.1))
    glm, inv = res.glm, res.inventory
    # THEN the GLM and the inventory agree on every device count
    assert _count(glm, "house") == len(inv.houses) == 20
    assert _count(glm, "triplex_meter") == len(inv.billing_meters) == 20
    assert _count(glm, "solar") == len(inv.solar_panels) == len(inv.pv_inverters) == 10
    assert _count(glm, "battery") == len(inv.batteries) == len(inv.battery_inverters) == 5
    assert _count(glm, "waterheater") == len(inv.water_heaters) == 8
    assert _count(glm, "evcharger_det") == len(inv.ev_chargers) == 2
    assert _count(glm, "inverter") == 15
    assert _count(glm, "substation") == 1 and "bustype SWING" in glm
    assert set(inv.device_house[w] for w in inv.water_heaters) <= set(inv.houses)


def test_heartbeat_recorder_and_options_are_always_written():
    glm = generate_feeder(FeederSpec(houses=2, period_s=15, minimum_timestep_s=60)).glm
    hb = re.search(r"object recorder \{[^}]*\}", glm).group(0)
    assert "parent network_node;" in hb and "property voltage_A;" in hb
    assert "interval 15;" in hb and "file /dev/null;" in hb
    assert "#set minimum_timestep=60" in glm
    assert "tmyfile" not in glm and "object climate" in glm
    glm_no_mts = generate_feeder(FeederSpec(houses=2, minimum_timestep_s=None)).glm
    assert "minimum_timestep" not in glm_no_mts and "object recorder" in glm_no_mts


def test_glm_dict_has_tesp_keys_and_rows(tmp_path):
    res = write_feeder(FeederSpec(houses=4, battery_fraction=0.5), tmp_path, "TE", fed_name="gld_7", bulk_bus=7)
    d = json.loads((tmp_path / "TE_glm_dict.json").read_text())
    assert {"bulkpower_bus", "FedName", "transformer_MVA", "feeders", "billingmeters", "houses", "inverters",
            "capacitors", "regulators"} <= set(d)
    assert d["FedName"] == "gld_7" and d["bulkpower_bus"] == "7"
    house = d["houses"]["F1_house_B0"]
    assert house["billingmeter_id"] == "F1_tpm_B0" and house["cooling"] == "ELECTRIC" and house["heating"] == "GAS"
    assert d["inverters"]["inv_F1_house_B0"]["resource"] == "solar"
    bat = [v for v in d["inverters"].values() if v["resource"] == "battery"]
    assert len(bat) == 2 and bat[0]["bat_capacity"] == 13500.0 and bat[0]["inv_eta"] == 0.97
    assert "inv_F1_house_B0" in d["billingmeters"]["F1_tpm_B0"]["children"]
    assert (tmp_path / "TE.glm").read_text() == res.glm
    assert json.loads((tmp_path / "TE_inventory.json").read_text())["houses"] == res.inventory.houses


@pytest.mark.parametrize("field,value,message", [
    ("houses", 0, "houses: must be at least 1"),
    ("pv_fraction", 1.5, "pv_fraction: must be within [0, 1]"),
    ("timezone", "Mars/Base", "timezone: unknown GridLAB-D zone"),
    ("minimum_timestep_s", 7, "minimum_timestep_s: must divide or be a multiple of the period"),
])
def test_invalid_spec_names_the_field(field, value, message):
    with pytest.raises(UserError, match=re.escape(f"case.yaml: feeder.{message}")):
        parse_dataclass(FeederSpec, {field: value}, "case.yaml: feeder")


_JOBS_BLOCK = re.compile(r"\n  object ZIPload \{\n    name (\S+)_jobs;\n(?:    [^\n]*\n)*?  \};")


def test_job_loads_add_one_zero_constant_power_zipload_per_house_and_nothing_else():
    # GIVEN the same feeder with and without job loads
    spec = dict(houses=7, battery_fraction=0.3, water_heater_fraction=0.5, ev_fraction=0.3, seed=3)
    plain = generate_feeder(FeederSpec(**spec))
    jobs = generate_feeder(FeederSpec(job_loads=True, **spec))
    # THEN every house has one <house>_jobs ZIPload at 0 kW, constant power, no heat into the house ...
    blocks = _JOBS_BLOCK.findall(jobs.glm)
    assert blocks == plain.inventory.houses
    block = _JOBS_BLOCK.search(jobs.glm).group(0)
    for prop in ("base_power 0;", "power_fraction 1;", "impedance_fraction 0;", "current_fraction 0;",
                 "heatgain_fraction 0;", "power_pf 1;"):
        assert prop in block
    # ... and removing those blocks gives the default model byte for byte (same draws, same devices)
    assert _JOBS_BLOCK.sub("", jobs.glm) == plain.glm
    assert jobs.inventory == plain.inventory and jobs.glm_dict == plain.glm_dict
    assert FeederSpec().job_loads is False


@pytest.mark.slow
def test_job_load_written_before_a_step_is_in_the_house_total_load_at_that_step(tmp_path):
    from vppfed.formats.gld_strings import parse_float
    from vppfed.federates.feeder.session import GridlabdSession

    # GIVEN a 2-house feeder with job loads and no plug loads, stepped every 60 s
    spec = FeederSpec(houses=2, job_loads=True, plug_load_kw=(0.0, 0.0), period_s=60, start="2016-04-10 10:00:00",
                      stop="2016-04-10 11:00:00", timezone="MST+7")
    write_feeder(spec, tmp_path, "m")
    house = "F1_house_B1"
    seen = []
    with GridlabdSession(tmp_path / "m.glm") as s:
        for t, kw in ((60, None), (120, 2.5), (180, None), (240, 0.75), (300, 0.0)):
            # WHEN the job power is written before the step to t
            if kw is not None:
                s.set(f"{house}_jobs", "base_power", kw)
            s.step_to(t)
            seen.append(parse_float(s.get(house, "total_load")) - parse_float(s.get(house, "hvac_load")))
    # THEN the house's total load (without its HVAC) is the job power from that step on
    assert seen == pytest.approx([0.0, 2.5, 2.5, 0.75, 0.0], abs=0.02)
