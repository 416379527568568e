"""A seeded model of an unreliable link: loss and delay per message, reproducible from the seed.

HELICS's random filters cannot be seeded (FACTS.md), so loss and delay are applied here, at the sender: a message
is dropped with probability ``loss`` or held for ``delay + U{0..jitter}`` steps, then handed to the transport. One
random draw per message in send order, from ``numpy.random.default_rng(seed)``: the same seed and the same traffic
give the same losses and delays, whether the transport is HELICS or the in-process simulation.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np

from vppfed.io import require
from vppfed.federates.agile.protocol import RELIABLE_TYPES


@dataclass
class LinkConfig:
    """Loss probability (0..1), fixed delay and extra uniform jitter, both in steps."""

    loss: float = 0.0
    delay: int = 0
    jitter: int = 0

    def validate(self) -> None:
        require(0.0 <= self.loss < 1.0, "loss", f"must be in [0, 1), got {self.loss}")
        require(self.delay >= 0, "delay", f"must be >= 0 steps, got {self.delay}")
        require(self.jitter >= 0, "jitter", f"must be >= 0 steps, got {self.jitter}")


class Link:
    """Sender-side queue that drops and delays messages with a seeded generator."""

    def __init__(self, config: LinkConfig, seed: int) -> None:
        config.validate()
        self.config = config
        self.rng = np.random.default_rng(seed)
        self._queue: list[tuple[int, int, dict[str, Any]]] = []
        self._seq = 0
        self.sent = 0
        self.dropped = 0

    def send(self, messages: list[dict[str, Any]], k: int) -> None:
        """Queue ``messages`` sent at step ``k`` (lossy types may be dropped)."""
        cfg = self.config
        lossy = [m for m in messages if m.get("type") not in RELIABLE_TYPES]
        n = len(lossy)
        u = self.rng.random(n) if cfg.loss > 0 else np.ones(n)
        extra = self.rng.integers(0, cfg.jitter + 1, size=n) if cfg.jitter > 0 else np.zeros(n, dtype=np.int64)
        j = 0
        for msg in messages:
            self.sent += 1
            if msg.get("type") in RELIABLE_TYPES:
                due = k
            else:
                if u[j] < cfg.loss:
                    self.dropped += 1
                    j += 1
                    continue
                due = k + cfg.delay + int(extra[j])
                j += 1
            heapq.heappush(self._queue, (due, self._seq, msg))
            self._seq += 1

    def due(self, k: int) -> list[dict[str, Any]]:
        """Messages whose delay has elapsed by step ``k``, in (due step, send order)."""
        out = []
        while self._queue and self._queue[0][0] <= k:
            out.append(heapq.heappop(self._queue)[2])
        return out

    def pending(self) -> int:
        return len(self._queue)
