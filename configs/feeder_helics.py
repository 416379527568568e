"""The feeder federate's HELICS JSON in TESP's ``<root>_gridlabd.json`` form (tesp-contract.md §3.1).

Publications and subscriptions carry ``info`` ``{"object", "property"}`` so a TESP reader and our feeder federate bind
them to GridLAB-D properties the same way. Keys use the case's separator (``/`` for tesp_support 1.3.7, ``#`` for 1.3.6).
Other sections add entries through :class:`FeederHelicsConfig` before the file is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vppfed.federates.feeder.inventory import FeederInventory

__all__ = ["FeederHelicsConfig", "WEATHER_PARAMS"]

#: climate parameters a TESP weather federate publishes as ``<weather>/#<param>``
WEATHER_PARAMS = ("temperature", "humidity", "solar_direct", "solar_diffuse", "pressure", "wind_speed")


@dataclass
class FeederHelicsConfig:
    """Builder of the feeder federate's HELICS JSON.

    Parameters
    ----------
    name : str
        Federate name (``gld_<bus>``).
    period : int
        HELICS period, seconds.
    separator : str
        ``/`` or ``#`` between object and property in keys.
    """

    name: str
    period: int
    separator: str = "/"
    publications: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    # indexes of the two lists, so a feeder of 20,000 houses is built in linear time (a scan per entry was quadratic)
    _published_keys: set[str] = field(default_factory=set, init=False, repr=False)
    _key_of_property: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)
    _source_of_property: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for p in self.publications:
            self._index_publication(p)
        for s in self.subscriptions:
            self._source_of_property.setdefault((s["info"]["object"], s["info"]["property"]), s["key"])

    def _index_publication(self, p: dict[str, Any]) -> None:
        self._published_keys.add(p["key"])
        self._key_of_property.setdefault((p["info"]["object"], p["info"]["property"]), p["key"])

    def published_key(self, obj: str, prop: str) -> str | None:
        """The key ``obj.prop`` is already published under (the first one), or None."""
        return self._key_of_property.get((obj, prop))

    def key(self, obj: str, prop: str) -> str:
        return f"{obj}{self.separator}{prop}"

    def publish(self, obj: str, prop: str, type: str = "double", key: str | None = None) -> str:
        """Publish ``obj.prop`` under ``key`` (default ``<obj><sep><prop>``); returns the global name
        (``<federate>/<key>``) other federates subscribe to. Adding the same key twice is a no-op."""
        key = key or self.key(obj, prop)
        if key not in self._published_keys:
            entry = {"global": False, "key": key, "type": type, "info": {"object": obj, "property": prop}}
            self.publications.append(entry)
            self._index_publication(entry)
        return f"{self.name}/{key}"

    def subscribe(self, target: str, obj: str, prop: str, type: str = "double") -> None:
        """Write what arrives on ``target`` (``<federate>/<key>``) into ``obj.prop``; duplicates are refused."""
        source = self._source_of_property.get((obj, prop))
        if source == target:
            return
        if source is not None:
            raise ValueError(f"{obj}.{prop} is already written from '{source}'; cannot also take '{target}'")
        self.subscriptions.append({"key": target, "type": type, "info": {"object": obj, "property": prop}})
        self._source_of_property[(obj, prop)] = target

    def add_te30_defaults(self, inventory: FeederInventory, bulk_federate: str | None, bulk_bus: int | str,
                          weather_federate: str | None = None) -> None:
        """TESP's GridLAB-D interface: ``distribution_load``, house ``air_temperature``/``hvac_load``/``power_state``,
        triplex meter ``measured_voltage_1``; the bulk voltage into ``positive_sequence_voltage``; optional weather.

        With a SWING-node head (``inventory.head_kind`` "swing", a user's IEEE-style model) the same two names are
        bound to the head node: the feeder federate answers ``distribution_load`` with the power into the head's
        links and turns ``positive_sequence_voltage`` into per-phase ``voltage_A/B/C`` writes
        (:class:`vppfed.federates.feeder.core.SwingHead`), so TESP's keys stay the same for every head."""
        self.publish(inventory.substation, "distribution_load", "complex", key="distribution_load")
        for house in inventory.houses:
            self.publish(house, "power_state", "string")
            self.publish(house, "air_temperature", "double")
            self.publish(house, "hvac_load", "double")
        for meter in inventory.billing_meters:
            if inventory.meter_class.get(meter, "triplex_meter") == "triplex_meter":   # a `meter` has no _1
                self.publish(meter, "measured_voltage_1", "complex")
        if bulk_federate:
            self.subscribe(f"{bulk_federate}/three_phase_voltage_{bulk_bus}", inventory.substation,
                           "positive_sequence_voltage", "complex")
        if weather_federate:
            for param in WEATHER_PARAMS:
                self.subscribe(f"{weather_federate}/#{param}", inventory.climate, param, "double")

    def document(self) -> dict[str, Any]:
        """The JSON document (HELICS 3.6 key spellings; FACTS.md: ``log_level``, ``terminate_on_error``)."""
        return {"name": self.name, "period": self.period, "log_level": "warning", "terminate_on_error": True,
                "publications": list(self.publications), "subscriptions": list(self.subscriptions)}
