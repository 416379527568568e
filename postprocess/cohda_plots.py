"""Figures of a COHDA negotiation: convergence, target vs achieved aggregate, per-agent chosen schedules.

Every function writes PNG and PDF through :mod:`vppfed.postprocess.figures` (its style, DPI and backend), sized
for a single column, with units on the axes.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from vppfed.postprocess.figures import COLUMN_WIDTH_IN, paper_style, plt, save, styled

if TYPE_CHECKING:  # a type only: the plots take an instance that the caller loaded
    from vppfed.federates.cohda.instance import Instance

_COLUMN = (3.5, 2.6)


@styled
def plot_convergence(trace: Sequence[dict[str, float]], out: Path, stem: str = "cohda_convergence") -> list[Path]:
    """Best complete candidate's objective (kW) against step messages and against CPU time of the negotiation (s;
    wall time for traces without it)."""
    if not trace:
        raise ValueError("the result has no convergence trace (solve with --trace)")
    msgs = np.array([r["messages"] for r in trace])
    use_cpu = all("cpu" in r for r in trace)
    wall = np.array([r["cpu" if use_cpu else "wall"] for r in trace])
    perf = np.array([r["perf"] for r in trace])
    fig, (a, b) = plt.subplots(1, 2, figsize=(_COLUMN[0] * 2, _COLUMN[1]), sharey=True)
    a.step(msgs, perf, where="post")
    a.set_xlabel("step messages sent")
    a.set_ylabel("objective D (kW)")
    b.step(wall, perf, where="post", color="C1")
    b.set_xlabel("CPU time (s)" if use_cpu else "wall time (s)")
    a.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    for ax in (a, b):
        ax.grid(alpha=0.3)
        if perf.min() > 0:
            ax.set_yscale("log")
    return save(fig, out, stem)


def _hours(t: int, res_s: float) -> np.ndarray:
    return np.arange(t) * res_s / 3600.0


@styled
def plot_target_vs_achieved(instance: Instance, selection: Sequence[int], out: Path, res_s: float | None = None,
                            stem: str = "cohda_target") -> list[Path]:
    """Target and achieved aggregate (kW) over the day; the area between them is D."""
    t = instance.target.size
    res_s = res_s or 86400.0 / t
    x = _hours(t, res_s)
    sel = np.asarray(selection, dtype=np.int64)
    total = instance.schedules[np.arange(instance.agents), sel].sum(axis=0)
    fig, ax = plt.subplots(figsize=_COLUMN)
    ax.step(x, instance.target, where="post", label="target", color="k", lw=1.2)
    ax.step(x, total, where="post", label="achieved", color="C0", lw=1.0)
    ax.fill_between(x, instance.target, total, step="post", color="C3", alpha=0.3, label="deviation")
    ax.set_xlabel("time (h)")
    ax.set_ylabel("aggregate power (kW)")
    ax.legend(fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    return save(fig, out, stem)


@styled
def plot_agent_schedules(instance: Instance, selection: Sequence[int], out: Path, res_s: float | None = None,
                         max_agents: int = 200, stem: str = "cohda_agents") -> list[Path]:
    """Chosen schedule of every agent (up to ``max_agents``) as a heat map, kW per interval."""
    t = instance.target.size
    res_s = res_s or 86400.0 / t
    sel = np.asarray(selection, dtype=np.int64)
    n = min(instance.agents, max_agents)
    chosen = instance.schedules[np.arange(n), sel[:n]]
    lim = float(np.abs(chosen).max()) or 1.0
    fig, ax = plt.subplots(figsize=(_COLUMN[0], max(_COLUMN[1], 0.02 * n + 1.5)))
    im = ax.imshow(chosen, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                   extent=(0, t * res_s / 3600.0, n - 0.5, -0.5))
    ax.set_xlabel("time (h)")
    ax.set_ylabel("agent")
    fig.colorbar(im, ax=ax, label="power (kW, feed-in > 0)")
    return save(fig, out, stem)


def plot_all(instance: Instance, result: dict[str, Any], out: str | Path) -> list[Path]:
    """All three figures for one solve result (the JSON of ``vppfed cohda solve --trace``)."""
    out = Path(out)
    paths = plot_target_vs_achieved(instance, result["selection"], out)
    paths += plot_agent_schedules(instance, result["selection"], out)
    if result.get("trace"):
        paths += plot_convergence(result["trace"], out)
    return paths


# ---------------------------------------------------------------------------------------------------------------------
# feeder runs (cases with a cohda: section): the negotiated day plan and what the feeder's devices delivered


class FeederRun:
    """A run folder of a ``cohda:`` case: the plan (``cohda_plan.json``) and the interval means the plan federate
    measured (``cohda_<root>_metrics.json``). Powers in kW, feed-in > 0; ``hours`` are interval starts."""

    def __init__(self, plan: dict[str, Any], metrics: Any | None) -> None:
        self.plan = plan
        self.metrics = metrics
        self.res_s = float(plan["res_s"])
        self.target = np.asarray(plan["target_kw"], dtype=float)
        self.planned = np.asarray(plan["planned_kw"], dtype=float)
        self.baseline = np.asarray(plan["baseline_kw"], dtype=float)
        self.devices = list(plan["devices"])
        t = self.target.size
        self.hours = np.arange(t) * self.res_s / 3600.0
        start = str(plan.get("start", "2000-01-01 00:00:00"))
        hh, mm = (int(v) for v in start.split()[1].split(":")[:2]) if " " in start else (0, 0)
        self.start_hour = hh + mm / 60.0
        self.achieved = np.full((len(self.devices), t), np.nan)
        if metrics is not None:
            col = metrics.column("achieved_kw")            # (times, uids)
            k = np.round(metrics.times / self.res_s).astype(int) - 1
            ok = (k >= 0) & (k < t)
            for i, name in enumerate(self.devices):
                if name in metrics.uids:
                    self.achieved[i, k[ok]] = col[ok, metrics.uids.index(name)]

    def stats(self) -> dict[str, Any]:
        """Summary numbers: plan and uncontrolled mean |target - aggregate| and the tracking error (kW)."""
        agg = self.achieved.sum(axis=0)
        measured = ~np.isnan(self.achieved).any(axis=0)
        track = np.abs(self.planned.sum(axis=0) - agg)[measured]
        return {"devices": len(self.devices), "intervals": int(measured.sum()),
                "plan_error_kw": float(np.abs(self.target - self.planned.sum(axis=0)).mean()),
                "baseline_error_kw": float(np.abs(self.target - self.baseline.sum(axis=0)).mean()),
                "tracking_error_kw": float(track.mean()) if track.size else float("nan"),
                "messages": int(self.plan["messages"]), "negotiation_seconds": float(self.plan["negotiation_seconds"]),
                "terminated": bool(self.plan["terminated"])}


def load_feeder_run(run_dir: str | Path) -> FeederRun | None:
    """The COHDA plan and measurements of a run folder, or None if the run had no ``cohda:`` section."""
    import json

    from vppfed.formats.metrics import load_if_present

    path = Path(run_dir) / "cohda_plan.json"
    if not path.exists():
        return None
    return FeederRun(json.loads(path.read_text(encoding="utf-8")), load_if_present(run_dir, "cohda"))


def plot_feeder_target(run: FeederRun, out: Path) -> list[Path]:
    """Target, uncontrolled, planned and achieved aggregate of the COHDA devices (kW, feed-in > 0) over the day."""
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.4))
        x = np.append(run.hours, run.hours[-1] + run.res_s / 3600.0) + run.start_hour

        def stairs(values: np.ndarray, **kw: Any) -> None:
            ax.stairs(values, x, baseline=None, **kw)

        stairs(run.baseline.sum(axis=0), color="0.6", lw=0.9, label="uncontrolled")
        stairs(run.target, color="k", lw=1.2, label="target")
        stairs(run.planned.sum(axis=0), color="C0", lw=1.0, label="COHDA plan")
        achieved = run.achieved.sum(axis=0)
        if np.isfinite(achieved).any():
            stairs(achieved, color="C3", lw=0.9, ls="--", label="achieved (feeder)")
        ax.set_xlabel("time of day (h)")
        ax.set_ylabel("devices' aggregate (kW)")
        ax.set_xlim(x[0], x[-1])
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, ncol=2)
        return save(fig, out, "cohda_feeder_target")


def _groups(kinds: list[str]) -> list[tuple[str, int, int]]:
    """Runs of equal device kinds: (label, first row, last row)."""
    labels = {"battery": "batteries", "ev": "EVs"}
    out: list[tuple[str, int, int]] = []
    for i, kind in enumerate(kinds):
        if out and out[-1][0] == labels.get(kind, kind):
            out[-1] = (out[-1][0], out[-1][1], i)
        else:
            out.append((labels.get(kind, kind), i, i))
    return out


def plot_feeder_devices(run: FeederRun, out: Path) -> list[Path]:
    """Per-device planned and achieved power (kW, feed-in > 0) as heat maps, one row per device."""
    from matplotlib.gridspec import GridSpec

    n = len(run.devices)
    has_achieved = bool(np.isfinite(run.achieved).any())
    data = [(run.planned, "planned")] + ([(run.achieved, "achieved (feeder)")] if has_achieved else [])
    lim = float(np.nanmax(np.abs(np.concatenate([d.ravel() for d, _ in data])))) or 1.0
    x0 = run.hours[0] + run.start_hour
    end = x0 + run.target.size * run.res_s / 3600.0
    groups = _groups(list(run.plan.get("kinds", [])))
    panel_h = max(1.3, 0.045 * n + 0.6)
    with paper_style():
        fig = plt.figure(figsize=(COLUMN_WIDTH_IN, panel_h * len(data) + 0.8))
        gs = GridSpec(len(data) + 1, 1, figure=fig, height_ratios=[panel_h] * len(data) + [0.12])
        axes = []
        for r, (values, title) in enumerate(data):
            ax = fig.add_subplot(gs[r, 0], sharex=axes[0] if axes else None)
            im = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                           extent=(x0, end, n - 0.5, -0.5))
            ax.set_title(title)
            ax.grid(False)
            ax.set_yticks([(a + b) / 2 for _, a, b in groups], [g for g, _, _ in groups])
            for _, a, _b in groups[1:]:
                ax.axhline(a - 0.5, color="k", lw=0.6)
            if r < len(data) - 1:
                ax.tick_params(labelbottom=False)
            axes.append(ax)
        axes[-1].set_xlabel("time of day (h)")
        cax = fig.add_subplot(gs[-1, 0])
        fig.colorbar(im, cax=cax, orientation="horizontal", label="device power (kW, feed-in > 0)")
        cax.grid(False)
        return save(fig, out, "cohda_feeder_devices")


def plot_run(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Figures of a run with a ``cohda:`` section (called by :func:`vppfed.postprocess.figures.plot_run`)."""
    run = load_feeder_run(run_dir)
    if run is None:
        return []
    out = Path(out_dir)
    return plot_feeder_target(run, out) + plot_feeder_devices(run, out)
