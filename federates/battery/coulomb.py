"""Coulomb counting with recalibration at rest and re-estimation of the coulombic efficiency.

Why: the inverter only tells us the power it delivers; the charge in the string is the integral of its current, and
that integral drifts (wrong efficiency, measurement offsets). Two anchors correct it (GridLAB-D devices reference §8):

* At a rest (``|I| < rest_current_a`` for ``rest_min_s``) the SOC is recalibrated: to 1 / 0 when the last current phase
  ended at a voltage limit (full after the CV taper, empty at the cut-off), otherwise from the open-circuit-voltage
  table when one is configured.
* Between two recalibrated rests at the same state, the charge efficiency is re-estimated from the Ah counted in between:
  ``eta_c = (Ah_out + (SOC_2 - SOC_1) C) / Ah_in``, which is ``Ah_out / Ah_in`` for equal states.

Sign convention: current > 0 charges. ``Ah(t) = Ah(t0) + eta_c * int(I+) dt / 3600 - int(I-) dt / 3600``.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

LOG = logging.getLogger(__name__)


@dataclass
class RecalibrationEvent:
    """What happened at a rest: the SOC jump and, when possible, a new efficiency estimate."""

    cause: str  # "voltage_full", "voltage_empty" or "ocv"
    soc_before: float
    soc_after: float
    eta_before: float
    eta_after: float
    eta_updated: bool


@dataclass
class CoulombCounter:
    """Charge book-keeping of one battery string.

    Parameters
    ----------
    capacity_ah : float
        Nominal capacity C_nom [Ah].
    eta_c : float
        Coulombic efficiency applied to charge, (0, 1].
    ah : float
        Charge content [Ah]; ``soc = ah / capacity_ah``.
    rest_current_a, rest_min_s : float
        Rest detection: |I| below the threshold [A] for at least the minimum time [s].
    v_empty, v_full : float
        Voltage limits [V] that mark the string empty / full.
    ocv_table : sequence of (soc, volts)
        Open-circuit voltage table for recalibration at rest (may be empty).
    eta_same_state_tol, eta_min_ah_in : float
        Conditions for re-estimating ``eta_c`` between two rests (see module docstring).
    """

    capacity_ah: float
    eta_c: float
    ah: float
    rest_current_a: float = 0.5
    rest_min_s: float = 600.0
    v_empty: float = 0.0
    v_full: float = float("inf")
    ocv_table: Sequence[Sequence[float]] = ()
    eta_same_state_tol: float = 0.02
    eta_min_ah_in: float = 1.0
    # running book-keeping (persisted)
    ah_in_total: float = 0.0
    ah_out_total: float = 0.0
    ah_in_since_anchor: float = 0.0
    ah_out_since_anchor: float = 0.0
    anchor_soc: float | None = None
    rest_elapsed_s: float = 0.0
    recalibrated_this_rest: bool = False
    limit_flag: str = ""  # "full" / "empty" once a voltage limit was reached, until the next rest uses it

    @classmethod
    def from_soc(cls, capacity_ah: float, eta_c: float, soc: float, **kwargs: Any) -> "CoulombCounter":
        """Counter holding ``soc`` [pu] of ``capacity_ah`` [Ah]."""
        return cls(capacity_ah=capacity_ah, eta_c=eta_c, ah=soc * capacity_ah, **kwargs)

    @property
    def soc(self) -> float:
        """State of charge [pu] = Ah / C_nom."""
        return self.ah / self.capacity_ah

    @property
    def at_rest(self) -> bool:
        """True once the current stayed below the rest threshold for the minimum rest time."""
        return self.rest_elapsed_s >= self.rest_min_s

    def integrate(self, current_a: float, dt_s: float) -> None:
        """Count ``current_a`` [A] (> 0 charging) flowing for ``dt_s`` [s]; the Ah content is clamped to [0, C]."""
        if dt_s < 0:
            raise ValueError(f"dt_s must be >= 0, got {dt_s}")
        ah = current_a * dt_s / 3600.0
        if ah > 0:
            self.ah_in_total += ah
            self.ah_in_since_anchor += ah
            self.ah += self.eta_c * ah
        else:
            self.ah_out_total -= ah
            self.ah_out_since_anchor -= ah
            self.ah += ah
        self.ah = min(max(self.ah, 0.0), self.capacity_ah)

    def update(self, current_a: float, dt_s: float, voltage_v: float | None = None) -> RecalibrationEvent | None:
        """Integrate one step, track rest and voltage limits, and recalibrate when a rest is long enough.

        Parameters
        ----------
        current_a : float
            Mean string current over the step [A], > 0 charging.
        dt_s : float
            Step length [s].
        voltage_v : float, optional
            String voltage at the end of the step [V] (terminal voltage while current flows, OCV at rest).

        Returns
        -------
        RecalibrationEvent or None
            Set on the step where a rest first becomes long enough and an anchor (voltage limit or OCV table) exists.
        """
        self.integrate(current_a, dt_s)
        if voltage_v is not None:
            if voltage_v >= self.v_full:
                self.limit_flag = "full"
            elif voltage_v <= self.v_empty:
                self.limit_flag = "empty"
        if abs(current_a) < self.rest_current_a:
            self.rest_elapsed_s += dt_s
        else:
            self.rest_elapsed_s = 0.0
            self.recalibrated_this_rest = False
        if self.at_rest and not self.recalibrated_this_rest:
            return self.recalibrate(voltage_v)
        return None

    def soc_from_ocv(self, voltage_v: float) -> float | None:
        """SOC [pu] interpolated from the OCV table (clamped to its ends), or None without a table."""
        if len(self.ocv_table) < 2:
            return None
        table = np.asarray(self.ocv_table, dtype=float)
        return float(np.interp(voltage_v, table[:, 1], table[:, 0]))

    def recalibrate(self, voltage_v: float | None) -> RecalibrationEvent | None:
        """Anchor the SOC at a rest and, between two anchors at the same state, re-estimate ``eta_c``."""
        if self.limit_flag == "full" or (voltage_v is not None and voltage_v >= self.v_full):
            cause, soc_new = "voltage_full", 1.0
        elif self.limit_flag == "empty" or (voltage_v is not None and voltage_v <= self.v_empty):
            cause, soc_new = "voltage_empty", 0.0
        elif voltage_v is not None and (soc_ocv := self.soc_from_ocv(voltage_v)) is not None:
            cause, soc_new = "ocv", soc_ocv
        else:
            return None
        self.recalibrated_this_rest = True
        self.limit_flag = ""
        soc_before, eta_before = self.soc, self.eta_c
        eta_updated = False
        if self.anchor_soc is not None and abs(soc_new - self.anchor_soc) <= self.eta_same_state_tol \
                and self.ah_in_since_anchor >= self.eta_min_ah_in:
            eta = estimate_efficiency(self.ah_in_since_anchor, self.ah_out_since_anchor,
                                      (soc_new - self.anchor_soc) * self.capacity_ah)
            if 0 < eta <= 1:
                self.eta_c, eta_updated = eta, True
            else:
                LOG.warning("efficiency estimate %.4f from %.3f Ah in / %.3f Ah out is outside (0, 1]; keeping %.4f",
                            eta, self.ah_in_since_anchor, self.ah_out_since_anchor, self.eta_c)
        self.ah = soc_new * self.capacity_ah
        self.anchor_soc = soc_new
        self.ah_in_since_anchor = 0.0
        self.ah_out_since_anchor = 0.0
        event = RecalibrationEvent(cause, soc_before, soc_new, eta_before, self.eta_c, eta_updated)
        LOG.info("recalibrated at rest (%s): SOC %.4f -> %.4f, eta_c %.4f -> %.4f", cause, soc_before, soc_new,
                 eta_before, self.eta_c)
        return event

    def reconcile(self, measured_soc: float, gain: float) -> None:
        """Blend the estimate toward a measured SOC: ``soc += gain * (measured - soc)`` (gain in [0, 1])."""
        soc = self.soc + gain * (measured_soc - self.soc)
        self.ah = min(max(soc, 0.0), 1.0) * self.capacity_ah

    def to_dict(self) -> dict[str, Any]:
        """Every field, for the persisted manager state."""
        data = dataclasses.asdict(self)
        data["ocv_table"] = [list(row) for row in self.ocv_table]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CoulombCounter":
        """Inverse of :meth:`to_dict`; unknown or missing keys raise (the caller reports a corrupt state)."""
        return cls(**data)


def estimate_efficiency(ah_in: float, ah_out: float, delta_ah: float = 0.0) -> float:
    """Coulombic efficiency from the charge counted between two anchors.

    Parameters
    ----------
    ah_in, ah_out : float
        Raw charge [Ah] that went in and came out between the anchors (both >= 0, ``ah_in`` > 0).
    delta_ah : float
        Change of stored charge between the anchors [Ah], ``(SOC_2 - SOC_1) C``; 0 for rests at the same state.

    Returns
    -------
    float
        ``(ah_out + delta_ah) / ah_in``; e.g. 105.263 Ah in and 100 Ah out at equal states give 0.95.
    """
    if ah_in <= 0:
        raise ValueError(f"ah_in must be > 0, got {ah_in}")
    return (ah_out + delta_ah) / ah_in
