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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration   # the launcher (and its broker) runs in a child process
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


@pytest.mark.integration
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
        env = dict(os.environ, HELICS_BROKER_PORT=str(block.port), PYTHONUNBUFFERED="1",
                   VPPFED_PROGRESS_DIR=str(tmp_path / "progress"))
        fed = subprocess.Popen([sys.executable, str(TOY), "--config", "a.json", "--hours", "1"], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # its heartbeat file says it is up (signal handlers installed) on a loaded machine as on an idle one
        state = tmp_path / "progress" / "fedA.state"
        deadline = time.monotonic() + 60
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
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


PORT_LOCK_AS_OTHER_USER = """
import os, sys
from vppfed.launcher import PortBlock      # imported first: the interpreter may live where nobody cannot read
os.setgid(65534); os.setuid(65534)          # nobody: not the owner of the lock folder
block = PortBlock()
print(block.port)
"""


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to act as a second user")
@pytest.mark.parametrize("folder_mode", [None, 0o755])
def test_a_second_user_of_the_machine_gets_a_port_block(folder_mode):
    # GIVEN the lock folder made by a first user (root) — by this vppfed, or 0755 by an older one — in a temporary
    # folder as /tmp is (every user may write, the sticky bit keeps files apart; pytest's own tmp_path is 0700)
    import shutil
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="vppfed-two-users-", dir="/tmp"))
    tmp_path.chmod(0o1777)
    try:
        _second_user_gets_a_block(tmp_path, folder_mode)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _second_user_gets_a_block(tmp_path: Path, folder_mode: int | None) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", "from vppfed.launcher import PortBlock; print(PortBlock().port)"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    shared = tmp_path / "vppfed-ports"
    if folder_mode is None:
        assert shared.stat().st_mode & 0o7777 == 0o1777
    else:
        for lock in shared.iterdir():   # no lock file the second user could reuse: it must create its own
            lock.unlink()
        shared.chmod(folder_mode)
    # WHEN another user asks for a block
    second = subprocess.run([sys.executable, "-c", PORT_LOCK_AS_OTHER_USER], env=env, capture_output=True, text=True,
                            timeout=60)
    # THEN it gets one (no PermissionError), in the shared folder when it can and in its own folder when it cannot
    assert second.returncode == 0, second.stderr
    assert int(second.stdout.strip()) >= 20000
    assert (tmp_path / "vppfed-ports-65534").exists() == (folder_mode is not None)


def _runner_with(runner_path: Path, **vppfed: object) -> Path:
    runner = json.loads(runner_path.read_text())
    runner["vppfed"].update(vppfed)
    runner_path.write_text(json.dumps(runner))
    return runner_path


@pytest.mark.integration
def test_a_stall_is_detected_and_blamed_on_the_federate_that_stopped_requesting_time(tmp_path):
    # GIVEN fedB busy forever in one step at t=600 (A then waits for B) and a 6 s stall window, no timeout
    runner = _runner_with(write_toy_case(tmp_path, hours=2, b_args="--hang-at 600"), stall_s=6)
    launcher = Launcher(runner)
    start = time.monotonic()
    # WHEN run THEN it ends as stalled within seconds of the window, naming fedB (not the first federate, fedA)
    with pytest.raises(CosimError) as info:
        launcher.run()
    first = str(info.value).splitlines()[0]
    assert time.monotonic() - start < 30
    assert "federate 'fedB' failed" in first and "stalled" in first and "busy in one step" in first
    summary = json.loads((tmp_path / ".vppfed" / "summary.json").read_text())
    assert summary["failed"] == "fedB" and not summary["ok"]
    for record in launcher._all_records():
        assert not pid_alive(record.popen.pid)


@pytest.mark.integration
@pytest.mark.parametrize("where", ["", "--compute-in-child"])
def test_a_federate_computing_one_step_longer_than_the_stall_window_is_not_a_stall(tmp_path, where):
    # GIVEN fedB spending 8 CPU s in its step at t=600 (itself, or in a recorded child it waits for, as a feeder waits
    # for its GridLAB-D worker) and a 3 s stall window
    runner = _runner_with(write_toy_case(tmp_path, hours=0.5, b_args=f"--compute-at 600 {where}"), stall_s=3)
    # WHEN run THEN it is not ended as stalled: it reaches the stop time (a federate that sleeps is, test above)
    summary = Launcher(runner, timeout=120).run()
    assert summary.ok and summary.simulated_seconds == 1800
    assert "finished failed=False steps=30" in (tmp_path / "fedB.log").read_text()


@pytest.mark.integration
def test_a_sigstopped_federate_is_named_as_stopped(tmp_path):
    # GIVEN a run whose fedB process is stopped with SIGSTOP mid-run
    import signal as _signal

    runner = _runner_with(write_toy_case(tmp_path, hours=200), stall_s=5)
    launcher = Launcher(runner, timeout=60)

    def stop_b() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for record in launcher.processes:
                if record.name == "fedB" and (tmp_path / ".vppfed" / "progress" / "fedB").exists():
                    os.kill(record.popen.pid, _signal.SIGSTOP)
                    return
            time.sleep(0.1)

    threading.Thread(target=stop_b, daemon=True).start()
    # WHEN it stalls THEN fedB is blamed for being stopped, and every process ends (a stopped one too)
    with pytest.raises(CosimError) as info:
        launcher.run()
    first = str(info.value).splitlines()[0]
    assert "'fedB'" in first and "stopped" in first
    time.sleep(0.2)
    for record in launcher._all_records():
        assert not pid_alive(record.popen.pid)


@pytest.mark.integration
def test_a_run_whose_folder_is_replaced_under_it_is_not_a_success(tmp_path):
    # GIVEN a run whose case folder is moved away mid-run and replaced by an empty one (a second `vppfed config`
    # into the same --out without the lock, as before it existed)
    runner = write_toy_case(tmp_path / "case", hours=100)
    launcher = Launcher(runner, timeout=60)

    def replace_folder() -> None:
        progress = tmp_path / "case" / ".vppfed" / "progress" / "fedA"
        deadline = time.monotonic() + 30
        while not progress.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        (tmp_path / "case").rename(tmp_path / "old")
        (tmp_path / "case").mkdir()

    mover = threading.Thread(target=replace_folder, daemon=True)
    mover.start()
    # WHEN every federate exits 0 THEN the run is still a failure that says why
    with pytest.raises(CosimError):
        launcher.run()
    mover.join()


CLI_RUN = "import sys; from vppfed.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.integration   # the launcher (and its broker) runs in a child process
def test_sigterm_to_the_cli_reports_like_ctrl_c_and_writes_the_summary(tmp_path):
    # GIVEN `vppfed run` of a long toy case folder
    runner = write_toy_case(tmp_path / "case", hours=500)
    proc = subprocess.Popen([sys.executable, "-c", CLI_RUN, "run", str(runner.parent), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    progress = runner.parent / ".vppfed" / "progress" / "fedB"
    deadline = time.monotonic() + 30
    while not progress.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert progress.exists()
    # WHEN it gets SIGTERM
    start = time.monotonic()
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    # THEN it tears down within seconds, exits 143, says so in one line and leaves summary.json and the table
    assert time.monotonic() - start < 15
    assert proc.returncode == 143
    assert "terminated (SIGTERM)" in err
    summary = json.loads((runner.parent / ".vppfed" / "summary.json").read_text())
    assert summary["reason"] == "terminated (SIGTERM)" and not summary["ok"]
    assert "fedA" in out


def test_a_second_run_into_a_locked_folder_refuses_naming_the_first(tmp_path):
    from vppfed.run_lock import RunLock, lock_path

    out = tmp_path / "runs" / "x"
    # GIVEN a run holding --out (another process: the lock is per open file, as a second vppfed would be)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from vppfed.run_lock import RunLock; lock = RunLock(Path(sys.argv[1])).acquire(); "
                               "print('held', flush=True); time.sleep(60)", str(out)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        # WHEN a second one starts THEN it refuses in one line naming the holder's pid
        with pytest.raises(UserError) as info:
            RunLock(out).acquire()
        message = str(info.value)
        assert "\n" not in message and f"pid {holder.pid}" in message and str(out) in message
        # AND `vppfed config`/`vppfed run` into it exit 2 with that line, before building anything
        from vppfed.cli import main

        for command in ("config", "run"):
            assert main([command, "te30", "--out", str(out), "--hours", "1"]) == 2
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    # AND once the holder is killed (no clean-up: the lock file stays) the lock is stale and taken over
    assert lock_path(out).exists()
    with RunLock(out) as lock:
        assert lock.path.exists()
    assert not lock_path(out).exists()
