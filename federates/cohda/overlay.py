"""Seeded overlay topologies for COHDA negotiations."""
from __future__ import annotations

import numpy as np


def small_world(n: int, k: int = 1, phi: float = 0.5, seed: int = 0) -> np.ndarray:
    """Ring lattice plus random shortcuts, as in Hinrichs' reference ``smallworld(n, k, phi)``.

    Every node links to its ``k`` nearest neighbours on each side; then ``floor(n * k * phi)`` attempts add a random
    shortcut between two distinct nodes, skipping duplicates. Deterministic for a given ``seed``.

    Returns
    -------
    ndarray of int, shape (E, 2)
        Undirected edges with ``a < b``, sorted.
    """
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    rng = np.random.default_rng(seed)
    edges: set[tuple[int, int]] = set()
    for i in range(n):
        for d in range(1, k + 1):
            j = (i + d) % n
            if j != i:
                edges.add((min(i, j), max(i, j)))
    attempts = int(np.floor(n * k * phi))
    pairs = rng.integers(0, n, size=(attempts, 2))
    for a, b in pairs:
        if a != b:
            edges.add((int(min(a, b)), int(max(a, b))))
    return np.array(sorted(edges), dtype=np.int64).reshape(-1, 2)


def neighbour_lists(n: int, edges: np.ndarray) -> list[np.ndarray]:
    """Adjacency lists (sorted slots) of an undirected edge list over ``n`` nodes."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    both = np.concatenate([edges, edges[:, ::-1]])
    both = both[both[:, 0] != both[:, 1]]
    both = np.unique(both, axis=0)
    splits = np.searchsorted(both[:, 0], np.arange(n + 1))
    return [both[splits[i]:splits[i + 1], 1] for i in range(n)]


def is_connected(n: int, edges: np.ndarray) -> bool:
    """Whether the overlay connects all ``n`` nodes (COHDA only converges to a complete solution if it does)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n <= 1:
        return True
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(g, directed=False)[0] == 1
