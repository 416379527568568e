"""Placement of a case over hosts and the files that start it: runners per host, host script, SLURM script."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from vppfed.configs.cluster import ClusterOptions, cluster_files, plan_cluster
from vppfed.errors import UserError


def runner_with_groups(groups: dict[str, list[str]], root: list[str]) -> dict:
    feds = [{"name": n, "directory": ".", "exec": f"python -m x --name {n}", "env": {"A": "1"}}
            for n in root + [m for members in groups.values() for m in members]]
    return {"name": "demo", "federates": feds,
            "vppfed": {"brokers": {m: g for g, members in groups.items() for m in members}}}


def test_a_group_stays_whole_and_hosts_are_balanced_by_weight():
    # GIVEN four groups of unequal weight and a root federate WHEN placed on 2 hosts THEN no group is split and
    # the heaviest groups land on different hosts (longest-processing-time rule)
    runner = runner_with_groups({"g1": ["a1", "a2"], "g2": ["b1"], "g3": ["c1"], "g4": ["d1", "d2"]}, ["bulk"])
    weights = {"a1": 10, "a2": 10, "b1": 5, "c1": 5, "d1": 8, "d2": 8}
    plan = plan_cluster(runner, ClusterOptions(hosts=2), weights)
    assert len(plan.hosts) == 2
    where = {n: h.index for h in plan.hosts for n in (f["name"] for f in h.federates)}
    assert where["a1"] == where["a2"] and where["d1"] == where["d2"]
    assert where["a1"] != where["d1"]
    assert where["bulk"] == 0 and plan.broker_of["bulk"].name == "root"
    loads = sorted(h.load for h in plan.hosts)
    assert loads == [22.0, 25.0]  # 47 in whole groups: g1 20 + g3 5 | bulk 1 + g4 16 + g2 5
    assert plan.root.federation_size == 7
    assert {b.federation_size for h in plan.hosts for b in h.brokers if b.parent} == {2, 1}


def test_host_count_defaults_to_one_per_group_and_is_capped():
    runner = runner_with_groups({"g1": ["a"], "g2": ["b"]}, ["bulk"])
    assert len(plan_cluster(runner, ClusterOptions()).hosts) == 2
    assert len(plan_cluster(runner, ClusterOptions(hosts=3)).hosts) == 3     # the root's federate alone on host 0
    assert len(plan_cluster(runner, ClusterOptions(hosts=9)).hosts) == 3
    flat = runner_with_groups({}, ["a", "b"])
    assert len(plan_cluster(flat, ClusterOptions(hosts=4)).hosts) == 1


def test_sub_brokers_on_one_host_get_distinct_ports():
    runner = runner_with_groups({"g1": ["a"], "g2": ["b"], "g3": ["c"]}, [])
    plan = plan_cluster(runner, ClusterOptions(hosts=1, root_port=23500, sub_port=23502))
    ports = [b.port for b in plan.hosts[0].brokers]
    assert ports[0] == 23500 and len(set(ports)) == 4 and all(abs(p - 23500) >= 2 for p in ports[1:])


def test_host_runner_points_each_federate_at_its_own_broker():
    runner = runner_with_groups({"g1": ["a"]}, ["bulk"])
    files = cluster_files(runner, ClusterOptions(hosts=2, core_type="tcp", root_port=24000, sub_port=24010))
    host0 = json.loads(files["runner_host0.json"])
    host1 = json.loads(files["runner_host1.json"])
    assert host0["broker"] is False and host1["broker"] is False
    assert [f["name"] for f in host0["federates"]] == ["bulk"]
    assert host0["federates"][0]["env"] == {"A": "1", "HELICS_BROKER_PORT": "24000", "HELICS_CORE_TYPE": "tcp"}
    assert host1["federates"][0]["env"]["HELICS_BROKER_PORT"] == "24010"
    script = files["host_start.sh"]
    assert 'start_broker g1 -f 1 --port=24010 --broker_address="tcp://$ROOT_ADDR:24000"' in script
    assert "start_broker root -f 2 --port=24000" in script
    slurm = files["launch.slurm"]
    assert "#SBATCH --nodes=2" in slurm and 'bash "$CASE_DIR/host_start.sh" "$i"' in slurm


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_generated_scripts_are_valid_bash(tmp_path):
    files = cluster_files(runner_with_groups({"g1": ["a"], "g2": ["b"]}, ["bulk"]), ClusterOptions(partition="short"))
    for name in ("host_start.sh", "launch.slurm"):
        path = tmp_path / name
        path.write_text(files[name])
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert "#SBATCH --partition=short" in files["launch.slurm"]


def test_bad_placement_input_is_a_user_error():
    runner = runner_with_groups({"g1": ["a"]}, [])
    runner["vppfed"]["brokers"]["ghost"] = "g1"
    with pytest.raises(UserError, match="unknown federates"):
        plan_cluster(runner)
    with pytest.raises(UserError, match="time_limit"):
        plan_cluster(runner_with_groups({"g1": ["a"]}, []), ClusterOptions(time_limit="2h"))
    with pytest.raises(UserError, match="reserved"):
        plan_cluster(runner_with_groups({"root": ["a"]}, []))


def test_cluster_command_replans_a_built_case(tmp_path, capsys):
    # GIVEN a built 4-bus ercot8 case (2 sub-brokers, 2 hosts) WHEN `vppfed cluster DIR --hosts 3` THEN three host
    # runners replace the two, the bulk grid alone on host 0, and the plan keeps the feeders' weights
    from vppfed.cases import case_yaml
    from vppfed.cli import main
    from vppfed.configs.case import build_case

    built = build_case(case_yaml("ercot8"), tmp_path / "c", {"case.hours": 1, "feeder.houses": 3, "bulk.buses": 4})
    assert sorted(p.name for p in built.directory.glob("runner_host*.json")) == ["runner_host0.json",
                                                                                 "runner_host1.json"]
    assert main(["cluster", str(built.directory), "--hosts", "3", "--core-type", "tcp"]) == 0
    assert "host 2:" in capsys.readouterr().out
    plan = json.loads((built.directory / "cluster_plan.json").read_text())
    assert plan["core_type"] == "tcp" and plan["weights"]["gld_2"] == 3.0
    assert [[b["members"] for b in h["brokers"]] for h in plan["hosts"]][0] == [["pypower"]]
    assert sorted(p.name for p in built.directory.glob("runner_host*.json")) == [
        "runner_host0.json", "runner_host1.json", "runner_host2.json"]
    assert main(["cluster", str(tmp_path / "missing")]) == 2
