"""Figures of a multi-feeder (ERCOT-style) run and of the scale-out benchmark.

``vppfed plot RUN_DIR`` calls :func:`plot_run`; for a multi-feeder run (``Bus<N>/`` folders with feeder metrics beside
a ``*_pp.json`` grid model) it draws

- ``ercot_lmp_by_bus``: the LMP at every feeder bus ($/MWh);
- ``ercot_generation_by_fuel``: bulk generation stacked by fuel (GW), from ``gen_`` metrics and ``model_dict.json``;
- ``ercot_feeder_load``: each simulated feeder's load (kW) and what it stands for at its bus (MW, × DSO scale);
- ``ercot_feeder_shape``: each feeder's daily load shape against its zone's (both divided by their daily peak),
  one panel per bus, with the night/peak ratios (:func:`load_shape_table`: night = mean of 03:00-05:00, peak = the
  largest hourly mean; the feeder's last complete day, so a 48 h run skips the first day as warm-up; the zone's shape
  from the grid's background-load CSV, which is the zone load times its daily shape);
- ``ercot_bus_diagram``: buses placed like the ERCOT zones on a map (networkx spring layout for other grids), node
  colour = LMP, node size = load, arrows = line flows at the hour of peak load. Flows come from a DC power flow of
  the metrics' injections (``Pgen`` of each unit, ``PD`` of feeder buses, background load of the others); the AC
  losses go to the swing bus, so they are estimates within a few per cent of the AC flows;

and, when the folder holds benchmark output (``bench_ercot*.jsonl`` from ``benchmarks/bench_ercot.py --out``), the
scaling curves (``ercot_scaling``): wall time per simulated hour against feeders, per houses per feeder and per
broker layout, and the HELICS share of the time.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vppfed.postprocess.figures import COLUMN_WIDTH_IN, paper_style, save
from vppfed.formats.metrics import find_metrics, read_metrics

log = logging.getLogger(__name__)

__all__ = ["plot_run", "plot_scaling", "read_bench", "dc_flows", "feeder_buses", "is_multi_feeder_run", "day_profile",
           "night_peak_ratio", "load_shape_table", "NIGHT_HOURS"]

#: Approximate map position (longitude, latitude) of each ERCOT-style zone of configs/bulk_ercot8.py.
ZONE_LONLAT = {1: (-98.5, 33.9), 2: (-97.0, 32.8), 3: (-95.4, 29.8), 4: (-98.5, 29.4), 5: (-97.7, 30.3),
               6: (-100.4, 32.3), 7: (-102.4, 31.6), 8: (-97.6, 26.9)}
FUEL_COLOURS = {"nuclear": "#7b3294", "coal": "#4d4d4d", "gas_cc": "#e08214", "gas_ct": "#fdb863",
                "wind": "#1a9641", "solar": "#ffd92f", "hydro": "#2b83ba"}
_BUS_DIR = re.compile(r"^Bus(\d+)$")


def feeder_buses(run_dir: str | Path) -> list[int]:
    """Buses with a feeder folder ``Bus<N>/`` holding substation metrics, sorted."""
    out = []
    for path in Path(run_dir).glob("Bus*"):
        m = _BUS_DIR.match(path.name)
        if m and path.is_dir() and find_metrics(path, "substation") is not None:
            out.append(int(m.group(1)))
    return sorted(out)


def is_multi_feeder_run(run_dir: str | Path) -> bool:
    """A run of the ``feeders:`` section: per-bus folders and a grid model."""
    run_dir = Path(run_dir)
    return bool(feeder_buses(run_dir)) and any(run_dir.glob("*_pp.json"))


def _pp_json(run_dir: Path) -> dict[str, Any]:
    return json.loads(sorted(run_dir.glob("*_pp.json"))[0].read_text(encoding="utf-8"))


def _hours_axis(ax: Any, hours: np.ndarray, start: str) -> None:
    ax.set_xlabel(f"time from {start[:16]} (h)")
    if len(hours) and hours[-1] >= 12:
        step = 6 if hours[-1] <= 48 else 12
        ax.set_xticks(np.arange(0, hours[-1] + 1e-9, step))
    ax.set_xlim(0, hours[-1] if len(hours) and hours[-1] > 0 else 1)


def lmp_by_bus(run_dir: Path, out_dir: Path) -> list[Path]:
    """LMP of every feeder bus, $/MWh."""
    from vppfed.postprocess.figures import plt

    path = find_metrics(run_dir, "bus")
    if path is None:
        return []
    m = read_metrics(path)
    if not len(m.times):
        return []
    lmp = m.column("LMP_P") * 1000.0
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.4))
        for i, uid in enumerate(m.uids):
            ax.plot(m.hours(), lmp[:, i], label=f"bus {uid}")
        ax.set_ylabel("LMP ($/MWh)")
        _hours_axis(ax, m.hours(), m.start_time)
        ax.legend(frameon=False, ncol=4, loc="upper left")
        return save(fig, out_dir, "ercot_lmp_by_bus")


def generation_by_fuel(run_dir: Path, out_dir: Path) -> list[Path]:
    """Bulk generation stacked by fuel, GW (dispatchable loads of markets left out)."""
    from vppfed.postprocess.figures import plt

    path = find_metrics(run_dir, "gen")
    model = run_dir / "model_dict.json"
    if path is None or not model.exists():
        return []
    m = read_metrics(path)
    gens = json.loads(model.read_text(encoding="utf-8"))["generators"]
    pgen = m.column("Pgen")
    fuels: dict[str, np.ndarray] = {}
    for i, uid in enumerate(m.uids):
        info = gens.get(uid, {})
        if info.get("gentype", "generator") != "generator":
            continue
        fuel = str(info.get("genfuel", "other"))
        fuels[fuel] = fuels.get(fuel, 0.0) + np.nan_to_num(pgen[:, i]) / 1000.0
    if not fuels:
        return []
    order = [f for f in FUEL_COLOURS if f in fuels] + sorted(f for f in fuels if f not in FUEL_COLOURS)
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.4))
        ax.stackplot(m.hours(), *[fuels[f] for f in order], labels=[f.replace("_", " ") for f in order],
                     colors=[FUEL_COLOURS.get(f, "#999999") for f in order], linewidth=0)
        ax.set_ylabel("generation (GW)")
        _hours_axis(ax, m.hours(), m.start_time)
        ax.legend(frameon=False, ncol=3, loc="upper left", fontsize=6)
        top = float(np.sum([fuels[f] for f in order], axis=0).max())
        ax.set_ylim(0, top * 1.35)
        return save(fig, out_dir, "ercot_generation_by_fuel")


def feeder_loads(run_dir: Path, out_dir: Path) -> list[Path]:
    """Each feeder's substation load (kW) and the load it stands for at its bus (MW = kW × DSO scale / 1000)."""
    from vppfed.postprocess.figures import plt

    buses = feeder_buses(run_dir)
    if not buses:
        return []
    scales = {int(row[0]): float(row[2]) for row in _pp_json(run_dir).get("DSO", [])}
    with paper_style():
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(COLUMN_WIDTH_IN, 3.6), sharex=True)
        start, hours = "", np.zeros(0)
        for b in buses:
            m = read_metrics(find_metrics(run_dir / f"Bus{b}", "substation"))
            if not len(m.times):
                continue
            kw = m.column("real_power_avg")[:, 0] / 1000.0
            ax1.plot(m.hours(), kw, label=f"bus {b}")
            ax2.plot(m.hours(), kw * scales.get(b, 1.0) / 1000.0, label=f"bus {b}")
            start, hours = m.start_time, m.hours()
        ax1.set_ylabel("feeder load (kW)")
        ax2.set_ylabel("scaled to bus (MW)")
        ax1.legend(frameon=False, ncol=4, loc="upper left", fontsize=6)
        _hours_axis(ax2, hours, start)
        return save(fig, out_dir, "ercot_feeder_load")


#: Hours of day whose mean is "night" in the night/peak ratio (03:00-05:00, the zones' trough).
NIGHT_HOURS = (3, 4)


def day_profile(times_s: np.ndarray, values: np.ndarray, start_hour: float = 0.0) -> np.ndarray | None:
    """Hourly means (24 values, index = local hour) of the last complete local day of an interval series.

    ``times_s`` are the interval ends (seconds after the run start, which is ``start_hour`` local time); an interval
    belongs to the hour of its midpoint. None when no local day is complete. The last day rather than the first:
    the first day of a run is its warm-up (houses start at their setpoints, water heaters full).
    """
    times_s, values = np.asarray(times_s, dtype=float), np.asarray(values, dtype=float)
    ok = np.isfinite(values) & (times_s > 0)
    times_s, values = times_s[ok], values[ok]
    if times_s.size < 24:
        return None
    dt = float(np.median(np.diff(times_s))) if times_s.size > 1 else 3600.0
    mid_h = start_hour + (times_s - dt / 2.0) / 3600.0
    day, hour = np.floor(mid_h / 24.0).astype(int), np.floor(mid_h % 24.0).astype(int)
    for d in sorted(set(day.tolist()), reverse=True):
        sel = day == d
        if len(set(hour[sel].tolist())) == 24:
            return np.array([values[sel & (hour == h)].mean() for h in range(24)])
    return None


def night_peak_ratio(profile: np.ndarray) -> float:
    """Mean of :data:`NIGHT_HOURS` over the largest hourly mean of a 24-value daily profile."""
    profile = np.asarray(profile, dtype=float)
    return float(profile[list(NIGHT_HOURS)].mean() / profile.max())


def _zone_profiles(run_dir: Path, pp: dict[str, Any]) -> dict[int, np.ndarray]:
    """Hourly zone shape per bus from the grid's background-load CSV (one day, ``CSVInterval`` s rows)."""
    csv_name, buses = pp.get("CSVFile"), pp.get("CSVBuses") or []
    if not csv_name or not (run_dir / csv_name).is_file():
        return {}
    rows = np.loadtxt(run_dir / csv_name, delimiter=",", ndmin=2)
    interval = float(pp.get("CSVInterval", 300))
    hour = (np.arange(rows.shape[0]) * interval // 3600).astype(int) % 24
    out = {}
    for j, b in enumerate(buses[:rows.shape[1]]):
        out[int(b)] = np.array([rows[hour == h, j].mean() for h in range(24)])
    return out


def load_shape_table(run_dir: str | Path) -> list[dict[str, Any]]:
    """Per feeder bus: the feeder's and its zone's daily profile (kW and MW), their night/peak ratios and peak hours.

    A bus without a complete day of feeder metrics or without a zone column is left out.
    """
    run_dir = Path(run_dir)
    zones = _zone_profiles(run_dir, _pp_json(run_dir))
    rows = []
    for b in feeder_buses(run_dir):
        m = read_metrics(find_metrics(run_dir / f"Bus{b}", "substation"))
        start = m.start_time[11:16] if len(m.start_time) >= 16 else "00:00"
        start_hour = int(start[:2]) + int(start[3:5]) / 60.0 if start[:2].isdigit() else 0.0
        feeder = day_profile(m.times, np.nansum(m.column("real_power_avg"), axis=1) / 1000.0, start_hour) \
            if len(m.times) else None
        zone = zones.get(b)
        if feeder is None or zone is None:
            continue
        rows.append({"bus": b, "zone_ratio": round(night_peak_ratio(zone), 3),
                     "feeder_ratio": round(night_peak_ratio(feeder), 3), "zone_peak_hour": int(np.argmax(zone)),
                     "feeder_peak_hour": int(np.argmax(feeder)), "feeder_peak_kw": round(float(feeder.max()), 2),
                     "feeder_kw": [round(float(v), 3) for v in feeder], "zone_mw": [round(float(v), 3) for v in zone]})
    return rows


def feeder_shape(run_dir: Path, out_dir: Path) -> list[Path]:
    """Each feeder's daily shape against its zone's, normalised to their peaks, one panel per bus."""
    from vppfed.postprocess.figures import plt

    rows = load_shape_table(run_dir)
    if not rows:
        return []
    cols = min(4, len(rows))
    nrows = int(np.ceil(len(rows) / cols))
    hours = np.arange(24) + 0.5
    with paper_style():
        fig, axes = plt.subplots(nrows, cols, figsize=(2 * COLUMN_WIDTH_IN, 1.5 * nrows + 0.4), sharex=True,
                                 sharey=True, squeeze=False)
        for ax, row in zip(axes.flat, rows):
            feeder, zone = np.array(row["feeder_kw"]), np.array(row["zone_mw"])
            ax.plot(hours, zone / zone.max(), color="0.3", lw=1.2, label="zone")
            ax.plot(hours, feeder / feeder.max(), color="#d95f02", lw=1.2, label="feeder")
            ax.axvspan(NIGHT_HOURS[0], NIGHT_HOURS[-1] + 1, color="0.9", lw=0)
            ax.set_title(f"bus {row['bus']}: night/peak {row['feeder_ratio']:.2f}, zone {row['zone_ratio']:.2f}",
                         fontsize=6)
            ax.set_xticks([0, 6, 12, 18, 24])
            ax.set_xlim(0, 24)
            ax.set_ylim(0, 1.05)
        for ax in list(axes.flat)[len(rows):]:
            ax.axis("off")
        for ax in axes[-1]:
            ax.set_xlabel("hour of day")
        for ax in axes[:, 0]:
            ax.set_ylabel("load / daily peak")
        axes.flat[0].legend(frameon=False, fontsize=6, loc="lower right")
        fig.tight_layout()
        return save(fig, out_dir, "ercot_feeder_shape")


def dc_flows(pp: dict[str, Any], injections_mw: dict[int, float]) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Branch flows (MW, from -> to) of a DC power flow with the given net injection per bus (generation − load).

    The swing bus (type 3 in ``bus``) balances the sum. Parallel circuits are separate branch rows.
    """
    bus = np.array(pp["bus"], dtype=float)
    br = np.array(pp["branch"], dtype=float)
    ids = [int(b) for b in bus[:, 0]]
    index = {b: i for i, b in enumerate(ids)}
    on = br[:, 10] > 0 if br.shape[1] > 10 else np.ones(len(br), bool)
    f = np.array([index[int(b)] for b in br[:, 0]])
    t = np.array([index[int(b)] for b in br[:, 1]])
    x = br[:, 3]
    n = len(ids)
    a = np.zeros((len(br), n))
    a[np.arange(len(br)), f] = 1.0
    a[np.arange(len(br)), t] = -1.0
    y = np.where(on, 1.0 / x, 0.0)
    bmat = a.T @ (y[:, None] * a)
    base = float(pp.get("baseMVA", 100.0))
    p = np.array([injections_mw.get(b, 0.0) for b in ids]) / base
    slack = int(np.flatnonzero(bus[:, 1] == 3)[0]) if np.any(bus[:, 1] == 3) else 0
    keep = [i for i in range(n) if i != slack]
    theta = np.zeros(n)
    theta[keep] = np.linalg.solve(bmat[np.ix_(keep, keep)], p[keep])
    flows = y * (a @ theta) * base
    return [(ids[i], ids[j]) for i, j in zip(f, t)], flows


def _injections(run_dir: Path, pp: dict[str, Any], t: int) -> tuple[dict[int, float], dict[int, float]]:
    """Net injection and load per bus (MW) at metrics time ``t``."""
    from vppfed.formats.ppcase import case_from_dict

    case = case_from_dict(pp, base_dir=run_dir)
    load = {int(b): float(pd) for b, pd in zip(case.bus[:, 0], case.bus[:, 2])}
    if case.background is not None:
        for b, mw in zip(case.background.buses, case.background.at(float(t))):
            load[b] = float(mw)
    bus_m = read_metrics(find_metrics(run_dir, "bus"))
    ti = int(np.searchsorted(bus_m.times, t))
    for i, uid in enumerate(bus_m.uids):
        load[int(uid)] = float(bus_m.column("PD")[ti, i])
    gen_m = read_metrics(find_metrics(run_dir, "gen"))
    gi = int(np.searchsorted(gen_m.times, t))
    inj = {b: -p for b, p in load.items()}
    n_real = len(pp["gen"])
    for i, uid in enumerate(gen_m.uids):
        row = int(uid) - 1
        if row < n_real:
            b = int(pp["gen"][row][0])
            inj[b] = inj.get(b, 0.0) + float(np.nan_to_num(gen_m.column("Pgen")[gi, i]))
    return inj, load


def bus_diagram(run_dir: Path, out_dir: Path, t: int | None = None) -> list[Path]:
    """Map-like diagram of the bulk grid at time ``t`` (default: the sample of peak total load)."""
    from vppfed.postprocess.figures import plt
    import networkx as nx
    from matplotlib import cm, colors

    bus_path, gen_path = find_metrics(run_dir, "bus"), find_metrics(run_dir, "gen")
    if bus_path is None or gen_path is None or not any(run_dir.glob("*_pp.json")):
        return []
    pp = _pp_json(run_dir)
    bus_m = read_metrics(bus_path)
    if not len(bus_m.times):
        return []
    if t is None:
        t = int(bus_m.times[int(np.argmax(np.nansum(bus_m.column("PD"), axis=1)))])
    inj, load = _injections(run_dir, pp, t)
    ends, flows = dc_flows(pp, inj)
    ti = int(np.searchsorted(bus_m.times, t))
    lmp = {int(u): float(bus_m.column("LMP_P")[ti, i]) * 1000.0 for i, u in enumerate(bus_m.uids)}
    graph = nx.DiGraph()
    ids = [int(r[0]) for r in pp["bus"]]
    graph.add_nodes_from(ids)
    corridor: dict[tuple[int, int], float] = {}
    for (a, b), flow in zip(ends, flows):
        key = (a, b) if a < b else (b, a)
        corridor[key] = corridor.get(key, 0.0) + (flow if a < b else -flow)
    for (a, b), flow in corridor.items():
        u, v = (a, b) if flow >= 0 else (b, a)
        graph.add_edge(u, v, mw=abs(flow))
    names = {int(b): str(n) for b, n in pp.get("zones", [])}
    if set(ids) <= set(ZONE_LONLAT) and names:
        pos = {b: ZONE_LONLAT[b] for b in ids}
    else:
        pos = nx.spring_layout(graph.to_undirected(), seed=0)
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 3.3))
        values = [lmp.get(b, np.nan) for b in ids]
        finite = [v for v in values if np.isfinite(v)]
        norm = colors.Normalize(vmin=min(finite, default=0.0), vmax=max(max(finite, default=1.0),
                                                                         min(finite, default=0.0) + 1.0))
        cmap = plt.get_cmap("viridis")
        node_colours = [cmap(norm(v)) if np.isfinite(v) else (0.8, 0.8, 0.8, 1.0) for v in values]
        peak = max(load.values()) or 1.0
        sizes = [80 + 520 * max(load.get(b, 0.0), 0.0) / peak for b in ids]
        widths = [0.5 + 3.5 * graph.edges[e]["mw"] / max(1.0, max(d["mw"] for *_, d in graph.edges(data=True)))
                  for e in graph.edges]
        nx.draw_networkx_edges(graph, pos, ax=ax, width=widths, edge_color="#666666", arrows=True, arrowsize=8,
                               node_size=sizes, connectionstyle="arc3,rad=0.08")
        nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=node_colours, node_size=sizes, edgecolors="black",
                               linewidths=0.5)
        nx.draw_networkx_labels(graph, pos, ax=ax, labels={b: str(b) for b in ids}, font_size=6, font_color="white")
        edge_labels = {e: f"{graph.edges[e]['mw']:.0f}" for e in graph.edges}
        nx.draw_networkx_edge_labels(graph, pos, ax=ax, edge_labels=edge_labels, font_size=5,
                                     connectionstyle="arc3,rad=0.08", bbox={"alpha": 0.0})
        for b in ids:
            if b in names:
                x, y = pos[b]
                ax.annotate(names[b], (x, y), xytext=(0, -11), textcoords="offset points", ha="center", fontsize=5)
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="LMP ($/MWh)", shrink=0.7)
        hour = t / 3600.0
        ax.set_title(f"flows (MW, DC estimate) at {hour:.1f} h; node size = load", fontsize=7)
        if pos is not None and set(ids) <= set(ZONE_LONLAT):
            ax.set_xlabel("longitude (deg)")
            ax.set_ylabel("latitude (deg)")
            ax.tick_params(left=True, bottom=True, labelleft=True, labelbottom=True)
        ax.margins(0.12)
        return save(fig, out_dir, "ercot_bus_diagram")


# ----------------------------------------------------------------------------------------------- benchmark curves
def read_bench(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """JSON lines of ``benchmarks/bench_ercot.py`` (lines that are not ERCOT benchmark objects are skipped)."""
    rows = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("figure", "").startswith("ercot") and row.get("ok", True):
                rows.append(row)
    return rows


def plot_scaling(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Scaling curves: wall s per simulated h against feeders (one line per houses per feeder, default layout),
    against feeders per broker layout, and the HELICS share of the time."""
    from vppfed.postprocess.figures import plt

    out_dir = Path(out_dir)
    timing = [r for r in rows if r.get("figure") == "ercot_scaling" and not r.get("profiled")]
    profiled = [r for r in rows if r.get("figure") == "ercot_scaling" and r.get("profiled")]
    if not timing and not profiled:
        return []
    default_layout = max({r["layout"] for r in timing}, key=lambda lay: sum(r["layout"] == lay for r in timing)) \
        if timing else None
    with paper_style():
        fig, axes = plt.subplots(3, 1, figsize=(COLUMN_WIDTH_IN, 6.2))
        ax = axes[0]
        for houses in sorted({r["houses_per_feeder"] for r in timing}):
            pts = sorted((r["feeders"], r["wall_s_per_sim_h"]) for r in timing
                         if r["houses_per_feeder"] == houses and r["layout"] == default_layout)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=f"{houses} houses/feeder")
        ax.set_ylabel("wall s per simulated h")
        ax.set_title(f"layout '{default_layout}'", fontsize=7)
        ax.legend(frameon=False, fontsize=6)
        ax = axes[1]
        ref_houses = max({r["houses_per_feeder"] for r in timing},
                         key=lambda h: len({r["layout"] for r in timing if r["houses_per_feeder"] == h}), default=None)
        for layout in sorted({r["layout"] for r in timing}):
            pts = sorted((r["feeders"], r["wall_s_per_sim_h"]) for r in timing
                         if r["layout"] == layout and r["houses_per_feeder"] == ref_houses)
            if pts:
                ax.plot(*zip(*pts), marker="s", label=layout)
        ax.set_ylabel("wall s per simulated h")
        ax.set_title(f"broker layouts, {ref_houses} houses/feeder", fontsize=7)
        ax.legend(frameon=False, fontsize=6)
        ax = axes[2]
        src = profiled or timing
        pts = sorted((r["feeders"], r.get("helics_wait_share", np.nan), r.get("helics_call_share", np.nan),
                      r.get("broker_cpu_share", np.nan)) for r in src)
        if pts:
            f, wait, call, broker = (np.array(v, dtype=float) for v in zip(*pts))
            ax.plot(f, 100 * wait, marker="o", label="waiting in time requests")
            ax.plot(f, 100 * call, marker="^", label="other HELICS calls")
            ax.plot(f, 100 * broker, marker="v", label="broker CPU / all CPU")
        ax.set_ylabel("share of time (%)")
        ax.legend(frameon=False, fontsize=6)
        for ax in axes:
            ax.set_xlabel("feeders (one per bus)")
            ax.set_xscale("log", base=2)
            ticks = sorted({int(r["feeders"]) for r in timing + profiled}) or [1, 2, 4, 8]
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(t) for t in ticks])
        return save(fig, out_dir, "ercot_scaling")


def plot_run(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """The multi-feeder figures of ``run_dir`` (none for other runs) and scaling curves of benchmark output in it."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    written: list[Path] = []
    if is_multi_feeder_run(run_dir):
        for figure in (lmp_by_bus, generation_by_fuel, feeder_loads, feeder_shape, bus_diagram):
            try:
                written += figure(run_dir, out_dir)
            except (KeyError, ValueError, IndexError) as exc:
                log.warning("%s skipped: %s", figure.__name__, exc)
    bench = sorted(run_dir.glob("bench_ercot*.jsonl"))
    if bench:
        written += plot_scaling(read_bench(bench), out_dir)
    return written
