"""The ``vpp:`` section: the agile VPP as HELICS federates (one aggregator, ``hosts`` unit hosts).

YAML (units: exactly one of ``params``, ``scenario``, ``devices``; signal: exactly one of ``signal``,
``random_signal``, ``signal_input``, ``market``)::

    vpp:
      params: scenario.yaml              # a scenario-configurator YAML (units drawn with its seed), or a params CSV
                                         # in the reference layout (shared:bbb/scenario2_params.csv = ../shared/data)
      scenario: scenario.yaml            # the same as params: scenario.yaml (kept for older cases), or
      devices:                           # the generated feeder's devices (needs a feeder: section)
        battery_inverters: {soc_min: 0.2, soc_max: 0.9}     # buckets (P_Out)
        ev_chargers: {deadline_h: 4}                        # batteries (maximum_charge_rate), full by 4 h
        water_heaters: {boost_min: 15, deadline_h: [1, 4]}  # bakeries (re_override), one boost each
      signal: vpp.csv                    # signal CSV (Timestep,VPP Power), or a scenario YAML's signal: section, or
      random_signal: true                # the phase-2 signal (0/5/10 kW with p 0.3/0.3/0.4), seeded from the case, or
      signal_input:                      # another federate's publication: offset + scale * x (+ own power)
        target: feeder                   # 'feeder' = the feeder's distribution_load, or '<federate>/<key>'
        type: complex                    # double | complex
        part: real                       # real | imag | abs (complex only)
        scale: -0.001                    # kW per unit of x (here W -> kW, sign flipped)
        offset: 120.0                    # kW
        add_own: true                    # add the VPP's planned power of the previous step (flat-load target)
        initial: 0.0                     # kW before the first value and during settle_steps
        settle_steps: 2                  # first steps that ignore the input (the simulated feeder's start-up)
        smoothing: 1.0                   # weight of the newest value in an exponential average (1: none)
      market: true                       # or: bid into the market: section's double auction and follow the award;
                                         # a mapping sets the bidding (VppMarketSection; true = its defaults)
      signal_scale: 1.0                  # multiply a CSV or random signal (e.g. for bigger portfolios)
      hosts: 2                           # unit-host federates (units split in contiguous blocks)
      step_s: 36                         # dispatch step [s]; case.hours must be a whole number of steps
      ts_h: null                         # unit-model step Ts [h]: default 1 (reference units), step_s/3600 for devices
      keepalive_timeout_steps: 3         # dispatch steps without a unit's message before it counts as lost
      uplink: {loss: 0.3, delay: 1, jitter: 1}
      downlink: {loss: 0.3, delay: 0, jitter: 1}

Files written into the case folder: ``vpp_params.csv`` (the units, reference layout), ``vpp_signal.csv`` (CSV or
random signals), with devices ``vpp_devices.json`` (unit -> GridLAB-D objects and HELICS keys) and with ``market``
``vpp_market.json`` (the market's endpoint, the bidding parameters and the bid clock).

With ``market`` the aggregator bids its portfolio's power function into the ``market:`` section's auction
(``ctx.handles["market"]``: its endpoint, price cap, initial price statistics, period and federate step) once per
market period and follows the award (:mod:`vppfed.federates.agile.market_bidding`); the market period must be a
multiple of ``step_s``, and the unit model's step defaults to ``step_s/3600`` h (kW and kWh).

With ``devices`` the unit hosts subscribe to the feeder's publications of the devices' state and publish setpoints
that the feeder writes into the devices (``ctx.handles["feeder"].publish/subscribe``); the dispatch step must then be a
multiple of the feeder's period (``feeder.step_s``, default ``case.period_s``) so that no HELICS grant time is shared
with the feeder.
"""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np

from vppfed.configs.case import CaseContext
from vppfed.io import core_default, parse_dataclass, require
from vppfed.configs.vpp_devices import DeviceSelection
from vppfed.errors import UserError
from vppfed.federates.agile.link import LinkConfig
from vppfed.federates.agile.market_bidding import BiddingConfig
from vppfed.federates.agile.signal import SignalInput

SECTION = "vpp"
ORDER = 60
FEEDER_TARGET = "feeder"


@dataclass
class SignalInputSection:
    """``vpp.signal_input``: follow another federate's publication (see :class:`~.signal.SignalInput`, the home of
    these defaults; ``target`` has none there, here it is the feeder's load)."""

    target: str = FEEDER_TARGET
    type: Literal["double", "complex"] = core_default(SignalInput, "type")
    part: Literal["real", "imag", "abs"] = core_default(SignalInput, "part")
    scale: float = core_default(SignalInput, "scale")
    offset: float = core_default(SignalInput, "offset")
    add_own: bool = core_default(SignalInput, "add_own")
    initial: float = core_default(SignalInput, "initial")
    settle_steps: int = core_default(SignalInput, "settle_steps")
    smoothing: float = core_default(SignalInput, "smoothing")

    def validate(self) -> None:
        require(self.settle_steps >= 0, "settle_steps", "must be >= 0")
        require(0.0 < self.smoothing <= 1.0, "smoothing", f"must be in (0, 1], got {self.smoothing}")
        require(self.target == FEEDER_TARGET or "/" in self.target, "target",
                f"'{FEEDER_TARGET}' or '<federate>/<key>', got {self.target!r}")
        require(math.isfinite(self.scale) and math.isfinite(self.offset), "scale", "scale and offset must be finite")


@dataclass
class VppMarketSection:
    """``vpp.market``: how the aggregator bids (prices from the median and spread of recent cleared prices, shrunk
    towards the market's initial statistics; see :class:`~vppfed.federates.agile.market_bidding.BiddingConfig`, the
    home of the defaults of the fields they share; ``window_h``/``prior_h`` are hours here and prices there)."""

    window_h: float = 24.0          # cleared prices the statistics use [h]
    prior_h: float = 12.0           # weight of the market's initial price and stdev, as hours of cleared prices
    min_stdev: float = core_default(BiddingConfig, "min_stdev")        # $/kWh, floor of the price scale
    spread_sigma: float = core_default(BiddingConfig, "spread_sigma")       # ramp half-width of batteries and buckets [price scale]
    quantile_clip: float = core_default(BiddingConfig, "quantile_clip")
    price_floor: float = core_default(BiddingConfig, "price_floor")      # $/kWh, lowest bid price (> 0)
    net_of_baseline: bool = core_default(BiddingConfig, "net_of_baseline")    # bid D(p) - (the VPP power in the market's measured load)
    steps: int = core_default(BiddingConfig, "steps")                  # least market blocks per sloped curve segment ...
    max_steps: int = core_default(BiddingConfig, "max_steps")             # ... and most
    block_kw: float = core_default(BiddingConfig, "block_kw")           # wanted block size within those [kW]
    bid_lead_s: float = 45.0        # bid no later than T - bid_lead_s (> the market's 2 dt)

    def validate(self) -> None:
        require(self.window_h > 0, "window_h", "must be > 0 h")
        require(self.prior_h >= 0, "prior_h", "must be >= 0 h")
        require(self.min_stdev > 0, "min_stdev", "must be > 0 $/kWh")
        require(self.spread_sigma >= 0, "spread_sigma", "must be >= 0")
        require(0 < self.quantile_clip < 0.5, "quantile_clip", "must lie in (0, 0.5)")
        require(self.price_floor > 0, "price_floor", "must be > 0 $/kWh (the auction drops bids at or below 0)")
        require(1 <= self.steps <= self.max_steps, "steps", "need 1 <= steps <= max_steps")
        require(self.block_kw > 0, "block_kw", "must be > 0 kW")
        require(self.bid_lead_s > 0, "bid_lead_s", "must be > 0 s")


@dataclass
class VppSection:
    """The ``vpp:`` YAML section (every field in the module docstring)."""

    #: old YAML name -> new one with its unit (read with a logged deprecation warning; giving both is an error)
    RENAMED: ClassVar[dict[str, str]] = {"step": "step_s", "keepalive_timeout": "keepalive_timeout_steps",
                                         "ts_hours": "ts_h"}

    params: str | None = None
    scenario: str | None = None
    devices: DeviceSelection | None = None
    signal: str | None = None
    random_signal: bool = False
    signal_input: SignalInputSection | None = None
    market: VppMarketSection | None = None   # ``true`` in the YAML = all defaults (see :func:`build`)
    signal_scale: float = 1.0
    hosts: int = 1
    step_s: int = 60
    ts_h: float | None = None
    keepalive_timeout_steps: int = 3
    uplink: LinkConfig = field(default_factory=LinkConfig)
    downlink: LinkConfig = field(default_factory=LinkConfig)

    def validate(self) -> None:
        require(sum(x is not None for x in (self.params, self.scenario, self.devices)) == 1, "params",
                "give exactly one of params, scenario, devices")
        require(sum((self.signal is not None, self.random_signal, self.signal_input is not None,
                     self.market is not None)) == 1, "signal",
                "give exactly one of signal, random_signal: true, signal_input, market")
        # every host is a federate process of its own: more than 256 on one case is a typo, not a study (and a huge
        # number made the build loop for minutes before the check against the portfolio size)
        require(1 <= self.hosts <= 256, "hosts", f"must be from 1 to 256 (one federate process each), got {self.hosts}")
        require(self.step_s >= 3, "step_s", "must be >= 3 s (the aggregator acts 1 s, the units 2 s into each step)")
        require(self.ts_h is None or self.ts_h > 0, "ts_h", "must be > 0 h")
        require(self.keepalive_timeout_steps >= 1, "keepalive_timeout_steps", "must be >= 1 step")


def _is_scenario(path: str | None) -> bool:
    """A ``params``/``signal`` value naming a scenario-configurator YAML rather than a reference-layout CSV."""
    return path is not None and path.lower().endswith((".yaml", ".yml"))


def horizon_steps(hours: float, step: int, where: str) -> int:
    """Number of dispatch steps in the case horizon; a horizon that is not a whole number of steps is an error."""
    stop = hours * 3600.0
    n = int(round(stop / step))
    if n < 1 or abs(n * step - stop) > 1e-6 * step:
        lo, hi = max(1, math.floor(stop / step)), math.ceil(stop / step)
        raise UserError(f"{where}: case.hours = {hours:g} h is {stop:g} s, not a whole number of {step} s steps "
                        f"(vpp.step_s); use {lo * step / 3600:.10g} h ({lo} steps) or {hi * step / 3600:.10g} h "
                        f"({hi} steps), or a step that divides {stop:g} s")
    return n


def start_label(start: str, timezone: str) -> str:
    """Metrics ``StartTime`` for the case start, like the feeder's (``2013-07-01 16:00:00 PDT``)."""
    from vppfed.federates.feeder.clock import GldClock

    return GldClock(start=start, timezone=timezone).start_label()


def build(ctx: CaseContext, raw: dict[str, Any]) -> None:
    """Write params/signal (and the device map) into the case and add the aggregator and unit-host federates."""
    from vppfed.configs.agile_scenario import build_portfolio, build_signal, load_scenario
    from vppfed.configs.vpp_devices import device_units, wire_devices
    from vppfed.federates.agile.devices import write_devices_json
    from vppfed.federates.agile.portfolio import make_portfolio, read_params_csv, write_params_csv
    from vppfed.federates.agile.signal import random_signal, read_signal_csv, write_signal_csv

    where = ctx.where(SECTION)
    raw = dict(raw)
    if isinstance(raw.get("market"), bool):   # market: true = bid with the defaults; false = no market
        raw["market"] = {} if raw["market"] else None
    cfg = parse_dataclass(VppSection, raw, where)
    s = ctx.settings
    steps = horizon_steps(s.hours, cfg.step_s, where)
    stop = steps * cfg.step_s
    feeder = ctx.handles.get("feeder")
    uses_feeder = cfg.devices is not None or (cfg.signal_input is not None and (
        cfg.signal_input.target == FEEDER_TARGET or (feeder is not None and cfg.signal_input.target.startswith(
            f"{feeder.name}/"))))
    if uses_feeder:
        if feeder is None:
            raise UserError(f"{where}: devices and signal_input.target 'feeder' need a feeder: section")
        period = int(feeder.helics.period)   # the feeder's HELICS period (feeder.step_s or case.period_s)
        if cfg.step_s % period != 0 or period <= 2:
            raise UserError(f"{where}.step_s: {cfg.step_s} s must be a multiple of the feeder's period "
                            f"({period} s, which must be > 2 s)")
    real_units = cfg.devices is not None or cfg.market is not None
    ts_hours = cfg.ts_h if cfg.ts_h is not None else (cfg.step_s / 3600.0 if real_units else 1.0)
    market_args: list[str] = []
    if cfg.market is not None:
        market_args = ["--market", _market_file(ctx, cfg, feeder, where)]

    hosts = [f"vpp_host{h}" for h in range(cfg.hosts)]
    devices = None
    pubs: dict[str, list[dict]] = {}
    subs: dict[str, list[dict]] = {}
    if cfg.devices is not None:
        units = device_units(cfg.devices, feeder.inventory, ctx.directory / feeder.device_glm, cfg.step_s, steps,
                             ctx.seed_for("vpp.devices"), where, lacks=feeder.lacks)
        portfolio = make_portfolio(units.rows, where=f"{where}.devices")
    elif cfg.scenario:
        portfolio = build_portfolio(load_scenario(ctx.resolve_input(cfg.scenario)), where=f"{where}.scenario")
    elif _is_scenario(cfg.params):
        # the built-in cases draw their units (no reference data needed); --set vpp.params=<CSV> replaces them
        portfolio = build_portfolio(load_scenario(ctx.resolve_input(cfg.params)), where=f"{where}.params")
    else:
        portfolio = read_params_csv(ctx.resolve_input(cfg.params))
    if cfg.hosts > len(portfolio):
        raise UserError(f"{where}.hosts: {cfg.hosts} hosts for {len(portfolio)} units")
    blocks = np.array_split(np.arange(len(portfolio)), cfg.hosts)
    host_of_unit = [""] * len(portfolio)
    for h, block in enumerate(blocks):
        for i in block:
            host_of_unit[i] = hosts[h]
    if cfg.devices is not None:
        devices, pubs, subs = wire_devices(units, host_of_unit, feeder, ctx.key)

    params_file, signal_file, devices_file = "vpp_params.csv", "vpp_signal.csv", "vpp_devices.json"
    write_params_csv(portfolio, ctx.directory / params_file)
    if devices is not None:
        write_devices_json(devices, ctx.directory / devices_file)
    signal_args: list[str] = []
    agg_subs: list[dict] = []
    if cfg.market is not None:
        pass
    elif cfg.signal_input is not None:
        si = cfg.signal_input
        target = si.target
        if target == FEEDER_TARGET:
            target = feeder.publish(feeder.inventory.substation, "distribution_load", "complex",
                                    key="distribution_load")
        agg_subs.append({"key": target, "type": si.type})
        signal_args = ["--signal-input", target, "--signal-type", si.type, "--signal-part", si.part,
                       "--signal-scale", repr(si.scale), "--signal-offset", repr(si.offset), "--signal-initial",
                       repr(si.initial), "--signal-settle-steps", str(si.settle_steps),
                       "--signal-smoothing", repr(si.smoothing)] + (
                           ["--signal-add-own"] if si.add_own else [])
    else:
        if cfg.signal and _is_scenario(cfg.signal):
            scenario = load_scenario(ctx.resolve_input(cfg.signal))
            if scenario.signal is None:
                raise UserError(f"{where}.signal: {cfg.signal} has no signal: section")
            # drawn for the case's horizon (its steps: counts for vppfed agile scenario only)
            signal = build_signal(replace(scenario, signal=replace(scenario.signal, steps=steps)))
        elif cfg.signal:
            signal = read_signal_csv(ctx.resolve_input(cfg.signal))
        if cfg.signal:
            if len(signal) < steps:
                raise UserError(f"{where}.signal: {len(signal)} steps, the case needs {steps} "
                                f"({s.hours:g} h / {cfg.step_s} s)")
        else:
            signal = random_signal(steps, ctx.seed_for("vpp.signal"))
        write_signal_csv(signal * cfg.signal_scale, ctx.directory / signal_file)
        signal_args = ["--signal", signal_file]

    seed = ctx.seed_for("vpp.links")
    agg = "vpp_aggregator"
    link = lambda c: f"{c.loss},{c.delay},{c.jitter}"  # noqa: E731
    common = ["--stop", f"{stop:g}", "--metrics-root", s.root, "--step", str(cfg.step_s), "--seed", str(seed),
              "--ts-hours", repr(ts_hours), "--start-label", start_label(s.start, s.timezone)]
    args = ["python", "-m", "vppfed.federates.agile", "aggregator", "--config", ctx.config_name(agg), *common,
            *signal_args, *market_args, "--hosts", ",".join(hosts), "--keepalive-timeout",
            str(cfg.keepalive_timeout_steps), "--downlink", link(cfg.downlink)]
    agg_config = {"name": agg, "period": 1.0, "log_level": "warning", "terminate_on_error": True,
                  "uninterruptible": True, "endpoints": [{"name": "vpp", "global": False}]}
    if market_args:
        agg_config["endpoints"].append({"name": "market", "global": False})
    if agg_subs:
        agg_config["subscriptions"] = agg_subs
    ctx.add_federate(agg, " ".join(shlex.quote(a) for a in args), agg_config)
    for h, host in enumerate(hosts):
        args = ["python", "-m", "vppfed.federates.agile", "host", "--config", ctx.config_name(host), *common,
                "--params", params_file, "--index", str(h), "--of", str(cfg.hosts), "--aggregator", agg,
                "--uplink", link(cfg.uplink)]
        if devices is not None:
            # the feeder writes a setpoint at its first solve after the host published it: the previous one still
            # acts for period/step of each step (battery energies are projected over it)
            args += ["--devices", devices_file, "--actuation-lag", repr(period / cfg.step_s)]
        config: dict[str, Any] = {"name": host, "period": 1.0, "log_level": "warning", "terminate_on_error": True,
                                  "uninterruptible": True, "endpoints": [{"name": "vpp", "global": False}]}
        if pubs.get(host):
            config["publications"] = pubs[host]
        if subs.get(host):
            config["subscriptions"] = subs[host]
        ctx.add_federate(host, " ".join(shlex.quote(a) for a in args), config)


def _market_file(ctx: CaseContext, cfg: VppSection, feeder: Any, where: str) -> str:
    """Check the market this VPP bids into and write ``vpp_market.json`` (endpoint, bidding, clock)."""
    from vppfed.federates.agile.market_bidding import BiddingConfig, MarketClock
    from vppfed.federates.market.agent_dict import market_config_from_agent_dict

    m = cfg.market
    assert m is not None
    handle = ctx.handles.get("market")
    if handle is None:
        raise UserError(f"{where}.market: needs a market: section (the auction the VPP bids into)")
    if not handle.enabled:
        raise UserError(f"{where}.market: the market is disabled (market.enabled: false, TESP's NoMarket clears "
                        "nothing); enable it (vppfed run ... --market) or give the VPP another signal")
    if not (ctx.section("market") or {}).get("external_bidders", True):
        raise UserError(f"{where}.market: market.external_bidders is false: the market takes no external bids")
    market = market_config_from_agent_dict(handle.agent_dict)
    period = float(market.period)
    if period % cfg.step_s:
        raise UserError(f"{where}.step_s: the market period ({period:g} s) must be a multiple of step_s ({cfg.step_s} s)")
    dt = float(handle.agent_dict.get("dt", ctx.settings.period_s))
    if not 2 * dt < m.bid_lead_s < period - 1:
        raise UserError(f"{where}.market.bid_lead_s: must lie between the market's bid time 2 dt = {2 * dt:g} s "
                        f"and the period ({period:g} s), got {m.bid_lead_s:g}")
    feeder_period = float(feeder.helics.period) if feeder is not None else float(ctx.settings.period_s)
    window = max(2, int(round(m.window_h * 3600.0 / period)))
    try:
        bidding = BiddingConfig(pricecap=market.pricecap, price_floor=m.price_floor, init_price=market.init_price,
                                init_stdev=market.init_stdev, window=window,
                                prior_weight=m.prior_h * 3600.0 / period,
                                min_stdev=m.min_stdev, spread_sigma=m.spread_sigma, quantile_clip=m.quantile_clip,
                                net_of_baseline=m.net_of_baseline, steps=m.steps,
                                max_steps=m.max_steps, block_kw=m.block_kw)
        clock = MarketClock(period=period, step=float(cfg.step_s), bid_lead=m.bid_lead_s, market_lead=2 * dt,
                            feeder_period=feeder_period)
    except ValueError as exc:
        raise UserError(f"{where}.market: {exc}") from None
    spec = {"endpoint": handle.endpoint, "bidder": "vpp",
            "bidding": {k: getattr(bidding, k) for k in bidding.__dataclass_fields__},
            "clock": {k: getattr(clock, k) for k in ("period", "bid_lead", "market_lead", "feeder_period",
                                                     "host_lead")}}
    name = "vpp_market.json"
    ctx.write_json(name, spec)
    return name
