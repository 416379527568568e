"""Market mode on the substation's double auction: price statistics, the bid of each period, the award, the timing.

The battery takes part in the retail auction of ``sub_<bus>`` (market-and-bidding reference §6-7) as an external
bidder: once per market period it sends charge blocks (buyer, ``collect_bid(..., is_on=False)``) and discharge blocks
(seller, ``supplier_bid``) and, after the clearing, follows the quantity its blocks were awarded.

Why its own price statistics: TE30 has no day-ahead market to hand the DSO+T agent its forecast ``f_DA``. The battery
learns from the clearing prices it is sent (:class:`PriceStatistics`): the hourly means of the last completed day are
its reference profile (before the first midnight: a prior, the case's initial price, or what today showed so far).
A day unlike the last one (a generator outage) shows first as prices far from that profile; the *level*, an
exponential mean (weight ``1 / level_memory``) of ``log(price / reference)``, scales the forecast
(``f_k = reference_k exp(level decay^k)``: scaled persistence, "today is like yesterday, only dearer"), so a battery
that sees the morning of an outage day expects its afternoon to be dear too.
The four-point bid needs a price spread for its slope; a flat profile (the first day) would make the bid a
step at one price, so the spread is at least ``spread_sigmas`` standard deviations of the last day's prices (prior:
the market's ``init_stdev``), the auction's own ``SY_STDEV`` statistic.

Per period the bid is the DSO+T one (:func:`~vppfed.federates.battery.market.four_point_bid`) centred on ``Q_t``, the
first hour of a rolling 24-hour arbitrage schedule (LP) from the state of charge expected at the start of the
interval, clipped to what that state of charge allows over the interval and cut into blocks. Quantities kW, prices
$/kWh; inside a bid Q > 0 buys (charges); a set point is > 0 when discharging (the inverter's ``P_Out`` sign).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from vppfed.federates.battery.market import arbitrage_schedule, bid_to_blocks, four_point_bid

#: Auction clearing types that carry no market price (TESP codes: 0 Null, 1 Fail).
UNPRICED_TYPES = (0, 1)


# ------------------------------------------------------------------------------------------------ price statistics
@dataclass
class PriceStatistics:
    """The battery's price forecast: yesterday's hourly profile scaled by today's level, and the price spread.

    Attributes
    ----------
    reference : list of 24 float
        Hourly mean prices of the last completed day [$/kWh] (the prior for hours no day has completed yet).
    learned : list of 24 bool
        Whether ``reference[h]`` comes from observed prices.
    today_sum, today_n : list of 24
        Sum [$/kWh] and count of the current day's prices per hour.
    last_hour : float or None
        Local hour of the last observation (a smaller one starts a new day).
    recent : list of float
        The last ``window`` prices [$/kWh], for the standard deviation.
    prior_stdev : float
        Standard deviation [$/kWh] used until two prices have been seen.
    window : int
        Length of ``recent`` (288 = one day of five-minute prices).
    level : float
        Exponential mean of ``log(price / reference)`` over hours with a learned reference (0 = as yesterday).
    level_memory : int
        Prices the level averages over (weight ``1 / level_memory``); 0 disables the level.
    level_decay : float
        Per hour ahead, the level's weight in the forecast is multiplied by this (1 = the whole horizon).
    """

    reference: list[float]
    learned: list[bool] = field(default_factory=lambda: [False] * 24)
    today_sum: list[float] = field(default_factory=lambda: [0.0] * 24)
    today_n: list[int] = field(default_factory=lambda: [0] * 24)
    last_hour: float | None = None
    recent: list[float] = field(default_factory=list)
    prior_stdev: float = 0.01
    window: int = 288
    level: float = 0.0
    level_memory: int = 12
    level_decay: float = 1.0

    @classmethod
    def from_prior(cls, prices: Sequence[float], prior_stdev: float, *, window: int = 288, level_memory: int = 12,
                   level_decay: float = 1.0) -> "PriceStatistics":
        """Statistics that know only the prior: 24 hourly prices [$/kWh] and a standard deviation [$/kWh]."""
        if len(prices) != 24:
            raise ValueError(f"price prior: need 24 hourly prices, got {len(prices)}")
        return cls([float(p) for p in prices], prior_stdev=float(prior_stdev), window=int(window),
                   level_memory=int(level_memory), level_decay=float(level_decay))

    def observe(self, hour: float, price: float) -> None:
        """Learn one clearing price [$/kWh] of the interval starting at local ``hour`` [h].

        The level learns only against a learned reference (against the prior it would learn the prior's error) and
        only from positive prices (a log-ratio).
        """
        hod = float(hour) % 24.0
        if self.last_hour is not None and hod < self.last_hour - 1e-9:
            self._close_day()
        self.last_hour = hod
        h = int(math.floor(hod))
        ref = self.reference[h]
        if self.level_memory > 0 and self.learned[h] and price > 0 and ref > 0:
            self.level += (math.log(price / ref) - self.level) / self.level_memory
        self.today_sum[h] += float(price)
        self.today_n[h] += 1
        self.recent.append(float(price))
        if len(self.recent) > self.window:
            del self.recent[: len(self.recent) - self.window]

    def _close_day(self) -> None:
        """Midnight: the day's hourly means become the reference."""
        for h in range(24):
            if self.today_n[h]:
                self.reference[h] = self.today_sum[h] / self.today_n[h]
                self.learned[h] = True
        self.today_sum, self.today_n = [0.0] * 24, [0] * 24

    def stdev(self) -> float:
        """Population standard deviation of the recent prices [$/kWh] (the prior with fewer than two)."""
        if len(self.recent) < 2:
            return self.prior_stdev
        return float(np.std(self.recent))

    def forecast(self, hour: float, hours: int) -> np.ndarray:
        """Prices [$/kWh] of ``hours`` whole hours from the one containing local ``hour``.

        Hour ``k`` ahead is ``reference exp(level decay^k)``, except where today already showed that hour and the
        reference cannot say more (tomorrow's hours, or hours no day has completed yet): there today's mean, as is.
        """
        h0 = int(math.floor(float(hour) % 24.0))
        out = np.empty(hours)
        for k in range(hours):
            h = (h0 + k) % 24
            if self.today_n[h] and (h0 + k >= 24 or not self.learned[h]):
                out[k] = self.today_sum[h] / self.today_n[h]
            else:
                out[k] = self.reference[h] * math.exp(self.level * self.level_decay ** k)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"reference": list(self.reference), "learned": list(self.learned), "today_sum": list(self.today_sum),
                "today_n": list(self.today_n), "last_hour": self.last_hour, "recent": list(self.recent),
                "prior_stdev": self.prior_stdev, "window": self.window, "level": self.level,
                "level_memory": self.level_memory, "level_decay": self.level_decay}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PriceStatistics":
        stats = cls([float(v) for v in data["reference"]], [bool(v) for v in data["learned"]],
                    [float(v) for v in data["today_sum"]], [int(v) for v in data["today_n"]],
                    None if data["last_hour"] is None else float(data["last_hour"]),
                    [float(v) for v in data["recent"]], float(data["prior_stdev"]), int(data["window"]),
                    float(data["level"]), int(data["level_memory"]), float(data["level_decay"]))
        if not (len(stats.reference) == len(stats.learned) == len(stats.today_sum) == len(stats.today_n) == 24):
            raise ValueError("price statistics: need 24 hourly values")
        return stats


# ---------------------------------------------------------------------------------------------------------- timing
def bid_clearing_time(t_s: float, control_s: float, market_s: float, lead_s: float) -> float | None:
    """The clearing time [s] whose bid is due at control step ``t_s``, or None.

    Clearings are at ``k * market_s`` (k >= 1, as the market federate). A bid for clearing ``T`` must reach the market
    by ``T - lead_s``; it is sent at the last control step at or before that, i.e. at ``t_s`` when ``t_s <= T - lead_s
    < t_s + control_s``. E.g. 300 s market, 45 s lead: 60 s steps bid at 240 s for 300 s; 300 s steps bid at 0 s.
    """
    k = max(1, math.ceil((t_s + lead_s) / market_s - 1e-9))
    clear = k * market_s
    if t_s + control_s > clear - lead_s + 1e-9:
        return float(clear)
    return None


# --------------------------------------------------------------------------------------------------- bid and award
@dataclass(frozen=True)
class MarketBid:
    """One period's bid as sent to the auction.

    Attributes
    ----------
    clear_at_s : float
        Clearing time it is for [s]; it covers ``[clear_at_s, clear_at_s + market period)``.
    q_t : float
        Scheduled quantity [kW] (> 0 charge), the centre of the bid.
    f_t, f_lo, f_hi : float
        Forecast price of the interval and the price band that sets the slope [$/kWh].
    points : tuple of 4 (Q kW, P $/kWh)
        The clipped four-point bid.
    sells, buys : tuple of (P $/kWh, kW)
        Discharge (seller) and charge (buyer) blocks.
    """

    clear_at_s: float
    q_t: float
    f_t: float
    f_lo: float
    f_hi: float
    points: tuple[tuple[float, float], ...]
    sells: tuple[tuple[float, float], ...]
    buys: tuple[tuple[float, float], ...]

    @property
    def sell_kw(self) -> float:
        """Discharge offered [kW]."""
        return float(sum(q for _, q in self.sells))

    @property
    def buy_kw(self) -> float:
        """Charge bid [kW]."""
        return float(sum(q for _, q in self.buys))

    @property
    def sell_price(self) -> float | None:
        """Price at which the battery starts to sell [$/kWh] (its cheapest sell block), None without one."""
        return min(p for p, _ in self.sells) if self.sells else None

    @property
    def buy_price(self) -> float | None:
        """Price up to which the battery starts to buy [$/kWh] (its dearest buy block), None without one."""
        return max(p for p, _ in self.buys) if self.buys else None

    @property
    def empty(self) -> bool:
        """True when there is nothing to offer (the market would reject the message)."""
        return not self.sells and not self.buys

    def message(self, bidder: str) -> dict[str, Any]:
        """The JSON document for ``sub_<bus>/market`` (``{"bidder", "sell": [[P, kW]], "buy": [[P, kW]]}``)."""
        return {"bidder": bidder, "sell": [[p, q] for p, q in self.sells], "buy": [[p, q] for p, q in self.buys]}

    def to_dict(self) -> dict[str, Any]:
        return {"clear_at_s": self.clear_at_s, "q_t": self.q_t, "f_t": self.f_t, "f_lo": self.f_lo,
                "f_hi": self.f_hi, "points": [list(p) for p in self.points], "sells": [list(b) for b in self.sells],
                "buys": [list(b) for b in self.buys]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MarketBid":
        def pairs(key: str) -> tuple[tuple[float, float], ...]:
            return tuple((float(a), float(b)) for a, b in data[key])

        return cls(float(data["clear_at_s"]), float(data["q_t"]), float(data["f_t"]), float(data["f_lo"]),
                   float(data["f_hi"]), pairs("points"), pairs("sells"), pairs("buys"))


@dataclass(frozen=True)
class Award:
    """What the market sent back after a clearing.

    Attributes
    ----------
    clear_at_s : float
        Clearing time [s]; the award holds for one market period from it.
    price : float
        Clearing price [$/kWh].
    clearing_type : int
        TESP code (0 Null, 1 Fail, 2 Price, 3 Exact, 4 Seller, 5 Buyer).
    bought_kw, sold_kw : float
        Charge and discharge awarded [kW].
    """

    clear_at_s: float
    price: float
    clearing_type: int
    bought_kw: float
    sold_kw: float

    @property
    def setpoint_kw(self) -> float:
        """The awarded set point [kW, > 0 discharge]."""
        return self.sold_kw - self.bought_kw

    @property
    def priced(self) -> bool:
        """True when the clearing produced a market price (not Null, not Fail)."""
        return self.clearing_type not in UNPRICED_TYPES

    @classmethod
    def from_message(cls, payload: str | bytes, clear_at_s: float) -> "Award":
        """Decode the market's reply (``{"clear_price", "clearing_type", "bought_kw", "sold_kw", ...}``).

        Raises ValueError on a malformed message.
        """
        try:
            data = json.loads(payload)
            return cls(float(clear_at_s), float(data["clear_price"]), int(data["clearing_type"]),
                       float(data["bought_kw"]), float(data["sold_kw"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"award at t = {clear_at_s:g} s: malformed ({exc!r})") from None

    def to_dict(self) -> dict[str, Any]:
        return {"clear_at_s": self.clear_at_s, "price": self.price, "clearing_type": self.clearing_type,
                "bought_kw": self.bought_kw, "sold_kw": self.sold_kw}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Award":
        return cls(float(data["clear_at_s"]), float(data["price"]), int(data["clearing_type"]),
                   float(data["bought_kw"]), float(data["sold_kw"]))


def energy_limits(e_kwh: float, e_min_kwh: float, e_max_kwh: float, period_h: float, *, rc_kw: float, rd_kw: float,
                  eta_charge: float = 1.0, eta_discharge: float = 1.0) -> tuple[float, float]:
    """What the battery can sell / buy at its terminals over one period [kW]: ``(q_lo <= 0, q_hi >= 0)``.

    ``e_kwh`` is the stored energy; charging ``q`` kW stores ``q * eta_charge``, discharging ``q`` kW takes
    ``q / eta_discharge`` out of the store.
    """
    room = max(e_max_kwh - e_kwh, 0.0) / (eta_charge * period_h)
    stock = max(e_kwh - e_min_kwh, 0.0) * eta_discharge / period_h
    return -min(rd_kw, stock), min(rc_kw, room)


def plan_bid(stats: PriceStatistics, *, clear_at_s: float, hour: float, e0_kwh: float, e_min_kwh: float,
             e_max_kwh: float, rc_kw: float, rd_kw: float, q_lo: float, q_hi: float, eta_charge: float = 1.0,
             eta_discharge: float = 1.0, deg: float = 0.005, profit_margin: float = 1.0, slider: float = 0.5,
             horizon_h: int = 24, spread_sigmas: float = 2.0, n_blocks: int = 4) -> MarketBid:
    """The bid for the interval starting at ``clear_at_s`` (local ``hour``).

    Parameters
    ----------
    stats : PriceStatistics
        Price forecast and spread.
    e0_kwh, e_min_kwh, e_max_kwh : float
        Stored energy expected at the interval start and its limits [kWh].
    rc_kw, rd_kw : float
        Charge / discharge ratings [kW].
    q_lo, q_hi : float
        What the battery can honour over the interval [kW] (:func:`energy_limits`, zero in a direction the state
        machine will not allow).
    eta_charge, eta_discharge : float
        Efficiencies between the terminals and the store (the LP schedule's).
    deg, profit_margin, slider : float
        DSO+T bid shape: ``delta = deg (1 + profit_margin)`` [$/kWh]; slider 0 is vertical at ``Q_t``.
    horizon_h : int
        Hours of the rolling arbitrage schedule.
    spread_sigmas : float
        The price band of the slope is at least this many standard deviations of recent prices.
    n_blocks : int
        Blocks per sloped segment of the bid.

    Returns
    -------
    MarketBid
        The four points, the blocks and what they were built from.
    """
    prices = stats.forecast(hour, horizon_h)
    e0 = min(max(e0_kwh, e_min_kwh), e_max_kwh)
    q = arbitrage_schedule(prices, 1.0, e0=e0, e_min=e_min_kwh, e_max=e_max_kwh, p_ch=rc_kw, p_dis=rd_kw,
                           eta_c=eta_charge, eta_d=eta_discharge, deg=deg)
    q_t = float(q[0])
    if abs(q_t) < 1e-9:
        q_t = 0.0
    f_t = float(prices[0])
    f_lo, f_hi = float(prices.min()), float(prices.max())
    floor = spread_sigmas * stats.stdev()
    if f_hi - f_lo < floor:
        mid = 0.5 * (f_hi + f_lo)
        f_lo, f_hi = mid - 0.5 * floor, mid + 0.5 * floor
    bid = four_point_bid(q_t, f_t, f_hi, f_lo, rc=rc_kw, rd=rd_kw, deg=deg, profit_margin=profit_margin,
                         slider=slider).clipped(q_lo, q_hi)
    points = bid.points
    sells, buys = bid_to_blocks(points, n_blocks)
    return MarketBid(float(clear_at_s), q_t, f_t, f_lo, f_hi, tuple((float(a), float(b)) for a, b in points),
                     tuple(sells), tuple(buys))


__all__ = ["Award", "MarketBid", "PriceStatistics", "bid_clearing_time", "energy_limits", "plan_bid"]
