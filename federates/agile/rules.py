"""The three dispatch rule sets and what every engine reports per step.

``strict`` (default)
    Faithful to Petersen et al. (ACC 2013): forced power first to every battery and bakery, the rest of the signal in
    increasing agility K (batteries topped up, an idle bakery starts only if its whole power fits, a started bakery
    is never interrupted), then buckets (fullest first when giving back, emptiest first when taking). Energy
    integrates over the real number of elapsed steps since a unit's power was last set, within its energy limits.
``2015b``
    Reproduces the 105-unit reference export: bakery K minus ``id*1e-9``; a bakery that ever ran counts as started
    and is forced (or when K <= 1); forced powers only when their sum exceeds the signal, otherwise batteries and
    bakeries in increasing K with the full signal as budget (a running bakery can be interrupted). One integration
    step per call.
``2015a``
    Reproduces the 3-unit reference export: a running bakery has K = 0; forced powers in file order against
    ``signal + what buckets can give back`` when their sum exceeds the signal, otherwise every battery and bakery in
    increasing K takes what it can (partial power allowed); buckets always emptiest first. One integration step.

The engines (:class:`~vppfed.federates.agile.reference.LoopEngine`, the literal per-unit reference, and
:class:`~vppfed.federates.agile.fleet.AgileFleet`, the array one) give bit-identical results.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET

Rules = Literal["strict", "2015b", "2015a"]
RULES: tuple[str, ...] = ("strict", "2015b", "2015a")
BAKERY_ID_TIEBREAK = 1e-9
"""``2015b`` subtracts ``id * 1e-9`` from a bakery's agility so that equal bakeries sort by their number."""


def check_rules(rules: str) -> str:
    """Return ``rules`` if it names a rule set, else raise ValueError listing the known ones."""
    if rules not in RULES:
        raise ValueError(f"rules: must be one of {', '.join(RULES)}, got {rules!r}")
    return rules


@dataclass(frozen=True)
class StepSummary:
    """Aggregates of one dispatch step (one row of the reference output) plus the portfolio's power function.

    Attributes
    ----------
    k : int
        Step number (1-based).
    signal : float
        Requested power [kW].
    residual : float
        ``signal - delivered`` [kW].
    p_bakery, p_battery, p_bucket : float
        Power dispatched to each unit type [kW].
    delivered : float
        Total dispatched power [kW] (``VppOut``).
    p_agg_min, p_agg_max : float
        Feasible range of the portfolio's total power at this step [kW]: forced power of batteries and bakeries
        minus what buckets can give back, up to every unit's headroom.
    """

    k: int
    signal: float
    residual: float
    p_bakery: float
    p_battery: float
    p_bucket: float
    delivered: float
    p_agg_min: float
    p_agg_max: float


def summarise(k: int, signal: float, kind: np.ndarray, power: np.ndarray, p_agg_min: float,
              p_agg_max: float) -> StepSummary:
    """Aggregate per-unit powers (file order) into a :class:`StepSummary`; shared so engines sum identically."""
    return summarise_sums(k, signal, float(np.sum(power[kind == BAKERY])), float(np.sum(power[kind == BATTERY])),
                          float(np.sum(power[kind == BUCKET])), p_agg_min, p_agg_max)


def summarise_sums(k: int, signal: float, p_bak: float, p_bat: float, p_bkt: float, p_agg_min: float,
                   p_agg_max: float) -> StepSummary:
    """:func:`summarise` from the three sums [kW], each ``np.sum`` of that type's powers in file order.

    Why: an engine that holds each type's powers in file order already can sum them without building the whole
    per-unit vector, and still gets the same bits (same values, same order, same summation).
    """
    delivered = p_bak + p_bat + p_bkt
    return StepSummary(k=k, signal=float(signal), residual=float(signal) - delivered, p_bakery=p_bak,
                       p_battery=p_bat, p_bucket=p_bkt, delivered=delivered, p_agg_min=float(p_agg_min),
                       p_agg_max=float(p_agg_max))
