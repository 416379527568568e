"""Section builder of ``feeder:``: the GridLAB-D feeder (TESP's ``gld_<bus>``), its model, weather and HELICS JSON.

YAML (every field optional; start, stop, time zone, period and seed come from ``case:``)::

    feeder:
      bus: 7                   # bulk-grid bus of the substation; the federate is gld_<bus>
      houses: 30
      pv_fraction: 1.0
      battery_fraction: 0.0
      water_heater_fraction: 0.0
      ev_fraction: 0.0
      minimum_timestep_s: 60   # '#set minimum_timestep' (null: GridLAB-D's 1 s)
      step_s: 60               # GridLAB-D solve step and gld_<bus> HELICS period (default: case.period); a
                               # multiple of case.period. GridLAB-D rounds its own events to minimum_timestep, so
                               # a step below it re-solves an unchanged model (measured: 4.5 vs 2.7 ms per step)
      weather: file            # file: weather.dat read by the feeder federate; federate: subscribe <weather>/#<param>
      weather_federate: localWeather
      weather_spec: {temperature_mean_f: 87, ...}   # configs.weather.WeatherSpec fields (not start/hours/timezone)
      metrics_sample_s: 60     # metrics sampling period (rounded to a multiple of case.period)
      spec: {...}              # any other configs.feeder_glm.FeederSpec field (e.g. floor_area_ft2: [1200, 2800])

Files: ``<root>.glm``, ``<root>_glm_dict.json`` (TESP), ``<root>_inventory.json`` (object names by role, read by the
federate), ``weather.dat`` and, at finalize, ``<root>_gridlabd.json`` (TESP's GridLAB-D config name).

Handle for other sections, ``ctx.handles["feeder"]`` (:class:`FeederHandle`): ``name``/``federate``, ``bus``,
``inventory`` (:class:`~vppfed.configs.feeder_glm.FeederInventory`), ``glm``, ``publish(obj, prop, type, key=None)``
(returns the global name to subscribe to) and ``subscribe(target, obj, prop, type)``. Requests are collected until
finalize, when the JSON is written; the bulk grid's voltage subscription is added then from ``ctx.handles["bulk"]``.
"""
from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from vppfed.configs.feeder_glm import FeederInventory, FeederSpec, write_feeder
from vppfed.configs.feeder_helics import FeederHelicsConfig
from vppfed.configs.validate import parse_dataclass, require
from vppfed.configs.weather import WeatherSpec, write_weather
from vppfed.errors import UserError

SECTION = "feeder"
ORDER = 10  # first: the other sections look up its objects

#: FeederSpec fields set from ``case:`` (never from the feeder section)
_FROM_CASE = ("seed", "start", "stop", "timezone", "period_s")
#: WeatherSpec fields set from ``case:``
_WEATHER_FROM_CASE = ("start", "hours", "timezone", "seed")


@dataclass
class FeederSection:
    """The ``feeder:`` YAML section (see the module docstring)."""

    bus: int = 7
    name: str | None = None
    houses: int = 30
    pv_fraction: float = 1.0
    battery_fraction: float = 0.0
    water_heater_fraction: float = 0.0
    ev_fraction: float = 0.0
    minimum_timestep_s: int | None = 60
    step_s: int | None = None
    weather: Literal["file", "federate"] = "file"
    weather_federate: str = "localWeather"
    weather_spec: dict[str, Any] = field(default_factory=dict)
    metrics_sample_s: int = 60
    spec: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        require(self.bus >= 0, "bus", "must be a bus number >= 0")
        require(self.houses >= 1, "houses", "must be at least 1")
        require(self.metrics_sample_s > 0, "metrics_sample_s", "must be > 0 seconds")
        require(self.step_s is None or self.step_s > 0, "step_s", "must be > 0 seconds")
        if self.name is not None:
            require(sum(c.isdigit() for c in self.name) > 0, "name", "must carry the bus number (TESP: gld_7)")


@dataclass
class FeederHandle:
    """What other sections learn about the feeder (``ctx.handles["feeder"]``)."""

    name: str
    bus: int
    inventory: FeederInventory
    glm: str
    helics: FeederHelicsConfig
    weather_file: str | None = None

    @property
    def federate(self) -> str:
        return self.name

    def publish(self, obj: str, prop: str, type: str = "double", key: str | None = None) -> str:
        """Have the feeder publish ``obj.prop``; returns the global name (``gld_7/<key>``) to subscribe to.

        A property already published keeps its key (``distribution_load`` stays ``gld_7/distribution_load``)."""
        for p in self.helics.publications:
            if p["info"] == {"object": obj, "property": prop}:
                return f"{self.name}/{p['key']}"
        return self.helics.publish(obj, prop, type, key)

    def subscribe(self, target: str, obj: str, prop: str, type: str = "double") -> None:
        """Have the feeder write what arrives on ``target`` into ``obj.prop`` each step."""
        try:
            self.helics.subscribe(target, obj, prop, type)
        except ValueError as exc:
            raise UserError(f"feeder: {exc}") from None

    def key(self, obj: str, prop: str) -> str:
        return self.helics.key(obj, prop)


def feeder_step(ctx: Any, sec: FeederSection, where: str) -> int:
    """The feeder's solve step: ``step_s`` or the case period; it must be a multiple of the case period so the
    feeder's grants line up with the other federates' (TESP's 15 s clock)."""
    period = int(ctx.settings.period)
    step = int(sec.step_s or period)
    if step % period:
        raise UserError(f"{where}.step_s: must be a multiple of case.period ({period} s), got {step}")
    if step > ctx.settings.metrics_interval:
        raise UserError(f"{where}.step_s: must not exceed case.metrics_interval ({ctx.settings.metrics_interval} s)")
    return step


def _spec(ctx: Any, sec: FeederSection, where: str) -> FeederSpec:
    s = ctx.settings
    bad = [k for k in sec.spec if k in _FROM_CASE]
    if bad:
        raise UserError(f"{where}.spec.{bad[0]}: set in the case: section, not here")
    values = dict(sec.spec)
    for name in ("houses", "pv_fraction", "battery_fraction", "water_heater_fraction", "ev_fraction",
                 "minimum_timestep_s"):
        values[name] = getattr(sec, name)
    spec_fields = {f.name for f in dataclasses.fields(FeederSpec)}
    unknown = [k for k in values if k not in spec_fields]
    if unknown:
        raise UserError(f"{where}.spec.{unknown[0]}: unknown field (known: {', '.join(sorted(spec_fields))})")
    stop = s.start_datetime + timedelta(seconds=s.stop_seconds)
    values.update(seed=ctx.seed_for("feeder"), start=s.start, stop=stop.strftime("%Y-%m-%d %H:%M:%S"),
                  timezone=s.timezone, period_s=feeder_step(ctx, sec, where))
    # parse_dataclass checks types and calls FeederSpec.validate (errors name the field)
    return parse_dataclass(FeederSpec, values, f"{where}.spec")


def build(ctx: Any, raw: dict[str, Any]) -> None:
    """Generate the feeder model, weather and glm_dict; register ``gld_<bus>`` and the ``feeder`` handle."""
    where = ctx.where(SECTION)
    sec = parse_dataclass(FeederSection, raw, where)
    s = ctx.settings
    name = sec.name or f"gld_{sec.bus}"
    spec = _spec(ctx, sec, where)
    root = s.root
    generated = write_feeder(spec, ctx.directory, root, fed_name=name, bulk_bus=sec.bus)
    weather_file = None
    if sec.weather == "file":
        bad = [k for k in sec.weather_spec if k in _WEATHER_FROM_CASE]
        if bad:
            raise UserError(f"{where}.weather_spec.{bad[0]}: set in the case: section, not here")
        wvalues = dict(sec.weather_spec)
        wvalues.setdefault("latitude_deg", spec.latitude_deg)
        wvalues.setdefault("longitude_deg", spec.longitude_deg)
        wvalues.update(start=s.start, hours=s.hours, timezone=s.timezone, seed=ctx.seed_for("weather"))
        wspec = parse_dataclass(WeatherSpec, wvalues, f"{where}.weather_spec")
        weather_file = "weather.dat"
        write_weather(wspec, ctx.directory / weather_file)
    helics = FeederHelicsConfig(name=name, period=feeder_step(ctx, sec, where), separator=s.separator)
    handle = FeederHandle(name=name, bus=sec.bus, inventory=generated.inventory, glm=f"{root}.glm", helics=helics,
                          weather_file=weather_file)
    ctx.handles[SECTION] = handle
    # TESP's gld_<bus> interface; the bulk voltage subscription is added when the config is written
    helics.add_te30_defaults(generated.inventory, bulk_federate=None, bulk_bus=sec.bus,
                             weather_federate=sec.weather_federate if sec.weather == "federate" else None)

    def config() -> dict[str, Any]:
        bulk = ctx.handles.get("bulk")
        target = getattr(bulk, "voltage_target", None)
        if target:
            handle.subscribe(target, generated.inventory.substation, "positive_sequence_voltage", "complex")
        return helics.document()

    config_file = f"{root}_gridlabd.json"
    cmd = ["python", "-m", "vppfed.federates.feeder", "--config", config_file, "--glm", f"{root}.glm",
           "--inventory", f"{root}_inventory.json", "--metrics-root", root, "--hours", f"{s.hours:g}",
           "--metrics-interval", str(s.metrics_interval), "--metrics-sample", str(sec.metrics_sample_s),
           "--worker-log", f"{name}_gridlabd_worker.log"]
    if weather_file:
        cmd += ["--weather", weather_file]
    ctx.add_federate(name, " ".join(shlex.quote(c) for c in cmd), config, config_file=config_file)
