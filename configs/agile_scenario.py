"""Scenario configurator for the agile VPP: a YAML that draws unit parameters from distributions with a seed.

Example::

    seed: 7
    units:
      - {type: bucket,  count: 5,  Pmax: {uniform: [0.7, 1.5]}, Pmin: -1.0, Emax: {uniform: [4.0, 6.0]}}
      - {type: battery, count: 50, Pmax: {uniform: [0.6, 1.0]}, Emax: {uniform: [4.0, 6.0]}, Tend: 100}
      - {type: bakery,  count: 50, Pmax: {uniform: [0.6, 1.0]}, Trun: {randint: [6, 10]}, Tend: 100}
    signal: {steps: 100, values: [0, 5, 10], probabilities: [0.3, 0.3, 0.4]}

or a fixed pattern instead of random draws (the values in turn, each held ``hold`` steps)::

    signal: {steps: 100, pattern: [10, 0], hold: 15}

A parameter is a number or exactly one of ``uniform: [lo, hi]``, ``normal: [mean, std]`` (with optional
``min``/``max`` clipping), ``randint: [lo, hi]`` (inclusive), ``choice: [v1, v2, ...]``. Derived defaults: a bucket's
``Pmin`` is ``-Pmax`` and its ``Emin`` is ``-Emax``; a bakery's ``Emax`` is ``Pmax * Trun``; ``E`` and ``P`` start at 0.
Groups are written in YAML order and numbered per type (``Bat-1``, ``Bat-2``, ... across groups). All draws come
from one ``numpy.random.default_rng(seed)`` in a fixed order, so the same YAML gives the same bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vppfed.io import load_yaml, parse_dataclass, require
from vppfed.errors import UserError
from vppfed.federates.agile.portfolio import PREFIX_TO_KIND, Portfolio, make_portfolio, write_params_csv
from vppfed.federates.agile.signal import PHASE2_PROBABILITIES, PHASE2_VALUES, random_signal, write_signal_csv


@dataclass
class Dist:
    """One random parameter: set exactly one of the distribution fields."""

    uniform: list[float] | None = None
    normal: list[float] | None = None
    randint: list[int] | None = None
    choice: list[float] | None = None
    min: float | None = None
    max: float | None = None

    def validate(self) -> None:
        given = [n for n in ("uniform", "normal", "randint", "choice") if getattr(self, n) is not None]
        require(len(given) == 1, "uniform", f"give exactly one of uniform, normal, randint, choice (got {given or 'none'})")
        for name in ("uniform", "normal", "randint"):
            v = getattr(self, name)
            if v is not None:
                require(len(v) == 2, name, f"expected two numbers, got {len(v)}")
        if self.uniform is not None:
            require(self.uniform[0] <= self.uniform[1], "uniform", "lower bound above upper bound")
        if self.randint is not None:
            require(self.randint[0] <= self.randint[1], "randint", "lower bound above upper bound")
        if self.normal is not None:
            require(self.normal[1] >= 0, "normal", "standard deviation must be >= 0")
        if self.choice is not None:
            require(len(self.choice) >= 1, "choice", "needs at least one value")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` samples."""
        if self.uniform is not None:
            x = rng.uniform(self.uniform[0], self.uniform[1], size=n)
        elif self.normal is not None:
            x = rng.normal(self.normal[0], self.normal[1], size=n)
        elif self.randint is not None:
            x = rng.integers(self.randint[0], self.randint[1], size=n, endpoint=True).astype(np.float64)
        else:
            x = np.asarray(self.choice, dtype=np.float64)[rng.integers(0, len(self.choice), size=n)]
        if self.min is not None or self.max is not None:
            x = np.clip(x, self.min if self.min is not None else -np.inf, self.max if self.max is not None else np.inf)
        return x


Param = float | Dist

_TYPE_PREFIX = {"bucket": "Bkt", "battery": "Bat", "bakery": "Bak"}


@dataclass
class UnitGroup:
    """``count`` units of one type whose parameters are numbers or distributions (kW, kWh, steps)."""

    type: Literal["bucket", "battery", "bakery"]
    count: int
    Pmax: Param
    Emax: Param | None = None
    Pmin: Param | None = None
    Emin: Param | None = None
    Tend: Param | None = None
    Trun: Param | None = None
    E: Param = 0.0

    def validate(self) -> None:
        require(self.count >= 0, "count", f"must be >= 0, got {self.count}")
        if self.type in ("bucket", "battery"):
            require(self.Emax is not None, "Emax", f"required for a {self.type}")
        if self.type in ("battery", "bakery"):
            require(self.Tend is not None, "Tend", f"required for a {self.type}")
            require(self.Pmin is None, "Pmin", f"a {self.type} has Pmin = 0; leave it out")
        if self.type == "bakery":
            require(self.Trun is not None, "Trun", "required for a bakery")
            require(self.Emax is None, "Emax", "a bakery's Emax is Pmax * Trun; leave it out")
        else:
            require(self.Trun is None, "Trun", f"only bakeries have Trun, not a {self.type}")
        if self.type == "bucket":
            require(self.Tend is None, "Tend", "a bucket has no deadline; leave it out")


@dataclass
class SignalSpec:
    """The dispatch signal [kW]: the phase-2 random signal (each step one of ``values`` with ``probabilities``),
    or with ``pattern`` the pattern's values in turn, each held for ``hold`` steps (no random draws)."""

    steps: int = 100
    values: list[float] = field(default_factory=lambda: list(PHASE2_VALUES))
    probabilities: list[float] = field(default_factory=lambda: list(PHASE2_PROBABILITIES))
    seed: int | None = None
    pattern: list[float] | None = None
    hold: int = 1

    def validate(self) -> None:
        require(self.steps >= 1, "steps", f"must be >= 1, got {self.steps}")
        require(self.pattern is None or len(self.pattern) >= 1, "pattern", "needs at least one value")
        require(self.hold >= 1, "hold", f"must be >= 1 step, got {self.hold}")
        require(len(self.values) == len(self.probabilities), "probabilities", "one probability per value")
        require(all(p >= 0 for p in self.probabilities), "probabilities", "must be >= 0")
        require(abs(sum(self.probabilities) - 1.0) < 1e-9, "probabilities", f"must sum to 1, got {sum(self.probabilities)}")


@dataclass
class AgileScenario:
    """A whole scenario: seed, unit groups in file order, optional random signal."""

    seed: int
    units: list[UnitGroup]
    signal: SignalSpec | None = None

    def validate(self) -> None:
        require(len(self.units) >= 1, "units", "needs at least one group")


def _draw(param: Param | None, rng: np.random.Generator, n: int, default: np.ndarray | None = None) -> np.ndarray:
    if param is None:
        assert default is not None
        return default
    if isinstance(param, Dist):
        return param.draw(rng, n)
    return np.full(n, float(param))


def build_portfolio(scenario: AgileScenario, where: str = "scenario") -> Portfolio:
    """Draw every unit's parameters (fixed draw order: groups in order; Pmax, Pmin, Emax, Emin, Tend, Trun, E)."""
    rng = np.random.default_rng(scenario.seed)
    rows = []
    numbers = {prefix: 0 for prefix in PREFIX_TO_KIND}
    for group in scenario.units:
        n = group.count
        pmax = _draw(group.Pmax, rng, n)
        if group.type == "bucket":
            pmin = _draw(group.Pmin, rng, n, default=-pmax)
            emax = _draw(group.Emax, rng, n)
            emin = _draw(group.Emin, rng, n, default=-emax)
            tend = np.full(n, -1.0)
            trun = np.full(n, -1.0)
        else:
            pmin = np.zeros(n)
            emin = np.zeros(n)
            if group.type == "battery":
                emax = _draw(group.Emax, rng, n)
                tend = np.round(_draw(group.Tend, rng, n))
                trun = np.full(n, -1.0)
            else:
                tend = np.round(_draw(group.Tend, rng, n))
                trun = np.round(_draw(group.Trun, rng, n))
                emax = pmax * trun
        e0 = _draw(group.E, rng, n)
        prefix = _TYPE_PREFIX[group.type]
        for i in range(n):
            numbers[prefix] += 1
            rows.append((f"{prefix}-{numbers[prefix]}", 0.0, e0[i], pmax[i], pmin[i], emax[i], emin[i], tend[i],
                         trun[i]))

    if not rows:
        raise UserError(f"{where}: units: every group has count 0")
    # round as the CSV will, so that the portfolio in memory equals the one read back from the file
    rows = [(r[0], *(float(f"{v:.6f}") for v in r[1:])) for r in rows]
    return make_portfolio(rows, where=where)


def build_signal(scenario: AgileScenario) -> np.ndarray | None:
    """The scenario's signal [kW] (seeded random, or the fixed pattern), or None without a ``signal`` section."""
    spec = scenario.signal
    if spec is None:
        return None
    if spec.pattern is not None:
        cycle = np.repeat(np.asarray(spec.pattern, dtype=np.float64), spec.hold)
        return np.resize(cycle, spec.steps)
    seed = spec.seed if spec.seed is not None else scenario.seed + 1
    return random_signal(spec.steps, seed, spec.values, spec.probabilities)


def load_scenario(path: str | Path) -> AgileScenario:
    """Read and validate a scenario YAML (errors name the file and field)."""
    return parse_dataclass(AgileScenario, load_yaml(path), where=str(path))


def write_scenario(path: str | Path, out_dir: str | Path) -> tuple[Path, Path | None]:
    """Write ``params.csv`` (and ``vpp.csv`` when the YAML has a signal) into ``out_dir``; returns the paths."""
    scenario = load_scenario(path)
    out_dir = Path(out_dir)
    params = out_dir / "params.csv"
    write_params_csv(build_portfolio(scenario, where=str(path)), params)
    signal = build_signal(scenario)
    sig_path = None
    if signal is not None:
        sig_path = out_dir / "vpp.csv"
        write_signal_csv(signal, sig_path)
    return params, sig_path
