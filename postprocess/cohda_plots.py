"""Figures of a COHDA negotiation: convergence, target vs achieved aggregate, per-agent chosen schedules.

Every function writes PNG and PDF (Agg backend), sized for a single column, with units on the axes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vppfed.federates.cohda.instance import Instance  # noqa: E402

_COLUMN = (3.5, 2.6)


def _save(fig: plt.Figure, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.tight_layout()
    fig.savefig(paths[0], dpi=200)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def plot_convergence(trace: Sequence[dict[str, float]], out: Path, stem: str = "cohda_convergence") -> list[Path]:
    """Best complete candidate's objective (kW) against step messages and against wall time (s)."""
    if not trace:
        raise ValueError("the result has no convergence trace (solve with --trace)")
    msgs = np.array([r["messages"] for r in trace])
    wall = np.array([r["wall"] for r in trace])
    perf = np.array([r["perf"] for r in trace])
    fig, (a, b) = plt.subplots(1, 2, figsize=(_COLUMN[0] * 2, _COLUMN[1]), sharey=True)
    a.step(msgs, perf, where="post")
    a.set_xlabel("step messages sent")
    a.set_ylabel("objective D (kW)")
    b.step(wall, perf, where="post", color="C1")
    b.set_xlabel("wall time (s)")
    a.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    for ax in (a, b):
        ax.grid(alpha=0.3)
        if perf.min() > 0:
            ax.set_yscale("log")
    return _save(fig, out, stem)


def _hours(t: int, res_s: float) -> np.ndarray:
    return np.arange(t) * res_s / 3600.0


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
    return _save(fig, out, stem)


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
    return _save(fig, out, stem)


def plot_all(instance: Instance, result: dict[str, Any], out: str | Path) -> list[Path]:
    """All three figures for one solve result (the JSON of ``vppfed cohda solve --trace``)."""
    out = Path(out)
    paths = plot_target_vs_achieved(instance, result["selection"], out)
    paths += plot_agent_schedules(instance, result["selection"], out)
    if result.get("trace"):
        paths += plot_convergence(result["trace"], out)
    return paths
