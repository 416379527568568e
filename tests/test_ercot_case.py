"""The ERCOT-style multi-feeder case: one feeder per bus, per-bus agents, the bulk grid over all buses, and a real run
with a root broker and two sub-brokers through the launcher."""
from __future__ import annotations

import pytest

from vppfed.cases import case_yaml
from vppfed.configs.bulk_ercot8 import ZONES
from vppfed.configs.case import build_case
from vppfed.io import load_yaml
from vppfed.errors import UserError
from vppfed.formats.ppcase import load_pp_case

from ercot_helpers import read, small

ERCOT = case_yaml("ercot8")


def test_buses_option_keeps_the_first_buses_each_with_its_feeder_folder(tmp_path):
    # GIVEN the ercot8 case WHEN built with --buses 3 --houses-per-feeder 3 THEN gld_2, gld_3, gld_4 and pypower
    built = build_case(ERCOT, tmp_path / "c", small(**{"bulk.buses": 3}))
    names = [f.name for f in built.federates]
    assert names == ["gld_2", "gld_3", "gld_4", "pypower"]
    for bus in (2, 3, 4):
        entry = next(f for f in built.federates if f.name == f"gld_{bus}")
        assert entry.directory == f"Bus{bus}"
        inventory = read(built.directory / f"Bus{bus}" / f"Bus{bus}_inventory.json")
        assert len(inventory["houses"]) == 3
        gld = read(built.directory / f"Bus{bus}" / f"Bus{bus}_gridlabd.json")
        targets = [s["key"] for s in gld["subscriptions"]]
        assert f"pypower/three_phase_voltage_{bus}" in targets
        glm = (built.directory / f"Bus{bus}" / f"Bus{bus}.glm").read_text()
        assert "nominal_voltage 199185.84;" in glm  # the substation sits on the 345 kV bus (line-to-neutral V)
    pypower = read(built.directory / "ercot8_pypower.json")
    assert [s["key"] for s in pypower["subscriptions"]] == [f"gld_{b}/distribution_load" for b in (2, 3, 4)]
    assert {p["key"] for p in pypower["publications"]} == {f"{k}_{b}" for b in (2, 3, 4)
                                                           for k in ("three_phase_voltage", "LMP")}
    case = load_pp_case(built.directory / "ercot8_pp.json")
    assert [d.bus for d in case.dso] == [2, 3, 4]


def test_each_feeder_is_scaled_to_its_bus_load_with_its_own_load_factor(tmp_path):
    built = build_case(ERCOT, tmp_path / "c", small(**{"bulk.buses": 2}))
    raw = load_yaml(ERCOT)
    per_kw = {b["bus"]: b.get("peak_kw_per_house", raw["feeders"]["peak_kw_per_house"]) for b in raw["feeders"]["buses"]}
    share = raw["bulk"]["feeder_share"]
    factor = {b["bus"]: b["load_factor"] for b in raw["feeders"]["buses"]}
    case = load_pp_case(built.directory / "ercot8_pp.json")
    for d in case.dso:
        zone_peak = ZONES[d.bus][1] * factor[d.bus]
        assert d.scale == pytest.approx(share * zone_peak * 1000 / (per_kw[d.bus] * 3), rel=1e-4)
    assert case.dso[0].scale != case.dso[1].scale


def test_weather_is_shared_within_a_region_and_differs_between_regions(tmp_path):
    # buses 2 and 1 are SPS, 3 is IAH in the case YAML
    built = build_case(ERCOT, tmp_path / "c", small(**{"bulk.buses": [2, 3, 1]}))
    w = {b: (built.directory / f"Bus{b}" / "weather.dat").read_bytes() for b in (1, 2, 3)}
    assert w[1] == w[2] and w[2] != w[3]


def test_market_switch_per_bus_and_for_all_buses(tmp_path):
    # GIVEN a market only at bus 3 WHEN built THEN sub_3 sits in Bus3 under the feeder's sub-broker and the bulk
    # grid subscribes its curve; bus 2 has none
    raw = load_yaml(ERCOT)
    raw["feeders"]["buses"][1]["market"] = True  # bus 3
    built = build_case(raw, tmp_path / "one", small(**{"bulk.buses": 2}), source="ercot8.yaml")
    names = [f.name for f in built.federates]
    assert "sub_3" in names and "sub_2" not in names
    sub = built.federates[names.index("sub_3")]
    assert sub.directory == "Bus3" and sub.broker == built.federates[names.index("gld_3")].broker
    market_cfg = read(built.directory / "Bus3" / "Bus3_sub_3.json")
    assert {"key": "pypower/LMP_3", "type": "double"} in market_cfg["subscriptions"]
    assert (built.directory / "Bus3" / "Bus3_agent_dict.json").exists()
    pypower = read(built.directory / "ercot8_pypower.json")
    assert "sub_3/responsive_c1" in [s["key"] for s in pypower["subscriptions"]]
    # --market: market.enabled switches every bus on
    every = build_case(ERCOT, tmp_path / "all", small(**{"bulk.buses": 2, "market.enabled": True}))
    assert {"sub_2", "sub_3"} <= {f.name for f in every.federates}


def test_feeder_and_agents_share_a_sub_broker_and_the_grid_is_on_the_root(tmp_path):
    built = build_case(ERCOT, tmp_path / "c", small(**{"bulk.buses": 4, "market.enabled": True}))
    brokers = read(built.runner)["vppfed"]["brokers"]
    assert "pypower" not in brokers
    assert brokers["gld_2"] == brokers["sub_2"] == brokers["gld_3"] == "subbroker1"
    assert brokers["gld_4"] == brokers["sub_5"] == "subbroker2"
    plan = read(built.directory / "cluster_plan.json")
    assert len(plan["hosts"]) == 2
    for host in range(2):
        runner = read(built.directory / f"runner_host{host}.json")
        assert all(f["directory"] in (".", "Bus2", "Bus3", "Bus4", "Bus5") for f in runner["federates"])


def test_same_seed_gives_the_same_bytes(tmp_path):
    a = build_case(ERCOT, tmp_path / "a", small(**{"bulk.buses": 2}))
    b = build_case(ERCOT, tmp_path / "b", small(**{"bulk.buses": 2}))
    files = sorted(p.relative_to(a.directory) for p in a.directory.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b.directory) for p in b.directory.rglob("*") if p.is_file())
    for rel in files:
        assert (a.directory / rel).read_bytes() == (b.directory / rel).read_bytes(), rel
    c = build_case(ERCOT, tmp_path / "c", small(**{"bulk.buses": 2, "case.seed": 1}))
    assert (c.directory / "Bus2" / "Bus2.glm").read_bytes() != (a.directory / "Bus2" / "Bus2.glm").read_bytes()


@pytest.mark.parametrize("overrides, message", [
    ({"bulk.buses": 0}, "bulk.buses: must be >= 1"),  # more than listed: tests/test_ercot_scale.py
    ({"bulk.buses": [2, 42]}, "bus 42 is not in feeders.buses"),
    ({"feeders.sub_brokers": -1}, "feeders.sub_brokers: must be >= 0"),
    ({"feeder.bus": 3}, "feeder.bus: set per bus"),
    ({"bulk.model": "te30"}, "te30"),
])
def test_bad_input_names_the_field(tmp_path, overrides, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        build_case(ERCOT, tmp_path / "c", small(**overrides))


def test_per_bus_house_count_is_refused(tmp_path):
    raw = load_yaml(ERCOT)
    raw["feeders"]["buses"][0]["feeder"] = {"houses": 50}
    with pytest.raises(UserError, match=r"feeders\.buses\[0\]\.feeder\.houses"):
        build_case(raw, tmp_path / "c", small(), source="ercot8.yaml")


@pytest.mark.slow
def test_case_runs_with_a_root_and_two_sub_brokers(tmp_path):
    # GIVEN 2 buses (a market at the second) under 2 sub-brokers WHEN run 1 h through the launcher THEN every
    # federate finishes, both sub-brokers ran under the root, and every bus has its metrics in its folder
    from vppfed.launcher import Launcher

    raw = load_yaml(ERCOT)
    raw["feeders"]["buses"][1]["market"] = True
    built = build_case(raw, tmp_path / "run", small(**{"bulk.buses": 2}), source="ercot8.yaml")
    launcher = Launcher(built.runner, timeout=300)
    summary = launcher.run()
    assert summary.ok and summary.simulated_seconds == pytest.approx(3600.0)
    assert [r.name for r in launcher.sub_brokers] == ["subbroker1", "subbroker2"]
    assert {f["name"] for f in summary.federates} == {"gld_2", "gld_3", "sub_3", "pypower"}
    from vppfed.formats.metrics import read_metrics

    bus = read_metrics(built.directory / "bus_ercot8_metrics.json")
    assert bus.uids == ["2", "3"] and len(bus.times) == 13
    lmp = bus.column("LMP_P")
    assert (lmp > 0).all() and (lmp < 1).all()  # $/kWh
    for b in (2, 3):
        sub = read_metrics(built.directory / f"Bus{b}" / f"substation_Bus{b}_metrics.json")
        assert (sub.column("real_power_avg") > 0).all()
    auction = read_metrics(built.directory / "Bus3" / "auction_Bus3_metrics.json")
    assert len(auction.times) >= 11


def test_battery_switch_adds_a_manager_beside_its_feeder(tmp_path):
    raw = load_yaml(ERCOT)
    raw["feeders"]["buses"][1]["battery"] = True  # bus 3
    raw["battery"] = {"policy": "threshold", "charge_below_kw": 10, "discharge_above_kw": 30}
    built = build_case(raw, tmp_path / "c", small(**{"bulk.buses": 2, "feeder.battery_fraction": 0.4}),
                       source="ercot8.yaml")
    entry = next(f for f in built.federates if f.name == "battery_3")
    assert entry.directory == "Bus3" and entry.broker == next(f for f in built.federates if f.name == "gld_3").broker
    assert "battery_2" not in {f.name for f in built.federates}
    gld = read(built.directory / "Bus3" / "Bus3_gridlabd.json")
    assert any(s["key"].startswith("battery_3/") for s in gld["subscriptions"])
    del raw["battery"]
    with pytest.raises(UserError, match="add a battery: section"):
        build_case(raw, tmp_path / "d", small(**{"bulk.buses": 2, "feeder.battery_fraction": 0.4}),
                   source="ercot8.yaml")
