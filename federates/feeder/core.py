"""The feeder federate's core: TESP GridLAB-D HELICS config -> GridLAB-D writes, steps, reads and metrics.

No HELICS here. The adapter (:mod:`vppfed.federates.feeder.adapter`) hands in the values of updated subscriptions
(:meth:`FeederCore.set_input`) and publishes what :meth:`FeederCore.step` returns. Everything else is here:

- the TESP ``<root>_gridlabd.json`` is read into :class:`Point` lists (``info`` ``{"object", "property"}``; a missing
  ``info`` is derived from a ``object/property`` or ``object#property`` key);
- at each granted time: climate values from weather.dat (when given), pending subscription writes, ``step_to(t)``,
  then the publications, read with one ``get_properties_by_class`` per (class, property) when several objects of a
  class are published (an inventory maps object -> class), single reads otherwise;
- GridLAB-D-style metrics sampled every ``sample_every_s`` and written every ``metrics_interval_s`` through the
  project's MetricsWriter.
"""
from __future__ import annotations

import cmath
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from vppfed.federates.feeder.gld_metrics import FeederMetrics
from vppfed.io import format_complex, normalize_key, parse_complex, parse_float
from vppfed.formats.gld_strings import parse_complex_many
from vppfed.federates.feeder.session import GridlabdError, GridlabdSession

log = logging.getLogger(__name__)

__all__ = ["Point", "FeederConfig", "load_gridlabd_config", "FeederCore", "normalize_key", "build_metrics", "make_writers",
           "object_class_map", "SwingHead", "SubstationScale"]

_TYPES = {"double", "complex", "string", "integer", "int", "boolean", "bool", "vector"}


@dataclass(frozen=True)
class Point:
    """One publication or subscription bound to a GridLAB-D object property."""

    key: str          # publication: local key; subscription: target (``pypower/three_phase_voltage_7``)
    obj: str
    prop: str
    type: str = "double"


@dataclass
class FeederConfig:
    """What the feeder federate needs from its HELICS JSON."""

    name: str
    period: float
    publications: list[Point]
    subscriptions: list[Point]


#: the two head properties a SWING-node head answers through :class:`SwingHead` (a substation object has them)
HEAD_POWER, HEAD_VOLTAGE = "distribution_load", "positive_sequence_voltage"


@dataclass(frozen=True)
class SwingHead:
    """A feeder head that is a SWING node or meter, not a ``substation`` object (IEEE test feeders).

    ``distribution_load`` of the head is the power into the feeder at the head: the sum over the head's links of
    ``power_in`` (a link written ``from`` the head) or minus ``power_out`` (a link written ``to`` it). Measured on our
    IEEE 13-node feeder with the SWING node as a meter: equal to the meter's ``measured_power`` (3.64431+1.76608j MVA).
    ``positive_sequence_voltage`` written to the head (volts at the bulk bus, 1 pu = ``voltage_base_v``) becomes
    ``voltage_A/B/C`` = ``nominal_v`` x pu at 0, -120 and +120 degrees on the head's phases.
    """

    name: str
    links: tuple[str, ...]
    nominal_v: float
    phases: str = "ABC"
    voltage_base_v: float | None = None

    @classmethod
    def from_inventory(cls, inventory: Any, voltage_base_v: float | None = None) -> "SwingHead | None":
        """The head of an inventory whose ``head_kind`` is "swing", else None."""
        if getattr(inventory, "head_kind", "substation") != "swing":
            return None
        return cls(name=inventory.substation, links=tuple(inventory.head_links),
                   nominal_v=float(inventory.head_nominal_v or 0.0), phases=inventory.head_phases or "ABC",
                   voltage_base_v=voltage_base_v)

    def phase_voltages(self, value: Any) -> dict[str, complex]:
        """``{voltage_X: V}`` for a bulk voltage ``value`` (a magnitude or complex, in volts at the bulk bus)."""
        if not self.voltage_base_v or not self.nominal_v:
            raise GridlabdError(f"SWING head {self.name}: no voltage base to scale the bulk voltage (the feeder "
                                "federate needs --head-voltage-base)")
        magnitude = abs(complex(value)) if not isinstance(value, str) else abs(parse_complex(value))
        pu = magnitude / self.voltage_base_v
        angles = {"A": 0.0, "B": -120.0, "C": 120.0}
        return {f"voltage_{ph}": cmath.rect(self.nominal_v * pu, math.radians(angles[ph])) for ph in self.phases}


@dataclass(frozen=True)
class SubstationScale:
    """A user's ``substation`` head whose ``nominal_voltage`` need not be the bulk bus's: GridLAB-D's substation takes
    ``positive_sequence_voltage`` in its own nominal terms, so the bulk voltage (1 pu = ``voltage_base_v``) is written
    as ``nominal_v`` x pu. A generated feeder's substation has the bulk bus's nominal voltage (no scaling needed)."""

    name: str
    nominal_v: float
    voltage_base_v: float

    @classmethod
    def from_inventory(cls, inventory: Any, voltage_base_v: float | None) -> "SubstationScale | None":
        """The scale of an inventory whose head is a ``substation`` with a nominal voltage, given a base; else None."""
        if getattr(inventory, "head_kind", "substation") != "substation" or not voltage_base_v \
                or not getattr(inventory, "head_nominal_v", None):
            return None
        return cls(name=inventory.substation, nominal_v=float(inventory.head_nominal_v),
                   voltage_base_v=float(voltage_base_v))

    def scaled(self, value: Any) -> Any:
        factor = self.nominal_v / self.voltage_base_v
        return complex(value) * factor if isinstance(value, complex) else float(value) * factor


def _info(entry: Mapping[str, Any], where: str, key: str) -> tuple[str, str]:
    info = entry.get("info")
    if isinstance(info, str) and info.strip():
        text = info.strip()
        if text.startswith("{"):
            try:
                info = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"{where}: 'info' is not valid JSON: {text!r}") from None
        else:
            info = None
    if isinstance(info, Mapping):
        obj, prop = info.get("object"), info.get("property")
        if not obj or not prop:
            raise ValueError(f"{where}: 'info' needs both 'object' and 'property', got {dict(info)}")
        return str(obj), str(prop)
    # no info: the last two parts of the key name the object and property
    parts = normalize_key(key).split("/")
    if len(parts) >= 2 and parts[-1] and parts[-2]:
        return parts[-2], parts[-1]
    raise ValueError(f"{where}: no 'info' {{\"object\", \"property\"}} and the key '{key}' does not name them")


def load_gridlabd_config(source: str | Path | Mapping[str, Any]) -> FeederConfig:
    """Read a TESP-style GridLAB-D HELICS config (a path or an already loaded mapping).

    Raises
    ------
    ValueError
        Naming the file and the entry, for a missing key/info or an unknown type.
    """
    if isinstance(source, Mapping):
        doc, label = dict(source), "config"
    else:
        path = Path(source)
        label = path.name
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{path}: file not found") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    pubs: list[Point] = []
    subs: list[Point] = []
    for section, out in (("publications", pubs), ("subscriptions", subs)):
        for i, entry in enumerate(doc.get(section, []) or []):
            where = f"{label}: {section}[{i}]"
            key = entry.get("key") or entry.get("target") or entry.get("name")
            if not key:
                raise ValueError(f"{where}: missing 'key'")
            typ = str(entry.get("type", "double")).lower()
            if typ not in _TYPES:
                raise ValueError(f"{where}: unknown type '{typ}' (use double, complex, string, integer)")
            obj, prop = _info(entry, where, key)
            out.append(Point(key=str(key), obj=obj, prop=prop, type=typ))
    period = float(doc.get("period", 1.0) or 1.0)
    return FeederConfig(name=str(doc.get("name", "gld")), period=period, publications=pubs, subscriptions=subs)


def _convert_out(raw: str, typ: str) -> Any:
    """A GridLAB-D property text as the Python value to publish (native GridLAB-D units)."""
    if typ == "complex":
        return parse_complex(raw)
    if typ == "string":
        return raw.strip()
    if typ in ("integer", "int"):
        return int(round(parse_float(raw)))
    if typ in ("boolean", "bool"):
        return raw.strip().upper() in ("TRUE", "1", "ON", "YES")
    if typ == "vector":
        c = parse_complex(raw)
        return [c.real, c.imag]
    value = parse_complex(raw)   # double: a complex property published as double gives its magnitude (HELICS rule)
    return value.real if value.imag == 0.0 else abs(value)


_NUMERIC = ("double", "complex", "vector")


def _convert_all(raws: Sequence[str], points: Sequence[Point]) -> list[Any]:
    """:func:`_convert_out` of every publication, the numeric ones parsed together (:func:`parse_complex_many`)."""
    out: list[Any] = [None] * len(raws)
    numeric = [i for i, p in enumerate(points) if p.type in _NUMERIC]
    for i, c in zip(numeric, parse_complex_many([raws[i] for i in numeric])):
        typ = points[i].type
        out[i] = c if typ == "complex" else [c.real, c.imag] if typ == "vector" else (
            c.real if c.imag == 0.0 else abs(c))
    for i, p in enumerate(points):
        if p.type not in _NUMERIC:
            out[i] = _convert_out(raws[i], p.type)
    return out


def _convert_in(value: Any) -> Any:
    """A received value as text/number for ``set_property``."""
    if isinstance(value, complex):
        return format_complex(value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return format_complex(complex(float(value[0]), float(value[1])))
    return value


class FeederCore:
    """Drive one GridLAB-D model in lockstep with a co-simulation.

    Parameters
    ----------
    session : GridlabdSession
        Not yet opened (``start`` opens it) or already open.
    config : FeederConfig
        Publications and subscriptions.
    object_class : mapping, optional
        Object name -> GridLAB-D class (from the feeder inventory); enables one batch read per (class, property).
    weather : object with ``at(t) -> {param: value}``, optional
        Climate values written to ``climate_name`` before each step.
    metrics : FeederMetrics, optional
        Metrics collector; ``writers`` maps TESP prefix -> MetricsWriter (``write(t, rows)``, ``close()``).
    metrics_interval_s, sample_every_s : float
        Metrics file interval (TESP 300 s) and sampling period (a multiple of the step; at most the interval).
    only_changed : bool
        Return only publications whose value changed since they were last returned (HELICS
        ``onlyTransmitOnChange`` semantics without the cost of publishing).
    head : SwingHead, optional
        A SWING-node feeder head: ``distribution_load`` and ``positive_sequence_voltage`` of it are computed
        (see :class:`SwingHead`).
    substation_scale : SubstationScale, optional
        A user's substation head: the bulk voltage written into its ``positive_sequence_voltage`` is scaled to its
        nominal voltage.
    """

    def __init__(self, session: GridlabdSession, config: FeederConfig, *, object_class: Mapping[str, str] | None = None,
                 weather: Any = None, climate_name: str = "localWeather", metrics: FeederMetrics | None = None,
                 writers: Mapping[str, Any] | None = None, metrics_interval_s: float = 300.0,
                 sample_every_s: float | None = None, only_changed: bool = True,
                 head: SwingHead | None = None, substation_scale: SubstationScale | None = None) -> None:
        self.session = session
        self.head = head
        self.substation_scale = substation_scale
        self._head_sign: dict[str, float] = {}   # head link -> +1 (power_in, written from the head) / -1 (power_out)
        self.config = config
        self.object_class = dict(object_class or {})
        self.weather = weather
        self.climate_name = climate_name
        self.metrics = metrics
        self.writers = dict(writers or {})
        self.metrics_interval_s = float(metrics_interval_s)
        self.sample_every_s = float(sample_every_s or config.period)
        self.only_changed = only_changed
        self._subs: dict[str, list[Point]] = {}
        for p in config.subscriptions:
            self._subs.setdefault(normalize_key(p.key), []).append(p)
        self._pending: dict[tuple[str, str], Any] = {}
        self._last_pub: dict[str, Any] = {}
        self._last_weather: dict[str, float] = {}
        self._cache: dict[tuple[str, str], Mapping[str, str]] = {}
        self._objects: dict[tuple[str, str], str] = {}   # single properties read with this step's exchange
        self._last_metrics_t = 0.0
        # group publications by (class, property) for batch reads
        groups: dict[tuple[str, str], list[Point]] = {}
        for p in config.publications:
            cls = self.object_class.get(p.obj)
            groups.setdefault((cls or f"#{p.obj}", p.prop), []).append(p)
        self._batch = {k: v for k, v in groups.items() if not k[0].startswith("#") and len(v) >= 2}
        # what a step reads from the worker (the SWING head's power is the sum over its links, read as single
        # properties in :meth:`_head_reads`, so it is never a class read)
        not_head = (lambda r: r != ("substation", HEAD_POWER)) if head is not None else (lambda r: True)
        self._class_reads = [r for r in self._batch if not_head(r)]
        self._sample_reads = [r for r in (metrics.reads() if metrics is not None else [])
                              if r not in self._batch and not_head(r)]
        #: publications read one by one (not in a class batch, not the SWING head's computed power)
        self._object_reads = list(dict.fromkeys(
            (p.obj, p.prop) for p in config.publications
            if not (head is not None and p.obj == head.name and p.prop == HEAD_POWER)
            and (self.object_class.get(p.obj), p.prop) not in self._batch))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open GridLAB-D (if needed) and check that every configured object property exists."""
        if not self.session.alive:
            self.session.open()
        missing = []
        if self.head is not None:
            self._start_head()
        for p in list(self.config.publications) + list(self.config.subscriptions):
            if self._is_head_point(p.obj, p.prop):
                continue
            try:
                self.session.get(p.obj, p.prop)
            except GridlabdError:
                missing.append(f"{p.obj}.{p.prop} (key {p.key})")
        if missing:
            raise GridlabdError(f"{self.session.glm.name}: the config names object properties the model does not "
                                f"have: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))

    def finish(self, failed: bool = False) -> None:
        """Write the last partial metrics interval, close the writers and end GridLAB-D (always call this).

        GridLAB-D is ended the way a batch run ends (:meth:`GridlabdSession.close`), so the model's own recorders and
        metrics_collector_writer files are complete. ``failed`` (an error or a stop signal ended the run) makes the
        session trust no further GridLAB-D call and finish within a short time (recorder lines up to the last step).
        """
        try:
            if self.metrics is not None and self.session.time_s is not None \
                    and self.session.time_s > self._last_metrics_t:
                self._write_metrics(self.session.time_s)
        finally:
            for w in self.writers.values():
                try:
                    w.close()
                except Exception:  # noqa: BLE001 - keep closing the others
                    log.exception("closing a metrics writer failed")
            self.session.close(failed=failed)

    # -------------------------------------------------------------------- inputs
    def subscription_targets(self) -> list[Point]:
        """Subscriptions as configured (the adapter looks up one HELICS input per target)."""
        return list(self.config.subscriptions)

    def set_input(self, target: str, value: Any) -> None:
        """Queue ``value`` received on ``target`` for the GridLAB-D properties bound to it (applied at next step)."""
        points = self._subs.get(normalize_key(target))
        if not points:
            raise KeyError(f"no subscription to '{target}' in the feeder config")
        for p in points:
            self._pending[(p.obj, p.prop)] = value

    # ---------------------------------------------------------------------- step
    # ---------------------------------------------------------------- SWING head
    def _is_head_point(self, obj: str, prop: str) -> bool:
        return self.head is not None and obj == self.head.name and prop in (HEAD_POWER, HEAD_VOLTAGE)

    def _start_head(self) -> None:
        """Check the head's links and learn their orientation (``from`` is readable through the bindings)."""
        assert self.head is not None
        if not self.head.links:
            raise GridlabdError(f"{self.session.glm.name}: the SWING head {self.head.name} has no links to measure "
                                "the feeder's power on")
        for link in self.head.links:
            self._head_sign[link] = 1.0 if self.session.get(link, "from").strip() == self.head.name else -1.0

    def _head_reads(self) -> list[tuple[str, str]]:
        """The (link, property) pairs :meth:`head_power` reads."""
        return [(link, "power_in" if sign > 0 else "power_out") for link, sign in self._head_sign.items()]

    def head_power(self) -> complex:
        """Power into the feeder at a SWING head, VA (see :class:`SwingHead`)."""
        total = 0j
        for (link, prop), sign in zip(self._head_reads(), self._head_sign.values()):
            total += sign * parse_complex(self._object_text(link, prop))
        return total

    def _object_text(self, obj: str, prop: str) -> str:
        """``obj.prop`` as read with this step's exchange, or read now if the step did not ask for it."""
        text = self._objects.get((obj, prop))
        return text if text is not None else self.session.get(obj, prop)

    def _read_class(self, cls: str, prop: str) -> Mapping[str, str]:
        if self.head is not None and cls == "substation" and prop == HEAD_POWER:
            key = ("#head", prop)
            if key not in self._cache:
                self._cache[key] = {self.head.name: format_complex(self.head_power())}
            return self._cache[key]
        key = (cls, prop)
        if key not in self._cache:
            self._cache[key] = self.session.get_class(cls, prop)
        return self._cache[key]

    def _raw(self, p: Point) -> str:
        if self._is_head_point(p.obj, p.prop) and p.prop == HEAD_POWER:
            return self._read_class("substation", HEAD_POWER)[p.obj]
        cls = self.object_class.get(p.obj)
        if cls is not None and (cls, p.prop) in self._batch:
            values = self._read_class(cls, p.prop)
            if p.obj in values:
                return values[p.obj]
        return self._object_text(p.obj, p.prop)

    def step(self, t: float) -> dict[str, Any]:
        """Apply weather and pending inputs, advance GridLAB-D to ``t`` seconds, return publications ``{key: value}``.

        Everything GridLAB-D is asked at ``t`` (the writes, the step, the publications' and the metrics sample's
        reads) goes to its worker in one round trip (:meth:`GridlabdSession.exchange`).
        """
        sampling = self.metrics is not None and (_is_multiple(t, self.sample_every_s)
                                                 or _is_multiple(t, self.metrics_interval_s))
        class_reads = self._class_reads + (self._sample_reads if sampling else [])
        self._cache, self._objects = self.session.exchange(t, self._step_writes(t), class_reads,
                                                           self._object_reads + self._head_reads())
        out: dict[str, Any] = {}
        for key, value in self._publications().items():
            if not self.only_changed or self._last_pub.get(key, _MISSING) != value:
                out[key] = value
                self._last_pub[key] = value
        if sampling:
            assert self.metrics is not None
            self.metrics.sample(t, self._read_class)
            if _is_multiple(t, self.metrics_interval_s):
                self._write_metrics(t)
        return out

    def _publications(self) -> dict[str, Any]:
        """Every publication's value from what the step read (the numeric ones parsed together)."""
        points = self.config.publications
        return {p.key: value for p, value in zip(points, _convert_all([self._raw(p) for p in points], points))}

    def _step_writes(self, t: float) -> list[tuple[str, str, Any]]:
        """What GridLAB-D is written before the step to ``t``: changed weather, then the inputs received since."""
        writes: list[tuple[str, str, Any]] = []
        if self.weather is not None:
            # once per weather row (5 min), held in between as TESP's weather agent publishes it: writing an
            # interpolated value every step cost six worker round trips per step
            for param, value in self.weather.held(t).items():
                if self._last_weather.get(param) != value:
                    writes.append((self.climate_name, param, value))
                    self._last_weather[param] = value
        for (obj, prop), value in self._pending.items():
            if self.head is not None and self._is_head_point(obj, prop) and prop == HEAD_VOLTAGE:
                writes += [(obj, phase_prop, volts) for phase_prop, volts in self.head.phase_voltages(value).items()]
                continue
            sub = self.substation_scale
            if sub is not None and obj == sub.name and prop == HEAD_VOLTAGE:
                value = sub.scaled(value)
            writes.append((obj, prop, _convert_in(value)))
        self._pending.clear()
        return writes

    def _write_metrics(self, t: float) -> None:
        """Write the interval ending at ``t`` to every writer: a prefix without objects gets an empty row set
        (``"300": {}``), because TESP's ``process_gld`` opens all six files and indexes each by the same times."""
        rows = self.metrics.flush() if self.metrics is not None else {}
        if rows:
            for prefix, writer in self.writers.items():
                writer.write(t, rows.get(prefix, {}))
        self._last_metrics_t = t

    def publish_all(self) -> dict[str, Any]:
        """Every publication's current value (for a federate that must publish at t = 0)."""
        self._cache.clear()
        self._objects.clear()
        out = self._publications()
        self._last_pub.update(out)
        return out


_MISSING = object()


def _is_multiple(t: float, every: float) -> bool:
    return every > 0 and abs(t / every - round(t / every)) < 1e-9


def object_class_map(inventory: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """``{object: class}`` from an inventory's ``by_class()`` mapping."""
    return {name: cls for cls, names in inventory.items() for name in names}


def build_metrics(inventory: Any) -> FeederMetrics:
    """A :class:`FeederMetrics` for a :class:`~vppfed.federates.feeder.inventory.FeederInventory`.

    The losses are read from the inventory's link classes only (a class the model lacks is not read); regulators
    listed apart from ``links`` are links too and join them. An inventory without ``links`` (written before the
    field existed) reads every loss class: adding only its regulators would drop the lines.
    """
    links = {cls: list(names) for cls, names in inventory.links.items()}
    if links and inventory.regulators:
        have = links.setdefault("regulator", [])
        have.extend(r for r in inventory.regulators if r not in have)
    return FeederMetrics(houses=inventory.houses, meters=inventory.billing_meters,
                         inverters=list(inventory.pv_inverters) + list(inventory.battery_inverters),
                         water_heaters=inventory.water_heaters,
                         water_heater_house={w: inventory.device_house[w] for w in inventory.water_heaters},
                         substation=inventory.substation, capacitors=inventory.capacitors,
                         regulators=inventory.regulators, links=links, meter_class=inventory.meter_class,
                         meter_upstream=inventory.meter_upstream)


def make_writers(factory: Callable[[str, list[tuple[str, str]]], Any], metrics: FeederMetrics) -> dict[str, Any]:
    """One writer per TESP prefix, all six even when a class has no objects (``factory(prefix, columns)`` builds a
    MetricsWriter): TESP's ``process_gld`` opens every one of them and stops at the first missing file. ``metrics``
    is kept in the signature for the callers; which objects it has only decides the rows, not the files."""
    return {prefix: factory(prefix, cols) for prefix, cols in FeederMetrics.columns().items()}
