"""Stable argsort of keys that change little from one dispatch step to the next.

Why: every dispatch step orders ~10^6 units by agility, and a full ``np.argsort(kind="stable")`` of 10^6 float keys
costs ~0.14 s, about all of a step. Between two steps most keys move together (every agility drops by one step) and
only the units that were given power move relative to the others, so the previous order is almost right.
:class:`StableOrder` keeps the previous order and repairs it:

1. read the keys along the previous order (order = by key, ties by index: exactly what a stable argsort gives);
   if they are still in order, that is the answer (about half the steps at 10^6 units, and a read-only pass);
2. else split the previous order into a run to keep and the *moved* units: keep the units not above any unit after
   them, or, if that keeps fewer (tried when more than an eighth moved), the units not below any unit before them;
3. order the moved units the same way, starting from their previous order: they are mostly the units given power
   the step before, whose keys moved together, so their own split moves only a handful. When a split keeps less than
   an eighth (or the moved ones are few), the rest are sorted with ``np.argsort(kind="stable")`` after putting them
   in index order;
4. merge the sorted runs back up, comparing (key, index).

The result is *the* stable argsort (a permutation sorted by (key, index) is unique), so it equals
``np.argsort(keys, kind="stable")`` element for element whatever the keys; only the time depends on how much moved.
A NaN key (which comparisons cannot order as numpy does) falls back to the full sort. Small arrays always use the
full sort: below ``min_size`` units the compiled passes are not worth their first-call compile.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

MIN_SIZE = 4096
"""Below this many keys :class:`StableOrder` calls ``np.argsort`` directly (the walk pays off only on large arrays)."""

_SORT_BELOW = 64
"""Moved runs this short are sorted by numpy rather than split again."""
_MAX_DEPTH = 24
"""Splits of moved runs stop at this depth (each keeps at least an eighth of its run, so this is never reached in
practice; it bounds the recursion whatever the keys)."""


def _gather_check(prev: np.ndarray, keys: np.ndarray, kp: np.ndarray) -> int:  # pragma: no cover - compiled
    """``kp[pos] = keys[prev[pos]]``; returns 0 if ``prev`` is still sorted by (key, index), 1 if not, 2 if a key
    is NaN.

    Why two loops, neither with a branch: the gather's scattered reads overlap only in a loop that does nothing
    else, and a test that branches on ties (half the neighbours tie at 10^6 units: bakeries' agilities are whole
    steps) mispredicts every other unit; both together cost ~8x the two loops. When nothing moved, this is all.
    """
    n = prev.size
    for pos in range(n):
        kp[pos] = keys[prev[pos]]
    if n == 0:
        return 0
    bad = 0
    nan = np.int64(kp[0] != kp[0])
    for pos in range(1, n):
        a = kp[pos - 1]
        b = kp[pos]
        # out of order: below the one before, or tied with it and a smaller index
        bad |= np.int64(b < a) | (np.int64(b <= a) & np.int64(prev[pos] < prev[pos - 1]))
        nan |= np.int64(b != b)
    if nan:
        return 2
    return 1 if bad else 0


def _split(seq: np.ndarray, kp: np.ndarray, flag: np.ndarray, moved: np.ndarray, moved_k: np.ndarray,
           flag2: np.ndarray, moved2: np.ndarray,
           moved2_k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Split ``seq`` (keys ``kp``, no NaN) into a run sorted by (key, index), the units kept, and the units out of
    place; returns ``flag`` (1 where ``seq``'s unit moved: the kept run is ``seq`` without them) and the moved units
    with their keys, in ``seq``'s order.

    Two candidate runs, and the one that keeps more units wins: the units not above anything after them (a unit
    whose key rose leaves, and so do the units that one whose key fell has passed), and the units not below anything
    before them (the mirror image). Either run is sorted by construction. The second is only tried when the first
    moves more than an eighth of the units. The other arguments are work arrays of at least ``seq.size`` kept from
    call to call (fresh 8 MB arrays at 10^6 units cost page faults every step); the results are views of them.
    Why flags: the kept run is most of the units, and writing it out (units and keys) cost more than the split.
    No branch on the keys (ties are common and would mispredict): each unit is written to the moved run's next
    slot and the count advances only if it moved.
    """
    n = seq.size
    if n == 0:
        return flag[:0], moved[:0], moved_k[:0]
    # right to left: keep what is not above the smallest (key, index) kept after it (c, kc); moved fill from the end
    nm = 0
    c = seq[n - 1]
    kc = kp[n - 1]
    flag[n - 1] = 0
    for pos in range(n - 2, -1, -1):
        x = seq[pos]
        kx = kp[pos]
        out = np.int64(kx > kc) | (np.int64(kx == kc) & np.int64(x > c))
        flag[pos] = out
        moved[n - 1 - nm] = x
        moved_k[n - 1 - nm] = kx
        nm += out
        c = c if out else x
        kc = kc if out else kx
    if 8 * nm <= n:
        return flag[:n], moved[n - nm:n], moved_k[n - nm:n]
    # left to right: keep what is not below the largest (key, index) kept before it
    nm2 = 0
    c = seq[0]
    kc = kp[0]
    flag2[0] = 0
    for pos in range(1, n):
        x = seq[pos]
        kx = kp[pos]
        out = np.int64(kx < kc) | (np.int64(kx == kc) & np.int64(x < c))
        flag2[pos] = out
        moved2[nm2] = x
        moved2_k[nm2] = kx
        nm2 += out
        c = c if out else x
        kc = kc if out else kx
    if nm2 < nm:
        return flag2[:n], moved2[:nm2], moved2_k[:nm2]
    return flag[:n], moved[n - nm:n], moved_k[n - nm:n]


def _merge(seq: np.ndarray, seq_k: np.ndarray, flag: np.ndarray, b: np.ndarray, b_k: np.ndarray, out: np.ndarray,
           out_k: np.ndarray, with_keys: bool) -> None:  # pragma: no cover - compiled
    """Merge the kept run (the units of ``seq`` whose ``flag`` is 0, with their keys ``seq_k``) and the sorted run
    ``b`` (keys ``b_k``), both sorted by (key, index), into ``out`` (and their keys into ``out_k`` if ``with_keys``;
    the top level needs only the units). The choice of run is arithmetic, not a branch (ties are common)."""
    na = seq.size
    nb = b.size
    i = 0
    j = 0
    o = 0
    while j < nb:
        while i < na and flag[i]:
            i += 1
        if i == na:
            break
        x = seq[i]
        y = b[j]
        kx = seq_k[i]
        ky = b_k[j]
        take_b = np.int64(ky < kx) | (np.int64(ky == kx) & np.int64(y < x))
        out[o] = y if take_b else x
        if with_keys:
            out_k[o] = ky if take_b else kx
        j += take_b
        i += 1 - take_b
        o += 1
    while i < na:
        if not flag[i]:
            out[o] = seq[i]
            if with_keys:
                out_k[o] = seq_k[i]
            o += 1
        i += 1
    while j < nb:
        out[o] = b[j]
        if with_keys:
            out_k[o] = b_k[j]
        j += 1
        o += 1


def _negated(order: np.ndarray, keys: np.ndarray, out: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Write the stable argsort of ``-keys`` into ``out`` given ``order``, the stable argsort of ``keys``: ``order``
    reversed, each run of equal keys kept in index order (``-a == -b`` exactly when ``a == b``, signed zeros
    included). Returns False if a key is NaN (numpy puts NaN last either way, so reversing would be wrong)."""
    n = order.size
    o = 0
    pos = n - 1
    while pos >= 0:
        k = keys[order[pos]]
        if k != k:
            return False
        start = pos
        while start > 0 and keys[order[start - 1]] == k:
            start -= 1
        for q in range(start, pos + 1):
            out[o] = order[q]
            o += 1
        pos = start - 1
    return True


@lru_cache(maxsize=None)
def _kernels():
    """The compiled :func:`_gather_check`, :func:`_split`, :func:`_merge` and :func:`_negated`, built (or loaded
    from numba's cache) on first use: small orderings never need them."""
    from numba import njit

    return (njit(cache=True)(_gather_check), njit(cache=True)(_split), njit(cache=True)(_merge),
            njit(cache=True)(_negated))


class _Work:
    """Work arrays of one level of the repair, grown on demand and reused from step to step."""

    def __init__(self, n: int) -> None:
        self.size = n
        self.kp = np.empty(n, dtype=np.float64)  # keys along the sequence (level 0 only)
        # the split's two candidates (right to left, left to right): moved flags, moved units, their keys
        self.split = tuple(np.empty(n, dtype=t) for t in (np.uint8, np.int64, np.float64) * 2)
        self.out = np.empty(n, dtype=np.int64)  # this level's sorted result and its keys (levels below the top)
        self.out_k = np.empty(n, dtype=np.float64)


class StableOrder:
    """``np.argsort(keys, kind="stable")`` for a sequence of key arrays of one size, repairing the previous order.

    One instance per ordering that recurs step after step (deferrable units by agility, buckets by agility, buckets
    by minus agility). Holds the last order, which it hands out read-only (callers index with it), and work arrays.
    A returned order stays valid until the next-but-one call (two result buffers are used in turn: the previous
    order is read while the next is written).

    Parameters
    ----------
    min_size : int
        Arrays smaller than this are sorted from scratch.
    """

    def __init__(self, min_size: int = MIN_SIZE) -> None:
        self.min_size = int(min_size)
        self._prev: np.ndarray | None = None  # the last order, writable here (the compiled passes take one type)
        self._prev_buf = -1  # which of self._bufs holds self._prev (-1: neither)
        self._bufs: list[np.ndarray] = []
        self._work: list[_Work] = []
        self._neg: np.ndarray | None = None  # the last argsort_negated result

    def argsort(self, keys: np.ndarray) -> np.ndarray:
        """Indices that sort ``keys`` ascending, ties in index order (identical to numpy's stable argsort)."""
        keys = np.ascontiguousarray(keys, dtype=np.float64)
        n = keys.size
        if n < self.min_size or self._prev is None or self._prev.size != n:
            return self._full(keys)
        gather_check = _kernels()[0]
        w = self._level(0, n)
        status = gather_check(self._prev, keys, w.kp)
        if status == 2:
            return self._full(keys)
        if status == 0:  # every unit still in order: the previous order
            return _read_only(self._prev)
        if len(self._bufs) != 2 or self._bufs[0].size != n:
            self._bufs = [np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)]
            self._prev_buf = -1
        b = 1 if self._prev_buf == 0 else 0
        self._repair(self._prev, w.kp[:n], keys, 0, self._bufs[b], w.out_k)
        self._prev, self._prev_buf = self._bufs[b], b
        return _read_only(self._prev)

    def argsort_negated(self, keys: np.ndarray) -> np.ndarray:
        """``np.argsort(-keys, kind="stable")``, derived from this instance's (repaired) order of ``keys``.

        Why: an ordering needed in both directions (buckets taking power emptiest first, giving back fullest first)
        is then repaired from the step before whichever direction that step used, not from an older one.
        """
        keys = np.ascontiguousarray(keys, dtype=np.float64)
        up = self.argsort(keys)
        if keys.size < self.min_size:
            return np.argsort(-keys, kind="stable")
        if self._neg is None or self._neg.size != keys.size:
            self._neg = np.empty(keys.size, dtype=np.int64)
        if not _kernels()[3](up, keys, self._neg):
            return np.argsort(-keys, kind="stable")
        return _read_only(self._neg)

    def _level(self, depth: int, n: int) -> _Work:
        """The work arrays of ``depth``, at least ``n`` long."""
        while len(self._work) <= depth:
            self._work.append(_Work(0))
        if self._work[depth].size < n:
            self._work[depth] = _Work(n)
        return self._work[depth]

    def _repair(self, seq: np.ndarray, seq_k: np.ndarray, keys: np.ndarray, depth: int, out: np.ndarray,
                out_k: np.ndarray) -> None:
        """Write the units of ``seq`` (keys ``seq_k``, no NaN), sorted by (key, index), into ``out[:seq.size]``
        (and their keys into ``out_k`` below the top level)."""
        _, split, merge, _ = _kernels()
        w = self._level(depth, seq.size)
        flag, moved, moved_k = split(seq, seq_k, *w.split)
        m = moved.size
        if m == 0:
            out[:seq.size] = seq
            if depth:
                out_k[:seq.size] = seq_k
            return
        if m <= _SORT_BELOW or 8 * (seq.size - m) < seq.size or depth >= _MAX_DEPTH:
            # few moved, or the split made little progress: sort them (index order first, so ties go by index)
            ids = np.sort(moved)
            ids_k = keys[ids]
            by_key = np.argsort(ids_k, kind="stable")
            sub, sub_k = ids[by_key], ids_k[by_key]
        else:
            sub_w = self._level(depth + 1, m)
            sub, sub_k = sub_w.out[:m], sub_w.out_k[:m]
            self._repair(moved, moved_k, keys, depth + 1, sub, sub_k)
        merge(seq, seq_k, flag, sub, sub_k, out, out_k, depth > 0)

    def _full(self, keys: np.ndarray) -> np.ndarray:
        order = np.argsort(keys, kind="stable")
        if keys.size >= self.min_size:
            self._prev, self._prev_buf = order.astype(np.int64, copy=False), -1
            return _read_only(self._prev)
        return order


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (what callers get: they index with an order, never write it)."""
    v = a.view()
    v.flags.writeable = False
    return v
