"""HVAC bidders: TESP's single symmetric ramp (``CN_RAMP``) and GridLAB-D's double ramp (pure core, no HELICS).

Why two: TESP's TE30 controllers (the reference results) use the single ramp of ``hvac_agent``; GridLAB-D's own
``controller`` object (``control_mode RAMP``) has separate slopes and ranges above and below the base set point, which
the double ramp reproduces for studies that want asymmetric comfort bands. Temperatures in degF, prices in $/kWh,
power in kW.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

#: Keys of a controller row in TESP's ``<root>_agent_dict.json`` (1.3.7 naming), in TESP's order.
CONTROLLER_KEYS = (
    "control_mode", "meterName", "houseName", "houseClass", "period",
    "wakeup_start", "daylight_start", "evening_start", "night_start",
    "wakeup_set", "daylight_set", "evening_set", "night_set",
    "weekend_day_start", "weekend_day_set", "weekend_night_start", "weekend_night_set",
    "deadband", "offset_limit", "ramp", "price_cap", "bid_delay", "use_predictive_bidding", "use_override",
)


@dataclass(frozen=True)
class SetpointSchedule:
    """Daily cooling set-point schedule of one house (start hours 0-24, set points degF).

    Weekdays have four periods (wakeup, daylight, evening, night; night also covers the early morning), weekends two
    (day, night).
    """

    wakeup_start: float
    daylight_start: float
    evening_start: float
    night_start: float
    wakeup_set: float
    daylight_set: float
    evening_set: float
    night_set: float
    weekend_day_start: float
    weekend_day_set: float
    weekend_night_start: float
    weekend_night_set: float

    def base_setpoint(self, hour: float, weekday: int) -> float:
        """Scheduled set point (degF) at ``hour`` (0-24) on ``weekday`` (0 = Monday ... 6 = Sunday)."""
        if weekday > 4:
            if self.weekend_day_start <= hour < self.weekend_night_start:
                return self.weekend_day_set
            return self.weekend_night_set
        if self.wakeup_start <= hour < self.daylight_start:
            return self.wakeup_set
        if self.daylight_start <= hour < self.evening_start:
            return self.daylight_set
        if self.evening_start <= hour < self.night_start:
            return self.evening_set
        return self.night_set


@dataclass(frozen=True)
class HvacBid:
    """One demand bid: price $/kWh, quantity kW, whether the compressor runs now (its load is then measured)."""

    price: float
    quantity: float
    is_on: bool


@dataclass(frozen=True)
class RampParams:
    """Parameters of a TESP ``CN_RAMP`` controller (one row of the agent dictionary's ``controllers``).

    Attributes
    ----------
    name, house, meter : str
        Controller key, GridLAB-D house and its billing meter.
    schedule : SetpointSchedule
        Time-of-day base set points.
    deadband : float
        Thermostat deadband (degF), published once at start.
    offset_limit : float
        Largest set-point change from the schedule (degF); the ramp spans ``Trange = 2 offset_limit``.
    ramp : float
        Bid slope in price standard deviations over ``Trange``.
    price_cap : float
        Highest bid price ($/kWh).
    control_mode : str
        ``CN_RAMP`` (bids and responds) or ``CN_NONE`` (schedule only).
    """

    name: str
    house: str
    meter: str
    schedule: SetpointSchedule
    deadband: float
    offset_limit: float
    ramp: float
    price_cap: float
    control_mode: str = "CN_RAMP"
    period: float = 300.0
    house_class: str = ""
    bid_delay: float = 45.0

    @classmethod
    def from_agent_dict(cls, name: str, row: Mapping[str, Any]) -> "RampParams":
        """Build from a TESP ``controllers`` row; a missing key raises ValueError naming it."""
        try:
            schedule = SetpointSchedule(**{f.name: float(row[f.name]) for f in fields(SetpointSchedule)})
            return cls(name=name, house=str(row["houseName"]), meter=str(row["meterName"]), schedule=schedule,
                       deadband=float(row["deadband"]), offset_limit=float(row["offset_limit"]),
                       ramp=float(row["ramp"]), price_cap=float(row["price_cap"]),
                       control_mode=str(row.get("control_mode", "CN_RAMP")), period=float(row.get("period", 300.0)),
                       house_class=str(row.get("houseClass", "")), bid_delay=float(row.get("bid_delay", 45.0)))
        except KeyError as exc:
            raise ValueError(f"controllers.{name}: missing key {exc.args[0]!r}") from None

    def to_agent_dict(self) -> dict[str, Any]:
        """The TESP ``controllers`` row (keys in TESP's order)."""
        row: dict[str, Any] = {"control_mode": self.control_mode, "meterName": self.meter, "houseName": self.house,
                               "houseClass": self.house_class, "period": self.period}
        row.update({f.name: getattr(self.schedule, f.name) for f in fields(SetpointSchedule)})
        row.update({"deadband": self.deadband, "offset_limit": self.offset_limit, "ramp": self.ramp,
                    "price_cap": self.price_cap, "bid_delay": self.bid_delay, "use_predictive_bidding": 0,
                    "use_override": "OFF"})
        return {k: row[k] for k in CONTROLLER_KEYS}


class RampController:
    """TESP's HVAC agent: bids from the air temperature, moves the cooling set point with the cleared price.

    Bid price ``p = clip(mean + (T_air - T_base) ramp sigma / Trange, 0, price_cap)``, quantity = last non-zero HVAC
    load. Response ``T_set = T_base + clip((P_clear - mean) Trange / (ramp sigma), -offset_limit, +offset_limit)``.
    Why the bid is "always accepted": the set point moves with the price whether or not the block was served, which is
    how TESP closes the loop (a high price raises the set point, so the compressor runs less).

    Parameters
    ----------
    params : RampParams
        Controller parameters.
    mean, std_dev : float
        Expected price and its standard deviation ($/kWh). TESP gives every agent the auction's initial price and
        sigma and never updates them; :meth:`set_price_statistics` allows rolling statistics.
    """

    def __init__(self, params: RampParams, mean: float, std_dev: float) -> None:
        self.params = params
        self.mean = float(mean)
        self.std_dev = float(std_dev)
        self.trange = abs(2.0 * params.offset_limit)
        self.air_temperature = 78.0
        self.hvac_kw = 3.0
        self.hvac_on = False
        self.basepoint = 0.0
        self.setpoint = 0.0
        self.bid_price = 0.0
        self.cleared_price = 0.0

    @property
    def name(self) -> str:
        """Controller key."""
        return self.params.name

    def set_price_statistics(self, mean: float, std_dev: float) -> None:
        """Replace the expected price and sigma ($/kWh) the ramp is centred on."""
        self.mean, self.std_dev = float(mean), float(std_dev)

    def observe(self, air_temperature: float | None = None, hvac_load: float | None = None,
                power_state: str | bool | None = None) -> None:
        """Take new measurements: air temperature (degF), HVAC load (kW; zeros keep the last running value),
        compressor state (``'ON'``/``'OFF'`` string from GridLAB-D, or a bool)."""
        if air_temperature is not None:
            self.air_temperature = float(air_temperature)
        if hvac_load is not None and hvac_load > 0.0:
            self.hvac_kw = float(hvac_load)
        if power_state is not None:
            if isinstance(power_state, str):
                self.hvac_on = power_state.strip().upper() != "OFF"
            else:
                self.hvac_on = bool(power_state)

    def update_basepoint(self, hour: float, weekday: int) -> bool:
        """Apply the schedule; True when the base set point moved by more than 0.1 degF (then publish it)."""
        value = self.params.schedule.base_setpoint(hour, weekday)
        if abs(self.basepoint - value) > 0.1:
            self.basepoint = value
            return True
        return False

    def bid_price_for(self, air_temperature: float) -> float:
        """Ramp price ($/kWh) at ``air_temperature`` (degF), clipped to [0, price_cap]."""
        p = self.mean + (air_temperature - self.basepoint) * self.params.ramp * self.std_dev / self.trange
        return min(max(p, 0.0), self.params.price_cap)

    def formulate_bid(self) -> HvacBid | None:
        """The bid for the coming period, or None in ``CN_NONE`` mode."""
        if self.params.control_mode == "CN_NONE":
            return None
        self.bid_price = self.bid_price_for(self.air_temperature)
        return HvacBid(self.bid_price, self.hvac_kw, self.hvac_on)

    def setpoint_for(self, cleared_price: float) -> float:
        """Cooling set point (degF) the controller adopts at ``cleared_price`` ($/kWh)."""
        offset = (cleared_price - self.mean) * self.trange / self.params.ramp / self.std_dev
        offset = min(max(offset, -self.params.offset_limit), self.params.offset_limit)
        return self.basepoint + offset

    def respond(self, cleared_price: float) -> float | None:
        """Take the cleared price; return the new set point (degF) or None when the mode/statistics give none."""
        self.cleared_price = float(cleared_price)
        if self.params.control_mode == "CN_RAMP" and self.std_dev > 0.0:
            self.setpoint = self.setpoint_for(self.cleared_price)
            return self.setpoint
        return None


@dataclass(frozen=True)
class DoubleRampParams:
    """GridLAB-D ``controller`` in ``RAMP`` mode, cooling.

    Attributes
    ----------
    base_setpoint : float
        T0 (degF).
    ramp_low, ramp_high : float
        Slopes below/above T0 in price standard deviations.
    range_low, range_high : float
        Band limits relative to T0 (degF), ``range_low <= 0 <= range_high``.
    price_cap : float
        Bid price when the house is hotter than the band ($/kWh).
    """

    base_setpoint: float
    ramp_low: float
    ramp_high: float
    range_low: float
    range_high: float
    price_cap: float = 3.78

    def validate(self) -> None:
        """Raise ValueError when the band does not bracket the base set point."""
        if not self.range_low <= 0.0 <= self.range_high:
            raise ValueError("range_low/range_high: need range_low <= 0 <= range_high")


class DoubleRampController:
    """Bid and response of GridLAB-D's double ramp (cooling direction).

    Bid: hotter than ``T0 + range_high`` -> price cap; colder than ``T0 + range_low`` -> no bid; otherwise
    ``avg + (T - T0) k sigma / |T_lim|`` with the high (T > T0) or low ramp/range. Response:
    ``T0 + (P - avg) |range_x| / (ramp_x sigma)`` clipped to the band, x chosen by the sign of ``P - avg``.
    """

    def __init__(self, params: DoubleRampParams) -> None:
        params.validate()
        self.params = params

    def bid_price(self, air_temperature: float, avg: float, std: float) -> float | None:
        """Bid price ($/kWh) at ``air_temperature`` (degF) for mean ``avg`` and sigma ``std``; None = no bid."""
        p = self.params
        t_max, t_min = p.base_setpoint + p.range_high, p.base_setpoint + p.range_low
        if air_temperature > t_max:
            return p.price_cap
        if air_temperature < t_min:
            return None
        dt = air_temperature - p.base_setpoint
        if dt == 0.0:
            return avg
        k, lim = (p.ramp_high, p.range_high) if dt > 0 else (p.ramp_low, p.range_low)
        if lim == 0.0:
            return avg
        return avg + dt * k * std / abs(lim)

    def setpoint(self, cleared_price: float, avg: float, std: float) -> float:
        """Cooling set point (degF) at ``cleared_price``, clipped to the band."""
        p = self.params
        t_max, t_min = p.base_setpoint + p.range_high, p.base_setpoint + p.range_low
        dp = cleared_price - avg
        if dp == 0.0 or std <= 0.0:
            return p.base_setpoint
        k, lim = (p.ramp_high, p.range_high) if dp > 0 else (p.ramp_low, p.range_low)
        if k == 0.0:
            return t_max if dp > 0 else t_min
        t = p.base_setpoint + dp * abs(lim) / (k * std)
        return min(max(t, t_min), t_max) if math.isfinite(t) else p.base_setpoint
