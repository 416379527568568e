"""Section builder of ``bulk:``: the bulk transmission grid (TESP's ``pypower`` federate) of a case.

YAML (every field optional)::

    bulk:
      model: te30            # te30 (our 9-bus grid), ercot8 (our 8-bus 345 kV grid) or a path to a _pp.json
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

Files written: ``<model>_pp.json`` and its background-load CSV, ``<root>_pypower.json`` (TESP's static
``pypower.json`` layout). Metrics ``bus_``/``gen_``/``sys_<root>_metrics.json`` and ``model_dict.json`` appear in
the run folder.

Handle for other sections, ``ctx.handles["bulk"]`` (:class:`BulkHandle`): the federate name, the bus, the targets a
feeder subscribes (``voltage_target``, to put into the substation's ``positive_sequence_voltage``) and a market
subscribes (``lmp_target``), and :meth:`BulkHandle.add_curve_source` for a market/VPP that bids the responsive curve.
The pypower config is written after every section ran, so it subscribes to whatever was registered by then; the
feeder federate's name is taken from ``ctx.handles["feeder"]`` (attribute or key ``federate`` or ``name``) at that
time, else ``gld_<bus>``; a market's from ``ctx.handles["market"]`` the same way when no source was registered.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vppfed.configs.bulk_model import Te30BulkParams, write_bulk_model
from vppfed.configs.validate import parse_dataclass, require
from vppfed.errors import UserError

SECTION = "bulk"
ORDER = 20  # after the feeder (its handle names the feeder federate), before agents that bid into the OPF

CURVE_KEYS = ("unresponsive_mw", "responsive_max_mw", "responsive_c2", "responsive_c1", "responsive_deg")


@dataclass
class BulkSection:
    """The ``bulk:`` section; see the module docstring for the meaning of each field."""

    model: str = "te30"
    bus: int = 7
    scale: float = 250.0
    outage_gen: int | None = 2
    outage_start_h: float = 30.0
    outage_end_h: float = 43.0
    opf_dc: bool = True
    pf_tol_mw: float = 0.01
    opf_tol_mw: float = 0.01
    slack_sharing: bool = True
    loss_compensation: bool = True
    federate: str = "pypower"
    curve_source: str | None = None
    feeder_federate: str | None = None

    def validate(self) -> None:
        require(self.scale > 0, "scale", "must be > 0")
        require(self.outage_end_h >= self.outage_start_h, "outage_end_h", "must not be before outage_start_h")
        require(self.pf_tol_mw >= 0, "pf_tol_mw", "must be >= 0")
        require(self.opf_tol_mw >= 0, "opf_tol_mw", "must be >= 0")
        require(bool(self.federate.strip()), "federate", "must not be empty")
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
                                start_time=s.start, hours=s.hours, period_s=s.market_period, dt_s=s.period,
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
            path = write_ercot8_model(Ercot8Params(start_time=s.start, hours=s.hours, period_s=s.market_period,
                                                   dt_s=s.period, feeder_buses=[sec.bus], scale=sec.scale,
                                                   opf_dc=sec.opf_dc, units_out=outage), ctx.directory, "ercot8")
        except ValueError as exc:
            raise UserError(f"{where}: {exc}") from None
        return path.name
    # a user's own _pp.json: copied with its CSV, checked by the same reader the federate uses
    from vppfed.federates.bulk.ppcase import load_pp_case
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


def build(ctx: Any, raw: dict[str, Any]) -> None:
    """Parse ``bulk:``, write the grid model, register the ``pypower`` federate and the ``bulk`` handle."""
    sec = parse_dataclass(BulkSection, raw, ctx.where(SECTION))
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
        return {"name": sec.federate, "period": s.period, "log_level": "warning", "terminate_on_error": True,
                "publications": [{"global": False, "key": f"three_phase_voltage_{sec.bus}", "type": "double"},
                                 {"global": False, "key": f"LMP_{sec.bus}", "type": "double"}],
                "subscriptions": subs}

    config_file = ctx.config_name(sec.federate)
    cmd = ["python", "-m", "vppfed.federates.bulk", "--config", config_file, "--case", pp_name,
           "--metrics-root", s.root, "--hours", f"{s.hours:g}", "--metrics-interval", str(s.metrics_interval),
           "--pf-tol-mw", f"{sec.pf_tol_mw:g}", "--opf-tol-mw", f"{sec.opf_tol_mw:g}"]
    cmd += dispatch_flags(sec.slack_sharing, sec.loss_compensation)
    ctx.add_federate(sec.federate, " ".join(shlex.quote(c) for c in cmd), config, config_file=config_file)
