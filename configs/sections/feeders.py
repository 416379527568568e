"""Section builder of ``feeders:``: one generated feeder (plus its agents) per transmission bus, TESP ERCOT style.

The single-feeder ``feeder:`` section builds one ``gld_<bus>``. A multi-feeder case (``cases/ercot8``) lists its
buses here and keeps the other sections as *templates*: this section claims ``feeder:``, ``bulk:``, ``market:`` and
``battery:`` (:meth:`~vppfed.configs.case.CaseContext.claim`) and builds, for every bus,

- the ``feeder:`` section's own builder, run in a per-bus context (:class:`BusContext`): folder ``Bus<N>/``, metrics
  root ``Bus<N>`` (TESP's ERCOT layout: ``Bus<N>/house_Bus<N>_metrics.json``), federate ``gld_<N>``, the bus's weather
  region and seeds derived from the bus;
- the agent sections switched on for that bus (``market:`` -> ``sub_<N>`` with HVAC bidders, ``battery:`` ->
  ``battery_<N>``), also with their own builders in the same per-bus context;

and one bulk-grid federate ``pypower`` over all buses (``<model>_pp.json`` with one DSO row per bus, each feeder
scaled to its bus's load). So ``--houses-per-feeder`` (``feeder.houses``) sizes every feeder and ``--buses``
(``bulk.buses``) takes the first N buses of the list below.

YAML::

    feeders:
      buses:                       # order matters: bulk.buses = N keeps the first N
        - {bus: 3, region: IAH, load_factor: 1.05, market: true}
        - {bus: 2, region: SPS}
      regions:                     # weather regions: configs.weather.WeatherSpec fields (lat/lon also place the sun)
        IAH: {latitude_deg: 29.98, longitude_deg: -95.36, temperature_mean_f: 86, humidity_mean: 0.65}
        SPS: {latitude_deg: 33.98, longitude_deg: -98.49, temperature_mean_f: 88}
      peak_kw_per_house: 6.0       # expected diversified feeder peak per house, sets each feeder's DSO scale
      sub_brokers: 2               # HELICS sub-brokers; buses split into contiguous groups, a feeder and its
                                   # agents under the same one (0: every federate on the root broker)
      region_brokers: 0            # > 0: a third level, region brokers between the root and the sub-brokers
                                   # (contiguous sets of sub-broker groups; 0: sub-brokers under the root)
      cluster: {hosts: 0, core_type: zmq, time_limit: "02:00:00"}   # configs.cluster.ClusterOptions
    feeder:   {houses: 10, pv_fraction: 0.2, ...}   # template of every feeder (configs/sections/feeder.py)
    bulk:     {model: ercot8, buses: 8, feeder_share: 0.05, ...}  # the grid over all buses (GridTemplate)
    market:   {enabled: false, ...}  # template of sub_<bus>; enabled: the default switch of buses without one
    battery:  {policy: threshold, ...}  # template of battery_<bus> (needs feeder.battery_fraction > 0)

Per bus: ``market`` (null = ``market.enabled`` of the template, false without a ``market:`` section), ``battery``,
``load_factor`` (multiplies the zone's load; the feeder's DSO scale follows), ``peak_kw_per_house`` (this bus's
feeder peak per house when its load mix differs; default the section's) and ``feeder`` (overrides of the
template for this bus, e.g. ``{ev_fraction: 0.3}``; not ``houses``, which ``--houses-per-feeder`` sets for all).

Files: ``Bus<N>/`` with the feeder's ``Bus<N>.glm``, dictionaries, ``weather.dat`` and HELICS JSONs; the grid model
``<model>_pp.json`` and ``<root>_pypower.json`` at the top; and the scale-out files of :mod:`vppfed.configs.cluster`
(``runner_host<i>.json``, ``host_start.sh``, ``launch.slurm``, ``cluster_plan.json``).

Handle ``ctx.handles["feeders"]`` (:class:`FeedersHandle`): the buses, each bus's feeder handle and sub-broker, and the
bulk federate.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from vppfed.configs.cluster import ClusterOptions, cluster_files
from vppfed.configs.sections.bulk import BulkHandle, GridOptions, dispatch_flags
from vppfed.io import parse_dataclass, require
from vppfed.errors import UserError

if TYPE_CHECKING:  # annotations only: the case framework imports this module
    from vppfed.configs.case import CaseContext

SECTION = "feeders"
ORDER = 5  # before feeder (10), bulk (20), market (30), battery (40): it claims them

#: Sections this one takes over as templates; the first two always, the agents per bus.
TEMPLATE_SECTIONS = ("feeder", "bulk")
PER_BUS_AGENTS = ("market", "battery")
CURVE_KEYS = ("unresponsive_mw", "responsive_max_mw", "responsive_c2", "responsive_c1", "responsive_deg")
#: feeder: fields the section sets per bus (a template or a bus override must not)
_PER_BUS_FEEDER_FIELDS = ("bus", "name")
#: WeatherSpec fields that come from the case
_WEATHER_FROM_CASE = ("start", "hours", "timezone", "seed")


@dataclass
class BusFeeder:
    """One bus of ``feeders.buses``."""

    bus: int
    region: str = ""
    load_factor: float = 1.0
    market: bool | None = None
    battery: bool = False
    feeder: dict[str, Any] = field(default_factory=dict)
    #: this bus's feeder peak per house (kW) when its load mix differs from the others; None: the section's
    peak_kw_per_house: float | None = None

    def validate(self) -> None:
        require(self.bus >= 1, "bus", "must be a bus number >= 1")
        require(self.load_factor > 0, "load_factor", "must be > 0")
        require(self.peak_kw_per_house is None or self.peak_kw_per_house > 0, "peak_kw_per_house", "must be > 0 kW")
        bad = [k for k in self.feeder if k in _PER_BUS_FEEDER_FIELDS + ("houses",)]
        require(not bad, f"feeder.{bad[0] if bad else ''}",
                "set per bus by the feeders: section (houses: feeder.houses / --houses-per-feeder for every feeder)")


@dataclass
class FeedersSection:
    """The ``feeders:`` YAML section (see the module docstring)."""

    buses: list[BusFeeder]
    regions: dict[str, dict[str, Any]] = field(default_factory=dict)
    peak_kw_per_house: float = 6.0
    sub_brokers: int = 1
    region_brokers: int = 0
    cluster: ClusterOptions = field(default_factory=ClusterOptions)

    def validate(self) -> None:
        require(len(self.buses) >= 1, "buses", "list at least one bus")
        numbers = [b.bus for b in self.buses]
        dup = sorted({n for n in numbers if numbers.count(n) > 1})
        require(not dup, "buses", f"bus {dup[0] if dup else ''} is listed twice")
        for i, b in enumerate(self.buses):
            require(not b.region or b.region in self.regions, f"buses[{i}].region",
                    f"unknown region {b.region!r} (regions: {', '.join(self.regions) or 'none'})")
        require(self.peak_kw_per_house > 0, "peak_kw_per_house", "must be > 0 kW")
        require(self.sub_brokers >= 0, "sub_brokers", "must be >= 0 (0 = no sub-brokers)")
        require(self.region_brokers >= 0, "region_brokers", "must be >= 0 (0 = sub-brokers under the root)")
        require(self.region_brokers == 0 or self.sub_brokers > 0, "region_brokers",
                "needs sub_brokers > 0 (region brokers group the sub-brokers)")


@dataclass
class GridTemplate(GridOptions):
    """The ``bulk:`` section of a multi-feeder case: one bulk grid over every feeder bus.

    ``model`` is ``ercot8`` (our 8-bus grid, :mod:`vppfed.configs.bulk_ercot8`) or a path to a ``_pp.json`` whose
    ``DSO`` rows include the buses. ``buses``: how many of ``feeders.buses`` (first N; with ``ercot8``, more than
    listed adds generated substation buses 9..N, see :func:`extra_buses`) or which ones (a list); null = all. ``feeder_share``: fraction of each zone's load the scaled feeder stands for (ercot8). ``load_factor``
    multiplies every zone's load (ercot8). ``outage_gen`` (0-based generator row, null = none) is out from
    ``outage_start_h`` to ``outage_end_h``. ``slack_sharing`` and ``loss_compensation`` as in the single-bus
    ``bulk:`` section (false/false: TESP's dispatch, where the slack unit takes all losses and drift); those shared
    options are :class:`~vppfed.configs.sections.bulk.GridOptions`, written once.
    """

    model: str = "ercot8"
    buses: int | list[int] | None = None
    feeder_share: float = 0.05
    load_factor: float = 1.0
    wind_seed: int | None = None
    outage_gen: int | None = None

    def validate(self) -> None:
        if isinstance(self.buses, int):
            require(self.buses >= 1, "buses", "must be >= 1")
        require(0 <= self.feeder_share < 1, "feeder_share", "must be in [0, 1)")
        require(self.load_factor > 0, "load_factor", "must be > 0")
        super().validate()


#: The bulk grid as one bus's sections see it (``handles["bulk"]`` in a :class:`BusContext`): the same handle the
#: single-bus ``bulk:`` section gives, for that bus.
BusGrid = BulkHandle


@dataclass
class FeedersHandle:
    """What other sections learn (``ctx.handles["feeders"]``): buses in order, each bus's handles and sub-broker."""

    buses: list[int]
    bulk_federate: str
    pp_json: str
    feeders: dict[int, Any] = field(default_factory=dict)       # bus -> FeederHandle
    grids: dict[int, BusGrid] = field(default_factory=dict)     # bus -> its view of the bulk grid
    agents: dict[int, list[str]] = field(default_factory=dict)  # bus -> federates of its agents
    brokers: dict[int, str | None] = field(default_factory=dict)
    folders: dict[int, str] = field(default_factory=dict)

    def feeder(self, bus: int) -> Any:
        return self.feeders[bus]


def bus_folder(bus: int) -> str:
    """Folder and metrics root of a bus (TESP ERCOT: ``Bus1``)."""
    return f"Bus{bus}"


class BusContext:
    """A :class:`~vppfed.configs.case.CaseContext` for one bus: the same case, seen from the bus's folder.

    Section builders run unchanged in it: files go to ``Bus<N>/``, the metrics root is ``Bus<N>``, federates run in
    that folder and join the bus's sub-broker, seeds are drawn per bus (weather per region, so buses of one region
    share their weather), and ``handles`` holds this bus's feeder, grid view and agents only.
    """

    def __init__(self, parent: Any, bus: int, region: str, broker: str | None) -> None:
        self.parent = parent
        self.bus = bus
        self.region = region
        self.broker = broker
        self.folder = bus_folder(bus)
        self.settings = dataclasses.replace(parent.settings, root=self.folder)
        self.raw = parent.raw
        self.source = parent.source
        self.case_dir = parent.case_dir
        self.directory = Path(parent.directory) / self.folder
        self.handles: dict[str, Any] = {}
        self.added: list[str] = []

    # the CaseContext API -------------------------------------------------------------------------------
    @property
    def federates(self) -> list[Any]:
        return self.parent.federates

    @property
    def rng_streams(self) -> dict[str, int]:
        return self.parent.rng_streams

    def section(self, name: str) -> Any:
        return self.parent.section(name)

    def where(self, section: str) -> str:
        return f"{self.source}: {section} (bus {self.bus})"

    def seed_for(self, purpose: str) -> int:
        if purpose == "weather":
            return self.parent.seed_for(f"weather@{self.region or 'default'}")
        return self.parent.seed_for(f"{purpose}@{self.folder}")

    def key(self, obj: str, prop: str) -> str:
        return self.parent.key(obj, prop)

    def config_name(self, federate: str) -> str:
        return f"{self.settings.root}_{federate}.json"

    def add_federate(self, name: str, exec: str, config: Any = None, *, config_file: str | None = None,
                     env: Mapping[str, str] | None = None, broker: str | None = None) -> Any:
        rel = f"{self.folder}/{config_file or self.config_name(name)}" if config is not None else None
        entry = self.parent.add_federate(name, exec, config, config_file=rel, env=env, broker=broker or self.broker)
        entry.directory = self.folder
        self.added.append(name)
        return entry

    def federate(self, name: str) -> Any:
        return self.parent.federate(name)

    def on_finalize(self, callback: Callable[[], None]) -> None:
        self.parent.on_finalize(callback)

    def write_text(self, relpath: str, text: str) -> Path:
        return self.parent.write_text(f"{self.folder}/{relpath}", text)

    def write_json(self, relpath: str, data: Any) -> Path:
        return self.parent.write_json(f"{self.folder}/{relpath}", data)

    def resolve_input(self, value: str) -> Path:
        return self.parent.resolve_input(value)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of two YAML mappings (``over`` wins; nested mappings merge)."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def extra_buses(sec: FeedersSection, count: int) -> list[BusFeeder]:
    """``count`` generated substation buses of the ercot8 grid beyond ``feeders.buses`` (bus 9, 10, ...), dealt
    round-robin over the listed zone buses in their order; each takes its zone bus's region, load factor, agents and
    feeder overrides (:func:`vppfed.configs.bulk_ercot8.substation_buses`)."""
    from vppfed.configs.bulk_ercot8 import substation_buses

    by_bus = {b.bus: b for b in sec.buses}
    return [dataclasses.replace(copy.deepcopy(by_bus[zone]), bus=bus)
            for bus, zone in substation_buses(count, [b.bus for b in sec.buses]).items()]


def generated_substations(sec: FeedersSection, grid: GridTemplate) -> dict[int, int]:
    """Substation bus -> zone bus of the buses :func:`select_buses` generates (empty when it generates none)."""
    from vppfed.configs.bulk_ercot8 import substation_buses

    if (grid.model != "ercot8" or not isinstance(grid.buses, int) or grid.buses <= len(sec.buses)
            or not all(1 <= b.bus <= 8 for b in sec.buses)):
        return {}
    return substation_buses(grid.buses - len(sec.buses), [b.bus for b in sec.buses])


def select_buses(sec: FeedersSection, grid: GridTemplate, where: str) -> list[BusFeeder]:
    """The buses of the case: all of ``feeders.buses``, the first ``bulk.buses`` of them, or the listed ones.

    With the ercot8 grid and more buses asked than listed (``--buses 32``), the rest are generated substation buses
    (:func:`extra_buses`): TESP's 200-bus layout of many feeders spread over many buses of one grid."""
    if grid.buses is None:
        return list(sec.buses)
    if isinstance(grid.buses, int):
        if grid.buses > len(sec.buses):
            if generated_substations(sec, grid):
                return list(sec.buses) + extra_buses(sec, grid.buses - len(sec.buses))
            raise UserError(f"{where}: bulk.buses: {grid.buses} buses asked, feeders.buses lists {len(sec.buses)}")
        return list(sec.buses[:grid.buses])
    listed = {b.bus: b for b in sec.buses}
    missing = [b for b in grid.buses if b not in listed]
    if missing:
        raise UserError(f"{where}: bulk.buses: bus {missing[0]} is not in feeders.buses ({sorted(listed)})")
    return [listed[b] for b in grid.buses]


def broker_groups(buses: list[int], sub_brokers: int) -> dict[int, str | None]:
    """Sub-broker of each bus: ``sub_brokers`` contiguous, nearly equal groups ``subbroker1..k`` (None: root)."""
    n = len(buses)
    k = min(sub_brokers, n)
    if k <= 0:
        return {b: None for b in buses}
    return {b: f"subbroker{i * k // n + 1}" for i, b in enumerate(buses)}


def region_groups(groups: Mapping[int, str | None], region_brokers: int) -> dict[str, str]:
    """Parent of each sub-broker in a three-level hierarchy (root, region, feeder group): ``region_brokers``
    contiguous, nearly equal sets of the sub-broker groups ``region1..r`` (empty: two levels)."""
    subs = list(dict.fromkeys(g for g in groups.values() if g))
    n = len(subs)
    r = min(region_brokers, n)
    if r <= 0:
        return {}
    return {g: f"region{i * r // n + 1}" for i, g in enumerate(subs)}


def _feeder_raw(template: Mapping[str, Any], bus: BusFeeder, region: Mapping[str, Any], base_kv: float,
                where: str) -> dict[str, Any]:
    raw = _merge(template, bus.feeder)
    raw["bus"] = bus.bus
    raw["name"] = f"gld_{bus.bus}"
    raw.setdefault("weather", "file")
    if raw["weather"] == "file":
        bad = [k for k in region if k in _WEATHER_FROM_CASE]
        if bad:
            raise UserError(f"{where}: regions: field '{bad[0]}' is set in the case: section")
        raw["weather_spec"] = _merge(region, raw.get("weather_spec") or {})
    spec = dict(raw.get("spec") or {})
    spec.setdefault("transmission_kv", base_kv)
    for k in ("latitude_deg", "longitude_deg"):
        if k in region:
            spec.setdefault(k, region[k])
    raw["spec"] = spec
    return raw


def _grid_model(ctx: Any, grid: GridTemplate, buses: list[BusFeeder], peak_kw: dict[int, float],
                where: str, substations: dict[int, int] | None = None) -> tuple[str, dict[int, float]]:
    """Write the bulk model into the case folder; returns its file name and each bus's base kV."""
    s = ctx.settings
    if grid.model == "ercot8":
        from vppfed.configs.bulk_ercot8 import Ercot8Params, write_ercot8_model

        outage = ([[grid.outage_gen, grid.outage_start_h * 3600, grid.outage_end_h * 3600]]
                  if grid.outage_gen is not None and grid.outage_end_h > grid.outage_start_h else [])
        params = Ercot8Params(start_time=s.start, hours=s.hours, period_s=s.market_period_s, dt_s=s.period_s,
                              feeder_buses=[b.bus for b in buses], feeder_share=grid.feeder_share,
                              load_factor=grid.load_factor,
                              wind_seed=ctx.seed_for("wind") if grid.wind_seed is None else grid.wind_seed,
                              opf_dc=grid.opf_dc, units_out=outage,
                              bus_load_factor={b.bus: b.load_factor for b in buses}, bus_feeder_peak_kw=peak_kw,
                              substations=dict(substations or {}))
        try:
            path = write_ercot8_model(params, ctx.directory, "ercot8")
        except ValueError as exc:
            raise UserError(f"{where}: bulk: {exc}") from None
        doc = json.loads(path.read_text(encoding="utf-8"))
        return path.name, {int(row[0]): float(row[9]) for row in doc["bus"]}
    from vppfed.formats.ppcase import load_pp_case

    src = ctx.resolve_input(grid.model)
    case = load_pp_case(src)  # UserError names the file and field
    dso = {d.bus for d in case.dso}
    missing = [b.bus for b in buses if b.bus not in dso]
    if missing:
        raise UserError(f"{where}: bulk.model: bus {missing[0]} is not a DSO bus of {Path(src).name} "
                        f"(DSO buses {sorted(dso)})")
    doc = json.loads(Path(src).read_text(encoding="utf-8"))
    wanted = {b.bus for b in buses}
    doc["DSO"] = [row for row in doc["DSO"] if int(row[0]) in wanted]
    if doc.get("CSVFile"):
        csv = Path(str(doc["CSVFile"]))
        csv_src = csv if csv.is_absolute() else Path(src).parent / csv
        ctx.write_text(csv_src.name, csv_src.read_text(encoding="utf-8"))
        doc["CSVFile"] = csv_src.name
    ctx.write_json(Path(src).name, doc)
    return Path(src).name, {int(row[0]): float(row[9]) for row in doc["bus"]}


def _agent_templates(ctx: Any) -> dict[str, dict[str, Any] | None]:
    templates: dict[str, dict[str, Any] | None] = {}
    for name in TEMPLATE_SECTIONS + PER_BUS_AGENTS:
        raw = ctx.claim(name, SECTION)
        if raw is not None and not isinstance(raw, Mapping):
            raise UserError(f"{ctx.where(name)}: expected a mapping")
        templates[name] = dict(raw) if raw is not None else None
    return templates


def build(ctx: CaseContext, raw: dict[str, Any]) -> None:
    """Build every bus's feeder and agents and the bulk grid over all of them (see the module docstring)."""
    from vppfed.configs.sections import battery as battery_section
    from vppfed.configs.sections import feeder as feeder_section
    from vppfed.configs.sections import market as market_section

    where = ctx.where(SECTION)
    templates = _agent_templates(ctx)
    sec = parse_dataclass(FeedersSection, raw, where)
    grid = parse_dataclass(GridTemplate, templates["bulk"] or {}, ctx.where("bulk"))
    feeder_template = templates["feeder"] or {}
    bad = [k for k in feeder_template if k in _PER_BUS_FEEDER_FIELDS]
    if bad:
        raise UserError(f"{ctx.where('feeder')}.{bad[0]}: set per bus by the feeders: section; remove it here")
    # the template alone must be a valid feeder: section (errors name the template's field, not a bus)
    template_sec = parse_dataclass(feeder_section.FeederSection, feeder_template, ctx.where("feeder"))
    buses = select_buses(sec, grid, where)
    numbers = [b.bus for b in buses]
    substations = generated_substations(sec, grid)
    if grid.model == "ercot8":
        from vppfed.configs.bulk_ercot8 import ZONES

        unknown = [n for n in numbers if n not in ZONES and n not in substations]
        if unknown:
            raise UserError(f"{where}.buses: bus {unknown[0]} is not in the ercot8 model (buses 1-8)")
    groups = broker_groups(numbers, sec.sub_brokers)
    ctx.broker_parents.update(region_groups(groups, sec.region_brokers))
    default_region = next(iter(sec.regions), "")
    market_default = bool((templates["market"] or {}).get("enabled", False)) if templates["market"] else False
    # every feeder has feeder.houses houses (BusFeeder.validate rejects a per-bus count)
    peak_kw = {b.bus: (b.peak_kw_per_house or sec.peak_kw_per_house) * template_sec.houses for b in buses}
    pp_name, base_kv = _grid_model(ctx, grid, buses, peak_kw, where, substations)
    handle = FeedersHandle(buses=numbers, bulk_federate=grid.federate, pp_json=pp_name)
    ctx.handles[SECTION] = handle
    weights: dict[str, float] = {grid.federate: 1.0}
    for b in buses:
        region = b.region or default_region
        view = BusContext(ctx, b.bus, region, groups[b.bus])
        bus_grid = BusGrid(federate=grid.federate, bus=b.bus, pp_json=f"../{pp_name}")
        view.handles["bulk"] = bus_grid
        feeder_raw = _feeder_raw(feeder_template, b, sec.regions.get(region, {}), base_kv.get(b.bus, 345.0),
                                 view.where("feeder"))
        use_market = market_default if b.market is None else b.market
        if use_market:  # the HVAC bidders write the setpoints; a GLM setpoint schedule would overwrite them
            feeder_raw["spec"].setdefault("thermostat_schedules", False)
        feeder_section.build(view, feeder_raw)
        if use_market:
            market_raw = dict(templates["market"] or {})
            market_raw["enabled"] = True
            market_section.build(view, market_raw)
        if b.battery:
            if templates["battery"] is None:
                raise UserError(f"{where}: bus {b.bus} asks for a battery manager; add a battery: section "
                                "(the template of every battery_<bus>)")
            battery_section.build(view, {**templates["battery"], "name": f"battery_{b.bus}"})
        fh = view.handles["feeder"]
        handle.feeders[b.bus] = fh
        handle.grids[b.bus] = bus_grid
        handle.agents[b.bus] = [n for n in view.added if n != fh.name]
        handle.brokers[b.bus] = groups[b.bus]
        handle.folders[b.bus] = view.folder
        weights[fh.name] = float(len(fh.inventory.houses))
        for agent in handle.agents[b.bus]:
            weights[agent] = 1.0 + 0.1 * len(fh.inventory.houses)
    _add_bulk_federate(ctx, grid, handle)

    def write_cluster_files() -> None:
        runner = {"name": ctx.settings.name,
                  "federates": [{"name": f.name, "directory": f.directory, "exec": f.exec, "env": f.env}
                                for f in ctx.federates],
                  "vppfed": {"brokers": {f.name: f.broker for f in ctx.federates if f.broker}}}
        if ctx.broker_parents:
            runner["vppfed"]["broker_parents"] = dict(ctx.broker_parents)
        for rel, text in cluster_files(runner, sec.cluster, weights).items():
            path = ctx.write_text(rel, text)
            if rel.endswith((".sh", ".slurm")):
                path.chmod(0o755)

    ctx.on_finalize(write_cluster_files)


def _add_bulk_federate(ctx: Any, grid: GridTemplate, handle: FeedersHandle) -> None:
    """The ``pypower`` federate over every bus: feeder loads and market curves in, voltages and LMPs out."""
    s = ctx.settings

    def config() -> dict[str, Any]:
        pubs: list[dict[str, Any]] = []
        subs: list[dict[str, Any]] = []
        for bus in handle.buses:
            pubs += [{"global": False, "key": f"three_phase_voltage_{bus}", "type": "double"},
                     {"global": False, "key": f"LMP_{bus}", "type": "double"}]
            subs.append({"key": f"{handle.feeders[bus].name}/distribution_load", "type": "complex"})
            for src in handle.grids[bus].curve_sources:
                for key in CURVE_KEYS:
                    subs.append({"key": f"{src}/{key}", "type": "integer" if key == "responsive_deg" else "double"})
        return {"name": grid.federate, "period": s.period_s, "log_level": "warning", "terminate_on_error": True,
                "publications": pubs, "subscriptions": subs}

    cmd = ["python", "-m", "vppfed.federates.bulk", "--config", ctx.config_name(grid.federate), "--case",
           handle.pp_json, "--metrics-root", s.root, "--hours", f"{s.hours:g}", "--metrics-interval",
           str(s.metrics_interval_s), "--pf-tol-mw", f"{grid.pf_tol_mw:g}", "--opf-tol-mw", f"{grid.opf_tol_mw:g}"]
    cmd += dispatch_flags(grid.slack_sharing, grid.loss_compensation)
    ctx.add_federate(grid.federate, " ".join(shlex.quote(c) for c in cmd), config)
