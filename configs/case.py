"""The case framework: one YAML description -> a case folder with every federate JSON and the runner JSON.

A case YAML has a ``case:`` section (:class:`CaseSettings`) and one section per part of the co-simulation
(``feeder:``, ``bulk:``, ``market:``, ``vpp:``, ``battery:``, ``cohda:``, ``neighbourhood:`` ...). Each section is
handled by a *section builder*: a module in :mod:`vppfed.configs.sections`, listed in
:data:`vppfed.plugins.SECTIONS` and satisfying :class:`vppfed.plugins.SectionPlugin`, with

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
import json
import logging
import math
import re
import shutil
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Mapping

from vppfed.envvars import ENV_SHARED_DATA
from vppfed.errors import UserError
from vppfed.io import check_out_dir, load_yaml, parse_dataclass, plain_name_problem, require, require_plain_name

log = logging.getLogger(__name__)

#: Marker file in every generated case folder: only such folders are ever replaced by a new build.
CASE_MARKER = ".vppfed-case"
RUNNER_FILE = "runner.json"
CASE_COPY = "case.yaml"


#: Prefix of YAML paths into the shared reference data (``shared:bbb/scenario2_params.csv``).
SHARED_PREFIX = "shared:"

#: Longest horizon, hours: one year, the longest study this package is built for (weather, schedules and metrics are
#: generated for the whole horizon up front or grow linearly with it; 1e12 h overflowed the time arithmetic).
MAX_HOURS = 8760.0
#: Seeds are numpy ``RandomState`` seeds, which must lie in [0, 2**32).
SEED_LIMIT = 2**32
#: Most seeded repetitions of one ``vppfed run`` (each is a whole co-simulation in its own folder).
MAX_RUNS = 1000
#: Longest grid step (case.period_s), seconds: one hour; metrics and market intervals at most one day.
MAX_PERIOD_S = 3600
MAX_INTERVAL_S = 86400


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
        Simulated hours, finite, in (0, :data:`MAX_HOURS` = 8760] (one year).
    seed : int
        Seed of every random draw of the case (feeder generation, agents): same seed, same bytes. In [0, 2**32)
        (numpy's ``RandomState`` range).
    separator : str
        Object/property separator in HELICS keys: ``/`` (TESP 1.3.7) or ``#`` (TESP up to 1.3.6, ERCOT scripts).
    period_s : int
        HELICS step of the grid federates, seconds (TESP: 15), at most 3600.
    metrics_interval_s : int
        Seconds between metrics samples (TESP: 300), a multiple of ``period_s``, at most 86400.
    market_period_s : int
        Seconds between market clearings and OPF solves (TESP: 300), a multiple of ``period_s``, at most 86400.
    timeout_s : float
        Wall-clock seconds after which the launcher ends the run as failed (0 = from hours, generous); finite.
    stall_s : float
        Wall seconds without any federate's granted time advancing after which the launcher ends the run as stalled
        and names the federate that stopped requesting time (0 = from hours: 5 s per simulated hour, 60-600 s). A
        federate computing one long step (its process or GridLAB-D worker using CPU) is not stalled.
    runs : int
        Number of seeded repetitions ``vppfed run`` makes (seed, seed+1, ...), each in ``run_NN/``; 1 to 1000.

    ``name`` and ``root`` become parts of file and HELICS names, so they must be plain names (letters, digits, '_'
    and '-'; no path separators, no '..', no leading '.'): ``root: ../x`` would otherwise write outside ``--out``.
    ``timezone`` is written into the GridLAB-D model, so it may not hold spaces or quotes.

    Every field with a unit carries it in its name; the old names (``period``, ``metrics_interval``,
    ``market_period``, ``timeout``) are still read with a deprecation warning (:data:`RENAMED`), and stay readable as
    attributes for the code that has not moved yet.
    """

    #: old YAML name -> new one (read with a logged deprecation warning; giving both is an error)
    RENAMED: ClassVar[dict[str, str]] = {"period": "period_s", "metrics_interval": "metrics_interval_s",
                                         "market_period": "market_period_s", "timeout": "timeout_s"}

    name: str
    root: str = ""
    start: str = "2013-07-01 00:00:00"
    timezone: str = "PST+8PDT"
    hours: float = 48.0
    seed: int = 0
    separator: Literal["/", "#"] = "/"
    period_s: int = 15
    metrics_interval_s: int = 300
    market_period_s: int = 300
    timeout_s: float = 0.0
    stall_s: float = 0.0
    runs: int = 1
    description: str = ""

    def validate(self) -> None:
        require(bool(self.name.strip()), "name", "must not be empty")
        require(all(c.isalnum() or c in "_-" for c in self.name), "name", "use letters, digits, '_' and '-' only")
        require_plain_name(self.name, "name")
        if self.root:
            require_plain_name(self.root, "root")
        require(re.fullmatch(r"[A-Za-z][A-Za-z0-9+:,./_-]{0,63}", self.timezone) is not None, "timezone",
                f"expected a GridLAB-D/POSIX zone such as 'PST+8PDT' or 'UTC0', got {self.timezone!r}")
        try:
            datetime.strptime(self.start, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"start: expected 'YYYY-mm-dd HH:MM:SS', got {self.start!r}") from None
        require(math.isfinite(self.hours) and 0 < self.hours <= MAX_HOURS, "hours",
                f"must be > 0 and at most {MAX_HOURS:g} (one year), got {self.hours:g}")
        require(0 <= self.seed < SEED_LIMIT, "seed", f"must be in [0, 2**32), got {self.seed}")
        require(0 < self.period_s <= MAX_PERIOD_S, "period_s", f"must be > 0 and at most {MAX_PERIOD_S} seconds")
        require(self.metrics_interval_s <= MAX_INTERVAL_S, "metrics_interval_s", f"must be at most {MAX_INTERVAL_S} s")
        require(self.market_period_s <= MAX_INTERVAL_S, "market_period_s", f"must be at most {MAX_INTERVAL_S} s")
        require(self.metrics_interval_s > 0 and self.metrics_interval_s % self.period_s == 0, "metrics_interval_s",
                f"must be a positive multiple of period_s ({self.period_s} s)")
        require(self.market_period_s > 0 and self.market_period_s % self.period_s == 0, "market_period_s",
                f"must be a positive multiple of period_s ({self.period_s} s)")
        require(math.isfinite(self.timeout_s) and self.timeout_s >= 0, "timeout_s", "must be a finite number >= 0")
        require(self.stall_s >= 0, "stall_s", "must be >= 0 (0: derived from hours)")
        require(1 <= self.runs <= MAX_RUNS, "runs", f"must be from 1 to {MAX_RUNS}")
        if not self.root:
            self.root = self.name

    # the pre-unit names, read-only, for the code that has not moved to the new ones yet
    @property
    def period(self) -> int:
        """Old name of :attr:`period_s` [s]."""
        return self.period_s

    @property
    def metrics_interval(self) -> int:
        """Old name of :attr:`metrics_interval_s` [s]."""
        return self.metrics_interval_s

    @property
    def market_period(self) -> int:
        """Old name of :attr:`market_period_s` [s]."""
        return self.market_period_s

    @property
    def timeout(self) -> float:
        """Old name of :attr:`timeout_s` [s]."""
        return self.timeout_s

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
        #: parent of each sub-broker that is not under the root (a deeper HELICS broker hierarchy); runner.json
        #: carries it as ``vppfed.broker_parents`` only when set, so two-level cases keep their bytes
        self.broker_parents: dict[str, str] = {}
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
        problem = plain_name_problem(name)
        if problem:
            raise UserError(f"{self.source}: federate name: {problem}")
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
        # names from the YAML end up in file names: nothing may land outside the case folder (root: ../x)
        if os.path.isabs(relpath) or ".." in Path(relpath).parts:
            raise UserError(f"{self.source}: file name {relpath!r} would be written outside the case folder; "
                            "names in a case must be plain names")
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
                "timeout": self.settings.timeout_s,
                "stall_s": self.settings.stall_s,
                "root": self.settings.root,
                "brokers": {f.name: f.broker for f in self.federates if f.broker},
            },
        }
        if self.broker_parents:
            runner["vppfed"]["broker_parents"] = dict(self.broker_parents)
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
    """The section builders of :data:`vppfed.plugins.SECTIONS` by their YAML key (each checked against
    :class:`vppfed.plugins.SectionPlugin`)."""
    from vppfed import plugins

    return {module.SECTION: module for module in plugins.load("sections")}


def known_sections() -> list[str]:
    """Every section name a case YAML may have (``case`` plus the discovered builders)."""
    return ["case"] + sorted(_section_builders())


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Apply dotted-path overrides (``{"case.hours": 2, "market.enabled": True}``) to a copy of ``raw``."""
    result = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if not all(part.strip() for part in parts):
            raise UserError(f"override {dotted}: expected SECTION.KEY (names separated by single dots)")
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
    for name, value in raw.items():
        if value is not None and not isinstance(value, Mapping):
            raise UserError(f"{source}: {name}: must be a mapping of fields ('name: value' lines), got "
                            f"{type(value).__name__} {str(value)[:40]!r}")
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
    out = check_out_dir(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / CASE_MARKER).exists():
        raise UserError(f"{out}: folder exists and is not a vppfed case folder; choose another --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(out)
        staging = out.parent / f".{out.name}.staging-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create the case folder ({exc.strerror or exc})") from None
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


_STAGING = re.compile(r"\.(?P<name>.+)\.staging-(?P<pid>\d+)")


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts as alive: it may be building)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


def remove_stale_staging(out: str | Path) -> list[Path]:
    """Delete staging folders ``.<out>.staging-<pid>`` beside ``out`` whose building process is gone.

    :func:`build_case` removes its staging folder on any error, but a SIGKILL (or a SIGTERM during a long feeder
    generation) leaves it behind; the next build into the same ``--out`` removes it. A folder whose pid is alive is
    kept (another ``vppfed config`` may be writing it). Returns the removed folders.
    """
    import glob

    out = Path(out)
    removed: list[Path] = []
    if not out.parent.is_dir():
        return removed
    for candidate in out.parent.glob(f".{glob.escape(out.name)}.staging-*"):
        match = _STAGING.fullmatch(candidate.name)
        if not match or match.group("name") != out.name or candidate.is_symlink() or not candidate.is_dir():
            continue
        if _pid_alive(int(match.group("pid"))):
            continue
        log.info("removing %s left by a killed build (pid %s)", candidate, match.group("pid"))
        shutil.rmtree(candidate, ignore_errors=True)
        removed.append(candidate)
    return removed


def _dump_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
