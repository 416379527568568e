"""Dispatch signals: the reference ``*_vpp.csv`` layout, the seeded random signal of phase 2, and a signal taken
from another federate's publication (:class:`SignalInput`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from vppfed.errors import UserError
from vppfed.formats.agile import SIGNAL_COLUMNS, read_signal_csv  # noqa: F401

PHASE2_VALUES = (0.0, 5.0, 10.0)
PHASE2_PROBABILITIES = (0.3, 0.3, 0.4)


def write_signal_csv(signal: Sequence[float], path: str | Path) -> None:
    """Write a signal [kW] in the reference layout, 6 decimals."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(SIGNAL_COLUMNS) + "\n")
        for k, v in enumerate(signal, start=1):
            fh.write(f"{k},{float(v):.6f}\n")


def random_signal(steps: int, seed: int, values: Sequence[float] = PHASE2_VALUES,
                  probabilities: Sequence[float] = PHASE2_PROBABILITIES) -> np.ndarray:
    """The phase-2 stochastic signal: each step independently one of ``values`` [kW] with ``probabilities``.

    Same seed -> same signal (``numpy.random.default_rng(seed)``).
    """
    if steps < 1:
        raise ValueError("steps: must be >= 1")
    p = np.asarray(probabilities, dtype=np.float64)
    if len(values) != len(p) or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError("probabilities: must be non-negative, one per value, and sum to 1")
    rng = np.random.default_rng(seed)
    return np.asarray(values, dtype=np.float64)[rng.choice(len(values), size=steps, p=p / p.sum())]


@dataclass
class SignalInput:
    """A dispatch signal taken from another federate's publication: ``offset + scale * x (+ own)`` [kW].

    ``x`` is the received value (for a complex publication its ``part``: real, imag or abs). With ``add_own`` the
    VPP's own planned power of the previous step is added back, so that the signal follows a quantity that
    *excludes* the VPP although the publication includes it: with ``x`` the feeder's ``distribution_load`` [VA],
    ``scale = -0.001`` and ``offset = T`` the VPP is asked for ``T - (load - own)``, which makes the feeder load
    ``T`` (a flat feeder-load target). Until the first value arrives, and during the first ``settle_steps`` steps
    (a simulated feeder starts with a transient: every house and tank begins from its initial state), the signal is
    ``initial``; between updates the last value holds. ``smoothing`` < 1 follows an exponential average instead
    (``s(k) = a * raw(k) + (1 - a) * s(k-1)``): the feeder load seen at one instant carries the cycling of every
    thermostat, which a signal one step late cannot cancel (it would add it again), so a flat-load target follows the
    slow part of the load.

    Attributes
    ----------
    target : str
        HELICS publication to subscribe to (``gld_7/distribution_load``).
    type : {"double", "complex"}
        Its HELICS type.
    part : {"real", "imag", "abs"}
        Which part of a complex value is ``x``.
    scale : float
        kW per unit of ``x``.
    offset : float
        kW added.
    add_own : bool
        Add the VPP's planned power of the previous step [kW].
    initial : float
        Signal before the first value and during the settling steps [kW].
    settle_steps : int
        Steps at the start during which the input is not followed.
    smoothing : float
        Weight ``a`` in (0, 1] of the newest value in the exponential average (1: no averaging).
    """

    target: str
    type: Literal["double", "complex"] = "double"
    part: Literal["real", "imag", "abs"] = "real"
    scale: float = 1.0
    offset: float = 0.0
    add_own: bool = False
    initial: float = 0.0
    settle_steps: int = 0
    smoothing: float = 1.0
    _state: float | None = field(default=None, init=False, repr=False, compare=False)

    def raw(self, x: complex | float, own_prev: float) -> float:
        """``offset + scale * part(x) (+ own_prev)`` [kW], without averaging."""
        c = complex(x)
        part = {"real": c.real, "imag": c.imag, "abs": abs(c)}[self.part]
        return float(self.offset + self.scale * part + (own_prev if self.add_own else 0.0))

    def value(self, x: complex | float | None, own_prev: float, k: int) -> float:
        """The signal [kW] at step ``k`` (call once per step, in order) for the latest received value ``x`` (None:
        nothing received yet) and the VPP's own planned power of the previous step [kW]."""
        if x is None or k <= self.settle_steps:
            return float(self.initial)
        raw = self.raw(x, own_prev)
        a = float(self.smoothing)
        self._state = raw if self._state is None else a * raw + (1.0 - a) * self._state
        return float(self._state)
