"""Stable argsort of keys that change little from one dispatch step to the next.

Why: every dispatch step orders ~10^6 units by agility, and a full ``np.argsort(kind="stable")`` of 10^6 float keys
costs ~0.14 s, about all of a step. Between two steps most keys move together (every agility drops by one step) and
only the units that were given power move relative to the others, so the previous order is almost right.
:class:`StableOrder` keeps the previous order and repairs it:

1. walk the previous order (order = by key, ties by index: exactly what a stable argsort gives) and keep the units
   not above any unit after them, or, if that keeps fewer (tried when more than an eighth moved), the units not
   below any unit before them; the others are *moved*;
2. sort the moved units with ``np.argsort(kind="stable")`` after putting them in index order;
3. merge the two sorted runs, comparing (key, index).

The result is *the* stable argsort (a permutation sorted by (key, index) is unique), so it equals
``np.argsort(keys, kind="stable")`` element for element whatever the keys; only the time depends on how much moved.
When more than half the units moved, or a key is NaN (which comparisons cannot order as numpy does), it falls back
to the full sort. Small arrays always use the full sort: below ``min_size`` units the compiled walk is not worth
its first-call compile.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

MIN_SIZE = 4096
"""Below this many keys :class:`StableOrder` calls ``np.argsort`` directly (the walk pays off only on large arrays)."""


def _split(prev: np.ndarray, keys: np.ndarray, kp: np.ndarray, keep: np.ndarray, keep_k: np.ndarray,
           moved: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:  # pragma: no cover - compiled
    """Split ``prev`` into a run sorted by (key, index), its keys, and the units out of place; flag NaN keys.

    Two candidate runs, and the one that keeps more units wins: the units not above anything after them (a unit
    whose key rose leaves, and so do the units that one whose key fell has passed), and the units not below anything
    before them (the mirror image). Either run is sorted by construction. The second is only tried when the first
    moves more than an eighth of the units. ``kp``, ``keep``, ``keep_k``, ``moved``: work arrays of ``prev.size``
    kept from call to call (fresh 8 MB arrays at 10^6 units cost page faults every step); the first run's results
    are views of them.
    """
    n = prev.size
    nk = 0
    nm = 0
    # the keys in the previous order first, in a loop without branches: the scattered reads then overlap (inside
    # the branchy walk below each one waited for the last; about 5x slower at 10^6 units)
    for pos in range(n):
        kp[pos] = keys[prev[pos]]
    # right to left: keep what is not above the smallest (key, index) after it; keep and moved fill from the end
    for pos in range(n - 1, -1, -1):
        x = prev[pos]
        kx = kp[pos]
        if kx != kx:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64), True
        if nk > 0 and (kx > keep_k[n - nk] or (kx == keep_k[n - nk] and x > keep[n - nk])):
            nm += 1
            moved[n - nm] = x
        else:
            nk += 1
            keep[n - nk] = x
            keep_k[n - nk] = kx
    if 8 * nm <= n:
        return keep[n - nk:], keep_k[n - nk:], moved[n - nm:], False
    # left to right: keep what is not below the largest (key, index) before it
    keep2 = np.empty(n, dtype=np.int64)
    keep2_k = np.empty(n, dtype=np.float64)
    moved2 = np.empty(n, dtype=np.int64)
    nk2 = 0
    nm2 = 0
    for pos in range(n):
        x = prev[pos]
        kx = kp[pos]
        if nk2 > 0 and (kx < keep2_k[nk2 - 1] or (kx == keep2_k[nk2 - 1] and x < keep2[nk2 - 1])):
            moved2[nm2] = x
            nm2 += 1
        else:
            keep2[nk2] = x
            keep2_k[nk2] = kx
            nk2 += 1
    if nm2 < nm:
        return keep2[:nk2], keep2_k[:nk2], moved2[:nm2], False
    return keep[n - nk:], keep_k[n - nk:], moved[n - nm:], False


def _merge(keep: np.ndarray, keep_k: np.ndarray, moved: np.ndarray,
           moved_k: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Merge two runs sorted by (key, index) into one (``*_k``: the runs' keys, read in order)."""
    nk = keep.size
    nm = moved.size
    out = np.empty(nk + nm, dtype=np.int64)
    i = 0
    j = 0
    o = 0
    while i < nk and j < nm:
        a = keep[i]
        b = moved[j]
        ka = keep_k[i]
        kb = moved_k[j]
        if kb < ka or (kb == ka and b < a):
            out[o] = b
            j += 1
        else:
            out[o] = a
            i += 1
        o += 1
    while i < nk:
        out[o] = keep[i]
        i += 1
        o += 1
    while j < nm:
        out[o] = moved[j]
        j += 1
        o += 1
    return out


@lru_cache(maxsize=None)
def _kernels():
    """The compiled :func:`_split` and :func:`_merge`, built (or loaded from numba's cache) on first use: small
    orderings never need them."""
    from numba import njit

    return njit(cache=True)(_split), njit(cache=True)(_merge)


class StableOrder:
    """``np.argsort(keys, kind="stable")`` for a sequence of key arrays of one size, repairing the previous order.

    One instance per ordering that recurs step after step (deferrable units by agility, buckets by agility, buckets
    by minus agility). Holds no state but the last order, which it hands out read-only (callers index with it).

    Parameters
    ----------
    min_size : int
        Arrays smaller than this are sorted from scratch.
    """

    def __init__(self, min_size: int = MIN_SIZE) -> None:
        self.min_size = int(min_size)
        self._prev: np.ndarray | None = None
        self._work: tuple[np.ndarray, ...] = ()

    def argsort(self, keys: np.ndarray) -> np.ndarray:
        """Indices that sort ``keys`` ascending, ties in index order (identical to numpy's stable argsort)."""
        keys = np.ascontiguousarray(keys, dtype=np.float64)
        n = keys.size
        if n < self.min_size or self._prev is None or self._prev.size != n:
            return self._full(keys)
        split, merge = _kernels()
        if not self._work or self._work[0].size != n:
            self._work = (np.empty(n, dtype=np.float64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64),
                          np.empty(n, dtype=np.int64))
        keep, keep_k, moved, has_nan = split(self._prev, keys, *self._work)
        if has_nan or 2 * moved.size > n:
            return self._full(keys)
        if not moved.size:  # every unit kept, in the same order: the previous order (keep is a work array)
            return self._prev
        moved.sort()  # index order, so that the stable sort below breaks ties by index
        moved_k = keys[moved]
        by_key = np.argsort(moved_k, kind="stable")
        order = merge(keep, keep_k, moved[by_key], moved_k[by_key])
        order.flags.writeable = False
        self._prev = order
        return order

    def _full(self, keys: np.ndarray) -> np.ndarray:
        order = np.argsort(keys, kind="stable")
        if keys.size >= self.min_size:
            order = order.astype(np.int64, copy=False)
            order.flags.writeable = False
            self._prev = order
        return order
