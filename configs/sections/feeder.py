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
      step_s: 60               # GridLAB-D solve step and gld_<bus> HELICS period (default: case.period_s); a
                               # multiple of case.period_s. GridLAB-D rounds its own events to minimum_timestep, so
                               # a step below it re-solves an unchanged model (measured: 4.5 vs 2.7 ms per step)
      weather: file            # file: weather.dat read by the feeder federate; federate: our weather federate
                               # <weather_federate> publishes it as <weather>/#<param> (TESP's agent can replace it)
      weather_federate: localWeather
      weather_spec: {temperature_mean_f: 87, ...}   # configs.weather.WeatherSpec fields (not start/hours/timezone)
      metrics_sample_s: 60     # metrics sampling period (rounded to a multiple of case.period_s)
      spec: {...}              # any other configs.feeder_glm.FeederSpec field (e.g. floor_area_ft2: [1200, 2800])

Files: ``<root>.glm``, ``<root>_glm_dict.json`` (TESP), ``<root>_inventory.json`` (object names by role, read by the
federate), ``weather.dat`` and, at finalize, ``<root>_gridlabd.json`` (TESP's GridLAB-D config name).

Your own GridLAB-D model instead of a generated one (:mod:`vppfed.configs.glm_wrapper`,
:mod:`vppfed.configs.glm_discovery`)::

    feeder:
      glm: IEEE-123.glm        # relative to this YAML's folder; never edited
      bus: 7
      defines: {METRICS_FILE: TE_ChallengeH_metrics.json}   # what `gridlabd -D NAME=value` gives
      env: {TESPDIR: ../tesp}  # for ${TESPDIR} in #include lines; a relative value that names an existing path is
                               # relative to this YAML's folder
      weather_file: weather.dat  # a TESP weather.dat for the model's climate object (default: generated from
                                 # weather_spec when the model has a climate object that reads no TMY file)

``<root>.glm`` is then a wrapper that includes the model and adds the case's clock and the heartbeat; the model is
loaded here to find its houses, meters, devices and feeder head (a ``substation`` or the SWING node) and stepped once
in a scratch folder to learn its load (the bulk grid's default ``scale`` follows it). Also written:
``<root>_objects.glm`` (a listing of the device objects GridLAB-D loaded, which the agent sections read ratings from),
``<root>_user_<file>.glm`` (line-preserving copies with modules the installed GridLAB-D lacks commented out) and links
to the model's player/climate input files. The generation-only fields (houses, the ``*_fraction`` fields, ``spec``)
cannot be combined with ``glm``.

Handle for other sections, ``ctx.handles["feeder"]`` (:class:`FeederHandle`): ``name``/``federate``, ``bus``,
``inventory`` (:class:`~vppfed.federates.feeder.inventory.FeederInventory`), ``glm``, ``publish(obj, prop, type, key=None)``
(returns the global name to subscribe to) and ``subscribe(target, obj, prop, type)``. Requests are collected until
finalize, when the JSON is written; the bulk grid's voltage subscription is added then from ``ctx.handles["bulk"]``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vppfed.federates.feeder.inventory import FeederInventory
from vppfed.configs.feeder_glm import FeederSpec, write_feeder
from vppfed.configs.glm_discovery import prepare_user_feeder
from vppfed.configs.feeder_helics import FeederHelicsConfig
from vppfed.io import parse_dataclass, require, require_plain_name
from vppfed.configs.weather import WeatherSpec, write_weather
from vppfed.errors import UserError

if TYPE_CHECKING:  # annotations only: the case framework imports this module
    from vppfed.configs.case import CaseContext

log = logging.getLogger(__name__)

SECTION = "feeder"
ORDER = 10  # first: the other sections look up its objects
#: Most houses of one generated feeder (see FeederSection.validate for why).
MAX_HOUSES = 20_000

#: FeederSpec fields set from ``case:`` (never from the feeder section)
_FROM_CASE = ("seed", "start", "stop", "timezone", "period_s")
#: WeatherSpec fields set from ``case:``
_WEATHER_FROM_CASE = ("start", "hours", "timezone", "seed")
#: fields that only shape a generated feeder: an error next to ``glm``
_GENERATION_ONLY = ("houses", "pv_fraction", "battery_fraction", "water_heater_fraction", "ev_fraction", "spec")


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
    glm: str | None = None
    defines: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    weather_file: str | None = None

    def validate(self) -> None:
        require(self.bus >= 0, "bus", "must be a bus number >= 0")
        require(self.houses >= 1, "houses", "must be at least 1")
        # the generator writes every house into one GLM in one process (measured 33 s and 6 MB per 1,000 houses;
        # 10,000,000 ran out of memory after 118 s): 20,000 is about ten times TESP's largest feeders
        require(self.houses <= MAX_HOUSES, "houses", f"must be at most {MAX_HOUSES} (one generated feeder)")
        require(0 <= self.bus < 100_000, "bus", "must be a bus number in [0, 100000)")
        require(self.metrics_sample_s > 0, "metrics_sample_s", "must be > 0 seconds")
        require(self.step_s is None or self.step_s > 0, "step_s", "must be > 0 seconds")
        if self.name is not None:
            require(sum(c.isdigit() for c in self.name) > 0, "name", "must carry the bus number (TESP: gld_7)")
            require_plain_name(self.name, "name")
        require_plain_name(self.weather_federate, "weather_federate")
        for label, mapping in (("defines", self.defines), ("env", self.env)):
            for key in mapping:
                require(str(key).replace("_", "").isalnum(), label, f"'{key}' is not a variable name")


@dataclass
class FeederHandle:
    """What other sections learn about the feeder (``ctx.handles["feeder"]``)."""

    name: str
    bus: int
    inventory: FeederInventory
    glm: str
    helics: FeederHelicsConfig
    weather_file: str | None = None
    #: with ``feeder.glm``: the user's model file name and the listing of its device objects in the case folder
    source: str | None = None
    objects_glm: str | None = None
    glpath: str | None = None          # GLPATH GridLAB-D needs for the user's model (its folder)
    #: a user's model: real power into it after its first step, kW (for the bulk grid's load scale)
    first_step_load_kw: float | None = None

    @property
    def federate(self) -> str:
        return self.name

    @property
    def device_glm(self) -> str:
        """GLM text in the case folder to read device ratings and initial states from: the generated model, or for a
        user's model the listing of what GridLAB-D loaded from it (the wrapper ``glm`` only includes the model)."""
        return self.objects_glm or self.glm

    def lacks(self, what: str, fraction_field: str) -> str:
        """How to say the feeder has no ``what`` (``battery inverters``): which generator field to raise, or which
        user model lacks them."""
        if self.source:
            return f"{self.source} has no {what}"
        return f"the feeder has none (set feeder.{fraction_field} > 0)"

    def publish(self, obj: str, prop: str, type: str = "double", key: str | None = None) -> str:
        """Have the feeder publish ``obj.prop``; returns the global name (``gld_7/<key>``) to subscribe to.

        A property already published keeps its key (``distribution_load`` stays ``gld_7/distribution_load``)."""
        known = self.helics.published_key(obj, prop)
        if known is not None:
            return f"{self.name}/{known}"
        return self.helics.publish(obj, prop, type, key)

    def subscribe(self, target: str, obj: str, prop: str, type: str = "double") -> None:
        """Have the feeder write what arrives on ``target`` into ``obj.prop`` each step."""
        try:
            self.helics.subscribe(target, obj, prop, type)
        except ValueError as exc:
            raise UserError(f"feeder: {exc}") from None

    def key(self, obj: str, prop: str) -> str:
        return self.helics.key(obj, prop)


def _write_generated_weather(ctx: Any, sec: FeederSection, where: str, latitude_deg: float,
                             longitude_deg: float) -> str:
    """Write vppfed's seeded ``weather.dat`` for the case's horizon (``weather_spec`` may set all but the case's
    start, hours, zone and seed); returns its file name."""
    s = ctx.settings
    bad = [k for k in sec.weather_spec if k in _WEATHER_FROM_CASE]
    if bad:
        raise UserError(f"{where}.weather_spec.{bad[0]}: set in the case: section, not here")
    wvalues = dict(sec.weather_spec)
    wvalues.setdefault("latitude_deg", latitude_deg)
    wvalues.setdefault("longitude_deg", longitude_deg)
    wvalues.update(start=s.start, hours=s.hours, timezone=s.timezone, seed=ctx.seed_for("weather"))
    wspec = parse_dataclass(WeatherSpec, wvalues, f"{where}.weather_spec")
    weather_file = "weather.dat"
    write_weather(wspec, ctx.directory / weather_file)
    return weather_file


def feeder_step(ctx: Any, sec: FeederSection, where: str) -> int:
    """The feeder's solve step: ``step_s`` or the case period; it must be a multiple of the case period so the
    feeder's grants line up with the other federates' (TESP's 15 s clock)."""
    period = int(ctx.settings.period_s)
    step = int(sec.step_s or period)
    if step % period:
        raise UserError(f"{where}.step_s: must be a multiple of case.period_s ({period} s), got {step}")
    if step > ctx.settings.metrics_interval_s:
        raise UserError(f"{where}.step_s: must not exceed case.metrics_interval_s ({ctx.settings.metrics_interval_s} s)")
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


def build(ctx: CaseContext, raw: dict[str, Any]) -> None:
    """Generate the feeder model, weather and glm_dict; register ``gld_<bus>`` and the ``feeder`` handle."""
    where = ctx.where(SECTION)
    sec = parse_dataclass(FeederSection, raw, where)
    s = ctx.settings
    name = sec.name or f"gld_{sec.bus}"
    if sec.glm is not None:
        _build_user_glm(ctx, sec, raw, where, name)
        return
    if sec.weather_file or sec.defines or sec.env:
        field_name = "weather_file" if sec.weather_file else "defines" if sec.defines else "env"
        raise UserError(f"{where}.{field_name}: only used with feeder.glm (your own GridLAB-D model)")
    spec = _spec(ctx, sec, where)
    root = s.root
    generated = write_feeder(spec, ctx.directory, root, fed_name=name, bulk_bus=sec.bus)
    # weather.dat in both modes: the feeder reads it (file) or the weather federate publishes it (federate)
    weather_file = _write_generated_weather(ctx, sec, where, spec.latitude_deg, spec.longitude_deg)
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
           "--metrics-interval", str(s.metrics_interval_s), "--metrics-sample", str(sec.metrics_sample_s),
           "--worker-log", f"{name}_gridlabd_worker.log"]
    if weather_file and sec.weather == "file":
        cmd += ["--weather", weather_file]
    ctx.add_federate(name, " ".join(shlex.quote(c) for c in cmd), config, config_file=config_file)
    if sec.weather == "federate":
        _add_weather_federate(ctx, sec.weather_federate, weather_file)


def _add_weather_federate(ctx: Any, name: str, weather_file: str) -> None:
    """``weather: federate``: our weather federate ``<name>`` on ``weather.dat``, with TESP's ``WEATHER_CONFIG``
    (``<root>_weather.json``) beside it and in its environment, so TESP's weather agent can replace it by changing
    only the runner's command (``startWeatherAgent('weather.dat')``)."""
    from vppfed.federates.weather.config import tesp_weather_config, weather_helics_config

    s = ctx.settings
    tesp_file = f"{s.root}_weather.json"
    ctx.write_json(tesp_file, tesp_weather_config(name, s.start, s.stop_seconds))
    helics_file = f"{s.root}_weather_helics.json"
    cmd = ["python", "-m", "vppfed.federates.weather", "--config", helics_file, "--weather", weather_file,
           "--stop", f"{s.stop_seconds:g}", "--start", s.start, "--timezone", s.timezone]
    ctx.add_federate(name, " ".join(shlex.quote(c) for c in cmd), weather_helics_config(name),
                     config_file=helics_file, env={"WEATHER_CONFIG": tesp_file})


def _env_value(ctx: Any, value: str) -> str:
    """An ``env`` value: relative to the YAML's folder when it names a path that exists there, else as written."""
    text = str(value)
    if not text or Path(text).is_absolute():
        return text
    candidate = ctx.resolve_input(text)
    return str(candidate.resolve()) if candidate.exists() else text


def _bulk_voltage_base(ctx: Any, bulk: Any) -> float | None:
    """Line-to-neutral volts of 1 pu at the bulk bus (``1000·baseKV/√3`` of its row in the grid JSON the bulk
    section wrote), the scale of ``three_phase_voltage_<bus>``; None when it cannot be read."""
    pp_json = getattr(bulk, "pp_json", None)
    if not pp_json:
        return None
    try:
        doc = json.loads((Path(ctx.directory) / pp_json).read_text(encoding="utf-8"))
        row = next(r for r in doc["bus"] if int(r[0]) == int(bulk.bus))
        return 1000.0 * float(row[9]) / math.sqrt(3.0)
    except (OSError, ValueError, KeyError, IndexError, StopIteration, TypeError):
        return None


_CLOCK_ZONE_RE = re.compile(r"clock\s*\{[^}]*?\btimezone\s+[\"']?([^;\"'\s]+)", re.DOTALL)


def _warn_on_another_time_zone(ctx: Any, glm: Path, where: str) -> None:
    """The case's clock replaces the model's; when the model was written for another zone (IEEE-123: EST+5EDT) and
    the case did not name one, say so: its schedules and weather would run in the case's default zone."""
    try:
        match = _CLOCK_ZONE_RE.search(glm.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return   # prepare_user_feeder names the unreadable file
    case_raw = (getattr(ctx, "raw", None) or {}).get("case")
    zone_given = isinstance(case_raw, dict) and "timezone" in case_raw
    if match and match.group(1) != ctx.settings.timezone and not zone_given:
        log.warning("%s.glm: %s's clock is in %s; the case runs it in %s (set case.timezone: %s to keep the model's)",
                    where, glm.name, match.group(1), ctx.settings.timezone, match.group(1))


def _build_user_glm(ctx: Any, sec: FeederSection, raw: dict[str, Any], where: str, name: str) -> None:
    """``feeder.glm``: wrap and discover the user's model, write its weather, register ``gld_<bus>``."""
    given = [k for k in _GENERATION_ONLY if k in raw]
    if given:
        raise UserError(f"{where}.{given[0]}: only shapes a generated feeder; with feeder.glm the model's own objects "
                        "are used (remove the field)")
    s = ctx.settings
    step = feeder_step(ctx, sec, where)
    stop = s.start_datetime + timedelta(seconds=s.stop_seconds)
    env = {str(k): _env_value(ctx, v) for k, v in sec.env.items()}
    defines = {str(k): str(v) for k, v in sec.defines.items()}
    _warn_on_another_time_zone(ctx, ctx.resolve_input(sec.glm), where)
    user = prepare_user_feeder(ctx.resolve_input(sec.glm), Path(ctx.directory), s.root, defines=defines, env=env,
                               timezone=s.timezone, start=s.start, stop=stop.strftime("%Y-%m-%d %H:%M:%S"),
                               step_s=step, minimum_timestep_s=sec.minimum_timestep_s if "minimum_timestep_s" in raw
                               else None, fed_name=name, bulk_bus=sec.bus, where=where,
                               step_given=sec.step_s is not None, period_s=int(s.period_s))
    inv = user.inventory
    step = user.step_s
    if step > s.metrics_interval_s:
        raise UserError(f"{where}.step_s: the model's minimum_timestep ({step} s) exceeds case.metrics_interval_s "
                        f"({s.metrics_interval_s} s)")
    weather_file = None
    if sec.weather == "federate" and not inv.climate:
        raise UserError(f"{where}.weather: 'federate' needs a climate object in {Path(sec.glm).name}; it has none")
    if sec.weather == "file":
        if sec.weather_file:
            src = ctx.resolve_input(sec.weather_file)
            if not src.is_file():
                raise UserError(f"{where}.weather_file: {src}: file not found")
            if not inv.climate:
                raise UserError(f"{where}.weather_file: {Path(sec.glm).name} has no climate object to write it into")
            weather_file = "weather.dat"
            ctx.write_text(weather_file, src.read_text(encoding="utf-8"))
        elif inv.climate and not user.climate_reads_file:
            defaults = FeederSpec()
            weather_file = _write_generated_weather(ctx, sec, where, defaults.latitude_deg, defaults.longitude_deg)
        else:
            log.info("%s: %s: no weather written (%s)", where, Path(sec.glm).name,
                     "its climate object reads its own file" if inv.climate else "no climate object")
    helics = FeederHelicsConfig(name=name, period=step, separator=s.separator)
    handle = FeederHandle(name=name, bus=sec.bus, inventory=inv, glm=f"{s.root}.glm", helics=helics,
                          weather_file=weather_file, source=Path(sec.glm).name, objects_glm=user.objects_glm,
                          glpath=user.glpath, first_step_load_kw=user.first_step_load_kw)
    ctx.handles[SECTION] = handle
    helics.add_te30_defaults(inv, bulk_federate=None, bulk_bus=sec.bus,
                             weather_federate=sec.weather_federate if sec.weather == "federate" else None)
    config_file = f"{s.root}_gridlabd.json"
    cmd = ["python", "-m", "vppfed.federates.feeder", "--config", config_file, "--glm", f"{s.root}.glm",
           "--inventory", f"{s.root}_inventory.json", "--metrics-root", s.root, "--hours", f"{s.hours:g}",
           "--metrics-interval", str(s.metrics_interval_s), "--metrics-sample", str(sec.metrics_sample_s),
           "--worker-log", f"{name}_gridlabd_worker.log", "--glpath", user.glpath]
    if weather_file:
        cmd += ["--weather", weather_file]
    entry = None

    def config() -> dict[str, Any]:
        bulk = ctx.handles.get("bulk")
        target = getattr(bulk, "voltage_target", None)
        if target:
            handle.subscribe(target, inv.substation, "positive_sequence_voltage", "complex")
            # the head's nominal voltage need not be the bulk bus's (a SWING node at 2.4 kV, a substation at 7.2 kV):
            # the federate writes the bulk voltage in per unit of the bus base times the head's nominal voltage
            if entry is not None and "--head-voltage-base" not in entry.exec:
                base = _bulk_voltage_base(ctx, bulk)
                if base is None and inv.head_kind == "swing":
                    raise UserError(f"{where}.glm: cannot read the bulk bus {getattr(bulk, 'bus', '?')} base voltage "
                                    f"to scale the SWING head {inv.substation} (bulk.model has no bus row for it)")
                if base is not None:
                    entry.exec += f" --head-voltage-base {base:.6g}"
        return helics.document()

    entry = ctx.add_federate(name, " ".join(shlex.quote(c) for c in cmd), config, config_file=config_file)
