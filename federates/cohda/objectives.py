"""Objectives for COHDA, injected into agents and baselines.

Every objective is *global*: all agents compute the same value from the same aggregate, so a candidate's
performance can be cached and carried in messages. Values are minimised (smaller is better). The evaluation is
vectorised over leading axes so that an agent scores all of its own schedules in one numpy expression.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Objective(Protocol):
    """A global objective on the aggregate schedule; smaller is better."""

    def evaluate(self, total: np.ndarray) -> np.ndarray:
        """Score aggregates ``total`` of shape (..., T) in kW; returns shape (...)."""


def evaluate_options(objective: Objective, base: np.ndarray, options: np.ndarray) -> np.ndarray:
    """Scores of ``base + options[j]`` for every row j of ``options`` (M, T), kW: one agent's decide.

    Objectives may provide a faster ``evaluate_options(base, options)``; otherwise the sum is formed explicitly.
    """
    fast = getattr(objective, "evaluate_options", None)
    if fast is not None:
        return fast(base, options)
    return objective.evaluate(base + options)


@dataclass(frozen=True)
class L1Objective:
    """Weighted L1 distance to the target, ``sum_t w_t |ts_t - x_t|`` (kW, times unitless weights).

    This is COHDA's default (Hinrichs' Manhattan objective, mango's weighted variant).
    """

    target: np.ndarray
    weights: np.ndarray | None = None

    def evaluate(self, total: np.ndarray) -> np.ndarray:
        diff = np.abs(self.target - total)
        if self.weights is None:
            return diff.sum(axis=-1)
        return diff @ self.weights

    def evaluate_options(self, base: np.ndarray, options: np.ndarray) -> np.ndarray:
        """``evaluate(base + options)`` for options (M, T) with one temporary less (the residual is formed once)."""
        diff = (self.target - base) - options
        np.abs(diff, out=diff)
        if self.weights is None:
            return diff.sum(axis=1)
        return diff @ self.weights


@dataclass(frozen=True)
class PeakShaving:
    """Minimise the highest aggregate value (kW), e.g. the peak import of a feeder."""

    def evaluate(self, total: np.ndarray) -> np.ndarray:
        return total.max(axis=-1)


@dataclass(frozen=True)
class ValleyFilling:
    """Maximise the lowest aggregate value, expressed as minimising ``-min_t x_t`` (kW)."""

    def evaluate(self, total: np.ndarray) -> np.ndarray:
        return -total.min(axis=-1)


def objective_by_name(name: str, target: np.ndarray, weights: np.ndarray | None = None) -> Objective:
    """Build an objective from its command-line/YAML name (``l1``, ``peak``, ``valley``)."""
    if name == "l1":
        return L1Objective(np.asarray(target, dtype=float), None if weights is None else np.asarray(weights, float))
    if name == "peak":
        return PeakShaving()
    if name == "valley":
        return ValleyFilling()
    raise ValueError(f"unknown objective {name!r} (known: l1, peak, valley)")
