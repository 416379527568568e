"""HELICS adapter of the substation market (TESP's ``sub_<bus>``): maps inputs/outputs onto :class:`SubstationMarket`.

Interfaces (names as TESP's ``TE_Challenge_substation.json``; ``/`` and ``#`` both accepted in targets):

- publications ``unresponsive_mw``, ``responsive_max_mw``, ``responsive_c2``, ``responsive_c1`` (double),
  ``responsive_deg`` (integer), ``clear_price`` (double); per controller ``<ctl>/cooling_setpoint``,
  ``<ctl>/heating_setpoint``, ``<ctl>/thermostat_deadband``; per billing meter ``<ctl>/<meter>/bill_mode``,
  ``<ctl>/<meter>/price``, ``<ctl>/<meter>/monthly_fee`` (only those the config declares are published);
- inputs ``pypower/LMP_<bus>`` (the bus = all digits of this federate's name, as TESP), ``<gld>/distribution_load``
  (complex VA; the real part in kW is the auction's reference load), ``<gld>/<house>/air_temperature``,
  ``/hvac_load``, ``/power_state``;
- endpoint ``market`` (optional): external bids as JSON (:func:`~vppfed.federates.market.bidders.parse_bid_message`)
  due before ``T - 2 dt``; after clearing each bidder gets an award message back at its source endpoint.

Metrics: ``auction_<root>_metrics.json`` and ``controller_<root>_metrics.json`` through the shared writer.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from vppfed.federates.market.agent_dict import market_config_from_agent_dict
from vppfed.federates.market.bidders import award_message, parse_bid_message
from vppfed.federates.market.substation import (AUCTION_COLUMNS, AUCTION_EXTRA_COLUMNS, CONTROLLER_COLUMNS,
                                                MarketOptions, StepOutput, SubstationMarket,
                                                controllers_from_agent_dict)
from vppfed.federates.metrics import MetricsWriter
from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds

log = logging.getLogger(__name__)

ENDPOINT = "market"
HOUSE_PROPS = ("air_temperature", "hvac_load", "power_state")


def tesp_start_time(start: datetime, timezone: str) -> str:
    """TESP's auction/controller ``StartTime``: the local start with the zone's *standard* offset (``-0800``).

    TESP writes ``2013-07-01 00:00:00 -0800`` for ``PST+8PDT`` in July; we keep that convention for its readers.
    """
    match = re.match(r"^[A-Za-z]+([+-]?\d+)", timezone or "")
    hours = int(match.group(1)) if match else 0
    sign = "-" if hours > 0 else "+"  # POSIX: PST+8 is UTC-8
    return f"{start:%Y-%m-%d %H:%M:%S} {sign}{abs(hours):02d}00"


class MarketFederate(FederateBase):
    """``sub_<bus>``: bids at T - 2 dt, clears at T against ``LMP_<bus>``, publishes set points and prices.

    Parameters
    ----------
    config_path : path
        HELICS JSON.
    stop : float
        Simulated seconds.
    agent_dict : path
        TESP ``<root>_agent_dict.json`` (first market, all controllers).
    metrics_root : str
        Root of the metrics file names.
    with_market : bool
        False = TESP's ``NoMarket``.
    start : datetime
        Local time at t = 0 (set-point schedules).
    timezone : str
        POSIX zone of the case (only for the metrics' ``StartTime``).
    metrics_dir : path
        Folder of the metrics files.
    """

    def __init__(self, config_path: str | Path, stop: float, agent_dict: str | Path, metrics_root: str,
                 with_market: bool = True, start: datetime = datetime(2013, 7, 1), timezone: str = "PST+8PDT",
                 metrics_dir: str | Path = ".", rolling_statistics: bool = False) -> None:
        super().__init__(config_path, stop)
        agents = json.loads(Path(agent_dict).read_text(encoding="utf-8"))
        market = market_config_from_agent_dict(agents)
        dt = float(agents.get("dt", self.config.get("period", 15)))
        self.core = SubstationMarket(market, controllers_from_agent_dict(agents),
                                     MarketOptions(with_market=with_market, dt=dt, start=start,
                                                   rolling_statistics=rolling_statistics))
        self.gld = str(agents.get("GridLABD", "gld_7"))
        self.metrics_root = metrics_root
        self.metrics_dir = Path(metrics_dir)
        self.start_time = tesp_start_time(start, timezone)
        self.writers: dict[str, MetricsWriter] = {}
        self.house_inputs: dict[str, dict[str, Any]] = {}
        self.lmp_input: Any = None
        self.load_input: Any = None
        self.meter_pub: dict[str, str] = {}

    # ---------------------------------------------------------------- set up
    def _bind_inputs(self) -> None:
        bus = "".join(ch for ch in self.name if ch.isdigit())
        lmp = self.inputs_matching(lambda t: t.endswith(f"/LMP_{bus}"))
        self.lmp_input = lmp[0][1] if lmp else None
        load = self.inputs_matching(lambda t: t.endswith("/distribution_load"))
        self.load_input = load[0][1] if load else None
        if self.lmp_input is None:
            log.warning("%s: no LMP_%s input; the market clears at the initial price", self.name, bus)
        for ctl in self.core.controllers.values():
            house = ctl.params.house
            found = {}
            for prop in HOUSE_PROPS:
                match = self.inputs_matching(lambda t, p=prop: t.endswith(f"/{house}/{p}"))
                if match:
                    found[prop] = match[0][1]
            if not found:
                log.warning("%s: no inputs for house %s; its controller bids on defaults", self.name, house)
            self.house_inputs[house] = found
            key = f"{ctl.name}/{ctl.params.meter}/price"
            if ctl.params.meter not in self.meter_pub and self.has_publication(key):
                self.meter_pub[ctl.params.meter] = ctl.name

    def _publish_if(self, key: str, value: Any) -> None:
        if self.has_publication(key):
            self.publish(key, value)

    def on_start(self) -> None:
        self._bind_inputs()
        writers = {"auction": AUCTION_COLUMNS + AUCTION_EXTRA_COLUMNS, "controller": CONTROLLER_COLUMNS}
        for prefix, columns in writers.items():
            self.writers[prefix] = MetricsWriter(self.metrics_dir, prefix, self.metrics_root, columns,
                                                 self.start_time)
        setpoints = self.core.initial_setpoints()
        for name, ctl in self.core.controllers.items():
            self._publish_if(f"{name}/thermostat_deadband", ctl.params.deadband)
            self._publish_if(f"{name}/heating_setpoint", 60.0)
            if name in setpoints:
                self._publish_if(f"{name}/cooling_setpoint", setpoints[name])
        for meter, ctl_name in self.meter_pub.items():
            self._publish_if(f"{ctl_name}/{meter}/bill_mode", "HOURLY")
            self._publish_if(f"{ctl_name}/{meter}/monthly_fee", 0.0)

    def next_time(self, t: float) -> float:
        return self.core.next_time(t)

    # ------------------------------------------------------------------ step
    def _read_inputs(self) -> None:
        if self.lmp_input is not None and self.is_updated(self.lmp_input):
            self.core.set_lmp(self.read_double(self.lmp_input))
        if self.load_input is not None and self.is_updated(self.load_input):
            self.core.set_refload(self.read_complex(self.load_input).real / 1000.0)
        for house, inputs in self.house_inputs.items():
            values: dict[str, Any] = {}
            for prop, inp in inputs.items():
                if self.is_updated(inp):
                    values[prop] = self.read_string(inp) if prop == "power_state" else self.read_double(inp)
            if values:
                self.core.observe_house(house, **values)
        if ENDPOINT in self.interfaces.endpoints:
            for source, payload, _time in self.receive(ENDPOINT):
                try:
                    self.core.submit(parse_bid_message(payload, sender=source))
                except ValueError as exc:
                    log.warning("%s: dropped a bid: %s", self.name, exc)

    def on_step(self, t: float) -> None:
        self._read_inputs()
        out = self.core.step(t)
        self._publish(out)

    def _publish(self, out: StepOutput) -> None:
        if out.aggregate is not None:
            agg = out.aggregate
            self._publish_if("unresponsive_mw", float(agg.unresponsive_mw))
            self._publish_if("responsive_max_mw", float(agg.responsive_max_mw))
            self._publish_if("responsive_c2", float(agg.c2))
            self._publish_if("responsive_c1", float(agg.c1))
            self._publish_if("responsive_deg", int(agg.deg))
        if out.clear_price is not None:
            self._publish_if("clear_price", float(out.clear_price))
        for name, setpoint in out.cooling_setpoints.items():
            self._publish_if(f"{name}/cooling_setpoint", float(setpoint))
        for meter, price in out.meter_prices.items():
            ctl_name = self.meter_pub.get(meter)
            if ctl_name is not None:
                self._publish_if(f"{ctl_name}/{meter}/price", float(price))
        for bidder, award in out.awards.items():
            if ENDPOINT in self.interfaces.endpoints:
                bid = award["bid"]
                reply = award_message(bid, out.clearing, award["bought_kw"], award["sold_kw"])
                self.send(ENDPOINT, bid.reply_to or bidder, reply)
        if out.controller_metrics is not None:
            key, rows = out.controller_metrics
            self.writers["controller"].write(key, rows)
        if out.auction_metrics is not None:
            key, rows = out.auction_metrics
            self.writers["auction"].write(key, rows)

    def on_finish(self, failed: bool) -> None:
        for writer in self.writers.values():
            writer.close()


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``python -m vppfed.federates.market``."""
    parser = base_argument_parser("TESP-style substation market federate (double auction + HVAC controllers)")
    parser.add_argument("--agent-dict", required=True, help="TESP <root>_agent_dict.json")
    parser.add_argument("--no-market", action="store_true", help="TESP's NoMarket: schedules only, nothing clears")
    parser.add_argument("--start", default="2013-07-01 00:00:00", help="local start time 'YYYY-mm-dd HH:MM:SS'")
    parser.add_argument("--timezone", default="PST+8PDT", help="POSIX time zone of the case")
    parser.add_argument("--metrics-dir", default=".", help="folder of the metrics files")
    parser.add_argument("--rolling-statistics", action="store_true",
                        help="centre the HVAC ramps on the last day's clearing prices (TESP keeps the initial ones)")
    parser.prog = "python -m vppfed.federates.market"
    return parser


def build_federate(args: argparse.Namespace) -> MarketFederate:
    """The market federate of a parsed :func:`build_parser` command line."""
    root = args.metrics_root or Path(args.config).stem
    return MarketFederate(args.config, stop_seconds(args), args.agent_dict, root, with_market=not args.no_market,
                          start=datetime.strptime(args.start, "%Y-%m-%d %H:%M:%S"), timezone=args.timezone,
                          metrics_dir=args.metrics_dir, rolling_statistics=args.rolling_statistics)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m vppfed.federates.market``."""
    return run_federate(build_federate, build_parser(), argv)

