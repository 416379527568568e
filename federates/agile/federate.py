"""Thin HELICS adapters: the aggregator federate and the unit-host federate (many units per process).

Timing (step length ``step`` seconds): unit hosts are granted ``k*step``, the aggregator ``(k-1/2)*step``, so each side
sees every message the other sent in the previous half step; the result equals :func:`~.netsim.run_network` with the
same seeds. Messages travel as one JSON list per host and direction and step over HELICS endpoints; loss and delay
are applied by the seeded :class:`~.link.Link` of the sender before the message is handed to HELICS (HELICS's random
filters cannot be seeded). Metrics: ``vpp_<root>_metrics.json`` (aggregator view) and ``vpphost<h>_<root>_metrics.json``
(each unit's own P [kW] and E [kWh]).
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from vppfed.federates.agile.aggregator import Aggregator, AggregatorConfig
from vppfed.federates.agile.link import Link, LinkConfig
from vppfed.federates.agile.portfolio import read_params_csv
from vppfed.federates.agile.signal import read_signal_csv
from vppfed.federates.agile.unit_host import UnitHost
from vppfed.federates.metrics import MetricsWriter
from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds

log = logging.getLogger(__name__)
ENDPOINT = "vpp"


def _link(text: str) -> LinkConfig:
    loss, delay, jitter = (text.split(",") + ["0", "0"])[:3]
    return LinkConfig(loss=float(loss), delay=int(delay), jitter=int(jitter))


class AggregatorFederate(FederateBase):
    """Receives registrations/reports, dispatches the signal (CSV or a subscribed value) to the unit hosts."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.config, stop_seconds(args))
        self.step_s = float(args.step)
        self.hosts = [h for h in args.hosts.split(",") if h]
        self.signal = read_signal_csv(args.signal) if args.signal else None
        self.signal_input, self.signal_scale = args.signal_input, float(args.signal_scale)
        self.agg = Aggregator(AggregatorConfig(keepalive_timeout=args.keepalive_timeout))
        self.downs = [Link(_link(args.downlink), args.seed * 1000 + 2 * h + 1) for h in range(len(self.hosts))]
        self.host_of: dict[str, int] = {}
        self.last_signal = 0.0
        self.metrics = MetricsWriter(Path(args.out), "vpp", args.metrics_root or "agile",
                                     [("signal", "kW"), ("planned", "kW"), ("fixed", "kW"), ("managed", "count"),
                                      ("unmanaged", "count"), ("reports", "count"), ("stale", "count")],
                                     "2013-07-01 00:00:00")

    def next_time(self, t: float) -> float:
        return (np.floor(t / self.step_s + 0.5) + 0.5) * self.step_s

    def on_step(self, t: float) -> None:
        k = int(round(t / self.step_s + 0.5))
        for src, payload, _ in self.receive(ENDPOINT):
            host = src.split("/")[0]
            for msg in json.loads(payload):
                if msg.get("type") == "register":
                    self.host_of[msg["unit"]] = self.hosts.index(host) if host in self.hosts else 0
                self.agg.receive(msg)
        signal = self._signal(k)
        commands, s = self.agg.step(k, signal)
        per_host: list[list[dict]] = [[] for _ in self.hosts]
        for cmd in commands:
            per_host[self.host_of.get(cmd["unit"], 0)].append(cmd)
        for h, host in enumerate(self.hosts):
            self.downs[h].send(per_host[h], k)
            due = self.downs[h].due(k)
            if due:
                self.send(ENDPOINT, f"{host}/{ENDPOINT}", json.dumps(due, separators=(",", ":")))
        self.metrics.write(t, {"vpp": [s.signal, s.planned, s.fixed, s.managed, s.unmanaged, s.reports, s.stale]})

    def _signal(self, k: int) -> float:
        if self.signal is not None:
            return float(self.signal[min(k, len(self.signal)) - 1])
        value = self.updated(self.signal_input) if self.signal_input else None
        if value is not None:
            self.last_signal = float(value) * self.signal_scale
        return self.last_signal

    def on_finish(self, failed: bool) -> None:
        self.metrics.close()


class UnitHostFederate(FederateBase):
    """Hosts the units of one params CSV block: integrates, applies commands, reports."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.config, stop_seconds(args))
        self.step_s = float(args.step)
        portfolio = read_params_csv(args.params)
        blocks = np.array_split(np.arange(len(portfolio)), args.of)
        self.units = portfolio.subset(blocks[args.index])
        self.host = UnitHost(self.units)
        self.up = Link(_link(args.uplink), args.seed * 1000 + 2 * args.index)
        self.aggregator = args.aggregator
        self.metrics = MetricsWriter(Path(args.out), f"vpphost{args.index}", args.metrics_root or "agile",
                                     [("P", "kW"), ("E", "kWh")], "2013-07-01 00:00:00")

    def on_start(self) -> None:
        self.up.send(self.host.registrations(), 0)
        self._flush(0)

    def _flush(self, k: int) -> None:
        due = self.up.due(k)
        if due:
            self.send(ENDPOINT, f"{self.aggregator}/{ENDPOINT}", json.dumps(due, separators=(",", ":")))

    def on_step(self, t: float) -> None:
        k = int(round(t / self.step_s))
        commands = [m for _, payload, _ in self.receive(ENDPOINT) for m in json.loads(payload)]
        self.up.send(self.host.step(k, commands), k)
        self._flush(k)
        self.metrics.write(t, {name: [float(self.host.P[i]), float(self.host.E[i])]
                               for i, name in enumerate(self.units.names)})

    def on_finish(self, failed: bool) -> None:
        self.metrics.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m vppfed.federates.agile aggregator|host --config X.json ...``."""
    parser = base_argument_parser("agile VPP federate")
    parser.add_argument("role", choices=("aggregator", "host"))
    parser.add_argument("--step", type=float, default=60.0, help="dispatch step [s] (even number)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=".", help="folder for metrics")
    parser.add_argument("--signal", default=None, help="signal CSV (aggregator)")
    parser.add_argument("--signal-input", default=None, help="subscription target to follow instead of a CSV")
    parser.add_argument("--signal-scale", type=float, default=1.0)
    parser.add_argument("--hosts", default="", help="comma-separated unit-host federate names (aggregator)")
    parser.add_argument("--keepalive-timeout", type=int, default=3)
    parser.add_argument("--downlink", default="0,0,0", help="loss,delay,jitter of dispatch messages")
    parser.add_argument("--uplink", default="0,0,0", help="loss,delay,jitter of reports (host)")
    parser.add_argument("--params", default=None, help="params CSV (host)")
    parser.add_argument("--index", type=int, default=0, help="this host's block of the params CSV")
    parser.add_argument("--of", type=int, default=1, help="number of hosts")
    parser.add_argument("--aggregator", default="vpp_aggregator")
    return run_federate(lambda a: AggregatorFederate(a) if a.role == "aggregator" else UnitHostFederate(a), parser,
                        argv)
