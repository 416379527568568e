"""GridLAB-D's internal LI_ION battery model (``generators/battery.cpp``), re-stated for tests and voltage sensing.

Why here: GridLAB-D reports the battery's ``state_of_charge`` but no string voltage, while the manager's voltage guards
and OCV recalibration need one. The adapter therefore derives the voltage the real string would show from the reported
SOC with the same equations GridLAB-D integrates (GridLAB-D devices reference §3), and the unit tests use
:class:`LiIonPlant` as a closed-loop battery whose true efficiency differs from the manager's guess.

Sign convention here: ``bat_load`` > 0 charges (GridLAB-D's internal convention); the inverter's ``P_Out`` is its
negative.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def cells_in_series(nominal_voltage_v: float) -> int:
    """Number of 4.1 V cells GridLAB-D assumes: ``floor(V_nom / 4.1)`` (480 V -> 117)."""
    return int(math.floor(nominal_voltage_v / 4.1))


def li_ion_ocv(soc: float, nominal_voltage_v: float) -> float:
    """Open-circuit voltage [V] of the LI_ION model: ``n ((0.5/0.9) soc + 4.1 - 0.5/0.9)``.

    GridLAB-D uses this line for soc > 0.1; below that it is used here too (the manager never goes that low).
    """
    k = 0.5 / 0.9
    return cells_in_series(nominal_voltage_v) * (k * soc + 4.1 - k)


def ocv_table(nominal_voltage_v: float, points: int = 11) -> list[list[float]]:
    """``[[soc, volts], ...]`` from :func:`li_ion_ocv` on an even SOC grid, for the manager's config."""
    return [[i / (points - 1), li_ion_ocv(i / (points - 1), nominal_voltage_v)] for i in range(points)]


def internal_power(bat_load_w: float, soc: float, *, nominal_voltage_v: float, rated_power_w: float,
                   round_trip_efficiency: float) -> tuple[float, float]:
    """Power that reaches the cells and the terminal voltage for a battery load.

    Parameters
    ----------
    bat_load_w : float
        Power at the battery terminals [W], > 0 charging.
    soc : float
        State of charge [pu].
    nominal_voltage_v, rated_power_w, round_trip_efficiency : float
        GLM ``nominal_voltage`` [V], ``rated_power`` [W], ``round_trip_efficiency`` [pu].

    Returns
    -------
    (float, float)
        ``(P_int [W], v_t [V])``; e.g. 480 V, 5000 W, 0.86, soc 0.5, +5000 W -> 4636.809 W.
    """
    v_oc = li_ion_ocv(soc, nominal_voltage_v)
    if bat_load_w == 0:
        return 0.0, v_oc
    sqrt_eta = math.sqrt(round_trip_efficiency)
    p_br = rated_power_w * sqrt_eta if bat_load_w > 0 else rated_power_w / sqrt_eta
    r_in = v_oc ** 2 * abs(p_br - rated_power_w) / p_br ** 2
    v_t = (v_oc + math.sqrt(v_oc ** 2 + 4.0 * bat_load_w * r_in)) / 2.0
    return v_oc * bat_load_w / v_t, v_t


def terminal_voltage(p_out_w: float, soc: float, *, nominal_voltage_v: float, rated_power_w: float,
                     round_trip_efficiency: float) -> float:
    """String voltage [V] while the inverter delivers ``p_out_w`` (> 0 discharge) at ``soc``; the OCV at rest."""
    return internal_power(-p_out_w, soc, nominal_voltage_v=nominal_voltage_v, rated_power_w=rated_power_w,
                          round_trip_efficiency=round_trip_efficiency)[1]


@dataclass
class LiIonPlant:
    """A GridLAB-D-style LI_ION battery integrated with explicit Euler steps (what GridLAB-D does per step)."""

    capacity_wh: float
    nominal_voltage_v: float
    rated_power_w: float
    round_trip_efficiency: float
    soc: float
    reserve_soc: float = 0.0

    def step(self, p_out_w: float, dt_s: float) -> tuple[float, float]:
        """Deliver ``p_out_w`` [W, > 0 discharge] for ``dt_s``; returns ``(delivered_w, terminal_v)``.

        Like the CONSTANT_PQ inverter, a full battery refuses to charge and one at its reserve refuses to discharge
        (delivered power 0).
        """
        if (p_out_w < 0 and self.soc >= 1.0) or (p_out_w > 0 and self.soc <= self.reserve_soc):
            return 0.0, li_ion_ocv(self.soc, self.nominal_voltage_v)
        p_int, v_t = internal_power(-p_out_w, self.soc, nominal_voltage_v=self.nominal_voltage_v,
                                    rated_power_w=self.rated_power_w, round_trip_efficiency=self.round_trip_efficiency)
        soc = self.soc + p_int * dt_s / 3600.0 / self.capacity_wh
        self.soc = min(max(soc, self.reserve_soc if p_out_w > 0 else 0.0), 1.0)
        return p_out_w, v_t
