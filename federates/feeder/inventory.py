"""The inventory of a GridLAB-D feeder model: its objects by role, read from the checkpoint JSON of a loaded model.

Used at configuration time (:mod:`vppfed.configs.glm_discovery` loads a user's model and writes the inventory) and by
the feeder federate at run time when a model comes without an inventory file (:mod:`.discover`); it lives in the
federate layer so that the federate needs no configs module.

Choices (documented here because other sections rely on them):

- **Billing meters** are every ``triplex_meter`` (TESP's convention) and every ``meter`` that has a ``bill_mode``
  other than ``NONE`` or is the direct parent of a ``house``, ``load``, ``ZIPload`` or ``inverter``; the feeder head is
  never one. Meters nested below another billing meter are listed in ``meter_upstream`` (the metrics subtract them
  from the upstream meter so nothing counts twice).
- **Devices** (inverters, batteries, water heaters, EV chargers) belong to the house found through ``parent``: a
  water heater or EV charger is a child of its house; an inverter hangs from a meter, and its house is the first
  house billed by that meter; a battery or solar panel belongs to its inverter's house. An inverter with a ``battery``
  child is a battery inverter, any other one a PV inverter.
- **Feeder head**: the ``substation`` object if there is one (``head_kind`` "substation"), else the ``SWING`` node or
  meter (``head_kind`` "swing", IEEE test feeders). See :mod:`vppfed.configs.glm_discovery` for the measurements.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from vppfed.errors import UserError
from vppfed.federates.feeder.meter_nesting import upstream_billing_meters

log = logging.getLogger(__name__)

__all__ = ["SUBSTATION_NAME", "SUBSTATION_TRANSFORMER_NAME", "CLIMATE_NAME", "HEARTBEAT_NAME", "FeederInventory",
           "objects_from_checkpoint", "find_head", "inventory_from_objects"]

#: GridLAB-D name of the SWING substation (TESP's TE30 name; the glm_dict ``feeder_id`` of every row).
SUBSTATION_NAME = "network_node"
#: Name of the substation transformer (TESP agent_dict ``capacity_reference_object``).
SUBSTATION_TRANSFORMER_NAME = "substation_transformer"
#: Name of the climate object (the TESP weather federate's name; subscriptions use ``localWeather/#<param>``).
CLIMATE_NAME = "localWeather"
#: Name of the heartbeat recorder that makes ``step_to`` exact.
HEARTBEAT_NAME = "cosim_heartbeat"


@dataclass
class FeederInventory:
    """Names of the generated objects by role, in generation order (other sections look objects up here)."""

    substation: str = SUBSTATION_NAME
    substation_transformer: str = SUBSTATION_TRANSFORMER_NAME
    climate: str = CLIMATE_NAME
    heartbeat: str = HEARTBEAT_NAME
    houses: list[str] = field(default_factory=list)
    billing_meters: list[str] = field(default_factory=list)
    house_meter: dict[str, str] = field(default_factory=dict)       # house -> its billing meter
    pv_inverters: list[str] = field(default_factory=list)
    solar_panels: list[str] = field(default_factory=list)
    battery_inverters: list[str] = field(default_factory=list)
    batteries: list[str] = field(default_factory=list)
    water_heaters: list[str] = field(default_factory=list)
    ev_chargers: list[str] = field(default_factory=list)
    device_house: dict[str, str] = field(default_factory=dict)      # any device (inverter, wh, ev, battery) -> house
    #: how the feeder head is modelled: "substation" (a GridLAB-D ``substation`` object, TESP's ``network_node``) or
    #: "swing" (a SWING ``node``/``meter`` as in IEEE test feeders: its power is the sum of ``power_in`` of
    #: ``head_links`` and the bulk voltage is written per phase, scaled by ``head_nominal_v``)
    head_kind: str = "substation"
    head_links: list[str] = field(default_factory=list)             # links leaving a SWING head (head_kind "swing")
    head_nominal_v: float | None = None                             # nominal line-to-neutral voltage of the head, V
    head_phases: str = "ABC"                                        # phases of the head (for per-phase voltage writes)
    capacitors: list[str] = field(default_factory=list)
    regulators: list[str] = field(default_factory=list)
    #: every link object (lines, transformers, regulators, switches, fuses, ...) by GridLAB-D class: their
    #: ``power_losses`` summed are the feeder losses as GridLAB-D's metrics collector defines them
    links: dict[str, list[str]] = field(default_factory=dict)
    #: classes of the other billing meters (a ``meter`` under a commercial load is a billing meter too)
    meter_class: dict[str, str] = field(default_factory=dict)       # billing meter -> class when not triplex_meter
    #: billing meter -> the nearest billing meter upstream of it, for meters nested below another billing meter (the
    #: upstream meter's measured power includes them; the metrics subtract them there so nothing counts twice);
    #: :func:`vppfed.configs.meter_nesting.upstream_billing_meters` computes it from the model's objects
    meter_upstream: dict[str, str] = field(default_factory=dict)

    def by_class(self) -> dict[str, list[str]]:
        """Object names keyed by GridLAB-D class (the form ``get_properties_by_class`` answers in)."""
        out: dict[str, list[str]] = {
            "substation": [self.substation] if self.head_kind == "substation" else [],
            "house": list(self.houses),
            "triplex_meter": [m for m in self.billing_meters if self.meter_class.get(m, "triplex_meter")
                              == "triplex_meter"],
            "inverter": self.pv_inverters + self.battery_inverters,
            "solar": list(self.solar_panels),
            "battery": list(self.batteries),
            "waterheater": list(self.water_heaters),
            "evcharger_det": list(self.ev_chargers),
            "capacitor": list(self.capacitors),
            "regulator": list(self.regulators),
        }
        for meter, cls in self.meter_class.items():
            if cls != "triplex_meter":
                out.setdefault(cls, []).append(meter)
        for cls, names in self.links.items():
            have = out.setdefault(cls, [])
            have.extend(n for n in names if n not in have)
        return {cls: names for cls, names in out.items() if names}

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FeederInventory":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TypeError(f"unknown inventory field(s): {', '.join(unknown)}")
        return cls(**data)


#: a `meter` that directly parents one of these is a billing meter
_BILLED_CHILD_CLASSES = {"house", "load", "ZIPload", "inverter"}
_EV_CLASSES = ("evcharger_det", "evcharger")

def objects_from_checkpoint(checkpoint: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: {"class": cls, **properties}}`` from the checkpoint's ``objects`` ({class: {"instances": [...]}})."""
    out: dict[str, dict[str, Any]] = {}
    for cls, entry in (checkpoint.get("objects") or {}).items():
        instances = entry.get("instances", []) if isinstance(entry, Mapping) else entry
        for obj in instances or []:
            name = str(obj.get("name") or f"{cls}:{len(out)}")
            out[name] = {**obj, "class": cls}
    return out


def _parent_chain(objects: Mapping[str, Mapping[str, Any]], name: str) -> list[str]:
    chain, seen = [], {name}
    parent = objects.get(name, {}).get("parent")
    while parent and parent not in seen and parent in objects:
        chain.append(str(parent))
        seen.add(str(parent))
        parent = objects[parent].get("parent")
    return chain


def _of(objects: Mapping[str, Mapping[str, Any]], *classes: str) -> list[str]:
    return [n for n, o in objects.items() if o.get("class") in classes]


def _num(value: Any, default: float = 0.0) -> float:
    try:
        return float(str(value).split()[0])
    except (TypeError, ValueError, IndexError):
        return default


def find_head(objects: Mapping[str, Mapping[str, Any]], where: str) -> tuple[str, str]:
    """``(head name, "substation" | "swing")``: the ``substation`` object, else the SWING bus."""
    subs = _of(objects, "substation")
    if subs:
        swing = [s for s in subs if str(objects[s].get("bustype", "")).upper() == "SWING"]
        return (swing or subs)[0], "substation"
    swings = [n for n, o in objects.items() if str(o.get("bustype", "")).upper() == "SWING"]
    if not swings:
        raise UserError(f"{where}: the model has no 'substation' object and no node with 'bustype SWING' (the feeder "
                        "head the bulk grid connects to)")
    if len(swings) > 1:
        log.warning("%s: %d SWING buses (%s); the feeder head is %s", where, len(swings), ", ".join(swings[:5]),
                    swings[0])
    return swings[0], "swing"


def inventory_from_objects(objects: Mapping[str, Mapping[str, Any]], where: str = "feeder") -> FeederInventory:
    """The :class:`FeederInventory` of a loaded model's objects (see the module docstring for the rules)."""
    head, kind = find_head(objects, where)
    inv = FeederInventory(substation=head, head_kind=kind, heartbeat=HEARTBEAT_NAME)
    links: dict[str, list[str]] = {}
    for name, obj in objects.items():
        if obj.get("from") and obj.get("to"):
            links.setdefault(str(obj["class"]), []).append(name)
    inv.links = links
    inv.head_links = [n for names in links.values() for n in names
                      if objects[n].get("from") == head or objects[n].get("to") == head]
    inv.head_nominal_v = _num(objects[head].get("nominal_voltage"), 0.0) or None
    inv.head_phases = "".join(c for c in "ABC" if c in str(objects[head].get("phases", "ABC"))) or "ABC"
    head_xf = [n for n in inv.head_links if objects[n].get("class") == "transformer"]
    inv.substation_transformer = head_xf[0] if head_xf else ""
    climates = _of(objects, "climate")
    inv.climate = climates[0] if climates else ""

    children: dict[str, list[str]] = {}
    for name, obj in objects.items():
        if obj.get("parent"):
            children.setdefault(str(obj["parent"]), []).append(name)
    meters: list[str] = []
    for name, obj in objects.items():
        cls = obj.get("class")
        if name == head:
            continue
        if cls == "triplex_meter":
            meters.append(name)
        elif cls == "meter":
            billed = str(obj.get("bill_mode") or "NONE").upper() != "NONE"
            if billed or any(objects[c].get("class") in _BILLED_CHILD_CLASSES for c in children.get(name, [])):
                meters.append(name)
                inv.meter_class[name] = "meter"
    inv.billing_meters = meters
    meter_set = set(meters)

    def billing_meter_of(name: str) -> str | None:
        return next((p for p in _parent_chain(objects, name) if p in meter_set), None)

    inv.houses = _of(objects, "house")
    for house in inv.houses:
        meter = billing_meter_of(house)
        if meter:
            inv.house_meter[house] = meter
    houses_of_meter: dict[str, list[str]] = {}
    for house, meter in inv.house_meter.items():
        houses_of_meter.setdefault(meter, []).append(house)

    def house_of(name: str) -> str | None:
        for p in [name, *_parent_chain(objects, name)]:
            if objects.get(p, {}).get("class") == "house":
                return p
            if p in meter_set and houses_of_meter.get(p):
                return houses_of_meter[p][0]
        return None

    for inverter in _of(objects, "inverter"):
        kids = {objects[c].get("class") for c in children.get(inverter, [])}
        (inv.battery_inverters if "battery" in kids else inv.pv_inverters).append(inverter)
    inv.solar_panels = _of(objects, "solar")
    inv.batteries = _of(objects, "battery")
    inv.water_heaters = _of(objects, "waterheater")
    inv.ev_chargers = _of(objects, *_EV_CLASSES)
    for device in (inv.pv_inverters + inv.battery_inverters + inv.solar_panels + inv.batteries + inv.water_heaters
                   + inv.ev_chargers):
        house = house_of(device)
        if house:
            inv.device_house[device] = house
    inv.capacitors = _of(objects, "capacitor")
    inv.regulators = _of(objects, "regulator")
    inv.meter_upstream = upstream_billing_meters(objects, meters, head)
    return inv
