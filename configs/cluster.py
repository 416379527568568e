"""Scale-out of a built case over several hosts with HELICS's own broker hierarchy: placement, per-host runners and a
SLURM launch script.

Why HELICS's hierarchy and nothing of our own: a sub-broker per host group keeps the chatty traffic (a feeder and its
agents exchange hundreds of values every step) on its host, and only time grants and the few cross-group values
(feeder load, bus voltage, LMP) travel to the root. That is what HELICS brokers already do; the generator only decides
who sits where and writes the commands.

Input: the case's ``runner.json`` (``helics run`` format) whose ``vppfed.brokers`` maps a federate to its sub-broker
group (see :meth:`vppfed.configs.case.CaseContext.add_federate`); federates not listed talk to the root broker.
Placement (:func:`plan_cluster`): each group stays whole on one host; groups go, heaviest first, to the least loaded
host (longest-processing-time rule); host 0 carries the root broker and the root's own federates.

Output (:func:`cluster_files`), beside ``runner.json`` in the case folder:

- ``runner_host<i>.json``: the federates of host ``i`` in the ``helics run --path`` format (``"broker": false``; each
  federate's ``env`` names the port of its broker, ``HELICS_BROKER_PORT``, and the core type);
- ``host_start.sh``: ``bash host_start.sh <i>`` starts host ``i``: on host 0 the root broker, then the sub-brokers of
  the host with ``--broker_address=tcp://$VPPFED_ROOT_ADDR:<root port>``, then ``helics run`` of its runner; every
  broker binds ``--local_interface=tcp://$VPPFED_ADDR`` and the federates reach it through ``HELICS_BROKER_ADDRESS``;
- ``launch.slurm``: ``sbatch launch.slurm`` asks for one node per host, finds the root node's address and runs
  ``host_start.sh`` once per node with ``srun``.

Three levels (root, region brokers, feeder-group brokers): the runner's ``vppfed.broker_parents`` maps a group to its
region broker. Groups are placed as above; a region broker goes to the host that carries most of its groups' weight and
registers with the root; each group broker registers with its region broker. A parent on another host is reached
through ``VPPFED_HOST_ADDRS`` (the hosts' addresses in index order; ``launch.slurm`` exports it).

The integration test runs ``host_start.sh`` for two hosts in two network namespaces, so the script that a cluster
runs is the script that was tested.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from vppfed.io import atomic_write_text, load_json, require
from vppfed.errors import UserError

__all__ = ["ClusterOptions", "BrokerPlan", "HostPlan", "ClusterPlan", "plan_cluster", "cluster_files", "write_cluster",
           "set_regions", "ROOT_BROKER"]

#: Name of the root broker in plans, scripts and logs.
ROOT_BROKER = "root"


@dataclass
class ClusterOptions:
    """How the case is spread over hosts.

    Attributes
    ----------
    hosts : int
        Number of hosts; 0 = one per sub-broker group (at least 1; the root's own federates share host 0). More
        hosts than that would idle, so the count is capped at the number of groups, plus one when the root has
        federates of its own (they may then get host 0 to themselves).
    core_type : {"zmq", "tcp"}
        HELICS core type of brokers and federates.
    root_port : int
        Port of the root broker on host 0.
    sub_port : int
        Port of the first sub-broker on a host; the k-th sub-broker on the same host uses ``sub_port + 2 k`` (a ZMQ
        broker also uses the next port).
    broker_timeout_s : int
        Seconds a broker waits for its connections (nodes of a job may start some seconds apart).
    time_limit : str
        SLURM ``--time`` (``HH:MM:SS``): also the hard bound of a run that hangs.
    partition, account : str
        SLURM ``--partition``/``--account`` ("" = the cluster's default).
    cpus_per_host : int
        SLURM ``--cpus-per-task``; 0 = the largest number of processes on one host (federates + brokers + GridLAB-D
        workers are counted as federates; each feeder federate has one worker).
    job_name : str
        SLURM job name ("" = ``vppfed-<case>``).
    """

    hosts: int = 0
    core_type: Literal["zmq", "tcp"] = "zmq"
    root_port: int = 23500
    sub_port: int = 23510
    broker_timeout_s: int = 120
    time_limit: str = "02:00:00"
    partition: str = ""
    account: str = ""
    cpus_per_host: int = 0
    job_name: str = ""

    def validate(self) -> None:
        require(self.hosts >= 0, "hosts", "must be >= 0 (0 = one per sub-broker group)")
        for name in ("root_port", "sub_port"):
            require(1024 < getattr(self, name) < 65000, name, "must be a port in 1025..64999")
        require(abs(self.sub_port - self.root_port) >= 2, "sub_port", "must differ from root_port by at least 2")
        require(self.broker_timeout_s > 0, "broker_timeout_s", "must be > 0 s")
        parts = self.time_limit.split(":")
        require(len(parts) == 3 and all(p.isdigit() for p in parts), "time_limit", "expected HH:MM:SS")
        require(self.cpus_per_host >= 0, "cpus_per_host", "must be >= 0")


@dataclass
class BrokerPlan:
    """A broker of the hierarchy: the root (``parent`` None) or a sub-broker of it, on host ``host``."""

    name: str
    port: int
    host: int
    members: list[str] = field(default_factory=list)   # federates connected to it directly
    parent: str | None = None
    federation_size: int = 0                            # -f: the root counts every federate, a sub-broker its own


@dataclass
class HostPlan:
    """What runs on one host: its brokers and its federates (runner entries)."""

    index: int
    brokers: list[BrokerPlan] = field(default_factory=list)
    federates: list[dict[str, Any]] = field(default_factory=list)
    load: float = 0.0

    @property
    def processes(self) -> int:
        """Processes on the host: brokers, federates, and a GridLAB-D worker per feeder federate."""
        workers = sum(1 for f in self.federates if "vppfed.federates.feeder" in f.get("exec", ""))
        return len(self.brokers) + len(self.federates) + workers


@dataclass
class ClusterPlan:
    """Where every broker and federate of a case runs."""

    case: str
    hosts: list[HostPlan]
    root: BrokerPlan
    options: ClusterOptions
    broker_of: dict[str, BrokerPlan] = field(default_factory=dict)   # federate -> the broker it connects to

    @property
    def levels(self) -> int:
        """Levels of the broker hierarchy: 1 (root only), 2 (root + sub-brokers) or 3 (root, regions, groups)."""
        brokers = {b.name: b for h in self.hosts for b in h.brokers}
        depth = 1
        for b in brokers.values():
            d, p = 1, b
            while p.parent is not None:
                p, d = brokers[p.parent], d + 1
            depth = max(depth, d)
        return depth

    def broker(self, name: str) -> BrokerPlan:
        for host in self.hosts:
            for b in host.brokers:
                if b.name == name:
                    return b
        raise KeyError(name)


def plan_cluster(runner: Mapping[str, Any], options: ClusterOptions | None = None,
                 weights: Mapping[str, float] | None = None) -> ClusterPlan:
    """Place the brokers and federates of ``runner`` on hosts (see the module docstring for the rule).

    Parameters
    ----------
    runner : mapping
        The ``runner.json`` document (``federates`` and ``vppfed.brokers``).
    options : ClusterOptions, optional
        Host count and ports.
    weights : mapping, optional
        Relative cost of each federate (e.g. houses of a feeder); missing federates weigh 1.

    Returns
    -------
    ClusterPlan
        Hosts in index order; host 0 has the root broker first.
    """
    options = options or ClusterOptions()
    try:
        options.validate()
    except ValueError as exc:
        raise UserError(f"cluster.{exc}") from None
    feds = list(runner.get("federates") or [])
    if not feds:
        raise UserError("runner: federates: must be a non-empty list")
    names = [f["name"] for f in feds]
    placement = dict((runner.get("vppfed") or {}).get("brokers") or {})
    unknown = sorted(set(placement) - set(names))
    if unknown:
        raise UserError(f"runner: vppfed.brokers names unknown federates {unknown}")
    weights = dict(weights or {})
    weight = lambda n: float(weights.get(n, 1.0))  # noqa: E731
    groups: dict[str, list[str]] = {}
    for n in names:  # runner order inside a group
        if n in placement:
            groups.setdefault(placement[n], []).append(n)
    root_members = [n for n in names if n not in placement]
    if ROOT_BROKER in groups:
        raise UserError(f"runner: vppfed.brokers: '{ROOT_BROKER}' is reserved for the root broker")
    cap = max(1, len(groups) + (1 if root_members else 0))
    n_hosts = min(options.hosts or max(1, len(groups)), cap)
    hosts = [HostPlan(i) for i in range(n_hosts)]
    root = BrokerPlan(ROOT_BROKER, options.root_port, 0, list(root_members), None, len(names))
    hosts[0].brokers.append(root)
    hosts[0].load = sum(weight(n) for n in root_members)
    by_name = {f["name"]: f for f in feds}
    broker_of: dict[str, BrokerPlan] = {n: root for n in root_members}
    parents = dict((runner.get("vppfed") or {}).get("broker_parents") or {})
    bad = sorted(g for g in parents if g not in groups) + sorted(r for r in parents.values() if r in groups)
    if bad or ROOT_BROKER in parents.values():
        raise UserError(f"runner: vppfed.broker_parents: '{bad[0] if bad else ROOT_BROKER}': only feeder-group "
                        "brokers of vppfed.brokers may have a parent, and it must be a region broker")

    def next_port(host: HostPlan) -> int:
        k = sum(1 for b in host.brokers if b.parent is not None)
        port = options.sub_port + 2 * k
        if host.index == 0 and abs(port - options.root_port) < 2:
            port += 2
        return port

    order = sorted(groups, key=lambda g: (-sum(weight(n) for n in groups[g]), g))
    for g in order:
        host = min(hosts, key=lambda h: (h.load, h.index))
        plan = BrokerPlan(g, next_port(host), host.index, list(groups[g]), parents.get(g, ROOT_BROKER),
                          len(groups[g]))
        host.brokers.append(plan)
        host.load += sum(weight(n) for n in groups[g])
        for n in groups[g]:
            broker_of[n] = plan
    for region in sorted(set(parents.values())):  # on the host with most of its groups' weight
        children = [b for h in hosts for b in h.brokers if b.parent == region]
        carried = {h.index: sum(weight(n) for b in children if b.host == h.index for n in b.members) for h in hosts}
        host = hosts[max(carried, key=lambda i: (carried[i], -i))]
        host.brokers.append(BrokerPlan(region, next_port(host), host.index, [], ROOT_BROKER,
                                       sum(b.federation_size for b in children)))
    for host in hosts:
        members = {n for b in host.brokers for n in b.members}
        host.federates = [by_name[n] for n in names if n in members]
    return ClusterPlan(case=str(runner.get("name", "case")), hosts=hosts, root=root, options=options,
                       broker_of=broker_of)


def host_runner(plan: ClusterPlan, host: HostPlan) -> dict[str, Any]:
    """``runner_host<i>.json``: the host's federates for ``helics run --path`` (no broker of its own: the host
    script starts the brokers with the hierarchy's arguments)."""
    entries = []
    for fed in host.federates:
        env = dict(fed.get("env") or {})
        env["HELICS_BROKER_PORT"] = str(plan.broker_of[fed["name"]].port)
        env["HELICS_CORE_TYPE"] = plan.options.core_type
        entries.append({"name": fed["name"], "directory": fed.get("directory", "."), "exec": fed["exec"],
                        "host": f"host{host.index}", "env": env})
    return {"name": f"{plan.case}_host{host.index}", "broker": False, "federates": entries,
            "vppfed": {"host": host.index,
                       "brokers": [{"name": b.name, "port": b.port, "parent": b.parent, "federates": b.federation_size}
                                   for b in host.brokers]}}


def _parent_addr(plan: ClusterPlan, b: BrokerPlan) -> str:
    """Shell expression of the address of ``b``'s parent broker as host ``b.host`` reaches it."""
    parent = plan.broker(b.parent) if b.parent else plan.root
    if parent.host == 0 and parent.parent is None:
        return "$ROOT_ADDR"
    if parent.host == b.host:
        return "$ADDR"
    return f"$(host_addr {parent.host})"


def _broker_line(plan: ClusterPlan, b: BrokerPlan) -> str:
    args = [f"-f {b.federation_size}", f"--port={b.port}"]
    if b.parent is not None:
        port = plan.broker(b.parent).port if b.parent != ROOT_BROKER else plan.root.port
        args.append(f'--broker_address="tcp://{_parent_addr(plan, b)}:{port}"')
    return f"start_broker {b.name} {' '.join(args)}"


def host_script(plan: ClusterPlan) -> str:
    """``host_start.sh``: start host ``$1``'s brokers and federates; exit code of its ``helics run``."""
    o = plan.options
    lines = [
        "#!/usr/bin/env bash",
        f"# Start one host of case '{plan.case}' ({len(plan.hosts)} hosts): its HELICS brokers, then its federates.",
        "# Generated by vppfed.configs.cluster; usage: bash host_start.sh HOST_INDEX",
        "# Environment: VPPFED_ADDR      this host's address (default: first address of 'hostname -I')",
        "#              VPPFED_ROOT_ADDR address of host 0, where the root broker runs (default: VPPFED_ADDR)",
        "#              HELICS_BROKER_BIN, HELICS_RUN_BIN  helics_broker and helics executables (default: on PATH)",
        "set -uo pipefail",
        'HOST="${1:?usage: host_start.sh HOST_INDEX}"',
        'CASE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"',
        'ADDR="${VPPFED_ADDR:-$(hostname -I 2>/dev/null | awk \'{print $1}\')}"',
        'ROOT_ADDR="${VPPFED_ROOT_ADDR:-$ADDR}"',
        'BROKER="${HELICS_BROKER_BIN:-helics_broker}"',
        'HELICS="${HELICS_RUN_BIN:-helics}"',
        f"CORE={shlex.quote(o.core_type)}",
        'LOGS="$CASE_DIR/cluster_logs"',
        'mkdir -p "$LOGS"',
        'cd "$CASE_DIR" || exit 2',
        'if [ -z "$ADDR" ]; then echo "host $HOST: no address (set VPPFED_ADDR)" >&2; exit 2; fi',
        "PIDS=()",
        "start_broker() {  # NAME ARGS...: a broker in its own session, bound to this host's address",
        '  local name="$1"; shift',
        f'  setsid "$BROKER" --coretype="$CORE" --name="{plan.case}_$name" --local_interface="tcp://$ADDR" '
        f'--loglevel=warning --timeout={o.broker_timeout_s}s "$@" >"$LOGS/$name.log" 2>&1 &',
        "  PIDS+=($!)",
        "}",
        "wait_for_root() {  # the root must listen before a sub-broker registers with it",
        f"  for _ in $(seq 1 {o.broker_timeout_s * 5}); do",
        f'    (exec 3<>"/dev/tcp/$ROOT_ADDR/{plan.root.port}") 2>/dev/null && return 0',
        "    sleep 0.2",
        "  done",
        f'  echo "host $HOST: root broker at $ROOT_ADDR:{plan.root.port} not reachable" >&2; return 1',
        "}",
        "stop_brokers() {  # brokers end with the federation; a broker still running after 10 s is ended",
        '  for p in "${PIDS[@]}"; do',
        "    for _ in $(seq 1 100); do kill -0 \"$p\" 2>/dev/null || break; sleep 0.1; done",
        '    kill -TERM -- "-$p" 2>/dev/null',
        "  done",
        "}",
        "trap stop_brokers EXIT",
    ]
    deep = plan.levels > 2
    if deep:
        lines += [
            "host_addr() {  # address of host $1: this host, host 0 (the root's), or VPPFED_HOST_ADDRS (index order)",
            '  if [ "$1" = "$HOST" ]; then echo "$ADDR"; return; fi',
            '  if [ "$1" = 0 ]; then echo "$ROOT_ADDR"; return; fi',
            '  local addrs=(${VPPFED_HOST_ADDRS:-}); local a="${addrs[$1]:-}"',
            '  if [ -z "$a" ]; then echo "host $HOST: address of host $1 unknown (set VPPFED_HOST_ADDRS)" >&2; '
            'exit 3; fi',
            '  echo "$a"',
            "}",
            "wait_for() {  # ADDR PORT: a parent broker must listen before its children register",
            f"  for _ in $(seq 1 {o.broker_timeout_s * 5}); do",
            '    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0',
            "    sleep 0.2",
            "  done",
            '  echo "host $HOST: broker at $1:$2 not reachable" >&2; return 1',
            "}",
        ]
    lines.append('case "$HOST" in')
    for host in plan.hosts:
        lines.append(f"  {host.index})")
        for b in host.brokers:
            if b.parent is None:
                lines.append(f"    {_broker_line(plan, b)}")
        if any(b.parent is not None for b in host.brokers):
            lines.append("    wait_for_root || exit 3")
        if deep:  # region brokers first, then each group after its region listens
            for b in sorted((b for b in host.brokers if b.parent is not None),
                            key=lambda b: (b.parent != ROOT_BROKER, b.name)):
                if b.parent != ROOT_BROKER:
                    parent = plan.broker(b.parent)
                    lines.append(f'    wait_for "{_parent_addr(plan, b)}" {parent.port} || exit 3')
                lines.append(f"    {_broker_line(plan, b)}")
        else:
            for b in host.brokers:
                if b.parent is not None:
                    lines.append(f"    {_broker_line(plan, b)}")
        lines.append(f"    RUNNER=runner_host{host.index}.json ;;")
    lines += [
        f'  *) echo "host index $HOST: case {plan.case} has hosts 0..{len(plan.hosts) - 1}" >&2; exit 2 ;;',
        "esac",
        'HELICS_BROKER_ADDRESS="tcp://$ADDR" "$HELICS" run --path "$RUNNER" --silent',
        "rc=$?",
        'echo "host $HOST: helics run exited with $rc"',
        "exit $rc",
    ]
    return "\n".join(lines) + "\n"


def slurm_script(plan: ClusterPlan) -> str:
    """``launch.slurm``: one node per host, ``host_start.sh <i>`` on node ``i``, the root's address for all."""
    o = plan.options
    cpus = o.cpus_per_host or max(2, max(h.processes for h in plan.hosts))
    header = [
        "#!/usr/bin/env bash",
        f"#SBATCH --job-name={o.job_name or f'vppfed-{plan.case}'}",
        f"#SBATCH --nodes={len(plan.hosts)}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --cpus-per-task={cpus}",
        f"#SBATCH --time={o.time_limit}",
        "#SBATCH --output=slurm-%j.out",
    ]
    if o.partition:
        header.append(f"#SBATCH --partition={o.partition}")
    if o.account:
        header.append(f"#SBATCH --account={o.account}")
    body = [
        f"# Case '{plan.case}' over {len(plan.hosts)} nodes with a HELICS broker hierarchy (root on the first node).",
        "# Generated by vppfed.configs.cluster. Submit from the case folder on a file system all nodes share:",
        "#   sbatch launch.slurm",
        "# The Python environment with vppfed and helics must be active (or set VPPFED_VENV to its folder).",
        "set -uo pipefail",
        'CASE_DIR="${SLURM_SUBMIT_DIR:-$(pwd)}"',
        'if [ -n "${VPPFED_VENV:-}" ]; then source "$VPPFED_VENV/bin/activate"; fi',
        'mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")',
        f'if [ "${{#NODES[@]}}" -lt {len(plan.hosts)} ]; then echo "need {len(plan.hosts)} nodes, got ${{#NODES[@]}}" >&2; exit 2; fi',
        "# the root's address as the other nodes see it",
        'ROOT_ADDR="${VPPFED_ROOT_ADDR:-$(srun --nodes=1 --ntasks=1 -w "${NODES[0]}" hostname -I | awk \'{print $1}\')}"',
        'echo "root broker on ${NODES[0]} ($ROOT_ADDR)"',
    ]
    if plan.levels > 2:  # region brokers may sit on another node than their groups: every node's address
        body += [
            "ADDRS=()",
            f"for i in $(seq 0 {len(plan.hosts) - 1}); do",
            '  ADDRS+=("$(srun --nodes=1 --ntasks=1 -w "${NODES[$i]}" hostname -I | awk \'{print $1}\')")',
            "done",
            'export VPPFED_HOST_ADDRS="${VPPFED_HOST_ADDRS:-${ADDRS[*]}}"',
        ]
    body += [
        "STEPS=()",
        f"for i in $(seq 0 {len(plan.hosts) - 1}); do",
        '  srun --nodes=1 --ntasks=1 -w "${NODES[$i]}" --export=ALL,VPPFED_ROOT_ADDR="$ROOT_ADDR" \\',
        '       bash "$CASE_DIR/host_start.sh" "$i" > "$CASE_DIR/host$i.out" 2>&1 &',
        "  STEPS+=($!)",
        "done",
        "rc=0",
        'for s in "${STEPS[@]}"; do wait "$s" || rc=1; done',
        'echo "vppfed: all hosts finished, exit $rc"',
        "exit $rc",
    ]
    return "\n".join(header + body) + "\n"


def cluster_files(runner: Mapping[str, Any], options: ClusterOptions | None = None,
                  weights: Mapping[str, float] | None = None) -> dict[str, str]:
    """Every scale-out file of a case: ``{relative path: text}`` (runners per host, host script, SLURM script,
    and ``cluster_plan.json`` saying which federate runs where)."""
    plan = plan_cluster(runner, options, weights)
    files: dict[str, str] = {}
    for host in plan.hosts:
        files[f"runner_host{host.index}.json"] = json.dumps(host_runner(plan, host), indent=2) + "\n"
    files["host_start.sh"] = host_script(plan)
    files["launch.slurm"] = slurm_script(plan)
    summary = {"case": plan.case, "core_type": plan.options.core_type, "weights": dict(weights or {}),
               "hosts": [{"index": h.index, "load": h.load, "processes": h.processes,
                          "brokers": [{"name": b.name, "port": b.port, "parent": b.parent, "members": b.members}
                                      for b in h.brokers]} for h in plan.hosts]}
    files["cluster_plan.json"] = json.dumps(summary, indent=2) + "\n"
    return files


def set_regions(runner: dict[str, Any], regions: int) -> dict[str, str]:
    """Put the runner's sub-broker groups under ``regions`` region brokers (contiguous, nearly equal sets in the
    order the groups first appear among the federates): a three-level hierarchy. 0 removes the region level.
    Returns the new ``vppfed.broker_parents`` (also set in ``runner``)."""
    if regions < 0:
        raise UserError("vppfed cluster: --regions must be >= 0 (0 = sub-brokers under the root)")
    extra = runner.setdefault("vppfed", {})
    placement = extra.get("brokers") or {}
    groups = list(dict.fromkeys(placement[f["name"]] for f in runner.get("federates") or [] if f["name"] in placement))
    if regions and not groups:
        raise UserError("vppfed cluster: --regions: the case has no sub-broker groups (feeders.sub_brokers = 0)")
    r = min(regions, len(groups))
    parents = {g: f"region{i * r // len(groups) + 1}" for i, g in enumerate(groups)} if r else {}
    if parents:
        extra["broker_parents"] = parents
    else:
        extra.pop("broker_parents", None)
    return parents


def write_cluster(case_dir: str | Path, options: ClusterOptions | None = None,
                  weights: Mapping[str, float] | None = None, regions: int | None = None) -> list[Path]:
    """Write :func:`cluster_files` for the built case in ``case_dir`` (reads its ``runner.json``; without
    ``weights``, those of an earlier ``cluster_plan.json`` are kept). Old ``runner_host<i>.json`` files go first.
    ``regions`` (not None) first rewrites the runner's region level (:func:`set_regions`), so ``vppfed run`` on the
    folder uses the same three-level hierarchy on one machine."""
    case_dir = Path(case_dir)
    runner_path = case_dir / "runner.json"
    if not runner_path.exists():
        raise UserError(f"{case_dir}: no runner.json (build the case first: vppfed config CASE --out DIR)")
    runner = load_json(runner_path, "helics runner JSON")
    if regions is not None:
        set_regions(runner, regions)
        atomic_write_text(runner_path, json.dumps(runner, indent=2) + "\n")
    old_plan = case_dir / "cluster_plan.json"
    if weights is None and old_plan.exists():
        try:
            weights = json.loads(old_plan.read_text(encoding="utf-8")).get("weights") or None
        except json.JSONDecodeError:
            weights = None
    for stale in case_dir.glob("runner_host*.json"):
        stale.unlink()
    written = []
    for rel, text in cluster_files(runner, options, weights).items():
        path = case_dir / rel
        path.write_text(text, encoding="utf-8", newline="\n")
        if rel.endswith((".sh", ".slurm")):
            path.chmod(0o755)
        written.append(path)
    return written
