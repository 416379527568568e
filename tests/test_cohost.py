"""Co-hosting (issue 15.1): vppfed's federates of a run share one process and one HELICS core.

Unit tests check which runner entries a host takes and how the launcher groups them; integration tests run te30 both
ways and compare every output byte, and check that a failure or a kill inside a host is named and leaves nothing.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from vppfed.errors import CosimError
from vppfed.envvars import ENV_CORE_INIT
from vppfed.federates.host import _inproc_broker_init, hostable_command
from vppfed.launcher import Launcher, _alive

from launcher_helpers import run_in_thread, wait_until_running


def test_hostable_commands_are_vppfed_federates_started_with_python_dash_m():
    assert hostable_command("python -m vppfed.federates.feeder --config a.json --glm a.glm") == (
        "feeder", ["--config", "a.json", "--glm", "a.glm"])
    assert hostable_command("python3 -m vppfed.federates.market --start '2013-07-01 00:00:00'") == (
        "market", ["--start", "2013-07-01 00:00:00"])
    # COHDA and the neighbourhood keep their own processes; other programs and broken quoting are never hosted
    assert hostable_command("python -m vppfed.federates.cohda --role plan") is None
    assert hostable_command("python -m vppfed.federates.neighbourhood --config x.json") is None
    assert hostable_command("helics_player --input=p.txt") is None
    assert hostable_command("python substation.py") is None
    assert hostable_command("python -m vppfed.federates.feeder --glm 'a.glm") is None


def _runner(tmp_path: Path, feds: list[dict], **vppfed) -> Path:
    path = tmp_path / "runner.json"
    path.write_text(json.dumps({"name": "t", "federates": feds, "vppfed": vppfed}), encoding="utf-8")
    return path


def _fed(name: str, module: str = "feeder", directory: str = ".", env: dict | None = None) -> dict:
    return {"name": name, "exec": f"python -m vppfed.federates.{module} --config {name}.json",
            "directory": directory, "env": env or {}}


def test_the_launcher_groups_federates_by_folder_environment_and_broker(tmp_path):
    (tmp_path / "B1").mkdir()
    feds = [_fed("gld_1", directory="B1"), _fed("sub_1", "market", directory="B1"), _fed("pypower", "bulk"),
            _fed("weather", "weather"), _fed("plan", "cohda"), _fed("gld_2", env={"X": "1"})]
    launcher = Launcher(_runner(tmp_path, feds))
    groups = launcher._host_groups(feds, {f["name"]: 1 for f in feds})
    assert [[f["name"] for f in g] for g in groups] == [["gld_1", "sub_1"], ["pypower", "weather"]]
    # a different broker splits a group; one federate alone is no group
    ports = {f["name"]: 1 for f in feds} | {"weather": 2}
    assert [[f["name"] for f in g] for g in launcher._host_groups(feds, ports)] == [["gld_1", "sub_1"]]
    assert not launcher._one_host_for_all(feds)
    same = [_fed("gld_7"), _fed("pypower", "bulk"), _fed("sub_7", "market")]
    assert Launcher(_runner(tmp_path, same))._one_host_for_all(same)
    # asked off: by the caller, by the runner, or with sub-brokers for an in-process broker
    assert Launcher(_runner(tmp_path, same), cohost=False)._host_groups(same, {}) == []
    assert Launcher(_runner(tmp_path, same, cohost=False))._host_groups(same, {}) == []
    assert not Launcher(_runner(tmp_path, same, brokers={"gld_7": "sb"}))._one_host_for_all(same)


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*_metrics.json"))}


@pytest.mark.slow
def test_te30_cohosted_gives_the_same_bytes_as_a_process_per_federate(tmp_path):
    from vppfed.cases import case_yaml
    from vppfed.configs.case import build_case

    runs = {}
    for mode, cohost in (("hosted", True), ("processes", False)):
        built = build_case(case_yaml("te30"), tmp_path / mode, {"case.hours": 2})
        launcher = Launcher(built.runner, timeout=300, cohost=cohost)
        summary = launcher.run()
        assert summary.ok
        runs[mode] = _outputs(built.directory)
        if cohost:
            assert launcher.hosts == {"host": ["gld_7", "pypower", "sub_7"]} and summary.port == 0
            # each member logs to its own file, as it would alone
            assert "gld_7: " in (built.directory / "gld_7.log").read_text()
            assert "CPU s in this thread" in (built.directory / "pypower.log").read_text()
            assert "GridLAB-D" not in (built.directory / "pypower.log").read_text()
        else:
            assert launcher.hosts == {} and summary.port > 0
    assert len(runs["hosted"]) >= 10 and runs["hosted"] == runs["processes"]


@pytest.mark.slow
def test_a_member_that_cannot_start_is_named_and_nothing_is_left(tmp_path):
    from vppfed.cases import case_yaml
    from vppfed.configs.case import build_case

    built = build_case(case_yaml("te30"), tmp_path / "run", {"case.hours": 1})
    (built.directory / "te30_pp.json").write_text("{ not json", encoding="utf-8")
    launcher = Launcher(built.runner, timeout=120)
    with pytest.raises(CosimError) as info:
        launcher.run()
    assert str(info.value).splitlines()[0].startswith("federate 'pypower' failed")
    for record in launcher._all_records():
        assert not _alive(record.popen.pid)


@pytest.mark.slow
def test_a_killed_host_is_named_with_its_federates_and_its_gridlabd_worker_ends(tmp_path):
    from vppfed.cases import case_yaml
    from vppfed.configs.case import build_case

    built = build_case(case_yaml("te30"), tmp_path / "run", {"case.hours": 24})
    launcher = Launcher(built.runner, timeout=300)
    thread, outcome = run_in_thread(launcher)
    wait_until_running(built.directory, "gld_7")
    worker_pids = [int(p.read_text()) for p in (built.directory / ".vppfed" / "pids").glob("*.pid")]
    assert worker_pids, "the feeder recorded no GridLAB-D worker"
    os.kill(launcher.processes[0].popen.pid, signal.SIGKILL)
    thread.join(60)
    assert isinstance(outcome[0], CosimError), outcome
    first = str(outcome[0]).splitlines()[0]
    assert first.startswith("federate 'host' failed") and "gld_7, pypower, sub_7" in first, first
    time.sleep(0.3)
    for pid in worker_pids + [r.popen.pid for r in launcher._all_records()]:
        assert not _alive(pid)


def test_the_in_process_broker_keeps_no_timers_under_the_launcher(monkeypatch):
    # GIVEN the launcher's environment (its cores run with --disable_timer) THEN the in-process broker's timers are off
    # too (its ping of a starved core ended a healthy run with "lost comms"); outside the launcher HELICS keeps them
    monkeypatch.setenv(ENV_CORE_INIT, "--disable_timer")
    assert _inproc_broker_init(3).endswith("--slow_responding --disable_timer")
    monkeypatch.delenv(ENV_CORE_INIT)
    assert "--disable_timer" not in _inproc_broker_init(3)
    import helics as h

    broker = h.helicsCreateBroker("inproc", "vppfed_test_timerless_broker", "-f 1 --slow_responding --disable_timer")
    assert h.helicsBrokerIsConnected(broker)   # HELICS accepts the flags (an unknown one raises)
    h.helicsBrokerDisconnect(broker)
