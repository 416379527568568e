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

What it asks of the other sections (through ``ctx.handles``), the contract it relies on:

- ``handles["feeder"]``: ``.name`` (federate), ``.inventory`` (:class:`~vppfed.configs.feeder_glm.FeederInventory`:
  ``houses``, ``house_meter``, ``substation``), ``.publish(obj, prop, type)`` (the feeder publishes an object
  property under ``<obj><sep><prop>``) and ``.subscribe(target, obj, prop, type)`` (the feeder writes a received value
  into an object property);
- ``handles["bulk"]`` (optional, :class:`vppfed.configs.sections.bulk.BulkHandle`): ``.federate``, ``.bus`` and
  ``.add_curve_source(federate)`` (PYPOWER subscribes the five curve keys of ``sub_<bus>``); without a bulk grid the
  market clears against its initial price.

It stores ``handles["market"]`` (:class:`MarketHandle`): the federate name, the endpoint for external bids and the
agent dictionary, which other sections may extend (``"vpp"``, ``"batteries"``) before it is written at finalize.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from vppfed.configs.case import CaseContext
from vppfed.configs.validate import parse_dataclass, require
from vppfed.errors import UserError
from vppfed.federates.market.agent_dict import AgentDictOptions, HouseInfo, build_agent_dict
from vppfed.federates.market.helics_config import market_helics_config

SECTION = "market"
ORDER = 30  # after the feeder and bulk grid, before agents that bid into it


@dataclass
class MarketSection:
    """The ``market:`` YAML section (see the module docstring for each field)."""

    enabled: bool = True
    pricecap: float = 3.78
    init_price: float = 0.02078
    init_stdev: float = 0.01
    max_capacity_kw: float = 5000.0
    participation: float = 1.0
    tesp_rng: bool = False
    rolling_statistics: bool = False
    external_bidders: bool = True
    meter_prices: bool = True

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
    houses = [HouseInfo(h, inventory.house_meter.get(h, "")) for h in inventory.houses]
    options = AgentDictOptions(seed=ctx.seed_for(SECTION), tesp_compatible=cfg.tesp_rng,
                               participation=cfg.participation, dt=float(s.period), period=float(s.market_period),
                               gld_federate=feeder.name, pricecap=cfg.pricecap, init_price=cfg.init_price,
                               init_stdev=cfg.init_stdev, max_capacity_kw=cfg.max_capacity_kw)
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
                                    separator=sep, period=float(s.period), endpoint=cfg.external_bidders,
                                    meters=cfg.meter_prices)

    args = ["python", "-m", "vppfed.federates.market", "--config", ctx.config_name(name), "--agent-dict", dict_file,
            "--stop", f"{s.stop_seconds:g}", "--metrics-root", s.root, "--start", s.start, "--timezone", s.timezone]
    if not cfg.enabled:
        args.append("--no-market")
    if cfg.rolling_statistics:
        args.append("--rolling-statistics")
    ctx.add_federate(name, " ".join(shlex.quote(a) for a in args), config)
    ctx.on_finalize(lambda: ctx.write_json(dict_file, handle.agent_dict))
