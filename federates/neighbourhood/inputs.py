"""Neighbourhood inputs: the PySSMic/CoSSMic folder layout and its XML files, read into the neighbourhood model.

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

Every malformed line is a :class:`~vppfed.errors.UserError` naming the file and the line. The folder is written at
configuration time (:mod:`vppfed.configs.neighbourhood_input` generates one from our YAML) and read by the
neighbourhood federates: the reader lives here, in the federate layer, so a federate imports no configs module.
"""
from __future__ import annotations

import math
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
