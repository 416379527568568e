"""Seeded synthetic portfolios for benchmarks and equivalence tests (no file round trip, any size)."""
from __future__ import annotations

import numpy as np

from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, KIND_TO_PREFIX, Portfolio


def random_portfolio(n: int, seed: int, horizon: int = 100, shares: tuple[float, float, float] = (0.1, 0.45, 0.45),
                     quantize: float | None = None, random_start: bool = False) -> Portfolio:
    """``n`` units drawn like the reference scenario 2, in shuffled type order.

    Parameters
    ----------
    n : int
        Number of units.
    seed : int
        Seed of ``numpy.random.default_rng``.
    horizon : int
        Latest deadline Tend [steps]; with ``random_start`` deadlines are drawn in [Trun+1, horizon].
    shares : tuple of float
        Fractions of buckets, batteries, bakeries.
    quantize : float, optional
        Round Pmax and Emax to this grid [kW, kWh] so that many units tie in agility (tests of tie-breaking).
    random_start : bool
        Draw initial energies and deadlines at random (tests of forced power and full units).
    """
    rng = np.random.default_rng(seed)
    kind = rng.choice(np.array([BUCKET, BATTERY, BAKERY], dtype=np.int8), size=n, p=list(shares))
    is_b, is_k = kind == BUCKET, kind == BAKERY
    pmax = np.where(is_b, rng.uniform(0.7, 1.5, n), rng.uniform(0.6, 1.0, n))
    emax = rng.uniform(4.0, 6.0, n)
    if quantize:
        pmax = np.maximum(np.round(pmax / quantize) * quantize, quantize)
        emax = np.maximum(np.round(emax / quantize) * quantize, quantize)
    trun = np.where(is_k, rng.integers(1, 11, n), -1).astype(np.float64)
    emax = np.where(is_k, pmax * trun, emax)
    pmin = np.where(is_b, -rng.uniform(0.5, 1.5, n), 0.0)
    emin = np.where(is_b, -emax, 0.0)
    tend = np.where(is_b, -1.0, float(horizon))
    e0 = np.zeros(n)
    if random_start:
        tend = np.where(is_b, -1.0, rng.integers(np.maximum(trun, 1) + 1, max(horizon, 12) + 1).astype(np.float64))
        frac = rng.choice([0.0, 0.3, 0.7, 1.0], size=n)
        e0 = np.where(is_k, 0.0, emin + frac * (emax - emin))
    counters = {k: 0 for k in KIND_TO_PREFIX}
    names, ident = [], np.empty(n, dtype=np.int64)
    for i, t in enumerate(kind.tolist()):
        counters[t] += 1
        ident[i] = counters[t]
        names.append(f"{KIND_TO_PREFIX[t]}-{counters[t]}")
    return Portfolio(names=tuple(names), kind=kind, ident=ident, P0=np.zeros(n), E0=e0, Pmax=pmax, Pmin=pmin,
                     Emax=emax, Emin=emin, Tend=tend, Trun=trun)
