"""Interactive charts of a run report, drawn by Bokeh (zoom, hover, legend click hides a series).

Bokeh rather than Plotly: the page must open from disk with no network, so the library's JavaScript goes inside the
file. Bokeh's inline bundle (BokehJS core + widgets) is about 1.2 MB; Plotly's ``include_plotlyjs=True`` is about
4.6 MB, which alone nearly fills the 5 MB budget of a 48 h te30 report. Bokeh also has tabs as a widget, so the page
needs no hand-written JavaScript.

Charts show thinned series (at most :data:`MAX_POINTS` points per line, keeping each bucket's minimum and maximum so
peaks survive); the key figures of :mod:`vppfed.postprocess.report_data` use the full data. All time charts share
one x range: zooming one zooms all, and several runs are drawn on common axes (one line per run and series).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, Range1d, Select, TabPanel, Tabs
from bokeh.layouts import column
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from vppfed.formats.metrics import Metrics
from vppfed.postprocess.report_data import RunData

#: points per displayed line; a 48 h run at 300 s has 576 samples, a 1-minute week 10 080
MAX_POINTS = 1200
#: more objects than this in a family are drawn as mean with the min-max band instead of one line each
MAX_LINES = 6
#: the per-object view switches the data of its charts with a few lines of JavaScript (Bokeh's own CustomJS): one
#: figure per chart whatever the number of houses, since a Bokeh figure costs about 50 models to build and serialise
SWITCH_JS = """
const uid = select.value;
for (const [shown, store, key] of pairs) {
  const y = store.data[uid + "\\t" + key];
  shown.data = {x: store.data.x, y: (y === undefined) ? store.data.x.map(() => NaN) : y};
}
for (const [fig, base] of titles) { fig.title.text = uid + ": " + base; }
"""
DASHES = ("solid", "dashed", "dotted", "dotdash", "dashdot")
#: line colours: Category10 without its grey, which reads as grid or axis
COLOURS = tuple(c for c in Category10_10 if c != "#7f7f7f")


@dataclass(frozen=True)
class Chart:
    """One chart of a family: columns drawn together, and how objects are combined (sum, mean, each)."""

    title: str
    columns: tuple[str, ...]
    mode: str = "each"
    uids: tuple[str, ...] = ()


#: charts of the families vppfed and TESP write; other families get one chart per column (first four)
CHARTS: dict[str, tuple[Chart, ...]] = {
    "substation": (Chart("Feeder real power", ("real_power_avg",), "sum"),
                   Chart("Feeder losses", ("real_power_losses_avg",), "sum")),
    "bus": (Chart("Bus LMP", ("LMP_P",)), Chart("Bus voltage", ("Vmag",))),
    "gen": (Chart("Generation", ("Pgen",)),),
    "sys": (Chart("Bulk grid losses", ("Ploss",)),),
    "house": (Chart("House air temperature", ("air_temperature_avg",), "mean"),
              Chart("House loads (all houses)", ("total_load_avg", "hvac_load_avg", "waterheater_load_avg"), "sum")),
    "billing_meter": (Chart("Metered real power (all meters)", ("real_power_avg",), "sum"),
                      Chart("Meter voltage", ("voltage12_avg",), "mean")),
    "inverter": (Chart("PV output (all inverters)", ("real_power_avg",), "sum"),),
    "auction": (Chart("Cleared price and LMP", ("clearing_price", "lmp")),
                Chart("Cleared quantity", ("clearing_quantity",))),
    "controller": (Chart("Bid price", ("bid_price",), "mean"),),
    "battery": (Chart("Battery SOC", ("soc",)), Chart("Battery power (> 0 discharge)", ("power", "command")),
                Chart("Feeder load seen by the battery", ("net_load", "gross_load", "target"))),
    "vpp": (Chart("VPP signal and plan", ("signal", "planned", "fixed")),
            Chart("VPP flexibility", ("p_min", "p_max"))),
    "cohda": (Chart("COHDA target, plan, achieved", ("target_kw", "planned_kw", "achieved_kw"), uids=("vpp",)),),
}
#: families with a per-object tab: (tab title, selector label, charts of the selected object)
ENTITIES: dict[str, tuple[str, str, tuple[Chart, ...]]] = {
    "house": ("Households", "House", (Chart("Air temperature and set points", ("air_temperature_avg",
                                                                        "air_temperature_setpoint_cooling",
                                                                        "air_temperature_setpoint_heating")),
                             Chart("Loads", ("total_load_avg", "hvac_load_avg", "waterheater_load_avg")))),
    "battery": ("Batteries", "Battery", (Chart("SOC", ("soc", "soc_estimate")), Chart("Power", ("power", "command")))),
    "controller": ("Bidders", "Bidder", (Chart("Bid", ("bid_price",)),)),
}
TITLES = {"substation": "Feeder", "bus": "Bulk buses", "gen": "Generators", "sys": "Bulk system", "house": "Houses",
          "billing_meter": "Meters", "inverter": "PV", "auction": "Market", "controller": "Bidders (all)",
          "battery": "Battery", "vpp": "VPP", "cohda": "COHDA", "neighbourhood": "Neighbourhood"}


def convert(metrics: Metrics, name: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    """Values in display units: W -> kW, USD/kWh -> USD/MWh, SOC pu -> %."""
    unit = metrics.units.get(name, "")
    if metrics.prefix == "auction" and name == "clearing_price":
        unit = "USD/kwh"                  # TESP labels it 'USD'
    low = unit.strip().lower()
    if low == "w":
        return values / 1000.0, "kW"
    if "/kwh" in low:
        return values * 1000.0, "USD/MWh"
    if name in ("soc", "soc_estimate") and low == "pu":
        return values * 100.0, "%"
    return values, unit


def f32(values: np.ndarray) -> np.ndarray:
    """float32 for the page (half the bytes of float64); values beyond its range (GridLAB-D's 1e308-style
    sentinels) become NaN instead of overflowing to inf."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(values) < 3e38, values, np.nan).astype(np.float32)


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: each bucket keeps its minimum and maximum in time order (peaks survive)."""
    n = len(x)
    if n <= max_points:
        return x, y
    per = int(np.ceil(n / (max_points // 2)))
    keep: list[int] = []
    for start in range(0, n, per):
        chunk = y[start:start + per]
        if not np.isfinite(chunk).any():
            keep.append(start)
            continue
        lo, hi = int(np.nanargmin(chunk)), int(np.nanargmax(chunk))
        keep.extend(sorted({start + lo, start + hi}))
    idx = np.array(keep)
    return x[idx], y[idx]


def thin_band(x: np.ndarray, lo: np.ndarray, hi: np.ndarray,
              max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A min-max band on at most ``max_points`` points: bucket minimum of ``lo`` and maximum of ``hi``."""
    n = len(x)
    if n <= max_points:
        return x, lo, hi
    per = int(np.ceil(n / max_points))
    pad = (-n) % per
    xs = np.concatenate([x, np.full(pad, x[-1])]).reshape(-1, per)[:, 0]
    with np.errstate(all="ignore"):
        los = np.nanmin(np.concatenate([lo, np.full(pad, np.nan)]).reshape(-1, per), axis=1)
        his = np.nanmax(np.concatenate([hi, np.full(pad, np.nan)]).reshape(-1, per), axis=1)
    return xs, los, his


@dataclass
class Series:
    """One line (and optional band) ready to draw, in display units."""

    name: str
    x: np.ndarray
    y: np.ndarray
    unit: str
    band: tuple[np.ndarray, np.ndarray] | None = None


def chart_series(metrics: Metrics, chart: Chart, only_uid: str | None = None) -> list[Series]:
    """The lines of ``chart`` from one run's family (empty when it has none of the columns)."""
    hours = metrics.hours()
    uids = list(metrics.uids)
    if only_uid is not None:
        uids = [only_uid]
    elif chart.uids and any(u in uids for u in chart.uids):
        uids = [u for u in chart.uids if u in uids]
    index = [metrics.uids.index(u) for u in uids]
    out: list[Series] = []
    columns = [c for c in chart.columns if c in metrics.columns]
    for col in columns:
        values, unit = convert(metrics, col, metrics.column(col)[:, index])
        if not np.isfinite(values).any():
            continue
        label = col if len(columns) > 1 else ""
        with np.errstate(all="ignore"):
            if chart.mode == "sum":
                total = np.where(np.isfinite(values).any(axis=1), np.nansum(values, axis=1), np.nan)
                out.append(Series(label or "total", hours, total, unit))
            elif chart.mode == "mean" or len(uids) > MAX_LINES:
                band = (np.nanmin(values, axis=1), np.nanmax(values, axis=1)) if len(uids) > 1 else None
                out.append(Series(f"{label} mean".strip() if len(uids) > 1 else (label or uids[0]), hours,
                                  np.nanmean(values, axis=1), unit, band))
            else:
                for i, uid in enumerate(uids):
                    name = " ".join(p for p in (label, uid if len(uids) > 1 or not label else "") if p)
                    out.append(Series(name or uid, hours, values[:, i], unit))
    return out


def _figure(title: str, unit: str, x_range: Range1d, x_label: str, name: str):
    fig = figure(title=title, height=280, sizing_mode="stretch_width", x_range=x_range, x_axis_label=x_label,
                 y_axis_label=unit, tools="pan,xwheel_zoom,box_zoom,reset,save", name=name)
    fig.add_tools(HoverTool(tooltips=[("series", "$name"), ("time (h)", "$x{0.00}"), ("value", "$y{0.000}")]))
    fig.toolbar.logo = None
    return fig


def draw(title: str, runs: Sequence[tuple[str, list[Series]]], x_range: Range1d, x_label: str, name: str):
    """One figure with the series of every run (one colour per series, one dash per run), or None if empty."""
    if not any(series for _, series in runs):
        return None
    units = [s.unit for _, series in runs for s in series]
    unit = max(set(units), key=units.count)
    fig = _figure(title, unit, x_range, x_label, name)
    colour = 0
    for r, (label, series) in enumerate(runs):
        for s in series:
            c = COLOURS[colour % len(COLOURS)]
            colour += 1
            legend = f"{label}: {s.name}" if len(runs) > 1 else s.name
            if s.unit != unit:
                legend += f" ({s.unit})"
            if s.band is not None:
                bx, lo, hi = thin_band(s.x, *s.band)
                fig.varea(x=f32(bx), y1=f32(lo), y2=f32(hi), fill_color=c, fill_alpha=0.2,
                          legend_label=f"{legend} min-max")
            x, y = thin(s.x, s.y)
            src = ColumnDataSource({"x": f32(x), "y": f32(y)})
            fig.line("x", "y", source=src, color=c, line_width=1.8, line_dash=DASHES[r % len(DASHES)],
                     legend_label=legend, name=legend)
    _legend_outside(fig)
    return fig


def _legend_outside(fig) -> None:
    """Legend right of the plot (it hides no data); a click on an entry hides its series."""
    legend = fig.legend[0]
    legend.click_policy = "hide"
    legend.label_text_font_size = "8pt"
    legend.location = "top_left"
    fig.add_layout(legend, "right")


def _x_label(runs: Sequence[RunData]) -> str:
    starts = {m.start_time[:16] for run in runs for m in run.families.values() if m.start_time}
    return f"time from {starts.pop()} (h)" if len(starts) == 1 else "time from each run's start (h)"


def _family_charts(key: str, runs: Sequence[RunData]) -> tuple[Chart, ...]:
    """Charts of a family (``prefix`` or ``prefix:root``): the known ones, else one per column (first four)."""
    metrics = next(run.families[key] for run in runs if key in run.families)
    if metrics.prefix in CHARTS and any(c in metrics.columns for chart in CHARTS[metrics.prefix] for c in chart.columns):
        return CHARTS[metrics.prefix]
    return tuple(Chart(col, (col,)) for col in metrics.columns[:4])


def _title(key: str) -> str:
    prefix, _, root = key.partition(":")
    title = TITLES.get(prefix, prefix)
    return f"{title} ({root})" if root else title


def build_tabs(runs: Sequence[RunData]) -> tuple[Tabs | None, int]:
    """The chart tabs of a report (a tab per metrics family, then per-object tabs) and the number of charts."""
    hours = [float(m.hours()[-1]) for run in runs for m in run.families.values() if len(m.times)]
    if not hours:
        return None, 0
    x_range = Range1d(0.0, max(max(hours), 1e-3), bounds=(0.0, max(max(hours), 1e-3)))
    x_label = _x_label(runs)
    prefixes = sorted({p for run in runs for p in run.families}, key=lambda p: (p not in CHARTS, list(CHARTS).index(p)
                                                                                  if p in CHARTS else 0, p))
    panels = []
    count = 0
    for prefix in prefixes:
        figs = []
        for i, chart in enumerate(_family_charts(prefix, runs)):
            per_run = [(run.label, chart_series(run.families[prefix], chart)) for run in runs if prefix in run.families]
            fig = draw(chart.title, per_run, x_range, x_label, f"chart:{prefix}:{i}")
            if fig is not None:
                figs.append(fig)
        if figs:
            count += len(figs)
            panels.append(TabPanel(child=column(figs, sizing_mode="stretch_width"), title=_title(prefix)))
    for prefix, (title, label, charts) in ENTITIES.items():
        panel = entity_panel(prefix, title, label, charts, [run for run in runs if prefix in run.families], x_range, x_label)
        if panel is not None:
            panels.append(panel[0])
            count += panel[1]
    if not panels:
        return None, 0
    return Tabs(tabs=panels, sizing_mode="stretch_width"), count


def bucket_means(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points by averaging buckets (one x for every object of a per-object view)."""
    n = len(x)
    if n <= max_points:
        return x, y
    per = int(np.ceil(n / max_points))
    pad = (-n) % per
    with np.errstate(all="ignore"):
        ym = np.nanmean(np.concatenate([y, np.full((pad,) + y.shape[1:], np.nan)]).reshape((-1, per) + y.shape[1:]),
                        axis=1)
    return np.concatenate([x, np.full(pad, x[-1])]).reshape(-1, per)[:, 0], ym


def entity_panel(prefix: str, title: str, label: str, charts: tuple[Chart, ...], runs: Sequence[RunData], x_range: Range1d,
                 x_label: str) -> tuple[TabPanel, int] | None:
    """A tab with a household/agent selector and the charts of the selected object (every run on common axes)."""
    if not runs:
        return None
    uids = list(dict.fromkeys(u for run in runs for u in run.families[prefix].uids))
    if len(uids) < 2:
        return None                         # one object: the family tab already shows it
    select = Select(title=f"{label}:", value=uids[0], options=uids,
                    name=f"select:{prefix}", width=260)
    pairs: list[list] = []
    titles: list[list] = []
    figs = []
    for i, chart in enumerate(charts):
        fig = None
        colour = 0
        for r, run in enumerate(runs):
            m = run.families[prefix]
            columns = [c for c in chart.columns if c in m.columns]
            if not columns:
                continue
            store: dict[str, np.ndarray] = {}
            x = m.hours()
            units = {}
            for col in columns:
                values, units[col] = convert(m, col, m.column(col))
                bx, by = bucket_means(x, values)
                store["x"] = f32(bx)
                for j, uid in enumerate(m.uids):
                    store[f"{uid}\t{col}"] = f32(by[:, j])
            store_src = ColumnDataSource(store)
            for col in columns:
                if fig is None:
                    fig = _figure(f"{uids[0]}: {chart.title}", units[col], x_range, x_label, f"entity:{prefix}:{i}")
                y = store.get(f"{uids[0]}\t{col}", np.full(len(store["x"]), np.nan, dtype=np.float32))
                shown = ColumnDataSource({"x": store["x"], "y": y})
                legend = f"{run.label}: {col}" if len(runs) > 1 else col
                fig.line("x", "y", source=shown, color=COLOURS[colour % len(COLOURS)], line_width=1.8,
                         line_dash=DASHES[r % len(DASHES)], legend_label=legend, name=legend)
                colour += 1
                pairs.append([shown, store_src, col])
        if fig is not None:
            _legend_outside(fig)
            titles.append([fig, chart.title])
            figs.append(fig)
    if not figs:
        return None
    select.js_on_change("value", CustomJS(args={"select": select, "pairs": pairs, "titles": titles}, code=SWITCH_JS))
    child = column([select, *figs], sizing_mode="stretch_width")
    return TabPanel(child=child, title=f"{title} ({len(uids)})"), len(figs)
