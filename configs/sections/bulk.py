"""Section builder of ``bulk:``: the bulk transmission grid (TESP's ``pypower`` federate) of a case.

YAML (every field optional)::

    bulk:
      model: te30            # te30 (our 9-bus grid), ercot8 (our 8-bus 345 kV grid) or a path to a _pp.json
      tesp_json: null        # a TESP PYPOWER case JSON (TESP's te30_pp.json), relative to the case YAML, used as
                             # given: read as TESP's tso_pypower_loop reads it (instead of model; bus defaults to
                             # the feeder's bus if it has a DSO row, else the first DSO row; its DSO scale, UnitsOut,
                             # opf_dc and CSVFile are used, so scale, outage_* and opf_dc must not be set)
      bus: 7                 # transmission bus of the simulated feeder
      scale: 250             # feeder load multiplier (TESP ampFactor; a user _pp.json keeps its DSO scales)
      outage_gen: 2          # 0-based generator row out from outage_start_h to outage_end_h (null: none; te30 and
                             # ercot8 models; a user's _pp.json keeps its own UnitsOut)
      outage_start_h: 30
      outage_end_h: 43
      opf_dc: true           # DC OPF (HiGHS) as TESP's TE30; false: pypower's AC OPF (slow)
      pf_tol_mw: 0.01        # skip a power flow when no injection moved more than this (0: always solve)
      opf_tol_mw: 0.01       # skip an OPF when no load moved more than this and bids are unchanged
      slack_sharing: true    # units share losses and load drift by rating (false: all on the slack, as TESP)
      loss_compensation: true  # the DC OPF also dispatches the last power flow's losses (false: as TESP)
      curve_source: null     # federate publishing the responsive-load curve (e.g. sub_7); default: the market's
      max_nonconverged_share: 0.05  # the run fails when more power flows than this share do not converge
                             # (judged after 20 flows; the summary always counts them)

Files written: ``<model>_pp.json`` and its background-load CSV, ``<root>_pypower.json`` (TESP's static
``pypower.json`` layout). With ``tesp_json`` the user's JSON and its ``CSVFile`` are copied byte for byte under their
own names (the JSON's ``Tmax`` set to the case's horizon when it differs), so TESP's ``tso_pypower_loop`` runs on the same files in place of our federate (same HELICS names:
``pypower/LMP_<bus>``, ``pypower/three_phase_voltage_<bus>``, ``gld_<bus>/distribution_load``).
Metrics ``bus_``/``gen_``/``sys_<root>_metrics.json`` and ``model_dict.json`` appear in
the run folder.

Handle for other sections, ``ctx.handles["bulk"]`` (:class:`BulkHandle`): the federate name, the bus, the targets a
feeder subscribes (``voltage_target``, to put into the substation's ``positive_sequence_voltage``) and a market
subscribes (``lmp_target``), and :meth:`BulkHandle.add_curve_source` for a market/VPP that bids the responsive curve.
The pypower config is written after every section ran, so it subscribes to whatever was registered by then; the
feeder federate's name is taken from ``ctx.handles["feeder"]`` (attribute or key ``federate`` or ``name``) at that
time, else ``gld_<bus>``; a market's from ``ctx.handles["market"]`` the same way when no source was registered.
"""
from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vppfed.configs.bulk_model import Te30BulkParams, write_bulk_model
from vppfed.io import core_default, parse_dataclass, require, require_plain_name
from vppfed.errors import UserError
from vppfed.federates.bulk.core import BulkOptions

if TYPE_CHECKING:  # annotations only: the case framework imports this module
    from vppfed.configs.case import CaseContext

log = logging.getLogger(__name__)

SECTION = "bulk"
ORDER = 20  # after the feeder (its handle names the feeder federate), before agents that bid into the OPF

CURVE_KEYS = ("unresponsive_mw", "responsive_max_mw", "responsive_c2", "responsive_c1", "responsive_deg")


@dataclass
class GridOptions:
    """The bulk-grid options the single-bus ``bulk:`` section and the multi-feeder one
    (:class:`~vppfed.configs.sections.feeders.GridTemplate`) share, written once; the solver settings take their
    defaults from :class:`~vppfed.federates.bulk.core.BulkOptions`. ``outage_gen`` differs (te30 row 2 vs none) and
    is a field of each section."""

    outage_start_h: float = 30.0
    outage_end_h: float = 43.0
    opf_dc: bool = True
    pf_tol_mw: float = core_default(BulkOptions, "pf_tol_mw")
    opf_tol_mw: float = core_default(BulkOptions, "opf_tol_mw")
    slack_sharing: bool = core_default(BulkOptions, "slack_sharing")
    loss_compensation: bool = core_default(BulkOptions, "loss_compensation")
    federate: str = "pypower"

    def validate(self) -> None:
        require(self.outage_end_h >= self.outage_start_h, "outage_end_h", "must not be before outage_start_h")
        require(self.pf_tol_mw >= 0, "pf_tol_mw", "must be >= 0")
        require(self.opf_tol_mw >= 0, "opf_tol_mw", "must be >= 0")
        require(bool(self.federate.strip()), "federate", "must not be empty")


@dataclass
class BulkSection(GridOptions):
    """The ``bulk:`` section; see the module docstring for the meaning of each field."""

    model: str = "te30"
    bus: int = 7
    scale: float = 250.0
    outage_gen: int | None = 2
    curve_source: str | None = None
    feeder_federate: str | None = None
    tesp_json: str | None = None
    max_nonconverged_share: float = 0.05

    def validate(self) -> None:
        require(0 <= self.max_nonconverged_share <= 1, "max_nonconverged_share", "must be a share in [0, 1]")
        require(0 < self.scale < float("inf"), "scale", "must be > 0 and finite")
        super().validate()
        require_plain_name(self.federate, "federate")  # it names files: bulk.federate: ../../x must not escape
        for name in ("curve_source", "feeder_federate"):
            if getattr(self, name) is not None:
                require_plain_name(getattr(self, name), name)
        if self.tesp_json is not None:
            require(bool(self.tesp_json.strip()), "tesp_json", "must be a path to a TESP PYPOWER case JSON")
            return  # the bus and outage rows are checked against the file in _write_tesp_json
        if self.model == "ercot8":
            require(1 <= self.bus <= 8, "bus", "the ercot8 model has buses 1..8")
        if self.model == "te30":
            require(self.bus in (5, 7, 9), "bus", "the te30 model has load buses 5, 7 and 9")
            require(self.outage_gen is None or 0 <= self.outage_gen <= 3, "outage_gen",
                    "the te30 model has generator rows 0..3 (or null)")


@dataclass
class BulkHandle:
    """What other sections learn about the bulk grid (``ctx.handles["bulk"]``)."""

    federate: str
    bus: int
    pp_json: str
    curve_sources: list[str] = field(default_factory=list)

    @property
    def voltage_target(self) -> str:
        """HELICS target of the feeder-head voltage (V line-to-neutral)."""
        return f"{self.federate}/three_phase_voltage_{self.bus}"

    @property
    def lmp_target(self) -> str:
        """HELICS target of the bus LMP ($/kWh)."""
        return f"{self.federate}/LMP_{self.bus}"

    def add_curve_source(self, federate: str) -> None:
        """Make the bulk grid subscribe the five responsive-curve keys published by ``federate`` (TESP §3.2)."""
        if federate not in self.curve_sources:
            self.curve_sources.append(federate)


def dispatch_flags(slack_sharing: bool, loss_compensation: bool) -> list[str]:
    """The bulk federate's flags for the two dispatch choices (defaults add nothing, so runners stay short)."""
    return ([] if slack_sharing else ["--slack-only"]) + ([] if loss_compensation else ["--no-loss-compensation"])


def _name_of(handle: Any) -> str | None:
    if handle is None:
        return None
    for attr in ("federate", "name"):
        value = handle.get(attr) if isinstance(handle, dict) else getattr(handle, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


def _write_model(ctx: Any, sec: BulkSection) -> str:
    """Write the _pp.json (and CSV) into the case folder; returns its file name."""
    s = ctx.settings
    where = ctx.where(SECTION)
    if sec.model == "te30":
        params = Te30BulkParams(feeder_bus=sec.bus, scale=sec.scale, outage_gen=sec.outage_gen,
                                outage_start_h=sec.outage_start_h, outage_end_h=sec.outage_end_h,
                                start_time=s.start, hours=s.hours, period_s=s.market_period_s, dt_s=s.period_s,
                                opf_dc=sec.opf_dc)
        try:
            path = write_bulk_model(params, ctx.directory, "te30")
        except ValueError as exc:
            raise UserError(f"{where}: {exc}") from None
        return path.name
    if sec.model == "ercot8":
        from vppfed.configs.bulk_ercot8 import Ercot8Params, write_ercot8_model

        try:
            outage = ([[sec.outage_gen, sec.outage_start_h * 3600, sec.outage_end_h * 3600]]
                      if sec.outage_gen is not None and sec.outage_end_h > sec.outage_start_h else [])
            path = write_ercot8_model(Ercot8Params(start_time=s.start, hours=s.hours, period_s=s.market_period_s,
                                                   dt_s=s.period_s, feeder_buses=[sec.bus], scale=sec.scale,
                                                   opf_dc=sec.opf_dc, units_out=outage), ctx.directory, "ercot8")
        except ValueError as exc:
            raise UserError(f"{where}: {exc}") from None
        return path.name
    # a user's own _pp.json: copied with its CSV, checked by the same reader the federate uses
    from vppfed.formats.ppcase import load_pp_case
    import json

    src = ctx.resolve_input(sec.model)
    case = load_pp_case(src)  # UserError names the file and field
    if sec.bus not in [d.bus for d in case.dso]:
        raise UserError(f"{where}.bus: {sec.bus} is not a DSO bus of {src.name} "
                        f"(DSO buses {[d.bus for d in case.dso]})")
    doc = json.loads(Path(src).read_text(encoding="utf-8"))
    if doc.get("CSVFile"):
        csv = Path(str(doc["CSVFile"]))
        csv_src = csv if csv.is_absolute() else Path(src).parent / csv
        ctx.write_text(csv_src.name, csv_src.read_text(encoding="utf-8"))
        doc["CSVFile"] = csv_src.name
    ctx.write_json(Path(src).name, doc)
    return Path(src).name


#: fields the TESP JSON decides when ``tesp_json`` is given (its DSO scale, UnitsOut, opf_dc)
_SET_BY_TESP_JSON = ("model", "scale", "outage_gen", "outage_start_h", "outage_end_h", "opf_dc")


def _copy_as_given(ctx: Any, src: Path, relpath: str, field_name: str) -> None:
    """Copy ``src`` into the case folder at ``relpath`` byte for byte (TESP's NonGLDLoad.txt keeps its CR ends)."""
    try:
        text = src.read_bytes().decode("utf-8")
    except OSError as exc:
        raise UserError(f"{ctx.where(SECTION)}.{field_name}: cannot read {src} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{ctx.where(SECTION)}.{field_name}: {src} is not a UTF-8 text file") from None
    ctx.write_text(relpath, text)  # newline="\n" leaves a text's own CR/CRLF as they are


def _write_tesp_json(ctx: Any, sec: BulkSection, given: set[str]) -> tuple[str, int]:
    """Check a TESP case JSON with the reader the federate uses and copy it (and its CSVFile) as given; returns the
    file name and the feeder's bus."""
    import json

    from vppfed.federates.bulk.tesp_case import load_tesp_case

    where = ctx.where(SECTION)
    s = ctx.settings
    for name in _SET_BY_TESP_JSON:
        if name in given:
            raise UserError(f"{where}.{name}: not with bulk.tesp_json (the TESP JSON sets it: DSO scale, UnitsOut, "
                            "opf_dc); edit the JSON or leave the field out")
    src = ctx.resolve_input(sec.tesp_json)
    case = load_tesp_case(src)  # one line naming the file and field
    dso = [d.bus for d in case.dso]
    feeder_bus = getattr(ctx.handles.get("feeder"), "bus", None)
    if "bus" in given:
        bus = sec.bus
    elif feeder_bus in dso:
        bus = feeder_bus  # the feeder's own bus, when the file has a DSO row for it
    else:
        bus = dso[0]
        if feeder_bus is not None:
            log.warning("%s.tesp_json: the feeder is at bus %s, which has no DSO row in %s; it is connected to the "
                        "file's first DSO bus %s", where, feeder_bus, src.name, bus)
    if bus not in dso:
        raise UserError(f"{where}.bus: {bus} is not a DSO bus of {src.name} (DSO rows: buses {dso})")
    if case.period % s.period_s or case.dt % s.period_s:
        raise UserError(f"{where}.tesp_json: {src.name} has dt {case.dt:g} s and Period {case.period:g} s; case.period_s "
                        f"({s.period_s} s) must divide both (the OPF runs at Period - dt)")
    if case.period != s.market_period_s:
        log.warning("%s.tesp_json: %s solves its OPF every %g s but case.market_period_s is %d s: a market clears "
                    "against an LMP of another period", where, src.name, case.period, s.market_period_s)
    name = src.name
    if case.tmax != s.stop_seconds:
        # TESP's tso_pypower_loop runs to the file's Tmax whatever the others do (measured: alone to t=148,200 s of a
        # 1 h case until the launcher's timeout); the case's horizon is the one the run folder's copy must carry
        doc = json.loads(src.read_text(encoding="utf-8"))
        doc["Tmax"] = int(s.stop_seconds) if float(s.stop_seconds).is_integer() else s.stop_seconds
        ctx.write_text(name, json.dumps(doc, indent=2) + "\n")
        log.info("%s.tesp_json: the run folder's copy of %s carries the case's horizon, Tmax %g s (the file has "
                 "%g s)", where, src.name, s.stop_seconds, case.tmax)
    else:
        _copy_as_given(ctx, src, name, "tesp_json")
    csv = json.loads(src.read_text(encoding="utf-8")).get("CSVFile")
    if csv:
        rel = Path(str(csv))
        if not rel.is_absolute():
            if ".." in rel.parts:
                raise UserError(f"{where}.tesp_json: {src.name}: field 'CSVFile': {csv} points outside the JSON's "
                                "folder; put the file beside the JSON (TESP reads it from its run folder)")
            _copy_as_given(ctx, src.parent / rel, rel.as_posix(), "tesp_json")
    return name, bus


#: the load the default ``scale`` (250) gives a generated 30-house te30 feeder at night (~100 kW), kW
_DESIGN_BUS_LOAD_KW = 250.0 * 100.0


def _scale_to_feeder(ctx: Any, sec: BulkSection, raw: dict[str, Any]) -> None:
    """A user's own feeder (``feeder.glm``) can be a 100 kW or a 5 MW feeder: without an explicit ``scale`` its load
    is scaled to the bus load the default scale gives the generated feeder (measured: IEEE-123's 3.2 MW x 250 left
    18 of 20 te30 power flows unconverged; x 7.8 converges)."""
    feeder = ctx.handles.get("feeder")
    load_kw = getattr(feeder, "first_step_load_kw", None)
    if sec.model != "te30" or "scale" in (raw or {}) or not getattr(feeder, "source", None) or not load_kw \
            or load_kw <= 0:
        return
    sec.scale = round(_DESIGN_BUS_LOAD_KW / load_kw, 3)
    log.info("%s.scale: %g (%s draws %.0f kW at its first step; x %g = %.0f kW at bus %d; set bulk.scale to choose)",
             ctx.where(SECTION), sec.scale, feeder.source, load_kw, sec.scale, load_kw * sec.scale, sec.bus)


def build(ctx: CaseContext, raw: dict[str, Any]) -> None:
    """Parse ``bulk:``, write the grid model, register the ``pypower`` federate and the ``bulk`` handle."""
    sec = parse_dataclass(BulkSection, raw, ctx.where(SECTION))
    layout = "vppfed"
    if sec.tesp_json is not None:
        pp_name, sec.bus = _write_tesp_json(ctx, sec, set(raw or {}))
        layout = "tesp"
    else:
        _scale_to_feeder(ctx, sec, raw)
        pp_name = _write_model(ctx, sec)
    handle = BulkHandle(federate=sec.federate, bus=sec.bus, pp_json=pp_name)
    if sec.curve_source:
        handle.add_curve_source(sec.curve_source)
    ctx.handles[SECTION] = handle
    s = ctx.settings

    def config() -> dict[str, Any]:
        feeder = sec.feeder_federate or _name_of(ctx.handles.get("feeder")) or f"gld_{sec.bus}"
        sources = list(handle.curve_sources)
        if not sources:
            market = _name_of(ctx.handles.get("market"))
            if market:
                sources.append(market)
        subs: list[dict[str, Any]] = [{"key": f"{feeder}/distribution_load", "type": "complex"}]
        for src in sources:
            for key in CURVE_KEYS:
                subs.append({"key": f"{src}/{key}", "type": "integer" if key == "responsive_deg" else "double"})
        return {"name": sec.federate, "period": s.period_s, "log_level": "warning", "terminate_on_error": True,
                "publications": [{"global": False, "key": f"three_phase_voltage_{sec.bus}", "type": "double"},
                                 {"global": False, "key": f"LMP_{sec.bus}", "type": "double"}],
                "subscriptions": subs}

    config_file = ctx.config_name(sec.federate)
    cmd = ["python", "-m", "vppfed.federates.bulk", "--config", config_file, "--case", pp_name,
           "--metrics-root", s.root, "--hours", f"{s.hours:g}", "--metrics-interval", str(s.metrics_interval_s),
           "--pf-tol-mw", f"{sec.pf_tol_mw:g}", "--opf-tol-mw", f"{sec.opf_tol_mw:g}"]
    cmd += dispatch_flags(sec.slack_sharing, sec.loss_compensation)
    if sec.max_nonconverged_share != BulkSection.max_nonconverged_share:
        cmd += ["--max-nonconverged-share", f"{sec.max_nonconverged_share:g}"]
    if layout == "tesp":
        cmd += ["--layout", "tesp"]
    ctx.add_federate(sec.federate, " ".join(shlex.quote(c) for c in cmd), config, config_file=config_file)
