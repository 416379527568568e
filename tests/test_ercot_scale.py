"""Issue 15 item 3: ercot8 beyond 8 buses (generated substation buses) and a three-level HELICS broker hierarchy
(root, region brokers, feeder-group brokers) in the case, the launcher and the cluster scripts."""
from __future__ import annotations

import hashlib
import json
import subprocess

import numpy as np
import pytest

from vppfed.cases import case_yaml
from vppfed.configs.bulk_ercot8 import ZONES, Ercot8Params, build_ercot8_dict, substation_buses, write_ercot8_model
from vppfed.configs.case import build_case
from vppfed.configs.cluster import ClusterOptions, cluster_files, plan_cluster, set_regions
from vppfed.configs.sections.feeders import BusFeeder, FeedersSection, GridTemplate, select_buses
from vppfed.errors import UserError
from vppfed.formats.ppcase import load_pp_case

from ercot_helpers import read, small

ERCOT = case_yaml("ercot8")
#: sha256 of the default 8-bus model's JSON text, taken from the tree before substation buses existed (150d499)
EIGHT_BUS_SHA256 = "9621ac2310b29677196c629742e877b1bafd5e885da4879ecfc67bacfb63343e"


# ------------------------------------------------------------------------------------------------ the grid
def test_without_substations_the_model_is_the_8_bus_one_byte_for_byte():
    text = json.dumps(build_ercot8_dict(Ercot8Params(), "x.csv"), indent=1)
    assert hashlib.sha256(text.encode()).hexdigest() == EIGHT_BUS_SHA256


def test_substations_are_dealt_round_robin_over_the_zone_order():
    subs = substation_buses(24, [2, 3, 4, 5, 1, 8, 6, 7])
    assert list(subs) == list(range(9, 33))
    assert subs[9] == 2 and subs[16] == 7 and subs[17] == 2
    assert all(sum(1 for z in subs.values() if z == zone) == 3 for zone in ZONES)
    with pytest.raises(ValueError, match="zone buses"):
        substation_buses(2, [9])


def test_a_zone_splits_its_load_over_its_buses_and_the_grid_total_is_kept(tmp_path):
    subs = substation_buses(24, list(ZONES))
    p32 = Ercot8Params(feeder_buses=list(ZONES) + sorted(subs), substations=subs)
    case = load_pp_case(write_ercot8_model(p32, tmp_path / "b32"))
    base = load_pp_case(write_ercot8_model(Ercot8Params(), tmp_path / "b8"))
    assert case.bus.shape[0] == 32 and case.branch.shape[0] == 12 + 24 and case.gen.shape[0] == 19
    assert [d.bus for d in case.dso] == list(range(1, 33)) and case.background.mw.shape == (288, 32)
    assert p32.zone_peak_mw(9) == pytest.approx(ZONES[1][1] / 4) and p32.zone_peak_mw(1) == pytest.approx(
        ZONES[1][1] / 4)
    # the same zone loads, only spread: background and feeder scale sums equal the 8-bus model's
    assert case.background.mw.sum() == pytest.approx(base.background.mw.sum(), rel=1e-6)
    for d in case.dso:
        assert d.scale == pytest.approx(p32.feeder_share * p32.zone_peak_mw(d.bus) * 1000 / p32.feeder_peak_kw,
                                        rel=1e-3)


def test_the_32_bus_grid_solves_its_peak_hour(tmp_path):
    from vppfed.federates.bulk.core import BulkGrid

    subs = substation_buses(24, [2, 3, 4, 5, 1, 8, 6, 7])
    p = Ercot8Params(feeder_buses=list(ZONES) + sorted(subs), substations=subs)
    grid = BulkGrid(load_pp_case(write_ercot8_model(p, tmp_path)))
    for bus in p.feeder_buses:
        grid.set_feeder_load(bus, complex(60e3, 20e3))
    grid.step(16 * 3600 - 15.0)
    assert grid.converged and np.all(np.abs(grid.v) > 0.9)
    assert 20.0 < grid.lmp.min() and grid.lmp.max() < 200.0


def test_bad_substations_are_refused():
    with pytest.raises(ValueError, match="substations: bus 5"):
        Ercot8Params(substations={5: 2}).validate()
    with pytest.raises(ValueError, match="feeder_buses: unknown bus"):
        Ercot8Params(feeder_buses=[9]).validate()


# ------------------------------------------------------------------------------------------------ the case
def test_buses_16_generates_substation_feeders_that_inherit_their_zone(tmp_path):
    built = build_case(ERCOT, tmp_path / "c", small(**{"bulk.buses": 16}))
    names = [f.name for f in built.federates]
    assert names[:8] == [f"gld_{b}" for b in (2, 3, 4, 5, 1, 8, 6, 7)]
    assert names[8:16] == [f"gld_{b}" for b in range(9, 17)] and names[-1] == "pypower"
    pp = read(built.directory / "ercot8_pp.json")
    assert len(pp["bus"]) == 16 and ["9", "DFW-9"] == [str(pp["zones"][8][0]), pp["zones"][8][1]]
    # bus 9 hangs from bus 2 (DFW, region SPS, load factor 1.05): same weather file as bus 2
    assert (built.directory / "Bus9" / "weather.dat").read_bytes() == (
        built.directory / "Bus2" / "weather.dat").read_bytes()
    pypower = read(built.directory / "ercot8_pypower.json")
    assert f"gld_16/distribution_load" in [s["key"] for s in pypower["subscriptions"]]


def test_more_buses_than_listed_is_refused_for_another_grid():
    sec = FeedersSection(buses=[BusFeeder(bus=2), BusFeeder(bus=3)])
    with pytest.raises(UserError, match="bulk.buses: 3 buses asked, feeders.buses lists 2"):
        select_buses(sec, GridTemplate(model="grid_pp.json", buses=3), "case.yaml: feeders")


def test_region_brokers_put_the_groups_under_a_third_level(tmp_path):
    built = build_case(ERCOT, tmp_path / "c", small(**{"bulk.buses": 16, "feeders.sub_brokers": 4,
                                                       "feeders.region_brokers": 2}))
    runner = read(built.runner)
    assert runner["vppfed"]["broker_parents"] == {"subbroker1": "region1", "subbroker2": "region1",
                                                  "subbroker3": "region2", "subbroker4": "region2"}
    assert "pypower" not in runner["vppfed"]["brokers"]
    plan = read(built.directory / "cluster_plan.json")
    parents = {b["name"]: b["parent"] for h in plan["hosts"] for b in h["brokers"]}
    assert parents["region1"] == "root" and parents["subbroker3"] == "region2"
    two = build_case(ERCOT, tmp_path / "d", small(**{"bulk.buses": 4}))
    assert "broker_parents" not in read(two.runner)["vppfed"]
    with pytest.raises(UserError, match="region_brokers"):
        build_case(ERCOT, tmp_path / "e", small(**{"feeders.sub_brokers": 0, "feeders.region_brokers": 2}))


# --------------------------------------------------------------------------------------------- the launcher
def test_launcher_refuses_a_broker_that_is_its_own_ancestor(tmp_path):
    from vppfed.launcher import broker_parents

    runner = {"vppfed": {"broker_parents": {"a": "b", "b": "a"}}}
    with pytest.raises(UserError, match="own ancestor"):
        broker_parents(runner, {}, tmp_path / "runner.json")
    with pytest.raises(UserError, match="broker_parents"):
        broker_parents({"vppfed": {"broker_parents": ["a"]}}, {}, tmp_path / "runner.json")
    assert broker_parents({"vppfed": {}}, {}, tmp_path / "runner.json") == {}


# ---------------------------------------------------------------------------------------------- the cluster
def _runner(groups: dict[str, list[str]], root: list[str], parents: dict[str, str] | None = None) -> dict:
    feds = [{"name": n, "directory": ".", "exec": f"python -m x --name {n}", "env": {}}
            for n in root + [m for members in groups.values() for m in members]]
    doc = {"name": "demo", "federates": feds,
           "vppfed": {"brokers": {m: g for g, members in groups.items() for m in members}}}
    if parents:
        doc["vppfed"]["broker_parents"] = parents
    return doc


def test_cluster_plan_of_three_levels_counts_each_subtree():
    runner = _runner({"g1": ["a", "b"], "g2": ["c"], "g3": ["d", "e"], "g4": ["f"]}, ["bulk"],
                     {"g1": "r1", "g2": "r1", "g3": "r2", "g4": "r2"})
    plan = plan_cluster(runner, ClusterOptions(hosts=2))
    assert plan.levels == 3
    r1, r2 = plan.broker("r1"), plan.broker("r2")
    assert (r1.parent, r1.federation_size, r2.federation_size) == ("root", 3, 3)
    assert plan.broker("g1").parent == "r1" and plan.broker_of["a"].name == "g1"
    ports = {(b.host, b.port) for h in plan.hosts for b in h.brokers}
    assert len(ports) == sum(len(h.brokers) for h in plan.hosts)  # no two brokers of a host share a port
    assert plan_cluster(_runner({"g1": ["a"]}, ["bulk"])).levels == 2


def test_three_level_host_script_starts_parents_first_and_is_valid_bash(tmp_path):
    runner = _runner({"g1": ["a"], "g2": ["b"], "g3": ["c"]}, ["bulk"], {"g1": "r1", "g2": "r1", "g3": "r1"})
    files = cluster_files(runner, ClusterOptions(hosts=3))
    script = files["host_start.sh"]
    for name in ("host_start.sh", "launch.slurm"):
        path = tmp_path / name
        path.write_text(files[name])
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert "VPPFED_HOST_ADDRS" in files["launch.slurm"] and "host_addr()" in script
    region_host = plan_cluster(runner, ClusterOptions(hosts=3)).broker("r1").host
    block = script.split(f"  {region_host})\n", 1)[1].split(";;", 1)[0]
    assert block.index("start_broker r1") < block.index("wait_for ")
    # a two-level case keeps its script (no host_addr)
    assert "host_addr" not in cluster_files(_runner({"g1": ["a"]}, ["bulk"]))["host_start.sh"]


def test_bad_region_input_is_a_user_error():
    with pytest.raises(UserError, match="broker_parents"):
        plan_cluster(_runner({"g1": ["a"]}, [], {"ghost": "r1"}))
    with pytest.raises(UserError, match="broker_parents"):
        plan_cluster(_runner({"g1": ["a"], "g2": ["b"]}, [], {"g1": "g2"}))


def test_set_regions_and_the_cluster_command(tmp_path, capsys):
    from vppfed.cli import main

    runner = _runner({"g1": ["a"], "g2": ["b"], "g3": ["c"], "g4": ["d"]}, ["bulk"])
    assert set_regions(runner, 2) == {"g1": "region1", "g2": "region1", "g3": "region2", "g4": "region2"}
    assert set_regions(runner, 0) == {} and "broker_parents" not in runner["vppfed"]
    with pytest.raises(UserError, match="no sub-broker groups"):
        set_regions(_runner({}, ["bulk"]), 2)
    built = build_case(ERCOT, tmp_path / "c", small(**{"bulk.buses": 4, "feeders.sub_brokers": 4}))
    assert main(["cluster", str(built.directory), "--regions", "2"]) == 0
    assert "under region" in capsys.readouterr().out
    assert read(built.runner)["vppfed"]["broker_parents"]["subbroker4"] == "region2"


# ------------------------------------------------------------------------------------------ a real 32-feeder run
@pytest.mark.slow
def test_32_feeders_run_under_root_region_and_group_brokers(tmp_path):
    # GIVEN ercot8 with 32 buses (8 zone buses + 24 generated substations), 10 houses each, 8 feeder-group brokers
    # under 2 region brokers WHEN run 1 simulated hour through the launcher THEN every federate finishes, the 11
    # brokers ran in three levels, and the grid has metrics for all 32 buses
    from vppfed.formats.metrics import read_metrics
    from vppfed.launcher import Launcher

    built = build_case(ERCOT, tmp_path / "run", {"case.hours": 1, "feeder.houses": 10, "bulk.buses": 32,
                                                 "feeders.sub_brokers": 8, "feeders.region_brokers": 2})
    launcher = Launcher(built.runner, timeout=1800)
    summary = launcher.run()
    assert summary.ok and summary.simulated_seconds == pytest.approx(3600.0)
    assert len(summary.federates) == 33
    assert sorted(r.name for r in launcher.sub_brokers) == sorted(
        ["region1", "region2"] + [f"subbroker{i}" for i in range(1, 9)])
    bus = read_metrics(built.directory / "bus_ercot8_metrics.json")
    assert sorted(int(u) for u in bus.uids) == list(range(1, 33))
    lmp = bus.column("LMP_P")
    assert (lmp > 0).all() and (lmp < 1).all()
