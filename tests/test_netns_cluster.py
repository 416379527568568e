"""Integration: the generated scale-out files run a federation across two network namespaces (two "hosts").

Host 0 (namespace A, 169.254.77.1) runs the root broker and federate ``fedA``; host 1 (namespace B, 169.254.77.2)
runs a sub-broker and ``fedB``, joined by a veth pair with link-local addresses. Each namespace has only its own
loopback, so ``fedB`` receives ``fedA``'s values only through HELICS's hierarchy over the veth link. The hosts are
started with the very ``host_start.sh`` that ``launch.slurm`` runs on a cluster. Namespaces are always deleted (every
process inside them is ended first); where they cannot be created (not root, no ``ip``), the test says so and skips.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vppfed.configs.cluster import ClusterOptions, cluster_files
from vppfed.launcher import free_port, helics_broker_binary

TOY = Path(__file__).with_name("toy_federate.py")
ADDR = ("169.254.77.1", "169.254.77.2")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


class TwoHosts:
    """Two namespaces joined by a veth pair; ``close()`` ends every process inside and deletes them."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.ns = (f"vppfed_{tag}_h0", f"vppfed_{tag}_h1")
        self.veth = (f"vpf{tag}a", f"vpf{tag}b")
        self.created: list[str] = []

    def open(self) -> None:
        for ns in self.ns:
            _ip("netns", "add", ns)
            self.created.append(ns)
        _ip("link", "add", self.veth[0], "type", "veth", "peer", "name", self.veth[1])
        for ns, dev, addr in zip(self.ns, self.veth, ADDR):
            _ip("link", "set", dev, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def close(self) -> None:
        for ns in self.created:
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for pid in pids:
                    try:
                        os.kill(int(pid), sig)
                    except (ProcessLookupError, ValueError):
                        pass
                time.sleep(0.3)
        for ns in self.created:
            _ip("netns", "del", ns, check=False)  # also removes the veth pair
        self.created = []


@pytest.fixture
def two_hosts():
    if shutil.which("ip") is None:
        pytest.skip("network namespaces unavailable: the 'ip' command (iproute2) is not installed")
    hosts = TwoHosts()
    try:
        hosts.open()
    except subprocess.CalledProcessError as exc:
        hosts.close()
        pytest.skip(f"network namespaces unavailable here ({' '.join(exc.cmd)}: {exc.stderr.strip()}); "
                    "the test needs root or CAP_NET_ADMIN")
    try:
        yield hosts
    finally:
        hosts.close()
        leftover = set(_ip("netns", "list", check=False).stdout.split()) & set(hosts.ns)
        assert not leftover, f"namespaces left behind: {leftover}"


def write_toy_case(folder: Path, options: ClusterOptions, minutes: int = 15) -> None:
    """fedA (root broker, host 0) publishes a count each minute; fedB (sub-broker, host 1) subscribes to it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.json").write_text(json.dumps({"name": "fedA", "period": 60, "log_level": "warning",
                                               "publications": [{"global": False, "key": "count", "type": "double"}]}))
    (folder / "b.json").write_text(json.dumps({"name": "fedB", "period": 60, "log_level": "warning",
                                               "subscriptions": [{"key": "fedA/count", "type": "double"}]}))
    stop = minutes * 60
    runner = {"name": "nstoy", "broker": True, "federates": [
        {"name": "fedA", "directory": ".", "exec": f"python {TOY} --config a.json --stop {stop}", "env": {}},
        {"name": "fedB", "directory": ".", "exec": f"python {TOY} --config b.json --stop {stop}", "env": {}}],
        "vppfed": {"brokers": {"fedB": "hostgroup1"}}}
    (folder / "runner.json").write_text(json.dumps(runner))
    for rel, text in cluster_files(runner, options).items():
        (folder / rel).write_text(text)


@pytest.mark.slow
@pytest.mark.parametrize("core_type", ["zmq", "tcp"])
def test_federation_runs_across_two_namespaces_through_a_sub_broker(tmp_path, two_hosts, core_type):
    port = free_port()
    options = ClusterOptions(hosts=2, core_type=core_type, root_port=port, sub_port=port + 10, broker_timeout_s=30)
    write_toy_case(tmp_path, options)
    plan = json.loads((tmp_path / "cluster_plan.json").read_text())
    assert [[b["name"] for b in h["brokers"]] for h in plan["hosts"]] == [["root"], ["hostgroup1"]]
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # python and helics of this venv
    env["HELICS_BROKER_BIN"] = helics_broker_binary()  # the real binary, not the Python wrapper (FACTS.md)
    for key in ("HELICS_BROKER_PORT", "HELICS_BROKER_ADDRESS", "HELICS_CORE_TYPE"):
        env.pop(key, None)
    procs = []
    for index, ns in enumerate(two_hosts.ns):
        host_env = dict(env, VPPFED_ADDR=ADDR[index], VPPFED_ROOT_ADDR=ADDR[0])
        out = open(tmp_path / f"host{index}.out", "wb")
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns, "bash", str(tmp_path / "host_start.sh"), str(index)],
                                      cwd=tmp_path, env=host_env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    deadline = time.monotonic() + 90
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            codes.append(None)
    report = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                       for p in sorted(tmp_path.glob("*.out")) + sorted(tmp_path.glob("*.log"))
                       + sorted((tmp_path / "cluster_logs").glob("*.log")))
    assert codes == [0, 0], report
    # fedB got every one of fedA's 15 values through root -> sub-broker across the veth link
    assert "finished failed=False steps=15 received=15" in (tmp_path / "fedB.log").read_text(), report
    assert "finished failed=False steps=15" in (tmp_path / "fedA.log").read_text(), report
