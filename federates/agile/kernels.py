"""Compiled per-step work of :class:`~vppfed.federates.agile.fleet.AgileFleet`: passes over the units, the walk.

Why: at 10^6 units the numpy form of a step (integration, headroom, agility, forced power, wants, the power
actually given) built some thirty temporaries of 10^6 floats, ~90 ms of CPU a step at load 16, and the numpy walk
gathered chunks of the agility order. Here one pass per unit group computes them unit by unit
(:func:`deferrable_pass`, :func:`bucket_pass`), :func:`walk` hands out the budget along the order reading only the
units it reaches, and :func:`finish` marks running bakeries and lays out each type's powers for its sum.

Bit-identical to the numpy expressions they replace (``tests/test_agile_fast_dispatch.py`` compares bit patterns):
every unit's value is computed with the same IEEE operations in the same order (no fastmath, so no reassociation and
no fused multiply-add; ``error_model="numpy"``: a division by zero gives inf/NaN as in numpy instead of raising),
and :func:`_max` / :func:`_min` reproduce ``np.maximum`` / ``np.minimum`` exactly, signed
zeros and NaN included (NaN propagates; between equal values the *second* argument is returned, as numpy's do).
Sums stay with ``np.sum`` on arrays in file order: numpy sums pairwise, a loop would not give the same bits.

Rule codes: 0 strict, 1 2015b, 2 2015a (see :mod:`~vppfed.federates.agile.rules`).
"""
from __future__ import annotations

import numpy as np
from numba import njit

RULE_CODE = {"strict": 0, "2015b": 1, "2015a": 2}


@njit(cache=True, error_model="numpy", inline="always")
def _max(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``np.maximum(a, b)`` for one pair: NaN wins, ties (0.0 vs -0.0) give ``b``."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a > b else b


@njit(cache=True, error_model="numpy", inline="always")
def _min(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``np.minimum(a, b)`` for one pair: NaN wins, ties (0.0 vs -0.0) give ``b``."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a < b else b


@njit(cache=True, error_model="numpy")
def deferrable_pass(k, code, Ts, integrate, E, P, last, last_k, Emin, Emax, Pmax, T0, tiebreak, is_bak, running,
                    ever_on, room, K, F, want, P_new):  # pragma: no cover - compiled
    """Integrate (if ``integrate``) the batteries' and bakeries' energies ``E`` in place, update ``running``, and
    write headroom ``room``, agility ``K``, forced power ``F`` and, strict only, the top-up ``want`` of each unit
    and its power if the walk gives it nothing, ``P_new = min(F + 0.0, room)``.
    Each line mirrors one numpy expression of ``AgileFleet`` before issue 15 (tests/agile_fleet_reference.py).
    Fewer arrays to stream, same values: ``last`` is read only when ``last_k < 0`` (else every unit was last set at
    step ``last_k``), ``Ts * Pmax`` is the product numpy formed, and ``T0`` holds ``Tend - Trun`` for bakeries and
    ``Tend`` for batteries (the two arrays the agility reads, one of them per unit).
    """
    kf = float(k)
    for i in range(E.size):
        e = E[i]
        if integrate:
            if code == 0:
                lk = last[i] if last_k < 0 else last_k
                e = _min(_max(e + Ts * P[i] * float(k - lk), Emin[i]), Emax[i])  # np.clip
            else:
                e = e + Ts * P[i] * 1.0
            E[i] = e
            if code != 1:
                running[i] = running[i] and e < Emax[i]
        r = _max(_min(Pmax[i], (Emax[i] - e) / Ts), 0.0)
        bak = is_bak[i]
        if bak:
            kk = T0[i] - kf
            if code == 1:
                kk = kk - tiebreak[i]
            elif code == 2 and running[i]:
                kk = 0.0
        else:
            kk = T0[i] - kf - (Emax[i] - e) / (Ts * Pmax[i])
        if bak:
            if code == 0:
                on = running[i] or kk <= 0
            elif code == 1:
                on = ever_on[i] or kk <= 1
            else:
                on = kk <= 0 and e < Emax[i]
            f = r if on else 0.0
        elif kk > 1:
            f = 0.0
        elif kk > 0:
            f = _min(Pmax[i] * (1 - kk), r)
        else:
            f = r
        room[i] = r
        K[i] = kk
        F[i] = f
        if code == 0:
            if bak:
                want[i] = 0.0 if (running[i] or f > 0) else r
            else:
                want[i] = r - f
            P_new[i] = _min(f + 0.0, r)


@njit(cache=True, error_model="numpy")
def bucket_pass(k, code, Ts, integrate, E, P, last, last_k, Emin, Emax, Pmax, negPmin, up, down, kb,
                neg_kb):  # pragma: no cover - compiled
    """Integrate (if ``integrate``) the buckets' energies ``E`` in place and write what each can take (``up``) and
    give back (``down``), its agility ``kb`` and ``-kb``."""
    for i in range(E.size):
        e = E[i]
        if integrate:
            if code == 0:
                lk = last[i] if last_k < 0 else last_k
                e = _min(_max(e + Ts * P[i] * float(k - lk), Emin[i]), Emax[i])
            else:
                e = e + Ts * P[i] * 1.0
            E[i] = e
        up[i] = _max(_min(Pmax[i], (Emax[i] - e) / Ts), 0.0)
        down[i] = _max(_min(negPmin[i], (e - Emin[i]) / Ts), 0.0)
        x = (Emax[i] - e) / (Ts * Pmax[i])
        kb[i] = x
        neg_kb[i] = -x


@njit(cache=True, error_model="numpy", inline="always")
def _put(out, F, room, mode, u, g):  # pragma: no cover - compiled
    """What :func:`walk` writes for unit ``u`` given ``g`` [kW] (see its ``mode``)."""
    if mode == 0:
        out[u] = _min(F[u] + g, room[u])
    elif mode == 1:
        out[u] = g
    else:
        out[u] = -g


@njit(cache=True, error_model="numpy")
def walk(order, want, aon, budget, mode, out, F, room):  # pragma: no cover - compiled
    """The greedy walk of :func:`~vppfed.federates.agile.greedy.greedy_fill` over ``want[order]``, writing what each
    unit it gives power to gets straight into ``out`` (prefilled by the caller with what the others get).

    ``mode`` 0: ``out[u] = min(F[u] + give, room[u])`` (strict top-up of the forced power); 1: ``out[u] = give``;
    2: ``out[u] = -give`` (buckets giving back). Why a loop: it reads only the units the walk reaches, where
    gathering chunks of the order for the numpy walk cost more than the walk. Same running sum (sequential, as
    ``cumsum``), same comparisons, same ``max(remaining, 0.0)`` as Python's builtin; returns the power handed out.
    """
    used = 0.0
    if not budget > 0:
        return used
    for j in range(order.size):
        u = order[j]
        w = want[u]
        if not w > 0:
            continue
        remaining = budget - used
        if not w > remaining:  # (greedy_fill's test: a NaN remaining lets the unit take its want)
            used = used + w
            _put(out, F, room, mode, u, w)
        elif not aon[u]:  # a partial unit takes the rest and ends the walk; all-or-nothing ones are skipped
            _put(out, F, room, mode, u, 0.0 if 0.0 > remaining else remaining)
            break
    return used


@njit(cache=True, error_model="numpy")
def finish(P, is_bak, is_bat, running, ever_on, bak_out, bat_out):  # pragma: no cover - compiled
    """Mark bakeries given power as running and copy the bakeries' and batteries' powers, in file order, to
    ``bak_out`` / ``bat_out`` (for ``np.sum``, as ``np.sum(P[is_bak])`` sees them); returns how many of each.

    Without branches (the unit types are mixed, so a branch on the type mispredicts about every other unit): every
    power is written to the next slot of both outputs and only the count of its own type advances, so each output
    needs one slot more than its type has units (one output array with a computed slot measured slower: the store
    address then waits on the type).
    """
    nb = 0
    nt = 0
    for i in range(P.size):
        p = P[i]
        b = is_bak[i]
        bak_out[nb] = p
        nb += np.int64(b)
        bat_out[nt] = p
        nt += np.int64(is_bat[i])
        on = b & (p > 0)
        running[i] = running[i] | on
        ever_on[i] = ever_on[i] | on
    return nb, nt


def warm_up() -> float:
    """Compile or load every agile kernel (these and the order repair's) on tiny inputs; returns seconds taken.

    Called by ``.ci/run`` before the tests so that pytest workers load them from numba's cache.
    """
    import time

    from vppfed.federates.agile.fleet import AgileFleet
    from vppfed.federates.agile.ordering import MIN_SIZE
    from vppfed.federates.agile.synthetic import random_portfolio

    t0 = time.perf_counter()
    p = random_portfolio(40, 0, horizon=6, random_start=True)
    for rules in RULE_CODE:
        # min size 0: repaired (read-only) orders as large portfolios get; the default: sorted ones as small get
        for min_size in (0, MIN_SIZE):
            fleet = AgileFleet(p, rules=rules, incremental_min_size=min_size)
            for k, s in enumerate((5.0, -3.0, 40.0, 0.0, 1.0, 8.0), start=1):
                fleet.step(k, s)
    return time.perf_counter() - t0
