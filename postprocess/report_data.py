"""What a run report shows, read from a run folder: run facts, metrics families, key figures and what is missing.

Nothing here raises on a damaged or partial run: every reader that fails becomes a *note* ("house metrics: cut
short at t = 3600 s", "no summary.json: the run did not finish"), so the report says what is missing instead of
failing. Key figures are computed on the full data; only the charts thin their series
(:mod:`vppfed.postprocess.report_figures`).
"""
from __future__ import annotations

import json
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import yaml

from vppfed.formats.metrics import Metrics, read_metrics

log = logging.getLogger(__name__)

_METRICS_NAME = re.compile(r"^(?P<prefix>[A-Za-z]+(?:_meter)?)_(?P<root>.+)_metrics\.(?P<ext>json|h5)$")
#: metrics families each kind of federate writes (a family absent from a run that had the federate is a note)
EXPECTED = {
    "federates.feeder": ("substation", "house", "billing_meter"),
    "federates.bulk": ("bus", "gen", "sys"),
    "federates.battery": ("battery",),
    "federates.cohda": ("cohda",),
}
#: how far the air temperature may leave the thermostat set points before a house counts as outside its comfort
#: band [degF]: about the width of a GridLAB-D thermostat deadband, so normal cycling is not counted
COMFORT_MARGIN_F = 2.0
VERSION_PACKAGES = ("vppfed", "helics", "gridlabd", "pypower", "numpy", "bokeh")
LOG_WARNING = re.compile(r"\b(WARNING|ERROR|CRITICAL|Traceback|not converge|did not converge)\b", re.IGNORECASE)


@dataclass
class KeyFigure:
    """One number of the key-figure table (NaN when the run lacks the data)."""

    area: str
    name: str
    unit: str
    value: float
    how: str = ""


@dataclass
class RunData:
    """Everything a report shows about one run folder."""

    run_dir: Path
    label: str
    case: dict[str, Any] = field(default_factory=dict)
    runner: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    families: dict[str, Metrics] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    log_warnings: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    key_figures: list[KeyFigure] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.summary is None:
            return "unknown (no .vppfed/summary.json: killed, still running, or not a vppfed run)"
        if self.summary.get("ok"):
            return "finished"
        return f"FAILED ({self.summary.get('failed')}: {self.summary.get('reason', '')})"


class _Collect(logging.Handler):
    """Collects the warnings of the metrics reader (a file cut short) as report notes."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _reader_warnings() -> Iterator[list[str]]:
    handler = _Collect()
    logger = logging.getLogger("vppfed.formats.metrics")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _read_yaml_or_json(path: Path, notes: list[str]) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        doc = (json.loads if path.suffix == ".json" else yaml.safe_load)(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
        notes.append(f"{path.name}: unreadable ({type(exc).__name__}); run facts from it are missing")
        return {}
    if not isinstance(doc, dict):
        notes.append(f"{path.name}: not a mapping; run facts from it are missing")
        return {}
    return doc


def load_run(run_dir: str | Path, label: str | None = None) -> RunData:
    """Read a run folder for the report. Never raises on bad data: what cannot be read becomes a note."""
    run_dir = Path(run_dir)
    run = RunData(run_dir, label or run_dir.name)
    if not run_dir.is_dir():
        run.notes.append(f"{run_dir}: not a folder")
        return run
    run.case = _read_yaml_or_json(run_dir / "case.yaml", run.notes)
    run.runner = _read_yaml_or_json(run_dir / "runner.json", run.notes)
    summary = run_dir / ".vppfed" / "summary.json"
    if summary.exists():
        run.summary = _read_yaml_or_json(summary, run.notes) or None
    else:
        run.notes.append("no .vppfed/summary.json: the run did not finish (killed?) or is not a vppfed run; "
                         "exit status and wall time are missing")
    if not run.case:
        run.notes.append("no case.yaml: case name, horizon and seed are missing")
    _load_families(run)
    _expected_families(run)
    run.log_warnings = _log_warnings(run)
    run.figures = sorted(p for ext in ("png", "pdf") for p in run_dir.glob(f"figures/**/*.{ext}"))
    run.key_figures = key_figures(run)
    return run


def _load_families(run: RunData) -> None:
    """Read every metrics file. Files of the run's own root are keyed by prefix (``house``); files of another root
    (a user's GLM writing its own ``metrics_collector_writer`` output) by ``prefix:root``."""
    vppfed = run.runner.get("vppfed") if isinstance(run.runner.get("vppfed"), dict) else {}
    case = run.case.get("case") if isinstance(run.case.get("case"), dict) else {}
    root = str(vppfed.get("root") or case.get("root") or "")
    paths = [p for p in run.run_dir.glob("*_metrics.*") if _METRICS_NAME.match(p.name)]
    # the run's root first (so a prefix without it still gets the plain key), JSON before .h5
    paths.sort(key=lambda p: (_METRICS_NAME.match(p.name).group("root") != root, p.name))
    with _reader_warnings() as warnings:
        for path in paths:
            match = _METRICS_NAME.match(path.name)
            prefix = match.group("prefix")
            key = prefix if prefix not in run.families else f"{prefix}:{match.group('root')}"
            if key in run.families:
                continue            # the .h5 copy of a JSON file already read
            try:
                metrics = read_metrics(path)
            except Exception as exc:  # noqa: BLE001 - any damage becomes a note, never a failed report
                reason = str(exc).replace(f"{path}: ", "")
                run.notes.append(f"{path.name}: unreadable, its charts are missing ({reason})")
                continue
            if len(metrics.times) and not metrics.uids:
                continue            # a family with no objects (capacitors of a feeder that has none): no chart
            if not len(metrics.times):
                run.notes.append(f"{path.name}: no samples (the run ended before its first metrics interval)")
                continue
            run.families[key] = metrics
    for message in warnings:
        run.notes.append(message.replace(str(run.run_dir) + "/", ""))


def _expected_families(run: RunData) -> None:
    for fed in run.runner.get("federates", []) or []:
        exec_line = str(fed.get("exec", "")) if isinstance(fed, dict) else ""
        for module, prefixes in EXPECTED.items():
            if module in exec_line:
                for prefix in prefixes:
                    if prefix not in run.families:
                        run.notes.append(f"{prefix} metrics missing (federate {fed.get('name')} should write "
                                         f"{prefix}_<root>_metrics.json)")


def _log_warnings(run: RunData, limit: int = 30) -> list[str]:
    """Warning and error lines of the federate logs (the first ``limit``), each prefixed with its log's name."""
    names = {Path(f["log"]).name for f in (run.summary or {}).get("federates", []) if isinstance(f, dict) and f.get("log")}
    names |= {f"{f.get('name')}.log" for f in run.runner.get("federates", []) or [] if isinstance(f, dict)}
    found: list[str] = []
    for name in sorted(names):
        path = run.run_dir / name
        if not path.exists():
            continue
        try:
            with path.open(encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if LOG_WARNING.search(line):
                        found.append(f"{name}: {line.strip()[:300]}")
                        if len(found) >= limit:
                            return found + ["(more lines in the logs)"]
        except OSError:
            continue
    return found


def versions() -> dict[str, str]:
    """Versions of the packages the report was written with (a run folder does not record them)."""
    out = {}
    for name in VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


# ---------------------------------------------------------------------------------------------- key figures
def _dt_hours(m: Metrics) -> np.ndarray:
    """Length [h] of each metrics interval (a sample stands for the interval ending at its time)."""
    t = m.times.astype(float)
    if len(t) == 1:
        return np.array([t[0] / 3600.0 if t[0] > 0 else 0.0])
    dt = np.diff(t, prepend=t[0] - np.median(np.diff(t)) if t[0] <= 0 else 0.0)
    return dt / 3600.0


def _col(m: Metrics | None, name: str) -> np.ndarray | None:
    return m.column(name) if m is not None and name in m.columns else None


def _scale_of(unit: str) -> float:
    """Factor to kW of a power unit (W, kW, MW)."""
    return {"w": 1e-3, "kw": 1.0, "mw": 1e3}.get(unit.strip().lower(), 1.0)


def _nan(values: np.ndarray, fn: Callable[[np.ndarray], float]) -> float:
    values = np.asarray(values, dtype=float)
    return float(fn(values)) if np.isfinite(values).any() else float("nan")


def _feeder(run: RunData) -> list[KeyFigure]:
    m = run.families.get("substation")
    avg = _col(m, "real_power_avg")
    if m is None or avg is None:
        return []
    k = _scale_of(m.units.get("real_power_avg", "W"))
    peak_col = _col(m, "real_power_max")
    total = np.nansum(avg, axis=1) * k
    out = [KeyFigure("feeder", "peak real power", "kW",
                     _nan(np.nansum(peak_col, axis=1) * k if peak_col is not None else total, np.nanmax),
                     "max over intervals of the in-interval maximum"),
           KeyFigure("feeder", "energy", "kWh", float(np.nansum(total * _dt_hours(m))), "sum of interval means x length")]
    loss = _col(m, "real_power_losses_avg")
    if loss is not None:
        out.append(KeyFigure("feeder", "loss energy", "kWh",
                             float(np.nansum(np.nansum(loss, axis=1) * k * _dt_hours(m))), "link losses"))
    pv = run.families.get("inverter")
    if pv is not None and "real_power_avg" in pv.columns:
        kp = _scale_of(pv.units.get("real_power_avg", "W"))
        out.append(KeyFigure("feeder", "PV energy", "kWh",
                             float(np.nansum(np.nansum(pv.column("real_power_avg"), axis=1) * kp * _dt_hours(pv))),
                             "sum over inverters"))
    return out


def _per_mwh(unit: str) -> float:
    return 1000.0 if "kwh" in unit.lower() else 1.0


def _bulk(run: RunData) -> list[KeyFigure]:
    out = []
    bus = run.families.get("bus")
    lmp = _col(bus, "LMP_P")
    if lmp is not None:
        k = _per_mwh(bus.units.get("LMP_P", "USD/kwh") or "USD/kwh")
        out += [KeyFigure("bulk grid", "LMP min", "USD/MWh", _nan(lmp * k, np.nanmin), "over buses and samples"),
                KeyFigure("bulk grid", "LMP max", "USD/MWh", _nan(lmp * k, np.nanmax), "over buses and samples")]
    conv = _col(run.families.get("sys"), "Converged")
    if conv is not None:
        out.append(KeyFigure("bulk grid", "non-converged power flows", "samples",
                             float(np.sum(np.nan_to_num(conv, nan=1.0) == 0)), "bulk power-flow samples with "
                             "Converged = 0"))
    return out


def _market(run: RunData) -> list[KeyFigure]:
    m = run.families.get("auction")
    price = _col(m, "clearing_price")
    if price is None:
        return []
    # TESP labels the clearing price 'USD' although it is USD/kWh
    return [KeyFigure("market", "cleared price min", "USD/MWh", _nan(price * 1000.0, np.nanmin)),
            KeyFigure("market", "cleared price max", "USD/MWh", _nan(price * 1000.0, np.nanmax))]


def _houses(run: RunData) -> list[KeyFigure]:
    m = run.families.get("house")
    avg = _col(m, "air_temperature_avg")
    if avg is None:
        return []
    lo = _col(m, "air_temperature_min")
    hi = _col(m, "air_temperature_max")
    out = [KeyFigure("houses", "air temperature min", "degF", _nan(lo if lo is not None else avg, np.nanmin),
                     "over houses and intervals"),
           KeyFigure("houses", "air temperature max", "degF", _nan(hi if hi is not None else avg, np.nanmax),
                     "over houses and intervals")]
    cool, heat = _col(m, "air_temperature_setpoint_cooling"), _col(m, "air_temperature_setpoint_heating")
    if cool is not None and heat is not None:
        with np.errstate(invalid="ignore"):
            outside = (avg > cool + COMFORT_MARGIN_F) | (avg < heat - COMFORT_MARGIN_F)
        hours = float(np.sum(outside * _dt_hours(m)[:, None]))
        out.append(KeyFigure("houses", "hours outside comfort band", "house-h", hours,
                             f"mean air temperature > cooling set point + {COMFORT_MARGIN_F:g} degF or < heating "
                             f"set point - {COMFORT_MARGIN_F:g} degF, summed over houses"))
    return out


def _battery(run: RunData) -> list[KeyFigure]:
    m = run.families.get("battery")
    soc = _col(m, "soc")
    if soc is None:
        return []
    out = [KeyFigure("battery", "SOC min", "%", _nan(soc * 100.0, np.nanmin), "over batteries"),
           KeyFigure("battery", "SOC max", "%", _nan(soc * 100.0, np.nanmax))]
    swings = np.nansum(np.abs(np.diff(soc, axis=0)), axis=0) / 2.0
    out.append(KeyFigure("battery", "equivalent full cycles", "cycles", float(np.mean(swings)) if swings.size else
                         float("nan"), "sum |dSOC| / 2, mean over batteries"))
    revenue = _col(m, "revenue")
    if revenue is not None and np.isfinite(revenue).any():
        last = [r[np.isfinite(r)][-1] for r in revenue.T if np.isfinite(r).any()]
        out.append(KeyFigure("battery", "market revenue", "USD", float(np.sum(last)), "cumulative, all batteries"))
    return out


def _vpp(run: RunData) -> list[KeyFigure]:
    if "vpp" not in run.families:
        return []
    from vppfed.postprocess.agile_run import load_agile_run, tracking_stats

    agile = load_agile_run(run.run_dir)
    if agile is None:
        return []
    st = tracking_stats(agile)
    return [KeyFigure("VPP", "tracking error mean", "kW", float(st.mean_abs_error), "|signal - delivered| over steps"),
            KeyFigure("VPP", "tracking error max", "kW", float(st.max_abs_error), "|signal - delivered| over steps")]


def _cohda(run: RunData) -> list[KeyFigure]:
    if not (run.run_dir / "cohda_plan.json").exists():
        return []
    from vppfed.postprocess.cohda_plots import load_feeder_run

    feeder_run = load_feeder_run(run.run_dir)
    if feeder_run is None:
        return []
    st = feeder_run.stats()
    return [KeyFigure("COHDA", "distance to target", "kW", float(st["plan_error_kw"]), "mean |target - plan|"),
            KeyFigure("COHDA", "tracking error", "kW", float(st["tracking_error_kw"]), "mean |plan - achieved|"),
            KeyFigure("COHDA", "messages", "count", float(st["messages"]), "negotiation messages")]


def _neighbourhood(run: RunData) -> list[KeyFigure]:
    if "neighbourhood" not in run.families:
        return []
    from vppfed.formats.neighbourhood import read_run_record

    record = read_run_record(run.run_dir)   # joined from the federates' parts by vppfed run / report
    if record is None:
        return []
    t = record["totals"]
    sc = t.get("self_consumption")
    share = t["pv_wh"] / t["consumption_wh"] if t.get("consumption_wh") else None
    return [KeyFigure("neighbourhood", "self-consumption", "%", float("nan") if sc is None else 100.0 * sc,
                      "PV energy used in the neighbourhood / PV produced"),
            KeyFigure("neighbourhood", "PV share", "%", float("nan") if share is None else 100.0 * share,
                      "PV energy / energy consumed")]


AREAS: tuple[Callable[[RunData], list[KeyFigure]], ...] = (_feeder, _bulk, _market, _houses, _battery, _vpp, _cohda,
                                                          _neighbourhood)


def key_figures(run: RunData) -> list[KeyFigure]:
    """The key figures of every area the run has data for; an area whose reader fails becomes a note."""
    out: list[KeyFigure] = []
    for area in AREAS:
        try:
            with np.errstate(all="ignore"):
                out += area(run)
        except Exception as exc:  # noqa: BLE001 - one broken area must not hide the others
            run.notes.append(f"key figures of {area.__name__.strip('_')}: not computed ({type(exc).__name__}: {exc})")
    return out
