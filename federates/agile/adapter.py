"""Thin HELICS adapters: the aggregator federate and the unit-host federate (many units per process).

Timing (step length ``S`` = ``--step`` seconds): step k = 1..N covers ``[(k-1) S, k S)``. The aggregator is granted
``(k-1) S + 1`` and dispatches step k; the unit hosts are granted ``(k-1) S + 2``, take the newest commands and
apply them. So each side sees every message the other sent one second earlier, and the result equals
:func:`~.netsim.run_network` with the same seeds. A host of GridLAB-D devices also reads the feeder's publications
from ``(k-1) S`` (the state at the start of step k, after the previous step's setpoints) and publishes setpoints that
the feeder writes before its next solve; the feeder's period (15 s) must divide ``S``, so no grant time is ever shared
with it and what each side sees does not depend on scheduling. The case horizon is ``N S``.

Messages travel as one JSON list per host and direction and step over HELICS endpoints; loss and delay are applied
by the seeded :class:`~.link.Link` of the sender before the message is handed to HELICS (HELICS's random filters
cannot be seeded).

Metrics (``StartTime`` = the case start; rows at the step's start time ``(k-1) S``, with the step number ``k``):

- ``vpp_<root>_metrics.json``, uid ``vpp``: step ``k``, ``step_s``, ``Ts_h``, ``signal``, ``planned`` (the
  aggregator's prediction of the total power), ``fixed`` (unmanaged units), ``p_min``/``p_max`` (feasible range of
  the portfolio as the aggregator sees it), unit counts, reports and stale reports;
- ``vppview_<root>_metrics.json``, one uid per unit: the aggregator's view, ``k``, ``E`` [kWh] and ``P`` [kW] it assumes,
  ``managed``, ``avail``;
- ``vppunit_<root>_host<h>_metrics.json``, one uid per unit: the unit's own ``P`` (applied/set), ``E`` at the start of
  the step, ``P_meas`` (what it delivered: equal to ``P`` for model units, measured by GridLAB-D for devices, NaN for
  the last step of a device host, which ends before the feeder has solved it), ``avail`` and its limits;
- with ``--market``, ``vppbid_<root>_metrics.json``, uid ``vpp``, one row per market interval at its start ``T``: the
  bid (baseline, forced and largest power, price statistics, sent or local), the award and the interval's signal.

Market mode (``--market vpp_market.json``, :mod:`.market_bidding`): the signal is the award of the substation's
double auction. At the last step whose grant is at or before ``T - bid_lead`` the aggregator sends its bid curve for
the interval ``[T, T + period)`` from its endpoint ``market`` to the market's endpoint; the market replies at ``T``,
which the aggregator reads at ``T + 1`` (the first step of the interval) and follows for the interval's steps.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vppfed.federates.agile.aggregator import Aggregator, AggregatorConfig
from vppfed.federates.agile.devices import DeviceBank, read_devices_json
from vppfed.federates.agile.link import Link, LinkConfig
from vppfed.federates.agile.market_bidding import (BiddingConfig, MarketBidder, MarketClock, PortfolioBid,
                                                   limits_from_aggregator)
from vppfed.federates.agile.portfolio import read_params_csv
from vppfed.federates.agile.signal import SignalInput, read_signal_csv
from vppfed.federates.agile.unit_host import Measurement, UnitHost
from vppfed.federates.metrics import MetricsWriter
from vppfed.federates.runtime import (FederateBase, FederateOptions, base_argument_parser, run_federate,
                                      stop_seconds)

log = logging.getLogger(__name__)
ENDPOINT = "vpp"
MARKET_ENDPOINT = "market"
AGGREGATOR_LEAD_S = 1
HOST_LEAD_S = 2

AGGREGATOR_COLUMNS = [("k", "count"), ("step_s", "s"), ("Ts_h", "h"), ("signal", "kW"), ("planned", "kW"),
                      ("fixed", "kW"), ("p_min", "kW"), ("p_max", "kW"), ("managed", "count"), ("unmanaged", "count"),
                      ("unavailable", "count"), ("reports", "count"), ("stale", "count")]
VIEW_COLUMNS = [("k", "count"), ("E", "kWh"), ("P", "kW"), ("managed", "bool"), ("avail", "bool")]
BID_COLUMNS = [("k", "count"), ("sent", "bool"), ("baseline", "kW"), ("forced", "kW"), ("max", "kW"),
               ("price_centre", "USD/kWh"), ("price_scale", "USD/kWh"), ("curve_points", "count"),
               ("clear_price", "USD/kWh"), ("clearing_type", "[0..5]=[Null,Fail,Price,Exact,Seller,Buyer]"),
               ("bought", "kW"), ("sold", "kW"), ("net", "kW"), ("curve_kw", "kW"), ("signal", "kW")]
UNIT_COLUMNS = [("k", "count"), ("P", "kW"), ("E", "kWh"), ("P_meas", "kW"), ("avail", "bool"), ("Pmin", "kW"),
                ("Pmax", "kW"), ("Emin", "kWh"), ("Emax", "kWh")]


def _link(text: str) -> LinkConfig:
    loss, delay, jitter = (text.split(",") + ["0", "0"])[:3]
    return LinkConfig(loss=float(loss), delay=int(delay), jitter=int(jitter))


class StepClock:
    """Grant times ``(k-1) * step + lead`` of one side of the VPP; step numbers from times and back."""

    def __init__(self, step: float, lead: float) -> None:
        if not 0 < lead < step:
            raise ValueError(f"step: {step} s is too short for a lead of {lead} s")
        self.step, self.lead = float(step), float(lead)

    def time_of(self, k: int) -> float:
        return (k - 1) * self.step + self.lead

    def step_of(self, t: float) -> int | None:
        """The step granted at ``t``, or None if ``t`` is not a grant time (the final grant at the stop time)."""
        k = (t - self.lead) / self.step + 1
        return int(round(k)) if abs(k - round(k)) < 1e-9 else None

    def next_time(self, t: float) -> float:
        return (math.floor((t - self.lead) / self.step + 1e-9) + 1) * self.step + self.lead


@dataclass(frozen=True)
class AggregatorOptions(FederateOptions):
    """What the aggregator federate is started with (the typed form of :func:`build_parser`'s options).

    ``config`` and ``stop_s`` come from :class:`~vppfed.federates.runtime.FederateOptions`.

    Attributes
    ----------
    step_s : float
        Dispatch step S [s] (>= 3).
    ts_hours : float
        Step length Ts of the unit model [h].
    seed : int
        Seed of the links' loss and jitter.
    out : Path
        Folder of the metrics files.
    start_label : str
        Metrics ``StartTime`` (the case start).
    metrics_root : str
        Root of the metrics file names.
    hosts : tuple of str
        Unit-host federate names.
    signal_csv : Path or None
        Signal CSV to dispatch (None: ``signal_input`` or no signal).
    signal_input : SignalInput or None
        A publication to follow instead of a CSV.
    market : Path or None
        Market bidding JSON (endpoint, bidding, clock): follow the double auction's award.
    keepalive_timeout_steps : int
        Steps without a report after which a unit is unmanaged.
    downlink : LinkConfig
        Loss, delay and jitter of the dispatch messages.
    """

    step_s: float = 60.0
    ts_hours: float = 1.0
    seed: int = 0
    out: Path = Path(".")
    start_label: str = "2013-07-01 00:00:00"
    metrics_root: str = "agile"
    hosts: tuple[str, ...] = ()
    signal_csv: Path | None = None
    signal_input: SignalInput | None = None
    market: Path | None = None
    keepalive_timeout_steps: int = 3
    downlink: LinkConfig = field(default_factory=LinkConfig)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "AggregatorOptions":
        """The options of a parsed :func:`build_parser` command line (role ``aggregator``)."""
        signal_input = (SignalInput(target=args.signal_input, type=args.signal_type, part=args.signal_part,
                                    scale=args.signal_scale, offset=args.signal_offset, add_own=args.signal_add_own,
                                    initial=args.signal_initial, settle_steps=args.signal_settle_steps,
                                    smoothing=args.signal_smoothing)
                        if args.signal_input else None)
        return cls(config=Path(args.config), stop_s=stop_seconds(args), step_s=float(args.step),
                   ts_hours=float(args.ts_hours), seed=int(args.seed), out=Path(args.out), start_label=args.start_label,
                   metrics_root=args.metrics_root or "agile", hosts=tuple(h for h in args.hosts.split(",") if h),
                   signal_csv=Path(args.signal) if args.signal else None, signal_input=signal_input,
                   market=Path(args.market) if args.market else None,
                   keepalive_timeout_steps=int(args.keepalive_timeout), downlink=_link(args.downlink))


class AggregatorFederate(FederateBase):
    """Receives registrations/reports, dispatches the signal (CSV or a subscribed value) to the unit hosts."""

    def __init__(self, options: AggregatorOptions) -> None:
        super().__init__(options.config, options.stop_s)
        self.clock = StepClock(options.step_s, AGGREGATOR_LEAD_S)
        self.ts_h = float(options.ts_hours)
        self.hosts = list(options.hosts)
        self.signal = read_signal_csv(options.signal_csv) if options.signal_csv else None
        self.signal_input = options.signal_input
        self.last_input: Any = None
        self.own_prev = 0.0
        self.agg = Aggregator(AggregatorConfig(Ts=self.ts_h, keepalive_timeout=options.keepalive_timeout_steps))
        self.downs = [Link(options.downlink, options.seed * 1000 + 2 * h + 1) for h in range(len(self.hosts))]
        self.host_of: dict[str, int] = {}
        root = options.metrics_root
        self.metrics = MetricsWriter(options.out, "vpp", root, AGGREGATOR_COLUMNS, options.start_label)
        self.views = MetricsWriter(options.out, "vppview", root, VIEW_COLUMNS, options.start_label)
        self.bidder: MarketBidder | None = None
        self.market_endpoint = ""
        self.bids: MetricsWriter | None = None
        self._bid_rows_written: set[float] = set()
        if options.market:
            spec = json.loads(options.market.read_text(encoding="utf-8"))
            self.market_endpoint = str(spec["endpoint"])
            self.bidder = MarketBidder(BiddingConfig(**spec.get("bidding", {})),
                                       MarketClock(step=self.clock.step, lead=AGGREGATOR_LEAD_S, **spec["clock"]),
                                       name=str(spec.get("bidder", "vpp")))
            self.bids = MetricsWriter(options.out, "vppbid", root, BID_COLUMNS, options.start_label)

    def next_time(self, t: float) -> float:
        return self.clock.next_time(t)

    def on_step(self, t: float) -> None:
        k = self.clock.step_of(t)
        if k is None:
            return
        for src, payload, _ in self.receive(ENDPOINT):
            host = src.split("/")[0]
            for msg in json.loads(payload):
                if msg.get("type") == "register":
                    self.host_of[msg["unit"]] = self.hosts.index(host) if host in self.hosts else 0
                self.agg.receive(msg)
        if self.bidder is not None:
            self._receive_awards()
        signal = self._signal(k)
        commands, s = self.agg.step(k, signal)
        self.own_prev = s.planned
        if self.bidder is not None:
            self.bidder.record_planned(k, s.planned)
            self._bid(k)
        per_host: list[list[dict]] = [[] for _ in self.hosts]
        for cmd in commands:
            per_host[self.host_of.get(cmd["unit"], 0)].append(cmd)
        for h, host in enumerate(self.hosts):
            self.downs[h].send(per_host[h], k)
            due = self.downs[h].due(k)
            if due:
                self.send(ENDPOINT, f"{host}/{ENDPOINT}", json.dumps(due, separators=(",", ":")))
        t_row = (k - 1) * self.clock.step
        self.metrics.write(t_row, {"vpp": [k, self.clock.step, self.ts_h, s.signal, s.planned, s.fixed, s.p_min,
                                           s.p_max, s.managed, s.unmanaged, s.unavailable, s.reports, s.stale]})
        a = self.agg
        if a.p is not None:
            managed = a.managed & a.active & a.available
            self.views.write(t_row, {name: [k, float(a.E[i]), float(a.P_assumed[i]), int(managed[i]),
                                            int(a.available[i])] for i, name in enumerate(a.p.names)})

    def _receive_awards(self) -> None:
        assert self.bidder is not None
        period = self.bidder.clock.period
        for _src, payload, t_msg in self.receive(MARKET_ENDPOINT):
            try:
                award = json.loads(payload)
            except json.JSONDecodeError:
                log.warning("%s: dropped an award that is not JSON", self.name)
                continue
            clear_time = round(float(t_msg) / period) * period
            if self.bidder.on_award(clear_time, award) is None:
                log.warning("%s: award for %g s without a bid", self.name, clear_time)

    def _market_signal(self, k: int) -> float:
        """The award of step k's market interval; before any bid, the portfolio's own curve at the expected price
        (a local bid for the rest of the interval, not sent)."""
        assert self.bidder is not None
        clock = self.bidder.clock
        T = clock.interval_of(k)
        value = self.bidder.signal_for(T)
        if value is None:
            remaining = clock.first_step(T) + clock.steps_per_period - k
            lim = limits_from_aggregator(self.agg, k, remaining)
            if lim is None:
                return 0.0       # no unit registered yet
            self.bidder.make_bid(lim, T, sent=False)
            value = self.bidder.signal_for(T)
        self._write_bid_row(T, k)
        return float(value)

    def _bid(self, k: int) -> None:
        """At the bid step of the next clearing: the curve for its interval, sent to the market."""
        assert self.bidder is not None
        T = self.bidder.clock.bid_for(k)
        if T is None:
            return
        lim = limits_from_aggregator(self.agg, self.bidder.clock.first_step(T), self.bidder.clock.steps_per_period)
        if lim is None:
            return
        bid = self.bidder.make_bid(lim, T)
        self.send(MARKET_ENDPOINT, self.market_endpoint, json.dumps(bid.message(self.bidder.name)))
        self.bidder.forget_before(T)

    def _write_bid_row(self, T: float, k: int) -> None:
        if self.bids is None or T in self._bid_rows_written:
            return
        rec = self.bidder.records.get(T) if self.bidder is not None else None
        if rec is None:
            return
        self._bid_rows_written.add(T)
        bid: PortfolioBid = rec.bid
        a = rec.award or {}
        nan = float("nan")
        self.bids.write(T, {"vpp": [k, int(rec.sent), bid.baseline, bid.forced_kw, bid.max_kw, bid.centre, bid.scale,
                                    len(bid.points), a.get("clear_price", nan), a.get("clearing_type", nan),
                                    a.get("bought_kw", nan), a.get("sold_kw", nan), a.get("net_kw", nan),
                                    a.get("curve_kw", nan), rec.signal]})

    def _signal(self, k: int) -> float:
        if self.bidder is not None:
            return self._market_signal(k)
        if self.signal is not None:
            return float(self.signal[min(k, len(self.signal)) - 1])
        if self.signal_input is None:
            return 0.0
        value = self.updated(self.signal_input.target, self.signal_input.type)
        if value is not None:
            self.last_input = value
        return self.signal_input.value(self.last_input, self.own_prev, k)

    def on_finish(self, failed: bool) -> None:
        self.metrics.close()
        self.views.close()
        if self.bids is not None:
            self.bids.close()


def project_battery_energy(measured: Measurement, bank: DeviceBank, lag: float) -> Measurement:
    """Battery inverters' energy at the moment the new setpoint takes effect, not when the state of charge was read.

    The feeder writes a setpoint at its first solve after the host published it, so the power read at the start of a
    step (the previous setpoint, already in effect) still flows for ``lag`` of the step (``feeder period / step``:
    a whole step when the feeder solves once per step) before this step's setpoint applies. The measured state of
    charge does not hold that energy yet; without it a battery at its lower limit is told to give back what it no
    longer has, and ends a step's discharge below ``Emin`` (measured in te30-vpp: 0.08 kWh at 5 kW and 60 s).
    Discharge counts through the battery's efficiency (the battery gives more than the grid gets), charge at face
    value (overestimating the stored energy keeps it clear of ``Emax``).
    """
    P = measured.P_meas
    ok = bank.is_bkt & np.isfinite(measured.E) & np.isfinite(P)
    if not np.any(ok):
        return measured
    eff = bank.discharge_efficiency()
    drawn = np.where(P < 0, P / np.where(eff > 0, eff, 1.0), P)
    E = np.where(ok, measured.E + lag * bank.Ts * np.where(ok, drawn, 0.0), measured.E)
    return Measurement(E=E, available=measured.available, P_meas=measured.P_meas)


@dataclass(frozen=True)
class UnitHostOptions(FederateOptions):
    """What a unit-host federate is started with (the typed form of :func:`build_parser`'s options).

    ``config`` and ``stop_s`` come from :class:`~vppfed.federates.runtime.FederateOptions`.

    Attributes
    ----------
    params : Path
        Params CSV of the whole portfolio (this host takes block ``index`` of ``of``).
    step_s : float
        Dispatch step S [s].
    ts_hours : float
        Step length Ts of the unit model [h].
    seed : int
        Seed of the uplink's loss and jitter.
    out : Path
        Folder of the metrics files.
    start_label : str
        Metrics ``StartTime`` (the case start).
    metrics_root : str
        Root of the metrics file names (``<root>_host<index>``).
    devices : Path or None
        Device map JSON: the units are GridLAB-D devices (None: integrated here).
    uplink : LinkConfig
        Loss, delay and jitter of the reports.
    actuation_lag : float
        Share of a step during which the previous setpoint still acts after the state is read.
    index, of : int
        This host's block of the params CSV, and the number of blocks.
    aggregator : str
        Federate name of the aggregator.
    """

    params: Path
    step_s: float = 60.0
    ts_hours: float = 1.0
    seed: int = 0
    out: Path = Path(".")
    start_label: str = "2013-07-01 00:00:00"
    metrics_root: str = "agile"
    devices: Path | None = None
    uplink: LinkConfig = field(default_factory=LinkConfig)
    actuation_lag: float = 0.0
    index: int = 0
    of: int = 1
    aggregator: str = "vpp_aggregator"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "UnitHostOptions":
        """The options of a parsed :func:`build_parser` command line (role ``host``)."""
        if not args.params:
            raise ValueError("host: --params is required")
        return cls(config=Path(args.config), stop_s=stop_seconds(args), params=Path(args.params),
                   step_s=float(args.step), ts_hours=float(args.ts_hours), seed=int(args.seed), out=Path(args.out),
                   start_label=args.start_label, metrics_root=args.metrics_root or "agile",
                   devices=Path(args.devices) if args.devices else None, uplink=_link(args.uplink),
                   actuation_lag=float(args.actuation_lag), index=int(args.index), of=int(args.of),
                   aggregator=args.aggregator)


class UnitHostFederate(FederateBase):
    """Hosts one block of the params CSV: integrates (or reads its devices), applies commands, reports."""

    def __init__(self, options: UnitHostOptions) -> None:
        super().__init__(options.config, options.stop_s)
        self.clock = StepClock(options.step_s, HOST_LEAD_S)
        portfolio = read_params_csv(options.params)
        blocks = np.array_split(np.arange(len(portfolio)), options.of)
        block = blocks[options.index]
        self.units = portfolio.subset(block)
        self.bank: DeviceBank | None = None
        if options.devices:
            devices = read_devices_json(options.devices)
            if [d.unit for d in devices] != list(portfolio.names):
                raise ValueError(f"{options.devices}: units differ from {options.params}")
            self.bank = DeviceBank([devices[i] for i in block], options.ts_hours)
            self.host = UnitHost(self.units, Ts=options.ts_hours, available=self.bank.initial_availability(),
                                 discharge_efficiency=self.bank.discharge_efficiency())
        else:
            self.host = UnitHost(self.units, Ts=options.ts_hours)
        self.up = Link(options.uplink, options.seed * 1000 + 2 * options.index)
        self.actuation_lag = float(options.actuation_lag)
        self.aggregator = options.aggregator
        self.metrics = MetricsWriter(options.out, "vppunit", f"{options.metrics_root}_host{options.index}",
                                     UNIT_COLUMNS, options.start_label)
        self._pending_row: dict[str, list[float]] | None = None
        self._pending_k = 0

    def on_start(self) -> None:
        self.up.send(self.host.registrations(), 0)
        self._flush(0)
        if self.bank is not None:
            self._publish_setpoints(force=True)

    def _flush(self, k: int) -> None:
        due = self.up.due(k)
        if due:
            self.send(ENDPOINT, f"{self.aggregator}/{ENDPOINT}", json.dumps(due, separators=(",", ":")))

    def _publish_setpoints(self, force: bool = False) -> None:
        assert self.bank is not None
        for key, value in self.bank.setpoints(self.host.P, force=force):
            self.publish(key, value)

    def _row(self, P_meas: np.ndarray) -> dict[str, list[float]]:
        h, p = self.host, self.units
        return {name: [h.k, float(h.P[i]), float(h.E[i]), float(P_meas[i]), int(h.available[i]), float(p.Pmin[i]),
                       float(p.Pmax[i]), float(p.Emin[i]), float(p.Emax[i])] for i, name in enumerate(p.names)}

    def on_step(self, t: float) -> None:
        k = self.clock.step_of(t)
        if k is None:
            return
        commands = [m for _, payload, _ in self.receive(ENDPOINT) for m in json.loads(payload)]
        measured = None
        if self.bank is not None:
            for target, typ in self.bank.targets():
                value = self.updated(target, typ)
                if value is not None:
                    self.bank.receive(target, value)
            measured = self.bank.measure()
            if self.actuation_lag > 0:
                measured = project_battery_energy(measured, self.bank, self.actuation_lag)
            if self._pending_row is not None:  # the previous step, now that its delivered power is measured
                for j, name in enumerate(self.units.names):
                    self._pending_row[name][3] = float(measured.P_meas[j])
                self.metrics.write((self._pending_k - 1) * self.clock.step, self._pending_row)
        self.up.send(self.host.step(k, commands, measured), k)
        self._flush(k)
        t_row = (k - 1) * self.clock.step
        if self.bank is not None:
            self._publish_setpoints()
            self._pending_row, self._pending_k = self._row(np.full(len(self.units), np.nan)), k
        else:
            self.metrics.write(t_row, self._row(self.host.P))

    def on_finish(self, failed: bool) -> None:
        if self._pending_row is not None:
            self.metrics.write((self._pending_k - 1) * self.clock.step, self._pending_row)
        self.metrics.close()


def build_parser() -> argparse.ArgumentParser:
    """The agile VPP federates' command line (the case builder writes it into the runner JSON)."""
    parser = base_argument_parser("agile VPP federate")
    parser.add_argument("role", choices=("aggregator", "host"), help="which federate to run")
    parser.add_argument("--step", type=float, default=60.0, help="dispatch step S [s] (>= 3)")
    parser.add_argument("--ts-hours", type=float, default=1.0,
                        help="step length Ts of the unit model [h] (1: the reference's abstract steps; S/3600 for "
                             "devices in kW and kWh)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the links' loss and jitter")
    parser.add_argument("--out", default=".", help="folder for metrics")
    parser.add_argument("--start-label", default="2013-07-01 00:00:00", help="metrics StartTime (the case start)")
    parser.add_argument("--signal", default=None, help="signal CSV (aggregator)")
    parser.add_argument("--signal-input", default=None, help="publication to follow instead of a CSV")
    parser.add_argument("--signal-type", choices=("double", "complex"), default="double",
                        help="HELICS type of --signal-input")
    parser.add_argument("--signal-part", choices=("real", "imag", "abs"), default="real",
                        help="part of a complex --signal-input that is followed")
    parser.add_argument("--signal-scale", type=float, default=1.0, help="kW per unit of the input")
    parser.add_argument("--signal-offset", type=float, default=0.0, help="kW")
    parser.add_argument("--signal-add-own", action="store_true",
                        help="add the VPP's planned power of the previous step (follow a quantity without the VPP)")
    parser.add_argument("--signal-initial", type=float, default=0.0,
                        help="signal before the first value and while settling [kW]")
    parser.add_argument("--signal-settle-steps", type=int, default=0, help="first steps that ignore the input")
    parser.add_argument("--signal-smoothing", type=float, default=1.0,
                        help="weight of the newest value in an exponential average (1: none)")
    parser.add_argument("--market", default=None,
                        help="market bidding JSON (endpoint, bidding, clock): follow the double auction's award")
    parser.add_argument("--hosts", default="", help="comma-separated unit-host federate names (aggregator)")
    parser.add_argument("--keepalive-timeout", type=int, default=3,
                        help="steps without a report after which a unit is unmanaged (aggregator)")
    parser.add_argument("--downlink", default="0,0,0", help="loss,delay,jitter of dispatch messages")
    parser.add_argument("--uplink", default="0,0,0", help="loss,delay,jitter of reports (host)")
    parser.add_argument("--params", default=None, help="params CSV (host)")
    parser.add_argument("--devices", default=None, help="device map JSON: units are GridLAB-D devices (host)")
    parser.add_argument("--actuation-lag", type=float, default=0.0,
                        help="share of a step during which the previous setpoint still acts after the state is read "
                             "(devices: feeder period / step); battery energies are projected over it")
    parser.add_argument("--index", type=int, default=0, help="this host's block of the params CSV")
    parser.add_argument("--of", type=int, default=1, help="number of hosts")
    parser.add_argument("--aggregator", default="vpp_aggregator", help="aggregator federate name (host)")
    parser.prog = "python -m vppfed.federates.agile"
    return parser


def build_federate(args: argparse.Namespace) -> FederateBase:
    """The federate of ``args.role``, built from a parsed :func:`build_parser` command line."""
    if args.role == "aggregator":
        return AggregatorFederate(AggregatorOptions.from_args(args))
    return UnitHostFederate(UnitHostOptions.from_args(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vppfed.federates.agile aggregator|host --config X.json ...``: parse, build and run."""
    return run_federate(build_federate, build_parser(), argv)
