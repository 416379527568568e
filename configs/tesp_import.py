"""Read a TESP case folder and write a vppfed case YAML that points at its files (``vppfed import-tesp``).

A TESP case folder (``examples/capabilities/te30`` of the pnnl/tesp repository, or a folder after TESP's
``prepare_case.py``) holds a feeder GLM, a PYPOWER case ``*_pp.json``, shell runners (``runh.sh``: one line per
federate) and, once prepared, the dictionaries ``*_glm_dict.json``/``*_agent_dict.json``, the HELICS configs
``*_gridlabd.json``/``*_substation.json`` and the weather agent's ``*_weather.json`` + ``weather.dat``. This module finds
those files and reads what a case needs from them:

- the main GLM: a ``.glm`` with a ``clock`` block that no other GLM of the folder includes (``outputs_te.glm`` is
  included by ``TE_Challenge.glm``); its clock gives the case start, stop and time zone;
- the ``gridlabd`` line of the HELICS runner (``runh.sh``; the FNCS ``run.sh`` when there is no other) gives the
  ``-D`` defines (``METRICS_FILE``; ``USE_HELICS``/``USE_FNCS`` are dropped: vppfed is the HELICS interface), and
  ``substation_loop``/``tso_pypower_loop`` lines give the metrics root (``TE_ChallengeH``) and whether the case runs a
  market;
- ``${TESPDIR}`` in an ``#include``: the folder must be given (``--tespdir`` or the ``TESPDIR`` environment variable);
- the PYPOWER JSON's ``DSO`` rows give the feeder's bus; its ``dt``/``Period`` the co-simulation and market periods.

Files are used where they are: the YAML names them by paths relative to itself, so ``vppfed run case.yaml`` runs the
TESP case, and sections added to the YAML put vppfed's agents into it. Nothing in the TESP folder is written.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vppfed.errors import UserError
from vppfed.io import atomic_write_text

log = logging.getLogger(__name__)

__all__ = ["TespCase", "read_tesp_folder", "case_yaml_text", "write_case_yaml"]

_CLOCK_RE = re.compile(r"^\s*clock\s*\{(?P<body>.*?)\}", re.MULTILINE | re.DOTALL)
_INCLUDE_RE = re.compile(r"^\s*#include\s+[\"<]?(?P<path>[^\">\s]+)[\">]?", re.MULTILINE)
_COMMENT_RE = re.compile(r"//.*?$", re.MULTILINE)
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
#: defines of TESP's runners that select GridLAB-D's own HELICS/FNCS links (the PyPI GridLAB-D has neither)
_LINK_DEFINES = ("USE_HELICS", "USE_FNCS")
#: the TESP calls whose second argument is the metrics root of the run
_ROOT_CALLS = ("substation_loop", "tso_pypower_loop", "startWeatherAgent")


@dataclass
class TespCase:
    """What :func:`read_tesp_folder` found in a TESP case folder (paths absolute)."""

    directory: Path
    glm: Path
    start: str
    stop: str
    timezone: str
    defines: dict[str, str] = field(default_factory=dict)
    uses_tespdir: bool = False
    tespdir: Path | None = None
    pp_json: Path | None = None
    bus: int | None = None
    period: int | None = None
    market_period: int | None = None
    metrics_root: str | None = None
    market: bool = False
    agent_dict: Path | None = None
    glm_dict: Path | None = None
    weather_dat: Path | None = None
    weather_json: Path | None = None
    runner: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def hours(self) -> float:
        """Simulated hours of the GLM's clock."""
        return (_parse_time(self.stop, self.glm, "stoptime") - _parse_time(self.start, self.glm, "starttime")
                ).total_seconds() / 3600.0


def _parse_time(text: str, glm: Path, what: str) -> datetime:
    value = text.strip().strip("'\"")
    value = re.sub(r"\s+[A-Z]{3,4}$", "", value)   # '2013-07-01 00:00:00 PST' -> local time
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise UserError(f"{glm}: clock {what} {text!r} is not 'YYYY-mm-dd HH:MM:SS'")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def _clock(glm: Path, text: str) -> tuple[str, str, str] | None:
    """(starttime, stoptime, timezone) of the GLM's clock block, or None when it has none."""
    match = _CLOCK_RE.search(_COMMENT_RE.sub("", text))
    if match is None:
        return None
    values: dict[str, str] = {}
    for statement in match.group("body").split(";"):
        parts = statement.strip().split(None, 1)
        if len(parts) == 2:
            values[parts[0]] = parts[1].strip().strip("'\"")
    missing = [k for k in ("starttime", "stoptime") if k not in values]
    if missing:
        raise UserError(f"{glm}: the clock block has no {missing[0]}")
    return values["starttime"], values["stoptime"], values.get("timezone", "PST+8PDT")


def _main_glm(directory: Path, name: str | None) -> Path:
    """The folder's main GLM (see the module docstring), or ``name`` when given."""
    if name:
        path = directory / name
        if not path.is_file():
            raise UserError(f"{path}: GLM not found")
        return path
    glms = sorted(directory.glob("*.glm"))
    if not glms:
        raise UserError(f"{directory}: no .glm file in the folder (is it a TESP case folder?)")
    included: set[str] = set()
    texts = {p: _read_text(p) for p in glms}
    for text in texts.values():
        for inc in _INCLUDE_RE.finditer(_COMMENT_RE.sub("", text)):
            included.add(Path(inc.group("path")).name)
    candidates = [p for p in glms if p.name not in included and _clock(p, texts[p]) is not None]
    if not candidates:
        raise UserError(f"{directory}: no GLM with a clock block that no other GLM includes; name it with --glm")
    if len(candidates) > 1:
        raise UserError(f"{directory}: several GLMs could be the feeder ({', '.join(p.name for p in candidates)}); "
                        "name one with --glm")
    return candidates[0]


def _shell_lines(script: Path) -> list[str]:
    """Command lines of a TESP shell runner, comments and blank lines dropped."""
    lines = []
    for raw in _read_text(script).splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _gridlabd_defines(line: str, glm: Path) -> dict[str, str] | None:
    """``-D`` defines of a ``gridlabd ... <glm>`` command line, or None when the line does not run ``glm``."""
    try:
        words = shlex.split(line.replace("(", " ").replace(")", " ").replace("&>", " &> ").replace("&", " "))
    except ValueError:
        return None
    if "gridlabd" not in words or glm.name not in words:
        return None
    defines: dict[str, str] = {}
    for i, word in enumerate(words):
        text = None
        if word == "-D" and i + 1 < len(words):
            text = words[i + 1]
        elif word.startswith("-D") and len(word) > 2:
            text = word[2:]
        elif word == "--define" and i + 1 < len(words):
            text = words[i + 1]
        if text:
            name, _, value = text.partition("=")
            defines[name] = value
    return defines


def _call_root(line: str) -> str | None:
    """The metrics root of a TESP Python call on a runner line (its second string argument)."""
    for call in _ROOT_CALLS:
        match = re.search(call + r"\s*\(\s*['\"][^'\"]*['\"]\s*,\s*['\"](?P<root>[^'\"]+)['\"]", line)
        if match:
            return match.group("root")
    return None


def _pick_runner(directory: Path) -> Path | None:
    """The HELICS shell runner TESP uses (``runh.sh`` first), else the first ``run*.sh``."""
    scripts = sorted(directory.glob("run*.sh"))
    if not scripts:
        return None
    helics = [s for s in scripts if "helics_broker" in _read_text(s)]
    with_market = [s for s in helics if "substation_loop" in _read_text(s) and "NoMarket" not in _read_text(s)]
    return (with_market or helics or scripts)[0]


def _one(directory: Path, pattern: str, prefer: str | None = None) -> Path | None:
    found = sorted(directory.glob(pattern))
    if prefer:
        preferred = [p for p in found if p.name.startswith(prefer)]
        found = preferred or found
    if len(found) > 1:
        log.info("%s: several %s files (%s); using %s", directory, pattern, ", ".join(p.name for p in found),
                 found[0].name)
    return found[0] if found else None


def _pp_info(pp: Path) -> tuple[int | None, int | None, int | None]:
    """(feeder bus, dt, Period) of a TESP PYPOWER JSON."""
    try:
        doc = json.loads(_read_text(pp))
    except json.JSONDecodeError as exc:
        raise UserError(f"{pp}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise UserError(f"{pp}: not a TESP PYPOWER case (expected a JSON object)")
    bus = None
    dso = doc.get("DSO")
    if isinstance(dso, list) and dso and isinstance(dso[0], list) and dso[0]:
        try:
            bus = int(dso[0][0])
        except (TypeError, ValueError):
            raise UserError(f"{pp}: DSO[0][0]: expected a bus number, got {dso[0][0]!r}") from None

    def _int(key: str) -> int | None:
        value = doc.get(key)
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            raise UserError(f"{pp}: {key}: expected seconds, got {value!r}") from None

    return bus, _int("dt"), _int("Period")


def read_tesp_folder(directory: str | Path, *, glm: str | None = None, tespdir: str | Path | None = None) -> TespCase:
    """Find and read the files of a TESP case folder (see the module docstring).

    Parameters
    ----------
    directory : path
        The TESP case folder.
    glm : str, optional
        File name of the feeder GLM when the folder has several candidates.
    tespdir : path, optional
        TESP's installation folder for ``${TESPDIR}`` includes (default: ``$TESPDIR``).

    Raises
    ------
    UserError
        Naming the folder or file and what is missing or wrong.
    """
    folder = Path(directory).resolve()
    if not folder.is_dir():
        raise UserError(f"{directory}: not a folder")
    main = _main_glm(folder, glm)
    text = _read_text(main)
    start, stop, zone = _clock(main, text) or ("", "", "")
    case = TespCase(directory=folder, glm=main, start=start, stop=stop, timezone=zone)
    case.hours  # noqa: B018 - fail now on a clock we cannot read
    body = _COMMENT_RE.sub("", text)
    case.uses_tespdir = "${TESPDIR}" in body
    if case.uses_tespdir:
        given = tespdir or os.environ.get("TESPDIR")
        if not given:
            raise UserError(f"{main.name} includes files from ${{TESPDIR}}: give TESP's folder with --tespdir DIR "
                            "(or set TESPDIR)")
        case.tespdir = Path(given).resolve()
        if not case.tespdir.is_dir():
            raise UserError(f"--tespdir {given}: not a folder")
    case.runner = _pick_runner(folder)
    if case.runner is not None:
        for line in _shell_lines(case.runner):
            defines = _gridlabd_defines(line, main)
            if defines is not None:
                dropped = [k for k in defines if k in _LINK_DEFINES]
                for name in dropped:
                    del defines[name]
                case.defines.update(defines)
            root = _call_root(line)
            if root and not case.metrics_root:
                case.metrics_root = root
            if "substation_loop" in line and "NoMarket" not in line:
                case.market = True
    if "${METRICS_FILE}" in body and "METRICS_FILE" not in case.defines:
        case.defines["METRICS_FILE"] = f"{case.metrics_root or main.stem}_metrics.json"
        case.notes.append(f"METRICS_FILE is not defined by a runner; set to {case.defines['METRICS_FILE']}")
    metrics_file = case.defines.get("METRICS_FILE", "")
    if metrics_file.endswith(".h5"):
        # the PyPI GridLAB-D has no HDF5: its metrics_collector_writer then writes JSON under the .h5 name, which
        # no reader (TESP's nor ours) opens as JSON; ask for the JSON it can write
        json_name = metrics_file[:-len(".h5")] + ".json"
        case.defines["METRICS_FILE"] = json_name
        case.notes.append(f"METRICS_FILE {metrics_file} -> {json_name}: the PyPI GridLAB-D writes no HDF5 (it would "
                          "write JSON under the .h5 name); TESP's JSON readers read the .json files")
    metrics_file = case.defines.get("METRICS_FILE", "")
    root = case.metrics_root or main.stem
    if metrics_file and Path(metrics_file).stem == f"{root}_metrics":
        # GridLAB-D's own writer would write <class>_<root>_metrics.json, the very files the feeder federate writes
        # for the case root (TESP's readers find them by that root); the model's own copies get a name of their own
        own = f"{root}_gld_metrics{Path(metrics_file).suffix or '.json'}"
        case.defines["METRICS_FILE"] = own
        case.notes.append(f"METRICS_FILE {metrics_file} -> {own}: vppfed's feeder writes <class>_{root}_metrics.json "
                          f"(TESP's readers open those); the model's own metrics_collector_writer writes "
                          f"<class>_{own} beside them")
    case.pp_json = _one(folder, "*_pp.json")
    if case.pp_json is not None:
        case.bus, case.period, case.market_period = _pp_info(case.pp_json)
    stem = main.stem
    case.agent_dict = _one(folder, "*_agent_dict.json", prefer=stem)
    case.glm_dict = _one(folder, "*_glm_dict.json", prefer=stem)
    case.weather_json = _one(folder, "*_weather.json", prefer=stem)
    weather = folder / "weather.dat"
    case.weather_dat = weather if weather.is_file() else None
    if case.bus is None:
        gld_config = _one(folder, "*_gridlabd.json", prefer=stem)
        if gld_config is not None:
            try:
                name = str(json.loads(_read_text(gld_config)).get("name", ""))
            except json.JSONDecodeError:
                name = ""
            digits = "".join(c for c in name if c.isdigit())
            case.bus = int(digits) if digits else None
    return case


def _rel(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when they share a root, else absolute (the YAML's paths are relative to it)."""
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:
        return path.as_posix()


def case_yaml_text(case: TespCase, out: Path, *, name: str | None = None, bus: int | None = None,
                   hours: float | None = None) -> str:
    """The case YAML for ``case``, with comments saying where each value came from; paths relative to ``out``."""
    import yaml

    base = out.resolve().parent
    bus = bus or case.bus
    if bus is None:
        raise UserError(f"{case.directory}: the feeder's transmission bus is not in a *_pp.json DSO row nor a "
                        "*_gridlabd.json name; give it with --bus N")
    case_name = name or re.sub(r"[^A-Za-z0-9_-]", "_", case.directory.name) or "tesp"
    start = _parse_time(case.start, case.glm, "starttime").strftime("%Y-%m-%d %H:%M:%S")
    settings: dict[str, Any] = {"name": case_name, "root": case.metrics_root or case.glm.stem, "start": start,
                                "timezone": case.timezone, "hours": hours if hours is not None else case.hours}
    if case.period:
        settings["period_s"] = case.period
    if case.market_period:
        settings["market_period_s"] = case.market_period
    feeder: dict[str, Any] = {"glm": _rel(case.glm, base), "bus": bus}
    if case.defines:
        feeder["defines"] = dict(case.defines)
    if case.tespdir is not None:
        feeder["env"] = {"TESPDIR": _rel(case.tespdir, base)}
    if case.weather_dat is not None:
        feeder["weather_file"] = _rel(case.weather_dat, base)
    doc: dict[str, Any] = {"case": settings, "feeder": feeder}
    if case.pp_json is not None:
        doc["bulk"] = {"tesp_json": _rel(case.pp_json, base), "bus": bus}
    if case.market or case.agent_dict is not None:
        market: dict[str, Any] = {"enabled": case.market}
        if case.agent_dict is not None:
            market["agent_dict"] = _rel(case.agent_dict, base)
        doc["market"] = market
    header = [f"# Imported by 'vppfed import-tesp' from the TESP case folder {case.directory}",
              f"# feeder: {case.glm.name} (clock {case.start} .. {case.stop} {case.timezone}), used as it is",
              f"# runner read: {case.runner.name if case.runner else 'none'}"
              + (f"; PYPOWER case: {case.pp_json.name}" if case.pp_json else "; no *_pp.json (no bulk grid)")]
    header += [f"# note: {n}" for n in case.notes]
    header += ["# Run it:   vppfed run " + out.name + " --out runs/" + case_name,
               "# Add vppfed agents (vpp:, battery:, cohda:, neighbourhood:) as further sections."]
    return "\n".join(header) + "\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def write_case_yaml(case: TespCase, out: str | Path, **options: Any) -> Path:
    """Write :func:`case_yaml_text` to ``out`` (atomically: a failure leaves no half-written file)."""
    path = Path(out)
    if path.is_dir():
        raise UserError(f"--out {out}: is a folder; give the YAML file to write (e.g. {path / 'case.yaml'})")
    text = case_yaml_text(case, path, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        path.with_name(path.name + ".tmp").unlink(missing_ok=True)
        raise UserError(f"--out {out}: cannot write ({exc.strerror})") from None
    return path
