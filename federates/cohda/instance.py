"""COHDA benchmark instances: the ``.npz`` format, validation and the seeded mixed-unit generator.

File format (the benchmark interface other tools rely on): ``schedules`` float (N, M, T) in kW, ``target`` float (T),
``edges`` int (E, 2) undirected overlay, optional ``weights`` (T) and ``init`` int (N, default zeros). Generated
files also carry ``planted`` (N), the selection whose sum is the target, so the optimum is exactly 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vppfed.errors import UserError
from vppfed.federates.cohda.overlay import small_world


@dataclass(frozen=True)
class Instance:
    """A COHDA problem: possible schedules per agent, target, overlay, optional weights and start selection."""

    schedules: np.ndarray
    target: np.ndarray
    edges: np.ndarray
    weights: np.ndarray | None = None
    init: np.ndarray | None = None
    planted: np.ndarray | None = None

    @property
    def agents(self) -> int:
        return self.schedules.shape[0]

    def init_selection(self) -> np.ndarray:
        return np.zeros(self.agents, dtype=np.int64) if self.init is None else np.asarray(self.init, np.int64)

    def distance(self, selection: np.ndarray) -> float:
        """L1 distance (kW, weighted if weights are given) between the target and the selection's aggregate."""
        total = self.schedules[np.arange(self.agents), np.asarray(selection, dtype=np.int64)].sum(axis=0)
        diff = np.abs(self.target - total)
        return float(diff.sum() if self.weights is None else diff @ self.weights)

    def save(self, path: str | Path) -> None:
        arrays = {"schedules": self.schedules, "target": self.target, "edges": self.edges}
        for name in ("weights", "init", "planted"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def load_instance(path: str | Path) -> Instance:
    """Read and check an instance file; every problem is a UserError naming the file and the array."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from None
    with data:
        for name in ("schedules", "target", "edges"):
            if name not in data:
                raise UserError(f"{path}: array '{name}' is missing (need schedules, target, edges)")
        arrays = {k: data[k] for k in data.files}
    s = np.asarray(arrays["schedules"], dtype=float)
    if s.ndim != 3 or min(s.shape) < 1:
        raise UserError(f"{path}: array 'schedules': expected shape N x M x T, got {s.shape}")
    n, m, t = s.shape
    target = np.asarray(arrays["target"], dtype=float)
    if target.shape != (t,):
        raise UserError(f"{path}: array 'target': expected shape ({t},), got {target.shape}")
    edges = np.asarray(arrays["edges"])
    if edges.size == 0:
        edges = edges.reshape(0, 2)
    if edges.ndim != 2 or edges.shape[1] != 2 or not np.issubdtype(edges.dtype, np.integer):
        raise UserError(f"{path}: array 'edges': expected integers of shape E x 2, got {edges.dtype} {edges.shape}")
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        raise UserError(f"{path}: array 'edges': agent index out of range 0..{n - 1}")
    weights = arrays.get("weights")
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (t,):
            raise UserError(f"{path}: array 'weights': expected shape ({t},), got {weights.shape}")
    init = arrays.get("init")
    if init is not None:
        init = np.asarray(init)
        if init.shape != (n,) or not np.issubdtype(init.dtype, np.integer) or init.min() < 0 or init.max() >= m:
            raise UserError(f"{path}: array 'init': expected {n} integers in 0..{m - 1}")
    if not np.all(np.isfinite(s)) or not np.all(np.isfinite(target)):
        raise UserError(f"{path}: 'schedules' and 'target' must be finite")
    return Instance(s, target, edges.astype(np.int64), weights, init, arrays.get("planted"))


def _chp(rng: np.random.Generator, m: int, t: int) -> np.ndarray:
    """CHP: hourly on/off blocks at a rated electrical output of 5-50 kW (feed-in positive)."""
    hours = max(1, t // 24)
    blocks = -(-t // hours)
    rated = rng.uniform(5.0, 50.0)
    on = rng.random((m, blocks)) < rng.uniform(0.3, 0.7)
    return rated * np.repeat(on, hours, axis=1)[:, :t].astype(float)


def _pv(rng: np.random.Generator, m: int, t: int) -> np.ndarray:
    """PV: a clear-sky bell times a cloud factor (peak 3-30 kW), each option capped at a curtailment limit."""
    hour = (np.arange(t) + 0.5) * 24.0 / t
    bell = np.clip(np.sin(np.pi * (hour - 6.0) / 12.0), 0.0, None) ** 1.5
    clouds = np.clip(1.0 - 0.5 * np.convolve(rng.random(t), np.ones(5) / 5, mode="same"), 0.3, 1.0)
    profile = rng.uniform(3.0, 30.0) * bell * clouds
    caps = np.sort(rng.uniform(0.3, 1.0, size=m))[::-1]
    caps[0] = 1.0
    return np.minimum(profile[None, :], caps[:, None] * profile.max())


def _shiftable(rng: np.random.Generator, m: int, t: int) -> np.ndarray:
    """Shiftable load: one consumption block (1-10 kW, 1-4 h) at different start times (consumption negative)."""
    per_hour = max(1, t // 24)
    length = int(rng.integers(1, 5)) * per_hour
    length = min(length, t)
    power = rng.uniform(1.0, 10.0)
    starts = rng.choice(t - length + 1, size=m, replace=(t - length + 1) < m)
    out = np.zeros((m, t))
    for j, s0 in enumerate(starts):
        out[j, s0:s0 + length] = -power
    return out


def generate(agents: int, schedules: int, intervals: int, seed: int = 0, k: int = 1, phi: float = 0.5) -> Instance:
    """A mixed-unit instance with a planted target (the sum of a random selection, so the optimum is exactly 0).

    Agent ``i`` is a CHP if ``i % 3 == 0``, a PV with curtailment caps if ``i % 3 == 1``, else a shiftable load.
    Values are rounded to 0.1 kW. The overlay is the seeded small world (``k``, ``phi``). The start selection
    ``init`` is all zeros.
    """
    if agents < 1 or schedules < 1 or intervals < 1:
        raise UserError("cohda generate: --agents, --schedules and --intervals must be positive")
    rng = np.random.default_rng(seed)
    makers = (_chp, _pv, _shiftable)
    s = np.stack([makers[i % 3](rng, schedules, intervals) for i in range(agents)])
    s = np.round(s, 1)
    planted = rng.integers(0, schedules, size=agents)
    target = s[np.arange(agents), planted].sum(axis=0)
    edges = small_world(agents, k, phi, seed)
    return Instance(s, target, edges, None, np.zeros(agents, dtype=np.int64), planted.astype(np.int64))
