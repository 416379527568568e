"""Neighbourhood inputs: the PySSMic/CoSSMic folder layout, its XML files, and a seeded generator from our YAML.

Folder layout (``<folder>/``)::

    consumer_event.csv     reg_time;est;lst;<job id>;<load>.csv                   (UNIX s, ';', no header)
    producer_event.csv     timestamp;pv_producer[house]:[device];<file>.csv       (UNIX s)
    loads/<load>.csv       seconds_since_job_start cumulative_Wh                 (space separated)
    predictions/<file>.csv unix_seconds cumulative_Wh                            (hourly rows)
    neighbourhood.xml      optional: houses, users and devices (PySSMic UI format)
    jobs.xml               optional: used instead of consumer_event.csv when that file is missing

The folder is only read (runs write their producer scores into their output folder).

What PySSMic's own reader (``util/input_utils.py``) takes, read the same way:

- job ids ``[house]:[device]:[n]`` and ``[house]:device`` (its ``best_case`` writes ``[1]:small_heater``); the
  device and the number may be bracketed or bare; PySSMic keeps the id as an opaque string, we need the house;
- a job id may repeat (``best_case`` posts ``[2]:small_heater`` twice, ``less_producers_test`` every id three
  times): each line is its own job, told apart by :attr:`~vppfed.federates.neighbourhood.model.Job.key`
  (``<id>``, then ``<id>#2``, ``<id>#3``... in file order);
- a load or prediction file may repeat a row or a time (PySSMic's pandas series keeps both rows): the cumulative
  energy at a repeated time is the last row's, which keeps the file's total energy.

Every malformed line is a :class:`~vppfed.errors.UserError` naming the file and the line.
"""
from __future__ import annotations

import math
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vppfed.configs.validate import load_yaml, parse_dataclass, require
from vppfed.errors import UserError
from vppfed.federates.neighbourhood.model import Job, Neighbourhood, ProducerEvent, Profile

CONSUMER_EVENTS = "consumer_event.csv"
PRODUCER_EVENTS = "producer_event.csv"
NEIGHBOURHOOD_XML = ("neighbourhood.xml", "neighborhood.xml")
JOBS_XML = "jobs.xml"

_PART = r"(\[[^\[\]]+\]|[^\[\]:;\s]+)"   # one id part: [bracketed] or bare
_JOB_ID = re.compile(rf"^\[([^\[\]]+)\]:{_PART}(?::{_PART})?$")
_PRODUCER_ID = re.compile(rf"^([A-Za-z_]\w*)?\[([^\[\]]+)\]:{_PART}$")
JOB_ID_FORMS = "[house]:[device]:[n] or [house]:device"


def _bare(part: str) -> str:
    """``[219]`` -> ``219``; ``small_heater`` stays."""
    return part[1:-1] if part.startswith("[") and part.endswith("]") else part


@dataclass(frozen=True)
class ConsumerEventLine:
    """One line of ``consumer_event.csv`` (UNIX seconds)."""

    reg_time: float
    est: float
    lst: float
    job_id: str
    house: str
    device: str
    load_file: str
    line: int


@dataclass(frozen=True)
class ProducerEventLine:
    """One line of ``producer_event.csv`` (UNIX seconds)."""

    timestamp: float
    producer_id: str
    house: str
    device: str
    prediction_file: str
    line: int


@dataclass(frozen=True)
class DeviceSpec:
    """A device of the neighbourhood XML."""

    device_id: str
    name: str
    template: str
    kind: str


def _lines(path: Path):
    """(line number, stripped text) of non-blank lines; a missing or unreadable file is a UserError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped:
            yield number, stripped


def _number(text: str, path: Path, line: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{path}: line {line}: {what}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{path}: line {line}: {what}: expected a finite number, got {text!r}")
    return value


def read_consumer_events(path: Path) -> list[ConsumerEventLine]:
    """Parse ``consumer_event.csv``: ``reg_time;est;lst;<job id>;<load>.csv`` (job id: :data:`JOB_ID_FORMS`)."""
    out = []
    for line, text in _lines(path):
        fields = [f.strip() for f in text.split(";")]
        while len(fields) > 5 and not fields[-1]:   # trailing ';' (PySSMic reads the first five fields)
            fields.pop()
        if len(fields) != 5:
            raise UserError(f"{path}: line {line}: expected 5 fields 'reg_time;est;lst;[house]:[device]:[n];"
                            f"<load>.csv', got {len(fields)}: {text!r}")
        reg, est, lst = (_number(f, path, line, name) for f, name in zip(fields[:3], ("reg_time", "est", "lst")))
        match = _JOB_ID.match(fields[3])
        if match is None:
            raise UserError(f"{path}: line {line}: job id must look like {JOB_ID_FORMS}, got {fields[3]!r}")
        if not fields[4].endswith(".csv"):
            raise UserError(f"{path}: line {line}: load file must be a .csv name, got {fields[4]!r}")
        if lst < est:
            raise UserError(f"{path}: line {line}: latest start {lst:g} is before earliest start {est:g}")
        out.append(ConsumerEventLine(reg, est, lst, fields[3], match.group(1), _bare(match.group(2)), fields[4],
                                     line))
    return out


def read_producer_events(path: Path) -> list[ProducerEventLine]:
    """Parse ``producer_event.csv``: ``timestamp;pv_producer[house]:[device];<file>.csv``."""
    out = []
    for line, text in _lines(path):
        fields = [f.strip() for f in text.split(";")]
        if len(fields) != 3:
            raise UserError(f"{path}: line {line}: expected 3 fields 'timestamp;pv_producer[house]:[device];"
                            f"<file>.csv', got {len(fields)}: {text!r}")
        ts = _number(fields[0], path, line, "timestamp")
        match = _PRODUCER_ID.match(fields[1])
        if match is None:
            raise UserError(f"{path}: line {line}: producer id must look like pv_producer[house]:[device] or "
                            f"pv_producer[house]:device, got {fields[1]!r}")
        if not fields[2].endswith(".csv"):
            raise UserError(f"{path}: line {line}: prediction file must be a .csv name, got {fields[2]!r}")
        out.append(ProducerEventLine(ts, fields[1], match.group(2), _bare(match.group(3)), fields[2], line))
    return out


def read_cumulative(path: Path) -> Profile:
    """Parse a load or prediction file: ``time cumulative_Wh`` per line (space separated, times not decreasing).

    A repeated row, or a repeated time with another value, keeps the last value at that time: the cumulative energy
    reached then (PySSMic's series keeps both rows; differencing them gives the same total).
    """
    times, values = [], []
    for line, text in _lines(path):
        fields = text.split()
        if len(fields) != 2:
            raise UserError(f"{path}: line {line}: expected 2 space-separated numbers 'time cumulative_Wh', "
                            f"got {text!r}")
        t = _number(fields[0], path, line, "time")
        v = _number(fields[1], path, line, "cumulative_Wh")
        if times and t < times[-1]:
            raise UserError(f"{path}: line {line}: time {t:g} is before the previous time {times[-1]:g}")
        if times and t == times[-1]:
            values[-1] = v
            continue
        times.append(t)
        values.append(v)
    if not times:
        raise UserError(f"{path}: no rows")
    return Profile(np.array(times), np.array(values))


# ---------------------------------------------------------------- XML (expat, to keep line numbers)

@dataclass
class XmlNode:
    """An XML element with the line it starts on."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list["XmlNode"] = field(default_factory=list)
    text: str = ""

    def find_all(self, tag: str) -> list["XmlNode"]:
        """Direct children named ``tag``."""
        return [c for c in self.children if c.tag == tag]

    def child_text(self, tag: str, path: Path) -> str:
        """Text of the single child ``tag``; missing or empty is a UserError at this element's line."""
        found = self.find_all(tag)
        if not found or not found[0].text.strip():
            raise UserError(f"{path}: line {self.line}: <{self.tag}> needs a non-empty <{tag}>")
        return found[0].text.strip()

    def attr(self, name: str, path: Path) -> str:
        """Attribute ``name``; missing is a UserError at this element's line."""
        if name not in self.attrs:
            raise UserError(f"{path}: line {self.line}: <{self.tag}> needs attribute {name!r}")
        return self.attrs[name]


def read_xml(path: Path) -> XmlNode:
    """Parse an XML file into :class:`XmlNode` s; syntax errors name the file, line and column."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    parser = xml.parsers.expat.ParserCreate()
    stack: list[XmlNode] = []
    root: list[XmlNode] = []

    def start(tag, attrs):
        node = XmlNode(tag, dict(attrs), parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(tag):
        stack.pop()

    def chars(text):
        if stack:
            stack[-1].text += text

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise UserError(f"{path}: line {exc.lineno}, column {exc.offset + 1}: invalid XML: "
                        f"{xml.parsers.expat.ErrorString(exc.code)}") from None
    return root[0]


def _houses(root: XmlNode, path: Path):
    if root.tag not in ("neighborhood", "neighbourhood"):
        raise UserError(f"{path}: line {root.line}: the root element must be <neighborhood>, got <{root.tag}>")
    for house in root.find_all("house"):
        house_id = house.attr("id", path)
        for user in house.find_all("user"):
            for device in user.find_all("device"):
                yield house_id, device


def read_neighbourhood_xml(path: Path) -> dict[str, list[DeviceSpec]]:
    """Houses and their devices from a PySSMic neighbourhood XML (``type`` is consumer or producer)."""
    root = read_xml(path)
    houses: dict[str, list[DeviceSpec]] = {}
    for house in root.find_all("house"):
        houses.setdefault(house.attr("id", path), [])
    for house_id, device in _houses(root, path):
        kind = device.child_text("type", path)
        if kind not in ("consumer", "producer"):
            raise UserError(f"{path}: line {device.line}: <type> must be consumer or producer, got {kind!r}")
        houses[house_id].append(DeviceSpec(device.child_text("id", path), device.child_text("name", path),
                                           device.child_text("template", path), kind))
    return houses


def read_jobs_xml(path: Path) -> list[ConsumerEventLine]:
    """Jobs from a PySSMic jobs XML as consumer events (job number n counts the jobs of each device from 1)."""
    root = read_xml(path)
    counts: dict[tuple[str, str], int] = {}
    out = []
    for house_id, device in _houses(root, path):
        device_id = device.child_text("id", path)
        values = {}
        for tag in ("est", "lst", "creation_time"):
            values[tag] = _number(device.child_text(tag, path), path, device.line, tag)
        if values["lst"] < values["est"]:
            raise UserError(f"{path}: line {device.line}: <lst> is before <est>")
        n = counts[(house_id, device_id)] = counts.get((house_id, device_id), 0) + 1
        profile = device.child_text("profile", path)
        out.append(ConsumerEventLine(values["creation_time"], values["est"], values["lst"],
                                     f"[{house_id}]:[{device_id}]:[{n}]", house_id, device_id,
                                     profile if profile.endswith(".csv") else f"{profile}.csv", device.line))
    return out


def consumer_event_text(events: list[ConsumerEventLine]) -> str:
    """``consumer_event.csv`` content for ``events`` (e.g. converted from a jobs XML)."""
    return "".join(f"{e.reg_time:.0f};{e.est:.0f};{e.lst:.0f};{e.job_id};{e.load_file}\n" for e in events)


# ---------------------------------------------------------------- the folder

def unique_key(job_id: str, taken: set[str]) -> str:
    """``job_id`` the first time, then ``job_id#2``, ``job_id#3``, ...; adds the key to ``taken``."""
    key, n = job_id, 1
    while key in taken:
        n += 1
        key = f"{job_id}#{n}"
    taken.add(key)
    return key


def load_neighbourhood(folder: str | Path) -> Neighbourhood:
    """Read a neighbourhood folder and shift every time by the earliest event (so times are s from the start).

    Parameters
    ----------
    folder : str or Path
        Folder in the PySSMic layout (see the module docstring).

    Returns
    -------
    Neighbourhood
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: neighbourhood folder not found")
    consumer_path = folder / CONSUMER_EVENTS
    if consumer_path.exists():
        consumers = read_consumer_events(consumer_path)
        source = consumer_path
    elif (folder / JOBS_XML).exists():
        source = folder / JOBS_XML
        consumers = read_jobs_xml(source)
    else:
        raise UserError(f"{folder}: needs {CONSUMER_EVENTS} (or {JOBS_XML})")
    producer_path = folder / PRODUCER_EVENTS
    producers = read_producer_events(producer_path) if producer_path.exists() else []
    times = [e.reg_time for e in consumers] + [e.timestamp for e in producers]
    if not times:
        raise UserError(f"{folder}: no consumer or producer events")
    t0 = min(times)
    loads: dict[str, Profile] = {}
    jobs = []
    keys: set[str] = set()
    for e in consumers:
        if e.load_file not in loads:
            load_path = folder / "loads" / e.load_file
            if not load_path.exists():
                raise UserError(f"{source}: line {e.line}: load file {load_path} not found")
            loads[e.load_file] = read_cumulative(load_path)
        jobs.append(Job(e.job_id, e.house, e.device, e.reg_time - t0, e.est - t0, e.lst - t0, loads[e.load_file],
                        e.load_file, unique_key(e.job_id, keys)))
    events = []
    for e in producers:
        pred_path = folder / "predictions" / e.prediction_file
        if not pred_path.exists():
            raise UserError(f"{producer_path}: line {e.line}: prediction file {pred_path} not found")
        pred = read_cumulative(pred_path)
        events.append(ProducerEvent(e.timestamp - t0, e.producer_id, e.house, e.device, pred.shifted(-t0),
                                    e.prediction_file))
    houses: dict[str, list[str]] = {}
    for name in NEIGHBOURHOOD_XML:
        if (folder / name).exists():
            houses = {h: [d.device_id for d in devs] for h, devs in read_neighbourhood_xml(folder / name).items()}
            break
    return Neighbourhood(folder.name, t0, jobs, events, houses)


# ---------------------------------------------------------------- generator (our YAML)

@dataclass
class ApplianceSpec:
    """A kind of shiftable appliance.

    Ranges are ``[low, high]`` drawn uniformly; ``per_day`` is the mean number of jobs per house and day (Poisson).
    """

    name: str
    energy_wh: list[float]
    duration_min: list[int]
    window_h: list[float]
    per_day: float = 1.0

    def validate(self) -> None:
        """Range checks."""
        for fname in ("energy_wh", "duration_min", "window_h"):
            rng = getattr(self, fname)
            require(len(rng) == 2 and 0 <= rng[0] <= rng[1], fname, "must be [low, high] with 0 <= low <= high")
        require(self.duration_min[0] >= 1, "duration_min", "must be at least 1 minute")
        require(self.per_day >= 0, "per_day", "must be >= 0")


def _default_appliances() -> list[ApplianceSpec]:
    return [ApplianceSpec("washing_machine", [600.0, 1200.0], [60, 120], [2.0, 10.0], 0.8),
            ApplianceSpec("dishwasher", [900.0, 1500.0], [90, 150], [2.0, 12.0], 0.8),
            ApplianceSpec("tumble_dryer", [1500.0, 2500.0], [60, 90], [1.0, 8.0], 0.4),
            ApplianceSpec("ev_charger", [4000.0, 9000.0], [120, 300], [4.0, 12.0], 0.3)]


@dataclass
class NeighbourhoodSpec:
    """Our YAML description of a neighbourhood to generate (every draw from ``numpy.random.default_rng(seed)``).

    Parameters
    ----------
    name : str
        Folder name.
    seed : int
        Seed of every random draw.
    houses : int
        Number of houses.
    start_unix : int
        Midnight of the first day, UNIX s.
    days : int
        Days with jobs and predictions.
    pv_share : float
        Fraction of houses with PV (at least one when > 0).
    pv_peak_w : [float, float]
        Range of PV peak power, W.
    sunrise_h, sunset_h : float
        Hours of the day production starts and ends.
    clear_sky : [float, float]
        Range of a day's clear-sky factor (1 = no clouds).
    prediction_error : float
        Relative standard deviation of an hourly forecast, shrinking with each update of the day.
    predictions_per_day : int
        Prediction files per producer and day (4 = every 6 h as in CoSSMic).
    earliest_h : [float, float]
        Range of a job's earliest start, hours of the day.
    registration_lead_h : [float, float]
        How long before its earliest start a job is posted, h.
    appliances : list of ApplianceSpec
        Appliance kinds.
    """

    name: str = "generated"
    seed: int = 1
    houses: int = 6
    start_unix: int = 1460246400
    days: int = 1
    pv_share: float = 0.5
    pv_peak_w: list[float] = field(default_factory=lambda: [2000.0, 5000.0])
    sunrise_h: float = 6.0
    sunset_h: float = 20.0
    clear_sky: list[float] = field(default_factory=lambda: [0.5, 1.0])
    prediction_error: float = 0.1
    predictions_per_day: int = 4
    earliest_h: list[float] = field(default_factory=lambda: [6.0, 20.0])
    registration_lead_h: list[float] = field(default_factory=lambda: [0.0, 2.0])
    appliances: list[ApplianceSpec] = field(default_factory=_default_appliances)

    def validate(self) -> None:
        """Range checks."""
        require(self.houses >= 1, "houses", "must be >= 1")
        require(self.houses <= 20_000, "houses", "must be at most 20000 (one agent federate holds them all)")
        require(1 <= self.days <= 366, "days", "must be from 1 to 366")
        require(0 <= self.pv_share <= 1, "pv_share", "must be in [0, 1]")
        require(len(self.pv_peak_w) == 2 and 0 < self.pv_peak_w[0] <= self.pv_peak_w[1], "pv_peak_w",
                "must be [low, high] with 0 < low <= high")
        require(0 <= self.sunrise_h < self.sunset_h <= 24, "sunset_h", "need 0 <= sunrise_h < sunset_h <= 24")
        require(len(self.clear_sky) == 2 and 0 <= self.clear_sky[0] <= self.clear_sky[1] <= 1, "clear_sky",
                "must be [low, high] within [0, 1]")
        require(self.prediction_error >= 0, "prediction_error", "must be >= 0")
        require(self.predictions_per_day in (1, 2, 3, 4, 6, 8, 12, 24), "predictions_per_day",
                "must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)")
        require(len(self.earliest_h) == 2 and 0 <= self.earliest_h[0] <= self.earliest_h[1] <= 24, "earliest_h",
                "must be [low, high] within [0, 24]")
        require(len(self.registration_lead_h) == 2 and 0 <= self.registration_lead_h[0]
                <= self.registration_lead_h[1], "registration_lead_h", "must be [low, high] with 0 <= low <= high")
        require(len(self.appliances) >= 1, "appliances", "needs at least one appliance")


def load_spec(path: str | Path) -> NeighbourhoodSpec:
    """Read a generator YAML (the whole file is one :class:`NeighbourhoodSpec` mapping)."""
    path = Path(path)
    return parse_dataclass(NeighbourhoodSpec, load_yaml(path), where=f"{path.name}")


def _fmt(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".") if x != int(x) else f"{int(x)}"


def _write_rows(path: Path, times: np.ndarray, values: np.ndarray) -> None:
    path.write_text("".join(f"{int(t)} {_fmt(round(float(v), 4))}\n" for t, v in zip(times, values)),
                    encoding="utf-8")


def _load_shape(rng: np.random.Generator, minutes: int, energy_wh: float) -> np.ndarray:
    """Cumulative Wh at 0, 60, ... s: two to four phases of different power (heating, washing, spinning...)."""
    phases = int(rng.integers(2, 5))
    cuts = np.sort(rng.choice(np.arange(1, minutes), size=min(phases - 1, minutes - 1), replace=False)) \
        if minutes > 1 else np.array([], dtype=int)
    levels = rng.uniform(0.1, 1.0, size=cuts.size + 1)
    power = np.repeat(levels, np.diff(np.concatenate([[0], cuts, [minutes]])))
    power = power / power.sum() * energy_wh
    return np.concatenate([[0.0], np.cumsum(power)])


def _pv_hourly_wh(spec: NeighbourhoodSpec, peak_w: float, clear: float) -> np.ndarray:
    """Energy of each hour of a day, Wh, for a sine-shaped clear-sky day scaled by ``clear``."""
    minutes = np.arange(24 * 60) + 0.5
    hours = minutes / 60.0
    phase = (hours - spec.sunrise_h) / (spec.sunset_h - spec.sunrise_h)
    power = np.where((phase > 0) & (phase < 1), np.sin(np.pi * np.clip(phase, 0, 1)) ** 1.5, 0.0) * peak_w * clear
    return power.reshape(24, 60).sum(axis=1) / 60.0


def generate_neighbourhood(spec: NeighbourhoodSpec, out_dir: str | Path) -> Path:
    """Write a neighbourhood folder in the PySSMic layout from ``spec``; same spec -> same bytes.

    Returns
    -------
    Path
        The folder written (``out_dir``).
    """
    out = Path(out_dir)
    (out / "loads").mkdir(parents=True, exist_ok=True)
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    house_ids = [str(57 + i) for i in range(spec.houses)]
    has_pv = rng.random(spec.houses) < spec.pv_share
    if spec.pv_share > 0 and not has_pv.any():
        has_pv[int(rng.integers(spec.houses))] = True
    device_counter = 200
    devices: dict[str, list[DeviceSpec]] = {h: [] for h in house_ids}
    consumer_lines: list[tuple[float, str]] = []
    producer_lines: list[tuple[float, str]] = []
    load_counter = 0
    issue_every = 24 // spec.predictions_per_day
    clear = rng.uniform(spec.clear_sky[0], spec.clear_sky[1], size=spec.days)
    for h, house in enumerate(house_ids):
        for appliance in spec.appliances:
            device_counter += 1
            device = str(device_counter)
            devices[house].append(DeviceSpec(device, appliance.name, device, "consumer"))
            n_jobs = int(rng.poisson(appliance.per_day * spec.days))
            for n in range(1, n_jobs + 1):
                day = int(rng.integers(spec.days))
                est = spec.start_unix + day * 86400 + round(rng.uniform(*spec.earliest_h) * 3600)
                lst = est + round(rng.uniform(*appliance.window_h) * 3600)
                reg = max(spec.start_unix, est - round(rng.uniform(*spec.registration_lead_h) * 3600))
                minutes = int(rng.integers(appliance.duration_min[0], appliance.duration_min[1] + 1))
                energy = float(rng.uniform(*appliance.energy_wh))
                load_counter += 1
                name = f"{load_counter}.csv"
                _write_rows(out / "loads" / name, 60.0 * np.arange(minutes + 1), _load_shape(rng, minutes, energy))
                consumer_lines.append((reg, f"{reg};{est};{lst};[{house}]:[{device}]:[{n}];{name}"))
        if has_pv[h]:
            device_counter += 1
            device = str(device_counter)
            devices[house].append(DeviceSpec(device, "pv", device, "producer"))
            peak = float(rng.uniform(*spec.pv_peak_w))
            k = 0
            for day in range(spec.days):
                truth = _pv_hourly_wh(spec, peak, float(clear[day]))
                day_start = spec.start_unix + day * 86400
                for issue in range(spec.predictions_per_day):
                    k += 1
                    first_hour = issue * issue_every
                    error = spec.prediction_error / (1 + issue)
                    if first_hour == 0:
                        hourly = np.concatenate([[0.0], truth * np.maximum(
                            0.0, 1.0 + error * rng.standard_normal(24))])
                    else:
                        hourly = truth[first_hour - 1:] * np.maximum(
                            0.0, 1.0 + error * rng.standard_normal(25 - first_hour))
                    cumulative = np.cumsum(hourly)
                    times = day_start + 3600 * (np.arange(cumulative.size) + first_hour)
                    name = f"{house}_{device}_{k}.csv"
                    _write_rows(out / "predictions" / name, times, cumulative)
                    ts = day_start + first_hour * 3600
                    producer_lines.append((ts, f"{ts};pv_producer[{house}]:[{device}];{name}"))
    consumer_lines.sort(key=lambda x: x[0])
    producer_lines.sort(key=lambda x: x[0])
    (out / CONSUMER_EVENTS).write_text("".join(line + "\n" for _, line in consumer_lines), encoding="utf-8")
    (out / PRODUCER_EVENTS).write_text("".join(line + "\n" for _, line in producer_lines), encoding="utf-8")
    xml_lines = [f'<neighborhood id="1" name="{spec.name}">']
    for house in house_ids:
        xml_lines += [f'  <house id="{house}">', '    <user id="1">']
        for d in devices[house]:
            xml_lines.append(f"      <device><id>{d.device_id}</id><name>{d.name}</name>"
                             f"<template>{d.template}</template><type>{d.kind}</type></device>")
        xml_lines += ["    </user>", "  </house>"]
    xml_lines.append("</neighborhood>")
    (out / NEIGHBOURHOOD_XML[0]).write_text("\n".join(xml_lines) + "\n", encoding="utf-8")
    return out
