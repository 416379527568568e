"""Planted-target COHDA instances from other distributions than :func:`vppfed.federates.cohda.instance.generate`.

The project's own generator (CHP / PV / shiftable load in turn, uniform planted selection) is what COHDA was tuned
on; these families vary what that generator fixes, so a quality claim is not a claim about one distribution:

* ``blocks``: every agent is one rectangular block (charging, a batch process) whose start, length *and* power vary
  per option; agent sizes are log-normal (a few large agents, many small ones). Target: the sum of a uniform random
  selection.
* ``walks``: smooth random-walk profiles (AR(1) around a daily shape) whose spread between options is a per-agent
  flexibility scale drawn uniformly from 0 to 0.6 times the agent's size (some agents are nearly inflexible, all
  their options alike). Target: the sum of a *biased*
  selection (each agent's option with the largest total energy with probability 0.5, else a random one), so the
  target sits at an edge of the feasible range.
* ``mixed``: half the agents are on/off sequences at a random time resolution (15 min to 2 h), half are sinusoids
  with a random phase and amplitude per option, all signed (producers and consumers). Target: the sum of a
  selection that is the same option index within each of a few clusters of agents (a correlated plant).

Every instance carries ``planted`` (the optimum is exactly 0) and the project's seeded small-world overlay.
Values are rounded to 0.1 kW like the project's generator.
"""
from __future__ import annotations

import numpy as np

from vppfed.federates.cohda.instance import Instance
from vppfed.federates.cohda.overlay import small_world

FAMILIES = ("blocks", "walks", "mixed")


def _blocks(rng: np.random.Generator, n: int, m: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    size = rng.lognormal(np.log(5.0), 0.8, size=n)
    sign = np.where(rng.random(n) < 0.3, 1.0, -1.0)
    s = np.zeros((n, m, t))
    for i in range(n):
        for j in range(m):
            length = int(rng.integers(max(1, t // 24), max(2, t // 3)))
            start = int(rng.integers(0, t - length + 1))
            s[i, j, start:start + length] = sign[i] * size[i] * rng.uniform(0.6, 1.4)
    planted = rng.integers(0, m, size=n)
    return s, planted


def _walks(rng: np.random.Generator, n: int, m: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    hour = (np.arange(t) + 0.5) * 24.0 / t
    s = np.zeros((n, m, t))
    for i in range(n):
        size = rng.uniform(1.0, 20.0)
        shape = 1.0 + 0.5 * np.sin(2 * np.pi * (hour - rng.uniform(0, 24)) / 24.0)
        flex = rng.uniform(0.0, 0.6) * size
        for j in range(m):
            e = np.zeros(t)
            z = 0.0
            for k in range(t):
                z = 0.9 * z + rng.normal()
                e[k] = z
            s[i, j] = -(size * shape + flex * e / 3.0)
    totals = s.sum(axis=2)
    planted = np.where(rng.random(n) < 0.5, np.argmax(totals, axis=1), rng.integers(0, m, size=n))
    return s, planted


def _mixed(rng: np.random.Generator, n: int, m: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.zeros((n, m, t))
    for i in range(n):
        sign = 1.0 if rng.random() < 0.5 else -1.0
        if i % 2 == 0:
            res = int(rng.choice([1, 2, 4, 8]))
            blocks = -(-t // res)
            power = rng.uniform(2.0, 30.0)
            on = rng.random((m, blocks)) < rng.uniform(0.2, 0.8)
            s[i] = sign * power * np.repeat(on, res, axis=1)[:, :t]
        else:
            k = np.arange(t)
            for j in range(m):
                amp = rng.uniform(1.0, 15.0)
                s[i, j] = sign * amp * (1.0 + np.sin(2 * np.pi * k / t * rng.integers(1, 4) + rng.uniform(0, 6.3)))
    clusters = max(1, n // 20)
    label = rng.integers(0, clusters, size=n)
    choice = rng.integers(0, m, size=clusters)
    planted = choice[label]
    return s, planted


_MAKERS = {"blocks": _blocks, "walks": _walks, "mixed": _mixed}


def make(family: str, agents: int, schedules: int = 10, intervals: int = 96, seed: int = 0) -> Instance:
    """One planted-target instance of ``family`` (see the module docstring); same arguments, same arrays."""
    if family not in _MAKERS:
        raise ValueError(f"unknown family {family!r} (one of {', '.join(FAMILIES)})")
    rng = np.random.default_rng([seed, FAMILIES.index(family), agents])
    s, planted = _MAKERS[family](rng, agents, schedules, intervals)
    s = np.round(s, 1)
    planted = np.asarray(planted, dtype=np.int64)
    target = s[np.arange(agents), planted].sum(axis=0)
    edges = small_world(agents, 1, 0.5, seed)
    return Instance(s, target, edges, None, np.zeros(agents, dtype=np.int64), planted)
