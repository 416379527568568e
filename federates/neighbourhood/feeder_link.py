"""The neighbourhood beside a GridLAB-D feeder: which house is whose, job power for the feeder, PV measured by it.

Pure core (no HELICS). When the ``neighbourhood:`` section has ``feeder: true``:

* households map to the feeder's houses in order (:func:`map_households`); each producer takes its production from
  the PV inverter of its household's house;
* the consumers federate publishes, for every household, the mean power of its running contracted jobs over the
  feeder's next step (:func:`household_job_power_kw`, kW, energy-exact from the cumulative load profiles); the feeder
  writes it into the house's ``<house>_jobs`` ZIPload (``base_power``, constant power);
* the producers federate integrates the inverters' ``VA_Out`` (real part, W) as the feeder published it
  (:class:`MeasuredProduction`): the feeder holds a value over its whole step, so the cumulative energy is exact
  at every publication time and linear in between.

Causality: a start chosen at time ``t`` can only become load in the feeder at its next step, so with the feeder the
producers schedule and the consumers buy from the grid as if it were already ``t + lead_s`` (one hop later): no job
is ever contracted to start in an interval whose power the feeder has already been given.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from vppfed.federates.neighbourhood.model import Contract, Profile


def jobs_load_name(house: str) -> str:
    """Name of the job ZIPload the feeder generator adds to ``house`` (``FeederSpec.job_loads``)."""
    return f"{house}_jobs"


def job_power_key(household: str) -> str:
    """Local key of the consumers federate's publication of ``household``'s job power (kW)."""
    return f"job_power_{household}"


@dataclass
class FeederMapping:
    """Households and producers placed on the feeder.

    Attributes
    ----------
    houses : dict
        Household id -> feeder house name (in order: the i-th household gets the i-th house).
    pv_inverters : dict
        Producer id -> PV inverter name of its household's house.
    """

    houses: dict[str, str] = field(default_factory=dict)
    pv_inverters: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"houses": dict(self.houses), "pv_inverters": dict(self.pv_inverters)}


def map_households(households: Sequence[str], feeder_houses: Sequence[str],
                   producer_house: Mapping[str, str], pv_inverter_of: Mapping[str, str]) -> FeederMapping:
    """Place households on feeder houses in order and find each producer's PV inverter.

    Parameters
    ----------
    households : sequence of str
        Household ids in the neighbourhood's order (:meth:`~.model.Neighbourhood.house_ids`).
    feeder_houses : sequence of str
        The feeder's houses in generation order.
    producer_house : mapping
        Producer id -> household id.
    pv_inverter_of : mapping
        Feeder house -> its PV inverter (houses without PV are absent).

    Raises
    ------
    ValueError
        More households than houses, or a producer whose house has no PV inverter (the message says which).
    """
    if len(households) > len(feeder_houses):
        raise ValueError(f"the neighbourhood has {len(households)} households but the feeder only "
                         f"{len(feeder_houses)} houses; raise feeder.houses")
    houses = dict(zip(households, feeder_houses))
    inverters = {}
    for pid in sorted(producer_house):
        house = houses[producer_house[pid]]
        if house not in pv_inverter_of:
            raise ValueError(f"producer {pid} (household {producer_house[pid]}) is on feeder house {house}, which "
                             f"has no PV inverter; raise feeder.pv_fraction (1.0 gives every house PV)")
        inverters[pid] = pv_inverter_of[house]
    return FeederMapping(houses, inverters)


def household_job_power_kw(contracts: Iterable[Contract], households: Iterable[str], t0_s: float,
                           t1_s: float) -> dict[str, float]:
    """Mean power of each household's contracted jobs over ``[t0_s, t1_s)``, kW.

    Energy-exact: the energy of each job in the interval (difference of its cumulative load, time-linear) divided by
    the interval's length, so a feeder holding these values step by step draws exactly the jobs' energy.

    Parameters
    ----------
    contracts : iterable of Contract
        Contracts with their (current) start times, s.
    households : iterable of str
        Households to report (0 kW when they have nothing running).
    t0_s, t1_s : float
        Interval, s (``t1_s > t0_s``).
    """
    if t1_s <= t0_s:
        raise ValueError("the interval must have t1_s > t0_s")
    power = {h: 0.0 for h in households}
    for c in contracts:
        if c.house not in power or c.start_s >= t1_s or c.start_s + c.profile.times_s[-1] <= t0_s:
            continue
        e0, e1 = c.profile.at(np.array([t0_s, t1_s]) - c.start_s)
        power[c.house] += (e1 - e0) * 3.6 / (t1_s - t0_s)   # Wh over s -> kW
    return power


class MeasuredProduction:
    """Cumulative energy of a power signal that is held between updates (a feeder's published PV output).

    ``update(t, w)`` says the power is ``w`` watts from ``t`` on; :meth:`profile` gives the cumulative Wh at every
    update time (exact, since the power is constant in between), starting from 0 Wh at ``start_s`` with 0 W.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self.times = [float(start_s)]
        self.cumulative = [0.0]
        self.power_w = 0.0

    def update(self, time_s: float, power_w: float) -> None:
        """The power is ``power_w`` (W) from ``time_s`` (s) on; times must not decrease."""
        t = float(time_s)
        if t < self.times[-1]:
            raise ValueError(f"update at {t:g} s is before the previous one at {self.times[-1]:g} s")
        energy = self.cumulative[-1] + self.power_w * (t - self.times[-1]) / 3600.0
        if t == self.times[-1]:
            self.cumulative[-1] = energy
        else:
            self.times.append(t)
            self.cumulative.append(energy)
        self.power_w = float(power_w)

    def profile(self, end_s: float) -> Profile:
        """Cumulative production (Wh) at every update time and at ``end_s`` (the last power held until then)."""
        times, cumulative = list(self.times), list(self.cumulative)
        if end_s > times[-1]:
            times.append(float(end_s))
            cumulative.append(cumulative[-1] + self.power_w * (end_s - self.times[-1]) / 3600.0)
        return Profile(np.array(times), np.array(cumulative))

    @property
    def energy_wh(self) -> float:
        """Energy up to the last update, Wh."""
        return self.cumulative[-1]
