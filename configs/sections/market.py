"""The ``market:`` section: TESP's substation market federate ``sub_<bus>`` and its ``<root>_agent_dict.json``.

YAML::

    market:
      enabled: true            # false = TESP's NoMarket (controllers follow their schedules; nothing clears)
      pricecap: 3.78           # $/kWh
      init_price: 0.02078      # $/kWh, also the centre of every HVAC ramp
      init_stdev: 0.01         # $/kWh
      max_capacity_kw: 5000    # substation offer at the LMP
      participation: 1.0       # share of houses whose controller bids
      tesp_rng: false          # numpy RandomState(seed) as TESP's prep_substation (seed 0 = TESP's TE30 numbers)
      rolling_statistics: false
      external_bidders: true   # endpoint sub_<bus>/market for VPP/battery bids
      agent_dict: null         # a TESP <root>_agent_dict.json to use as given (its controllers and market), in
                               # place of the generated one; path relative to the case YAML

What it asks of the other sections (through ``ctx.handles``), the contract it relies on:

- ``handles["feeder"]``: ``.name`` (federate), ``.inventory`` (:class:`~vppfed.federates.feeder.inventory.FeederInventory`:
  ``houses``, ``house_meter``, ``substation``, optional ``meter_class``), ``.publish(obj, prop, type, key=None)`` (the
  feeder publishes an object property under ``<obj><sep><prop>`` or ``key``) and ``.subscribe(target, obj, prop,
  type)`` (the feeder writes a received value into an object property);
- ``handles["bulk"]`` (optional, :class:`vppfed.configs.sections.bulk.BulkHandle`): ``.federate``, ``.bus`` and
  ``.add_curve_source(federate)`` (PYPOWER subscribes the five curve keys of ``sub_<bus>``); without a bulk grid the
  market clears against its initial price.

It stores ``handles["market"]`` (:class:`MarketHandle`): the federate name, the endpoint for external bids and the
agent dictionary, which other sections may extend (``"vpp"``, ``"batteries"``) before it is written at finalize.
"""
from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field
from typing import Any

from vppfed.configs.case import CaseContext
from vppfed.io import core_default, load_json, parse_dataclass, require
from vppfed.errors import UserError
from vppfed.federates.market.agent_dict import AgentDictOptions, HouseInfo, build_agent_dict
from vppfed.federates.market.helics_config import market_helics_config

log = logging.getLogger(__name__)

SECTION = "market"
ORDER = 30  # after the feeder and bulk grid, before agents that bid into it


@dataclass
class MarketSection:
    """The ``market:`` YAML section (see the module docstring for each field); the fields it shares with
    :class:`~vppfed.federates.market.agent_dict.AgentDictOptions` take their defaults from there."""

    enabled: bool = True
    pricecap: float = core_default(AgentDictOptions, "pricecap")
    init_price: float = core_default(AgentDictOptions, "init_price")
    init_stdev: float = core_default(AgentDictOptions, "init_stdev")
    max_capacity_kw: float = core_default(AgentDictOptions, "max_capacity_kw")
    participation: float = core_default(AgentDictOptions, "participation")
    tesp_rng: bool = False
    rolling_statistics: bool = False
    external_bidders: bool = True
    meter_prices: bool = True
    agent_dict: str | None = None

    def validate(self) -> None:
        require(self.pricecap > 0, "pricecap", "must be > 0 $/kWh")
        require(self.init_stdev > 0, "init_stdev", "must be > 0 $/kWh (the HVAC ramps divide by it)")
        require(0 <= self.init_price < self.pricecap, "init_price", "must be in [0, pricecap)")
        require(self.max_capacity_kw >= 0, "max_capacity_kw", "must be >= 0 kW")
        require(0 <= self.participation <= 1, "participation", "must be in [0, 1]")


@dataclass
class MarketHandle:
    """What other sections see of the market."""

    name: str
    bus: int
    endpoint: str
    enabled: bool
    agent_dict: dict[str, Any] = field(default_factory=dict)
    agent_dict_file: str = ""


def build(ctx: CaseContext, raw: dict[str, Any]) -> None:
    """Add ``sub_<bus>``, write the agent dictionary, wire the feeder and the bulk grid to it."""
    where = ctx.where(SECTION)
    cfg = parse_dataclass(MarketSection, raw, where)
    feeder = ctx.handles.get("feeder")
    if feeder is None:
        raise UserError(f"{where}: needs a feeder: section (the market's bidders are the feeder's houses)")
    bulk = ctx.handles.get("bulk")
    bus = int(getattr(bulk, "bus", 7)) if bulk is not None else 7
    name = f"sub_{bus}"
    s = ctx.settings
    inventory = feeder.inventory
    if cfg.agent_dict is not None:
        agent_dict = _given_agent_dict(ctx, cfg, set(raw or {}), feeder, where)
    else:
        houses = [HouseInfo(h, inventory.house_meter.get(h, "")) for h in inventory.houses]
        options = AgentDictOptions(seed=ctx.seed_for(SECTION), tesp_compatible=cfg.tesp_rng,
                                   participation=cfg.participation, dt=float(s.period_s),
                                   period=float(s.market_period_s), gld_federate=feeder.name, pricecap=cfg.pricecap,
                                   init_price=cfg.init_price, init_stdev=cfg.init_stdev,
                                   max_capacity_kw=cfg.max_capacity_kw)
        agent_dict = build_agent_dict(houses, options)
    dict_file = f"{s.root}_agent_dict.json"
    handle = MarketHandle(name=name, bus=bus, endpoint=f"{name}/market", enabled=cfg.enabled, agent_dict=agent_dict,
                          agent_dict_file=dict_file)
    ctx.handles[SECTION] = handle

    # the feeder publishes what the controllers read and writes what they decide
    sep = s.separator
    feeder.publish(inventory.substation, "distribution_load", "complex")
    for ctl, row in agent_dict["controllers"].items():
        house, meter = row["houseName"], row["meterName"]
        for prop, typ in (("air_temperature", "double"), ("hvac_load", "double"), ("power_state", "string")):
            feeder.publish(house, prop, typ)
        for prop in ("cooling_setpoint", "heating_setpoint", "thermostat_deadband"):
            feeder.subscribe(f"{name}/{ctl}/{prop}", house, prop, "double")
    # TESP's substation_loop (in place of ours) looks up every controller meter's <meter><sep>measured_voltage_1;
    # a plain `meter` has no _1, so its phase A voltage goes out under that key (as TESP's own GridLAB-D config does)
    meter_class = getattr(inventory, "meter_class", {}) or {}
    for meter in dict.fromkeys(row["meterName"] for row in agent_dict["controllers"].values() if row["meterName"]):
        if meter_class.get(meter, "triplex_meter") == "triplex_meter":
            feeder.publish(meter, "measured_voltage_1", "complex")
        else:
            feeder.publish(meter, "measured_voltage_A", "complex", key=f"{meter}{s.separator}measured_voltage_1")
    if cfg.meter_prices:
        seen: set[str] = set()
        for ctl, row in agent_dict["controllers"].items():
            meter = row["meterName"]
            if meter and meter not in seen:
                seen.add(meter)
                feeder.subscribe(f"{name}/{ctl}/{meter}/price", meter, "price", "double")
    if bulk is not None:
        bulk.add_curve_source(name)

    def config() -> dict[str, Any]:
        return market_helics_config(name, agent_dict, bulk=getattr(bulk, "federate", None), gld=feeder.name,
                                    separator=sep, period=float(s.period_s), endpoint=cfg.external_bidders,
                                    meters=cfg.meter_prices)

    args = ["python", "-m", "vppfed.federates.market", "--config", ctx.config_name(name), "--agent-dict", dict_file,
            "--stop", f"{s.stop_seconds:g}", "--metrics-root", s.root, "--start", s.start, "--timezone", s.timezone]
    if not cfg.enabled:
        args.append("--no-market")
    if cfg.rolling_statistics:
        args.append("--rolling-statistics")
    ctx.add_federate(name, " ".join(shlex.quote(a) for a in args), config)
    ctx.on_finalize(lambda: ctx.write_json(dict_file, handle.agent_dict))


#: fields the given agent dictionary sets (its market row and controllers)
_SET_BY_AGENT_DICT = ("pricecap", "init_price", "init_stdev", "max_capacity_kw", "participation", "tesp_rng")


def _given_agent_dict(ctx: CaseContext, cfg: MarketSection, given: set[str], feeder: Any, where: str) -> dict[str, Any]:
    """A TESP ``*_agent_dict.json`` as given, checked against the feeder: every controller's house and meter must be
    objects the feeder has (else one line naming the first missing ones). Only ``GridLABD`` (the feeder federate's
    name, which the market subscribes to) is set to this case's feeder."""
    for name in _SET_BY_AGENT_DICT:
        if name in given:
            raise UserError(f"{where}.{name}: not with market.agent_dict (the agent dictionary sets it)")
    path = ctx.resolve_input(cfg.agent_dict)
    label = f"{where}.agent_dict: {path}"
    try:
        doc = load_json(path)
    except UserError as exc:
        raise UserError(f"{where}.agent_dict: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("markets"), dict) or len(doc["markets"]) != 1 \
            or not isinstance(doc.get("controllers"), dict):
        raise UserError(f"{label}: expected TESP's layout: one entry under 'markets' and a 'controllers' mapping")
    inventory = feeder.inventory
    houses = set(inventory.houses)
    meters = set(inventory.billing_meters) | set(inventory.house_meter.values())
    for ctl, row in doc["controllers"].items():
        if not isinstance(row, dict):
            raise UserError(f"{label}: controllers.{ctl}: expected a mapping")
        missing = [k for k in ("houseName", "meterName") if k not in row]
        if missing:
            raise UserError(f"{label}: controllers.{ctl}: no '{missing[0]}'")
    absent = sorted({row["houseName"] for row in doc["controllers"].values()} - houses)
    if absent:
        raise UserError(f"{label}: {len(absent)} controller house(s) are not houses of the feeder "
                        f"({', '.join(absent[:3])}{' ...' if len(absent) > 3 else ''})")
    absent = sorted({row["meterName"] for row in doc["controllers"].values() if row["meterName"]} - meters)
    if absent:
        raise UserError(f"{label}: {len(absent)} controller meter(s) are not billing meters of the feeder "
                        f"({', '.join(absent[:3])}{' ...' if len(absent) > 3 else ''})")
    market = next(iter(doc["markets"].values()))
    period = market.get("period") if isinstance(market, dict) else None
    if period is not None and float(period) != float(ctx.settings.market_period_s):
        log.warning("%s: the market clears every %s s; case.market_period_s is %d s", label, period,
                    ctx.settings.market_period_s)
    doc["GridLABD"] = feeder.name
    return doc
