"""The VPP's units from the devices of a generated feeder: GLM -> params rows (reference layout) + device map.

Battery inverters become buckets, EV chargers batteries, water heaters bakeries (the mapping and what each reads and
writes: :mod:`vppfed.federates.agile.devices`). Ratings and initial states come from the feeder's own GLM, read here
with a small parser of the generator's object blocks, so the units always match the model the feeder runs.

Units: kW, kWh, steps of ``step_s`` seconds (``Ts = step_s / 3600`` h).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vppfed.io import require
from vppfed.errors import UserError
from vppfed.federates.agile.devices import (BATTERY_INVERTER, EV_CHARGER, READS, WATER_HEATER, WRITES, Device)

_OPEN = re.compile(r"^\s*object\s+(\w+)(?::\d+)?\s*\{\s*$")
_PROP = re.compile(r"^\s*(\w+)\s+(.*?)\s*;\s*$")
_CLOSE = re.compile(r"^\s*\}\s*;?\s*$")


def read_glm_objects(path: str | Path) -> dict[str, dict[str, str]]:
    """Every named object of a GLM as ``{name: {"class": cls, "parent": ..., property: text}}``.

    Nested objects get their enclosing object as ``parent`` (GridLAB-D's rule). Only the block syntax the feeder
    generator writes is handled (one property per line); that is the GLM this module is for.
    """
    objects: dict[str, dict[str, str]] = {}
    stack: list[dict[str, str]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = _OPEN.match(line)
        if m:
            obj = {"class": m.group(1)}
            if stack and "name" in stack[-1]:
                obj["parent"] = stack[-1]["name"]
            stack.append(obj)
            continue
        if stack and _CLOSE.match(line):
            obj = stack.pop()
            if "name" in obj:
                objects[obj["name"]] = obj
            continue
        if stack:
            m = _PROP.match(line)
            if m:
                stack[-1].setdefault(m.group(1), m.group(2).strip("'\""))
    return objects


def _number(obj: dict[str, str], prop: str, where: str) -> float:
    """A numeric property (a trailing unit such as ``kW`` is dropped: the value is used in GridLAB-D's default unit)."""
    try:
        return float(obj[prop].split()[0])
    except (KeyError, ValueError, IndexError):
        raise UserError(f"{where}: object {obj.get('name')}: property {prop} missing or not a number") from None


@dataclass
class BatteryInverters:
    """Battery inverters as buckets: energy between ``soc_min`` and ``soc_max`` of the capacity."""

    soc_min: float = 0.2
    soc_max: float = 0.9
    count: int | None = None

    def validate(self) -> None:
        require(0.0 <= self.soc_min < self.soc_max <= 1.0, "soc_min", "need 0 <= soc_min < soc_max <= 1")
        require(self.count is None or self.count >= 0, "count", "must be >= 0")


@dataclass
class EvChargers:
    """EV chargers as batteries: full by ``deadline_h`` hours after the case start (default: the case's end)."""

    deadline_h: float | None = None
    count: int | None = None

    def validate(self) -> None:
        require(self.deadline_h is None or self.deadline_h > 0, "deadline_h", "must be > 0 h")
        require(self.count is None or self.count >= 0, "count", "must be >= 0")


@dataclass
class WaterHeaters:
    """Water heaters as bakeries: one boost of ``boost_min`` minutes at full element power, finished by a deadline
    drawn uniformly (with the case seed) from ``deadline_h`` = [earliest, latest] hours after the start."""

    boost_min: float = 15.0
    deadline_h: list[float] = field(default_factory=lambda: [1.0, 4.0])
    count: int | None = None

    def validate(self) -> None:
        require(self.boost_min > 0, "boost_min", "must be > 0 minutes")
        require(len(self.deadline_h) == 2 and 0 < self.deadline_h[0] <= self.deadline_h[1], "deadline_h",
                "expected [earliest, latest] hours with 0 < earliest <= latest")
        require(self.count is None or self.count >= 0, "count", "must be >= 0")


@dataclass
class DeviceSelection:
    """The ``vpp.devices`` section: which device types of the feeder join the VPP (a missing key leaves them out)."""

    battery_inverters: BatteryInverters | None = None
    ev_chargers: EvChargers | None = None
    water_heaters: WaterHeaters | None = None

    def validate(self) -> None:
        require(any(x is not None for x in (self.battery_inverters, self.ev_chargers, self.water_heaters)),
                "battery_inverters", "name at least one of battery_inverters, ev_chargers, water_heaters")


@dataclass
class DeviceUnits:
    """What :func:`device_units` found: params rows (reference layout), device specs before wiring, and objects."""

    rows: list[tuple] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    objects: list[tuple[str, str]] = field(default_factory=list)   # (device object, state object)
    capacity_kwh: list[float] = field(default_factory=list)
    efficiency: list[float] = field(default_factory=list)


def device_units(sel: DeviceSelection, inventory: Any, glm: str | Path, step_s: float, steps: int, seed: int,
                 where: str, lacks: Callable[[str, str], str] | None = None) -> DeviceUnits:
    """Units for the selected devices of ``inventory`` (a FeederInventory), ratings read from ``glm``.

    Order: buckets, then batteries, then bakeries, each in the feeder's order (so names Bkt-1.., Bat-1.., Bak-1..).

    Raises
    ------
    UserError
        When a selected type has no devices in the feeder, or a deadline cannot be met within the horizon.
    """
    objs = read_glm_objects(glm)
    Ts = step_s / 3600.0
    out = DeviceUnits()
    rng = np.random.default_rng(seed)

    def pick(names: list[str], count: int | None, what: str, fraction_field: str) -> list[str]:
        if not names:
            # ``lacks`` (FeederHandle.lacks) names the user's model that has none, or the generator field to raise
            reason = lacks(what.replace("_", " "), fraction_field) if lacks else \
                f"the feeder has none (set feeder.{fraction_field} > 0)"
            raise UserError(f"{where}.devices.{what}: {reason}")
        return names[:count] if count is not None else list(names)

    if sel.battery_inverters is not None:
        cfg = sel.battery_inverters
        bat_of = {o["parent"]: n for n, o in objs.items() if o["class"] == "battery" and "parent" in o}
        for i, inv in enumerate(pick(list(inventory.battery_inverters), cfg.count, "battery_inverters",
                                     "battery_fraction")):
            w = f"{where}.devices.battery_inverters"
            o, b = objs[inv], objs[bat_of[inv]]
            cap = _number(b, "battery_capacity", w) / 1000.0
            soc = _number(b, "state_of_charge", w)
            if not cfg.soc_min <= soc <= cfg.soc_max:
                raise UserError(f"{w}: {b['name']} starts at state of charge {soc}, outside [soc_min, soc_max] = "
                                f"[{cfg.soc_min}, {cfg.soc_max}]")
            p_ch, p_dis = _number(o, "max_charge_rate", w) / 1000.0, _number(o, "max_discharge_rate", w) / 1000.0
            eff = _number(o, "inverter_efficiency", w) * math.sqrt(_number(b, "round_trip_efficiency", w))
            out.rows.append((f"Bkt-{i + 1}", 0.0, soc * cap, p_ch, -p_dis, cfg.soc_max * cap, cfg.soc_min * cap,
                             -1.0, -1.0))
            out.kinds.append(BATTERY_INVERTER)
            out.objects.append((inv, b["name"]))
            out.capacity_kwh.append(cap)
            out.efficiency.append(eff)
    if sel.ev_chargers is not None:
        cfg = sel.ev_chargers
        w = f"{where}.devices.ev_chargers"
        deadline = steps if cfg.deadline_h is None else int(round(cfg.deadline_h * 3600.0 / step_s))
        require_deadline = max(deadline, 1)
        for i, ev in enumerate(pick(list(inventory.ev_chargers), cfg.count, "ev_chargers", "ev_fraction")):
            o = objs[ev]
            eff = _number(o, "charging_efficiency", w)
            size = _number(o, "mileage_classification", w) / _number(o, "mileage_efficiency", w)   # kWh
            soc = _number(o, "battery_SOC", w) / 100.0
            pmax = _number(o, "maximum_charge_rate", w) / 1000.0
            out.rows.append((f"Bat-{i + 1}", 0.0, soc * size / eff, pmax, 0.0, size / eff, 0.0,
                             float(require_deadline), -1.0))
            out.kinds.append(EV_CHARGER)
            out.objects.append((ev, ev))
            out.capacity_kwh.append(size)
            out.efficiency.append(eff)
    if sel.water_heaters is not None:
        cfg = sel.water_heaters
        w = f"{where}.devices.water_heaters"
        trun = max(1, int(round(cfg.boost_min * 60.0 / step_s)))
        lo = max(trun + 1, int(round(cfg.deadline_h[0] * 3600.0 / step_s)))
        hi = int(round(cfg.deadline_h[1] * 3600.0 / step_s))
        if hi < lo:
            raise UserError(f"{w}.deadline_h: a boost of {trun} steps of {step_s:g} s cannot finish by "
                            f"{cfg.deadline_h[1]} h")
        heaters = pick(list(inventory.water_heaters), cfg.count, "water_heaters", "water_heater_fraction")
        tend = rng.integers(lo, hi, size=len(heaters), endpoint=True)
        for i, wh in enumerate(heaters):
            pmax = _number(objs[wh], "heating_element_capacity", w)   # kW in the generator's GLM
            out.rows.append((f"Bak-{i + 1}", 0.0, 0.0, pmax, 0.0, pmax * trun * Ts, 0.0, float(tend[i]),
                             float(trun)))
            out.kinds.append(WATER_HEATER)
            out.objects.append((wh, wh))
            out.capacity_kwh.append(0.0)
            out.efficiency.append(1.0)
    # round as the params CSV will, so that the portfolio the section checks is the one the federates read
    out.rows = [(r[0], *(float(f"{v:.6f}") for v in r[1:])) for r in out.rows]
    return out


def wire_devices(units: DeviceUnits, host_of_unit: list[str], feeder: Any, key: Any) -> tuple[list[Device],
                                                                                             dict[str, list[dict]],
                                                                                             dict[str, list[dict]]]:
    """Ask the feeder to publish what the devices read and to write what the hosts publish.

    Parameters
    ----------
    host_of_unit : list of str
        Host federate of each unit (params order).
    feeder : FeederHandle
        ``ctx.handles["feeder"]``.
    key : callable
        ``ctx.key(obj, prop)``: the host's publication key for a setpoint.

    Returns
    -------
    devices, publications, subscriptions
        The device map and, per host federate, its HELICS publications and subscriptions.
    """
    devices: list[Device] = []
    pubs: dict[str, list[dict]] = {}
    subs: dict[str, list[dict]] = {}
    for row, kind, (obj, state), cap, eff, host in zip(units.rows, units.kinds, units.objects, units.capacity_kwh,
                                                      units.efficiency, host_of_unit):
        reads = {}
        for role, (which, prop, typ) in READS[kind].items():
            target = feeder.publish(state if which == "state" else obj, prop, typ)
            reads[role] = target
            subs.setdefault(host, []).append({"key": target, "type": typ})
        prop, typ = WRITES[kind]
        wkey = key(obj, prop)
        pubs.setdefault(host, []).append({"global": False, "key": wkey, "type": typ})
        feeder.subscribe(f"{host}/{wkey}", obj, prop, typ)
        devices.append(Device(unit=row[0], device=kind, obj=obj, write_key=wkey, reads=reads, capacity_kwh=cap,
                              efficiency=eff))
    return devices, pubs, subs
