"""One self-contained HTML report per run (or per comparison of runs): ``vppfed report`` and the end of ``vppfed run``.

The page opens from disk with no network: Bokeh's JavaScript and every chart's data are inside the file. It shows
what ran (case, federates, horizon, seed, versions, wall time, exit status, warnings of the logs), the key figures
by area (one column per run, with differences to the first run), what is missing from a damaged or partial run,
interactive charts per metrics family and per household/agent, and links to the run's PNG/PDF figures.
"""
from __future__ import annotations

import html
import logging
import math
import os
import time
from pathlib import Path
from typing import Sequence

from vppfed.errors import UserError
from vppfed.postprocess.report_data import RunData, load_run, versions

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
#: Bokeh bundles inside the page: the core (plots, tabs) and widgets (the household selector); not MathJax (1.8 MB),
#: WebGL or data tables, which the report does not use
BOKEH_COMPONENTS = ("bokeh", "bokeh-widgets")
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2em 2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.4em}
table{border-collapse:collapse;font-size:.9em;margin:.4em 0}
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7a1b;font-weight:600}
.notes li{color:#8a4b00}details{margin:.4em 0}code{font-size:.9em}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.0f}" if value == int(value) else f"{value:.3g}"
    return f"{value:.3g}"


def _facts_table(runs: Sequence[RunData]) -> str:
    def case(run: RunData, key: str) -> object:
        section = run.case.get("case", {}) if isinstance(run.case.get("case"), dict) else {}
        return section.get(key, "-")

    def federates(run: RunData) -> str:
        status = {f.get("name"): f for f in (run.summary or {}).get("federates", []) if isinstance(f, dict)}
        names = [f.get("name") for f in run.runner.get("federates", []) or [] if isinstance(f, dict)] or list(status)
        parts = []
        for name in names:
            st = status.get(name)
            text = f"{name}" if st is None else f"{name} ({st.get('status')}, exit {st.get('returncode')}, " \
                                                f"{float(st.get('wall_s') or 0):.1f} s)"
            parts.append(_e(text))
        return "<br>".join(parts) or "-"

    def status(run: RunData) -> str:
        cls = "ok" if run.summary and run.summary.get("ok") else "bad"
        return f'<span class="{cls}">{_e(run.status)}</span>'

    def reached(run: RunData) -> str:
        if not run.summary:
            hours = [float(m.hours()[-1]) for m in run.families.values()]
            return f"metrics up to {max(hours):.2f} h" if hours else "-"
        return f"{float(run.summary.get('simulated_seconds', 0)) / 3600:.2f} of " \
               f"{float(run.summary.get('stop_seconds', 0)) / 3600:.2f} h"

    rows = [
        ("case", lambda r: _e(case(r, "name"))),
        ("description", lambda r: _e(case(r, "description"))),
        ("folder", lambda r: f"<code>{_e(r.run_dir)}</code>"),
        ("start", lambda r: _e(case(r, "start"))),
        ("horizon (h)", lambda r: _e(case(r, "hours"))),
        ("seed", lambda r: _e(case(r, "seed"))),
        ("simulated", reached),
        ("wall time (s)", lambda r: _fmt(float(r.summary["wall_seconds"])) if r.summary and "wall_seconds" in
         r.summary else "-"),
        ("exit status", status),
        ("federates", federates),
        ("metrics files", lambda r: _e(", ".join(sorted(r.families))) or "none"),
    ]
    head = "".join(f"<th>{_e(r.label)}</th>" for r in runs)
    body = "".join(f"<tr><th>{_e(name)}</th>{''.join(f'<td>{fn(r)}</td>' for r in runs)}</tr>" for name, fn in rows)
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _key_table(runs: Sequence[RunData]) -> str:
    keys: dict[tuple[str, str, str], str] = {}
    for run in runs:
        for k in run.key_figures:
            keys.setdefault((k.area, k.name, k.unit), k.how)
    if not keys:
        return "<p>No key figures: the runs have no metrics the report knows.</p>"
    values = [{(k.area, k.name, k.unit): k.value for k in run.key_figures} for run in runs]
    head = "<th>area</th><th>figure</th><th>unit</th>" + "".join(f"<th>{_e(r.label)}</th>" for r in runs)
    if len(runs) > 1:
        head += "".join(f"<th>{_e(r.label)} - {_e(runs[0].label)}</th>" for r in runs[1:])
    head += "<th>how</th>"
    rows = []
    for key, how in keys.items():
        cells = [f'<td class="num">{_fmt(v.get(key, float("nan")))}</td>' for v in values]
        base = values[0].get(key, float("nan"))
        cells += [f'<td class="num">{_fmt(v.get(key, float("nan")) - base)}</td>' for v in values[1:]]
        rows.append(f"<tr><td>{_e(key[0])}</td><td>{_e(key[1])}</td><td>{_e(key[2])}</td>{''.join(cells)}"
                    f"<td>{_e(how)}</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _notes(runs: Sequence[RunData]) -> str:
    parts = []
    for run in runs:
        prefix = f"{_e(run.label)}: " if len(runs) > 1 else ""
        if run.notes:
            parts.append(f"<ul class='notes'>{''.join(f'<li>{prefix}{_e(n)}</li>' for n in run.notes)}</ul>")
        if run.log_warnings:
            items = "".join(f"<li><code>{_e(w)}</code></li>" for w in run.log_warnings)
            parts.append(f"<details><summary>{prefix}{len(run.log_warnings)} warning/error lines in the federate "
                         f"logs</summary><ul>{items}</ul></details>")
    return f"<div id='missing'>{''.join(parts) or '<p>Nothing missing; no warnings in the federate logs.</p>'}</div>"


def _figure_links(runs: Sequence[RunData], out: Path) -> str:
    parts = []
    for run in runs:
        if not run.figures:
            continue
        links = ", ".join(f'<a href="{_e(Path(os.path.relpath(p, out.parent)).as_posix())}">{_e(p.name)}</a>'
                          for p in run.figures)
        parts.append(f"<p>{_e(run.label)}: {links}</p>")
    return "".join(parts) or f"<p>No PNG/PDF figures yet (<code>vppfed plot {_e(runs[0].run_dir)}</code> writes them).</p>"


def build_report(run_dirs: Sequence[str | Path], out: str | Path, labels: Sequence[str] | None = None) -> Path:
    """Write the report of ``run_dirs`` (one or several runs) to ``out``; returns its path.

    A damaged or partial run is reported with what is missing; only unusable arguments (no run, labels that do not
    match the runs) are a :class:`~vppfed.errors.UserError`.
    """
    from bokeh.embed import components
    from bokeh.resources import Resources

    from vppfed.postprocess.report_figures import build_tabs

    if not run_dirs:
        raise UserError("report: no run folder given")
    if labels and len(labels) != len(run_dirs):
        raise UserError(f"--labels: {len(labels)} labels for {len(run_dirs)} runs")
    started = time.perf_counter()
    names = list(labels) if labels else _unique_labels([Path(d) for d in run_dirs])
    runs = [load_run(d, label) for d, label in zip(run_dirs, names)]
    out = Path(out)
    tabs, count = build_tabs(runs)
    if tabs is not None:
        script, div = components(tabs)
    else:
        script, div = "", "<p id='no-charts'>No charts: no run has a readable metrics file with samples.</p>"
    title = "vppfed report: " + " vs ".join(r.label for r in runs)
    vers = ", ".join(f"{k} {v}" for k, v in versions().items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{_CSS}</style>
{Resources(mode="inline", components=list(BOKEH_COMPONENTS)).render_js()}
{script}
</head><body>
<h1>{_e(title)}</h1>
<h2>What ran</h2>{_facts_table(runs)}
<p>Versions when the report was written: {_e(vers)}.</p>
<h2>Missing data and warnings</h2>{_notes(runs)}
<h2>Key figures</h2>
<p>Computed on the full data; the charts below thin long series for display (each bucket keeps its minimum and
maximum).</p>{_key_table(runs)}
<h2>Time series ({count} charts)</h2>
<p>Drag to pan, wheel to zoom time (every chart follows), click a legend entry to hide its series.
{'Runs share the axes: one dash style per run.' if len(runs) > 1 else ''}</p>
{div}
<h2>Figures</h2>{_figure_links(runs, out)}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    log.info("report %s: %d charts, %.1f MB in %.2f s", out, count, out.stat().st_size / 1e6,
             time.perf_counter() - started)
    return out


def _unique_labels(paths: list[Path]) -> list[str]:
    labels = [p.resolve().name or str(p) for p in paths]
    if len(set(labels)) == len(labels):
        return labels
    return [str(p) for p in paths]


def write_run_report(run_dir: Path) -> Path | None:
    """The report of a finished (or failed) ``vppfed run``: ``RUN_DIR/report.html``, or None.

    Called at the end of every run; it must never turn a run into a failure, so any error is logged as one warning.
    A folder of seeded repetitions (``run_NN/`` sub-folders and no metrics of its own) gets one report comparing
    them.
    """
    try:
        run_dir = Path(run_dir)
        subs = sorted(p for p in run_dir.glob("run_[0-9]*") if p.is_dir())
        if subs and not any(run_dir.glob("*_metrics.*")):
            return build_report(subs, run_dir / REPORT_NAME)
        return build_report([run_dir], run_dir / REPORT_NAME)
    except Exception as exc:  # noqa: BLE001 - the run's results stand whatever the report does
        log.warning("%s: no report written (%s: %s); try 'vppfed report %s'", run_dir, type(exc).__name__, exc,
                    run_dir)
        return None
