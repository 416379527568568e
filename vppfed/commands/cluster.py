"""``vppfed cluster``: (re)write the scale-out files of a built case for a number of hosts (SLURM)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vppfed.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cluster", help="write per-host runners, host_start.sh and a SLURM script for a built case folder",
        description="Place the federates of a built case folder on hosts under a HELICS broker hierarchy (a root "
                    "broker on host 0, each sub-broker group of the runner whole on one host) and write "
                    "runner_host<i>.json, host_start.sh, launch.slurm and cluster_plan.json into the folder. "
                    "Multi-feeder cases (feeders: section) write these when they are built; use this command to "
                    "change the host count, ports or core type without rebuilding.",
        epilog="examples:\n  vppfed config ercot8 --out runs/e8 && vppfed cluster runs/e8 --hosts 3\n"
               "  vppfed cluster runs/e8 --core-type tcp --time 08:00:00 --partition short\n"
               "  vppfed config ercot8 --buses 32 --set feeders.sub_brokers=8 --out runs/e32 && "
               "vppfed cluster runs/e32 --regions 2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("case_dir", type=Path, help="built case folder (holds runner.json)")
    p.add_argument("--hosts", type=int, default=0, help="hosts (default: one per sub-broker group)")
    p.add_argument("--core-type", choices=["zmq", "tcp"], default="zmq", help="HELICS core type (default zmq)")
    p.add_argument("--root-port", type=int, default=23500, help="root broker port on host 0 (default 23500)")
    p.add_argument("--sub-port", type=int, default=23510, help="first sub-broker port on a host (default 23510)")
    p.add_argument("--time", dest="time_limit", default="02:00:00", help="SLURM --time, HH:MM:SS (default 02:00:00)")
    p.add_argument("--regions", type=int, default=None,
                   help="region brokers between the root and the sub-broker groups (a three-level hierarchy; also "
                        "rewrites runner.json so 'vppfed run DIR' uses it; 0 = two levels; default: as built)")
    p.add_argument("--partition", default="", help="SLURM --partition")
    p.add_argument("--account", default="", help="SLURM --account")
    p.set_defaults(func=cmd_cluster)


def cmd_cluster(args: argparse.Namespace) -> int:
    from vppfed.configs.cluster import ClusterOptions, write_cluster
    from vppfed.io import parse_dataclass

    if not args.case_dir.is_dir():
        raise UserError(f"{args.case_dir}: not a folder")
    options = parse_dataclass(ClusterOptions, {
        "hosts": args.hosts, "core_type": args.core_type, "root_port": args.root_port, "sub_port": args.sub_port,
        "time_limit": args.time_limit, "partition": args.partition, "account": args.account}, "vppfed cluster")
    written = write_cluster(args.case_dir, options, regions=args.regions)
    plan = json.loads((args.case_dir / "cluster_plan.json").read_text(encoding="utf-8"))
    for host in plan["hosts"]:
        groups = ", ".join(f"{b['name']}:{b['port']} ({len(b['members'])} federates"
                           f"{', under ' + b['parent'] if b.get('parent') not in (None, 'root') else ''})"
                           for b in host["brokers"])
        print(f"host {host['index']}: {groups}")
    print(f"wrote {len(written)} files into {args.case_dir}; submit with:  cd {args.case_dir} && sbatch launch.slurm")
    return 0
