"""The whole VPP network in one process: aggregator, unit hosts and seeded lossy links, no HELICS.

It uses the same cores and the same link model as the HELICS federates, with the same order within each step ``k``:
first the aggregator (reads what the units sent up to step ``k - 1``, dispatches step ``k``), then the units
(integrate, apply the newest command, report); the federates are granted ``(k-1) S + 1`` and ``(k-1) S + 2`` s. With a perfect network the result equals the centralised ``strict``
dispatch bit for bit; with loss and delay it shows what the corner-case and fault rules do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vppfed.federates.agile.aggregator import Aggregator, AggregatorConfig, AggregatorStep
from vppfed.federates.agile.link import Link, LinkConfig
from vppfed.federates.agile.portfolio import Portfolio
from vppfed.federates.agile.rules import StepSummary, summarise
from vppfed.federates.agile.simulate import Trace, write_output_csv, write_unit_trace_csv
from vppfed.federates.agile.unit_host import UnitHost


@dataclass
class NetworkTrace(Trace):
    """A :class:`Trace` of the true unit powers/energies plus the aggregator's view and its per-step summaries."""

    view_energy: np.ndarray | None = None
    aggregator: list[AggregatorStep] = field(default_factory=list)
    dropped: int = 0
    sent: int = 0


def split_hosts(n_units: int, hosts: int) -> list[np.ndarray]:
    """Contiguous blocks of unit indices, one per host (file order kept)."""
    return [b for b in np.array_split(np.arange(n_units), max(1, min(hosts, n_units))) if b.size]


def run_network(portfolio: Portfolio, signal: np.ndarray, hosts: int = 1, uplink: LinkConfig | None = None,
                downlink: LinkConfig | None = None, seed: int = 0, aggregator: AggregatorConfig | None = None,
                silent: dict[int, tuple[int, int]] | None = None) -> NetworkTrace:
    """Run ``len(signal)`` steps.

    Parameters
    ----------
    hosts : int
        Number of unit hosts (federates); units are split in contiguous blocks.
    uplink, downlink : LinkConfig
        Loss/delay of unit->aggregator and aggregator->unit messages; each host has its own seeded pair of links
        (seeds derived from ``seed`` and the host number).
    silent : dict, optional
        ``{unit index: (first step, last step)}``: the unit sends nothing in that window (radio outage).
    """
    uplink, downlink = uplink or LinkConfig(), downlink or LinkConfig()
    blocks = split_hosts(len(portfolio), hosts)
    units = [UnitHost(portfolio.subset(b)) for b in blocks]
    ups = [Link(uplink, seed * 1000 + 2 * h) for h in range(len(blocks))]
    downs = [Link(downlink, seed * 1000 + 2 * h + 1) for h in range(len(blocks))]
    agg = Aggregator(aggregator)
    n, m = len(signal), len(portfolio)
    trace = NetworkTrace(power=np.empty((n, m)), energy=np.empty((n, m)), view_energy=np.empty((n, m)))
    for host, up in zip(units, ups):
        up.send(host.registrations(), 0)
    position = {name: i for i, name in enumerate(portfolio.names)}
    silent = silent or {}
    for k in range(1, n + 1):
        for up in ups:
            for msg in up.due(k - 1):
                agg.receive(msg)
        commands, agg_step = agg.step(k, float(signal[k - 1]))
        trace.aggregator.append(agg_step)
        by_host: list[list[dict]] = [[] for _ in blocks]
        host_of = {}
        for h, b in enumerate(blocks):
            for i in b:
                host_of[portfolio.names[i]] = h
        for cmd in commands:
            by_host[host_of[cmd["unit"]]].append(cmd)
        for h, (host, up, down) in enumerate(zip(units, ups, downs)):
            down.send(by_host[h], k)
            reports = host.step(k, down.due(k))
            reports = [r for r in reports if not _is_silent(silent, position[r["unit"]], k)]
            up.send(reports, k)
            trace.power[k - 1, blocks[h]] = host.P
            trace.energy[k - 1, blocks[h]] = host.E
        view = np.full(m, np.nan)
        if agg.p is not None:
            for name, j in agg.index.items():
                view[position[name]] = agg.E[j]
        trace.view_energy[k - 1] = view
        trace.steps.append(summarise(k, float(signal[k - 1]), portfolio.kind, trace.power[k - 1], np.nan, np.nan))
    trace.energy_end = np.clip(trace.energy[-1] + trace.power[-1], portfolio.Emin, portfolio.Emax)
    trace.dropped = sum(link.dropped for link in ups + downs)
    trace.sent = sum(link.sent for link in ups + downs)
    return trace


def _is_silent(silent: dict[int, tuple[int, int]], i: int, k: int) -> bool:
    window = silent.get(i)
    return window is not None and window[0] <= k <= window[1]


def write_network_outputs(trace: NetworkTrace, portfolio: Portfolio, out_dir: str | Path) -> list[Path]:
    """``agile_output.csv`` (true powers), ``agile_units.csv`` and ``agile_views.csv`` (own vs aggregator's E)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_output_csv(trace, out / "agile_output.csv")
    write_unit_trace_csv(trace, portfolio, out / "agile_units.csv")
    with (out / "agile_views.csv").open("w", encoding="utf-8") as fh:
        fh.write("Timestep,Type-ID,E,E_agg,Emin,Emax\n")
        for s in range(trace.energy.shape[0]):
            for i, name in enumerate(portfolio.names):
                fh.write(f"{s + 1},{name},{trace.energy[s, i]:.9g},{trace.view_energy[s, i]:.9g},"
                         f"{portfolio.Emin[i]:.9g},{portfolio.Emax[i]:.9g}\n")
    return [out / "agile_output.csv", out / "agile_units.csv", out / "agile_views.csv"]


def summary_of(trace: NetworkTrace) -> StepSummary | None:
    return trace.steps[-1] if trace.steps else None
