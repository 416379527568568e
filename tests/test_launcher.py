"""The launcher and the federate runtime with real HELICS: private ports, teardown, failure naming."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vppfed.errors import CosimError, UserError
from vppfed.launcher import Launcher, free_port

TOY = Path(__file__).with_name("toy_federate.py")


def write_toy_case(folder: Path, hours: float = 0.5, a_args: str = "", b_args: str = "") -> Path:
    """Two toy federates, A publishes count and B subscribes to it, in a runner JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    a = {"name": "fedA", "period": 60, "log_level": "warning",
         "publications": [{"global": False, "key": "count", "type": "double"}]}
    b = {"name": "fedB", "period": 60, "log_level": "warning",
         "subscriptions": [{"key": "fedA/count", "type": "double"}]}
    (folder / "a.json").write_text(json.dumps(a))
    (folder / "b.json").write_text(json.dumps(b))
    runner = {"name": "toy", "broker": True, "federates": [
        {"name": "fedA", "directory": ".", "exec": f"python {TOY} --config a.json --hours {hours} {a_args}"},
        {"name": "fedB", "directory": ".", "exec": f"python {TOY} --config b.json --hours {hours} {b_args}"}],
        "vppfed": {"stop_seconds": hours * 3600}}
    (folder / "runner.json").write_text(json.dumps(runner))
    return folder / "runner.json"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_free_port_gives_two_consecutive_free_ports():
    port = free_port()
    assert 1024 < port < 65534


def test_run_completes_and_values_flow(tmp_path):
    # GIVEN two federates coupled by one value WHEN run THEN both finish and B received A's counts
    runner = write_toy_case(tmp_path, hours=0.5)
    seen = []
    summary = Launcher(runner, timeout=60, progress=lambda d, t: seen.append(d)).run()
    assert summary.ok
    assert summary.simulated_seconds == pytest.approx(1800.0)
    assert [f["status"] for f in summary.federates] == ["ok", "ok"]
    log_b = (tmp_path / "fedB.log").read_text()
    assert "steps=30" in log_b and "received=30" in log_b
    assert not [r for r in Launcher(runner)._all_records()]


def test_two_runs_at_once_do_not_collide(tmp_path):
    # GIVEN two identical cases WHEN launched at the same time THEN both succeed on different ports
    runners = [write_toy_case(tmp_path / f"case{i}", hours=0.5) for i in range(2)]
    results: list = [None, None]

    def go(i):
        results[i] = Launcher(runners[i], timeout=60).run()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None and r.ok for r in results)
    assert results[0].port != results[1].port


def test_crash_ends_everything_and_names_the_federate(tmp_path):
    # GIVEN B crashes at t=600 s and A has a child process WHEN run THEN CosimError names fedB, nothing is left
    runner = write_toy_case(tmp_path, hours=2, a_args="--child", b_args="--crash-at 600")
    launcher = Launcher(runner, timeout=120)
    start = time.monotonic()
    with pytest.raises(CosimError) as info:
        launcher.run()
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert "fedB" in message.splitlines()[0]
    assert "deliberate crash" in message
    assert elapsed < 30
    child_pids = [int(p.read_text()) for p in (tmp_path / ".vppfed" / "pids").glob("*.pid")]
    assert child_pids, "the toy federate recorded its child"
    time.sleep(0.2)
    for record in launcher._all_records():
        assert record.popen.poll() is not None
        assert not pid_alive(record.popen.pid)
    assert not any(pid_alive(pid) for pid in child_pids)


def test_hang_is_ended_by_timeout(tmp_path):
    # GIVEN A hangs WHEN the timeout passes THEN the run fails within seconds of it and no process is left
    runner = write_toy_case(tmp_path, hours=2, a_args="--hang-at 120")
    launcher = Launcher(runner, timeout=8)
    start = time.monotonic()
    with pytest.raises(CosimError, match="timeout"):
        launcher.run()
    assert time.monotonic() - start < 20
    for record in launcher._all_records():
        assert not pid_alive(record.popen.pid)


def test_bad_runner_is_a_user_error(tmp_path):
    path = tmp_path / "runner.json"
    path.write_text('{"name": "x", "federates": [{"name": "a"}]}')
    with pytest.raises(UserError, match=r"federates\[0\]\.exec"):
        Launcher(path)
    path.write_text('{"name": ')
    with pytest.raises(UserError, match="invalid JSON"):
        Launcher(path)


def test_broker_hierarchy_root_and_two_sub_brokers(tmp_path):
    # GIVEN A under sub-broker s1 and B under s2 WHEN run THEN values cross the root and both finish
    runner_path = write_toy_case(tmp_path, hours=0.25)
    runner = json.loads(runner_path.read_text())
    runner["vppfed"]["brokers"] = {"fedA": "sub1", "fedB": "sub2"}
    runner_path.write_text(json.dumps(runner))
    launcher = Launcher(runner_path, timeout=60)
    summary = launcher.run()
    assert summary.ok
    assert [r.name for r in launcher.sub_brokers] == ["sub1", "sub2"]
    assert "received=15" in (tmp_path / "fedB.log").read_text()
    for record in launcher._all_records():
        assert not pid_alive(record.popen.pid)


def test_port_blocks_are_exclusive_and_below_the_ephemeral_range():
    from vppfed.launcher import PORT_BLOCK, PORT_RANGE, PortBlock

    blocks = [PortBlock(seed=1), PortBlock(seed=1)]  # the same preference order: the second must skip the first
    try:
        ports = [b.port for b in blocks]
        assert ports[0] != ports[1]
        assert all(PORT_RANGE[0] <= p < PORT_RANGE[1] and (p - PORT_RANGE[0]) % PORT_BLOCK == 0 for p in ports)
    finally:
        for b in blocks:
            b.release()
    again = PortBlock(seed=1)
    assert again.port == ports[0]  # released blocks are free again
    again.release()


def test_a_killed_launcher_takes_its_broker_and_federates_with_it(tmp_path):
    # GIVEN a run whose launcher process is SIGKILLed mid-run (no chance to tear down)
    runner = write_toy_case(tmp_path / "case", hours=2, a_args="--hang-at 60")
    launcher = subprocess.Popen([sys.executable, "-c", "import sys; from vppfed.launcher import Launcher; "
                                 "Launcher(sys.argv[1], timeout=300).run()", str(runner)], cwd=tmp_path)
    case = (tmp_path / "case").resolve()

    def started_here() -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != launcher.pid:
                try:
                    if Path(os.readlink(entry / "cwd")) == case:
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    deadline = time.monotonic() + 30
    while len(started_here()) < 3 and time.monotonic() < deadline:  # the broker and both federates
        time.sleep(0.2)
    children = started_here()
    assert len(children) >= 3
    launcher.kill()
    launcher.wait()
    # THEN the broker and the federates end within seconds, by themselves
    deadline = time.monotonic() + 15
    while any(pid_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in children if pid_alive(p)]


def test_a_federate_blocked_inside_a_helics_call_still_ends_after_sigterm(tmp_path):
    from vppfed.federates.runtime import STOP_GRACE_SECONDS
    from vppfed.launcher import PortBlock, helics_broker_binary

    # GIVEN a federate blocked in helicsFederateEnterExecutingMode (its broker waits for a second federate that
    # never comes), a C call in which Python never runs its SIGTERM handler
    block = PortBlock()
    broker = subprocess.Popen([helics_broker_binary(), "-f", "2", f"--port={block.port}", "--timeout=60s",
                               f"--name=blocked_{block.port}"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        (tmp_path / "a.json").write_text(json.dumps({"name": "fedA", "period": 60, "log_level": "warning"}))
        env = dict(os.environ, HELICS_BROKER_PORT=str(block.port), PYTHONUNBUFFERED="1")
        fed = subprocess.Popen([sys.executable, str(TOY), "--config", "a.json", "--hours", "1"], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(3)
        assert fed.poll() is None
        # WHEN it gets SIGTERM (as from PR_SET_PDEATHSIG when its launcher was killed: no SIGKILL follows)
        fed.terminate()
        # THEN it exits by itself after the grace period, saying why
        out, _ = fed.communicate(timeout=STOP_GRACE_SECONDS + 10)
        assert fed.returncode == 143
        assert "exiting hard" in out
    finally:
        if "fed" in locals() and fed.poll() is None:
            fed.kill()
        broker.kill()
        broker.wait()
        block.release()
