"""The case framework: one YAML description -> a case folder with every federate JSON and the runner JSON.

A case YAML has a ``case:`` section (:class:`CaseSettings`) and one section per part of the co-simulation
(``feeder:``, ``bulk:``, ``market:``, ``vpp:``, ``battery:``, ``cohda:``, ``neighbourhood:`` ...). Each section is
handled by a *section builder*: a module in :mod:`vppfed.configs.sections` with

- ``SECTION``: the YAML key it handles;
- ``ORDER``: an int; builders run in increasing order (the feeder model comes first so that agents can look up its
  objects; a builder that must see every other request registers a finalizer with :meth:`CaseContext.on_finalize`);
- ``build(ctx: CaseContext, raw: dict) -> None``: parses ``raw`` with
  :func:`vppfed.configs.validate.parse_dataclass` (errors name the field) and adds federates and files.

Sections talk to each other only through :attr:`CaseContext.handles` (e.g. the feeder section stores a handle with
its federate name, its object inventory and methods to add publications/subscriptions; the bulk section stores its
federate name and bus). The folder is built in a staging directory and renamed into place only when everything
succeeded: bad input never leaves a half-written case.

The runner JSON is the ``helics run --path`` format (``name``, ``broker``, ``federates`` with ``name``,
``directory``, ``exec``, ``host``, ``env``), so the folder also runs without vppfed's launcher.
"""
from __future__ import annotations

import copy
import importlib
import json
import logging
import pkgutil
import shutil
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from vppfed.configs.validate import load_yaml, parse_dataclass, require
from vppfed.errors import UserError

log = logging.getLogger(__name__)

#: Marker file in every generated case folder: only such folders are ever replaced by a new build.
CASE_MARKER = ".vppfed-case"
RUNNER_FILE = "runner.json"
CASE_COPY = "case.yaml"


#: Prefix of YAML paths into the shared reference data (``shared:bbb/scenario2_params.csv``).
SHARED_PREFIX = "shared:"
ENV_SHARED_DATA = "VPPFED_SHARED_DATA"


def shared_data_dir() -> Path:
    """The reference-data folder (``shared/data``), which is never copied into the project.

    Looked up in order: ``$VPPFED_SHARED_DATA``; ``shared/data`` in the working folder or any folder above it; the
    ``shared/data`` beside the source checkout this package came from (``../shared/data`` from the repository root).
    """
    env = os.environ.get(ENV_SHARED_DATA)
    if env:
        if not Path(env).is_dir():
            raise UserError(f"{ENV_SHARED_DATA}={env}: not a folder")
        return Path(env)
    candidates = [p / "shared" / "data" for p in [Path.cwd(), *Path.cwd().parents]]
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "data" for p in here.parents]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise UserError(f"reference data not found: expected a shared/data folder beside the checkout (../shared/data) "
                    f"or above the working folder, or set {ENV_SHARED_DATA}")


@dataclass
class CaseSettings:
    """The ``case:`` section: what every federate of the case shares.

    Attributes
    ----------
    name : str
        Case name (also the runner's ``name``).
    root : str
        Metrics root: files are ``<prefix>_<root>_metrics.json`` (TESP's ``TE_ChallengeH``). Defaults to ``name``.
    start : str
        Local start time ``YYYY-mm-dd HH:MM:SS`` in ``timezone``.
    timezone : str
        GridLAB-D/POSIX time zone, e.g. ``PST+8PDT``.
    hours : float
        Simulated hours.
    seed : int
        Seed of every random draw of the case (feeder generation, agents): same seed, same bytes.
    separator : str
        Object/property separator in HELICS keys: ``/`` (TESP 1.3.7) or ``#`` (TESP up to 1.3.6, ERCOT scripts).
    period : int
        HELICS step of the grid federates, seconds (TESP: 15).
    metrics_interval : int
        Seconds between metrics samples (TESP: 300).
    market_period : int
        Seconds between market clearings and OPF solves (TESP: 300).
    timeout : float
        Wall-clock seconds after which the launcher ends the run as failed (0 = from hours, generous).
    runs : int
        Number of seeded repetitions ``vppfed run`` makes (seed, seed+1, ...), each in ``run_NN/``.
    """

    name: str
    root: str = ""
    start: str = "2013-07-01 00:00:00"
    timezone: str = "PST+8PDT"
    hours: float = 48.0
    seed: int = 0
    separator: Literal["/", "#"] = "/"
    period: int = 15
    metrics_interval: int = 300
    market_period: int = 300
    timeout: float = 0.0
    runs: int = 1
    description: str = ""

    def validate(self) -> None:
        require(bool(self.name.strip()), "name", "must not be empty")
        require(all(c.isalnum() or c in "_-" for c in self.name), "name", "use letters, digits, '_' and '-' only")
        try:
            datetime.strptime(self.start, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"start: expected 'YYYY-mm-dd HH:MM:SS', got {self.start!r}") from None
        require(self.hours > 0, "hours", "must be > 0")
        require(self.period > 0, "period", "must be > 0 seconds")
        require(self.metrics_interval > 0 and self.metrics_interval % self.period == 0, "metrics_interval",
                f"must be a positive multiple of period ({self.period} s)")
        require(self.market_period > 0 and self.market_period % self.period == 0, "market_period",
                f"must be a positive multiple of period ({self.period} s)")
        require(self.timeout >= 0, "timeout", "must be >= 0")
        require(self.runs >= 1, "runs", "must be >= 1")
        if not self.root:
            self.root = self.name

    @property
    def stop_seconds(self) -> float:
        """Simulated seconds of the run."""
        return self.hours * 3600.0

    @property
    def start_datetime(self) -> datetime:
        return datetime.strptime(self.start, "%Y-%m-%d %H:%M:%S")


@dataclass
class FederateEntry:
    """One federate of the runner: its name, the command that starts it and its environment."""

    name: str
    exec: str
    directory: str = "."
    env: dict[str, str] = field(default_factory=dict)
    host: str = "localhost"
    #: Name of its HELICS JSON in the case folder (None for federates configured otherwise).
    config_file: str | None = None
    #: The sub-broker this federate connects to (for broker hierarchies; None = the root broker).
    broker: str | None = None


class CaseContext:
    """What a section builder sees while a case folder is built.

    Attributes
    ----------
    settings : CaseSettings
        The parsed ``case:`` section.
    directory : Path
        The (staging) case folder; write files only through :meth:`write_text`/:meth:`write_json`.
    source : str
        Name of the YAML (for error messages: ``ctx.where("vpp")`` gives ``"case.yaml: vpp"``).
    handles : dict
        Objects sections share (``handles["feeder"]``, ``handles["bulk"]`` ...); see each section's module.
    """

    def __init__(self, settings: CaseSettings, raw: Mapping[str, Any], directory: Path, source: str,
                 case_dir: Path | None = None) -> None:
        self.settings = settings
        self.raw = raw
        self.directory = directory
        self.source = source
        #: folder of the YAML file (relative data paths in a YAML are relative to it)
        self.case_dir = case_dir
        self.handles: dict[str, Any] = {}
        self.federates: list[FederateEntry] = []
        self._configs: dict[str, Callable[[], dict[str, Any]] | dict[str, Any]] = {}
        self._finalizers: list[Callable[[], None]] = []
        self.rng_streams: dict[str, int] = {}
        #: sections whose YAML another section took over (section -> claiming section); their builders are skipped
        self.claimed: dict[str, str] = {}

    # -------------------------------------------------------------- sections
    def section(self, name: str) -> dict[str, Any] | None:
        """The raw mapping of section ``name``, or None if the YAML does not have it."""
        value = self.raw.get(name)
        return dict(value) if isinstance(value, Mapping) else value

    def claim(self, section: str, by: str) -> dict[str, Any] | None:
        """Take over the YAML of ``section`` (e.g. a multi-feeder section uses ``feeder:`` as the template of each
        of its feeders): that section's own builder is then skipped. Only a builder that runs before ``section``'s
        (lower ``ORDER``) can claim it. Returns the raw mapping (None if the YAML has no such section)."""
        self.claimed[section] = by
        return self.section(section)

    def where(self, section: str) -> str:
        """Prefix for error messages about ``section``: ``"<file>: <section>"``."""
        return f"{self.source}: {section}"

    def seed_for(self, purpose: str) -> int:
        """A seed derived from the case seed for one purpose (stable across Python runs, unlike ``hash``)."""
        acc = self.settings.seed * 1_000_003
        for ch in purpose:
            acc = (acc * 131 + ord(ch)) % (2**31 - 1)
        return acc

    # ---------------------------------------------------------------- naming
    def key(self, obj: str, prop: str) -> str:
        """A HELICS key for an object property with the case's separator (``F1_house_B0/air_temperature``)."""
        return f"{obj}{self.settings.separator}{prop}"

    def config_name(self, federate: str) -> str:
        """TESP-style file name of a federate's HELICS JSON: ``<root>_<federate>.json``."""
        return f"{self.settings.root}_{federate}.json"

    # ------------------------------------------------------------- federates
    def add_federate(self, name: str, exec: str, config: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
                     *, config_file: str | None = None, env: Mapping[str, str] | None = None,
                     broker: str | None = None) -> FederateEntry:
        """Register a federate for the runner.

        Parameters
        ----------
        name : str
            Federate name (as in its HELICS config).
        exec : str
            Command line run in the case folder; start Python modules as ``python -m vppfed.federates.<x> ...``
            (the launcher substitutes the running interpreter for ``python``).
        config : dict or callable, optional
            The HELICS JSON content, or a function returning it, called after all sections have been built (so the
            feeder can include subscriptions that later sections requested).
        config_file : str, optional
            File name for ``config``; default :meth:`config_name`.
        """
        if any(f.name == name for f in self.federates):
            raise UserError(f"{self.source}: two federates are named '{name}'")
        entry = FederateEntry(name=name, exec=exec, env=dict(env or {}), broker=broker)
        if config is not None:
            entry.config_file = config_file or self.config_name(name)
            self._configs[entry.config_file] = config
        self.federates.append(entry)
        return entry

    def federate(self, name: str) -> FederateEntry:
        """The registered federate ``name``."""
        for entry in self.federates:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def on_finalize(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after every section was built (in registration order), before configs are written."""
        self._finalizers.append(callback)

    # ----------------------------------------------------------------- files
    def write_text(self, relpath: str, text: str) -> Path:
        """Write a text file into the case folder (UTF-8, ``\\n`` line ends)."""
        path = self.directory / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        return path

    def write_json(self, relpath: str, data: Any) -> Path:
        """Write JSON with stable key order and indentation, so the same case gives the same bytes."""
        return self.write_text(relpath, json.dumps(data, indent=2) + "\n")

    def resolve_input(self, value: str) -> Path:
        """A path from the YAML: ``shared:<rel>`` is a file of the shared reference data (see
        :func:`shared_data_dir`), a relative path is relative to the YAML's folder, an absolute one is unchanged."""
        if value.startswith(SHARED_PREFIX):
            return shared_data_dir() / value[len(SHARED_PREFIX):].lstrip("/")
        path = Path(value)
        if not path.is_absolute() and self.case_dir is not None:
            path = self.case_dir / path
        return path

    # -------------------------------------------------------------- finalize
    def finalize(self) -> dict[str, Any]:
        """Run finalizers, write every HELICS JSON and the runner; returns the runner document."""
        for callback in self._finalizers:
            callback()
        for filename, config in self._configs.items():
            document = config() if callable(config) else config
            self.write_json(filename, document)
        runner = {
            "name": self.settings.name,
            "broker": True,
            "federates": [
                {"name": f.name, "directory": f.directory, "exec": f.exec, "host": f.host, "env": f.env}
                for f in self.federates
            ],
            # helics run ignores unknown keys; vppfed's launcher reads these
            "vppfed": {
                "stop_seconds": self.settings.stop_seconds,
                "timeout": self.settings.timeout,
                "root": self.settings.root,
                "brokers": {f.name: f.broker for f in self.federates if f.broker},
            },
        }
        self.write_json(RUNNER_FILE, runner)
        return runner


@dataclass
class BuiltCase:
    """A case folder ready to run."""

    directory: Path
    runner: Path
    settings: CaseSettings
    federates: list[FederateEntry]


def _section_builders() -> dict[str, Any]:
    from vppfed.configs import sections

    builders: dict[str, Any] = {}
    for info in pkgutil.iter_modules(sections.__path__):
        module = importlib.import_module(f"{sections.__name__}.{info.name}")
        name = getattr(module, "SECTION", None)
        if name and callable(getattr(module, "build", None)):
            builders[name] = module
    return builders


def known_sections() -> list[str]:
    """Every section name a case YAML may have (``case`` plus the discovered builders)."""
    return ["case"] + sorted(_section_builders())


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Apply dotted-path overrides (``{"case.hours": 2, "market.enabled": True}``) to a copy of ``raw``."""
    result = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UserError(f"override {dotted}: '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return result


def parse_case(raw: Mapping[str, Any], source: str) -> CaseSettings:
    """Parse and check the ``case:`` section and the section names of a case description."""
    if "case" not in raw:
        raise UserError(f"{source}: case: required section is missing")
    builders = _section_builders()
    unknown = [k for k in raw if k != "case" and k not in builders]
    if unknown:
        raise UserError(f"{source}: {unknown[0]}: unknown section (known sections: {', '.join(known_sections())})")
    return parse_dataclass(CaseSettings, raw["case"], f"{source}: case")


def build_case(description: str | Path | Mapping[str, Any], out_dir: str | Path,
               overrides: Mapping[str, Any] | None = None, *, source: str | None = None) -> BuiltCase:
    """Build a case folder from a YAML file (or an already loaded mapping) into ``out_dir``.

    Everything is written to a staging folder beside ``out_dir`` and renamed into place at the end, so a failure
    leaves no half-written case. An existing ``out_dir`` is replaced only if it is a case folder vppfed generated
    (it holds the marker file); any other non-empty folder is an error.
    """
    case_dir: Path | None = None
    if isinstance(description, (str, Path)):
        path = Path(description)
        raw = load_yaml(path)
        source = source or path.name
        case_dir = path.parent.resolve()
    else:
        raw = dict(description)
        source = source or "case description"
    raw = apply_overrides(raw, overrides or {})
    settings = parse_case(raw, source)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / CASE_MARKER).exists():
        raise UserError(f"{out}: folder exists and is not a vppfed case folder; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        ctx = CaseContext(settings, raw, staging, source, case_dir)
        builders = _section_builders()
        present = [builders[name] for name in raw if name != "case"]
        for module in sorted(present, key=lambda m: getattr(m, "ORDER", 50)):
            if module.SECTION in ctx.claimed:
                continue  # another section builds from this YAML (see CaseContext.claim)
            module.build(ctx, raw.get(module.SECTION) or {})
        if not ctx.federates:
            raise UserError(f"{source}: the case has no federates (add a feeder:, bulk: or agent section)")
        ctx.finalize()
        resolved = dict(raw)
        resolved["case"] = asdict(settings)
        ctx.write_text(CASE_COPY, _dump_yaml(resolved))
        (staging / CASE_MARKER).write_text(f"built by vppfed from {source}\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuiltCase(directory=out, runner=out / RUNNER_FILE, settings=settings, federates=ctx.federates)


def _dump_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
