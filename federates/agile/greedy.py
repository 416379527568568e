"""The one allocation primitive every dispatch rule uses: hand a budget to units in priority order.

Each unit wants ``want[i] >= 0``. Walking the units in order with ``remaining = budget - used``:

* a unit whose want fits gets all of it (``used += want``);
* an *all-or-nothing* unit (a bakery that must run at full power) that does not fit gets 0 and is skipped;
* a *partial* unit (battery, bucket) that does not fit gets ``max(remaining, 0)`` and exhausts the budget, so
  every later unit gets 0.

:func:`greedy_fill_loop` is the literal walk (the reference); :func:`greedy_fill` gives bit-identical results with
numpy: it accumulates the wants with ``cumsum`` (sequential, the same additions in the same order as the loop) up to
the first unit that does not fit, and repeats only after an all-or-nothing skip, on the units that can still fit.
The number of repeats is the number of skipped bakeries that were small enough to be candidates, not the number of
units.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def greedy_fill_loop(want: Sequence[float], all_or_nothing: Sequence[bool], budget: float) -> list[float]:
    """Reference implementation of the allocation walk (see module docstring); one Python step per unit.

    Parameters
    ----------
    want : sequence of float
        Power each unit would take [kW], in priority order.
    all_or_nothing : sequence of bool
        True for units that take all of ``want`` or nothing.
    budget : float
        Power to hand out [kW]; nothing is handed out when it is not positive.

    Returns
    -------
    list of float
        Power given to each unit [kW].
    """
    give = [0.0] * len(want)
    if not budget > 0:
        return give
    used = 0.0
    for i, w in enumerate(want):
        if not w > 0:
            continue
        remaining = budget - used
        if w <= remaining:
            give[i] = w
            used = used + w
        elif all_or_nothing[i]:
            continue
        else:
            give[i] = max(remaining, 0.0)
            break
    return give


def greedy_fill(want: np.ndarray, all_or_nothing: np.ndarray, budget: float) -> np.ndarray:
    """Vectorised :func:`greedy_fill_loop` with bit-identical results.

    Parameters
    ----------
    want : ndarray of float
        Power each unit would take [kW], in priority order.
    all_or_nothing : ndarray of bool
        True for units that take all of ``want`` or nothing.
    budget : float
        Power to hand out [kW].

    Returns
    -------
    ndarray of float
        Power given to each unit [kW].
    """
    return greedy_fill_from(want, all_or_nothing, budget, 0.0)[0]


def greedy_fill_from(want: np.ndarray, all_or_nothing: np.ndarray, budget: float,
                     used: float) -> tuple[np.ndarray, float, bool]:
    """:func:`greedy_fill` continued: the walk of the units that follow others which already took ``used`` [kW].

    Why: at 10^6 units the walk usually ends (a partial unit exhausts the budget) long before the last unit, so the
    engine feeds it the priority order in chunks and stops gathering when it ends. Feeding chunk after chunk with
    the returned ``used`` gives exactly :func:`greedy_fill` on the whole sequence (the running sum continues with
    the same additions in the same order).

    Returns
    -------
    give : ndarray of float
        Power given to each unit of this chunk [kW].
    used : float
        Power handed out so far, this chunk included [kW].
    ended : bool
        True when the walk stopped in this chunk (a partial unit took the rest), so later units get nothing.
    """
    want = np.asarray(want, dtype=np.float64)
    give = np.zeros(want.shape, dtype=np.float64)
    if not budget > 0:
        return give, used, True
    if want.size == 0:
        return give, used, False
    aon = np.asarray(all_or_nothing, dtype=bool)
    idx = np.flatnonzero(want > 0)
    while idx.size:
        w = want[idx]
        acc = np.empty(w.size + 1, dtype=np.float64)
        acc[0] = used
        acc[1:] = w
        np.cumsum(acc, out=acc)            # acc[i] = used before candidate i (sequential sums, as in the loop)
        remaining = budget - acc[:-1]
        fails = np.flatnonzero(w > remaining)
        if fails.size == 0:
            give[idx] = w
            return give, float(acc[-1]), False
        j = int(fails[0])
        give[idx[:j]] = w[:j]
        used = float(acc[j])
        rem_j = float(remaining[j])
        if not aon[idx[j]]:
            give[idx[j]] = max(rem_j, 0.0)
            return give, used, True
        rest = idx[j + 1:]
        # remaining only shrinks, so all-or-nothing units that do not fit now never will: drop them
        idx = rest[~aon[rest] | (want[rest] <= rem_j)]
    return give, used, False
