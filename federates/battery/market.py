"""Market mode: a day-ahead arbitrage schedule, the four-point battery bid, its blocks, and the cleared-price response.

Follows the DSO+T battery agent's bid shape (market-and-bidding reference §6-7); our own code, not TESP's.
Quantities in kW and prices in $/kWh. Inside a bid, Q > 0 means buy (charge) and Q < 0 sell (discharge); the
setpoint returned by :func:`setpoint_from_price` has the inverter sign (> 0 discharge).

The bid is the line ``P(Q) = slope Q + b`` shifted up by ``delta`` on the sell side of the scheduled quantity and
down by ``delta`` on the buy side, with ``slope = (f_max - f_min) / (-Rd - Rc) / slider``, ``b = f_t - slope Q_t``
and ``delta = deg (1 + profit_margin)``: the battery sells more when the price is high, buys more when it is low,
and the 2 delta gap around ``Q_t`` covers degradation plus margin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linprog


@dataclass(frozen=True)
class BatteryBid:
    """A four-point bid for one market interval.

    Attributes
    ----------
    q_t : float
        Scheduled quantity [kW] (> 0 charge).
    slope, b, delta : float
        Line parameters ($/kWh per kW, $/kWh, $/kWh).
    q_lo, q_hi : float
        Quantity range the battery can honour this interval [kW] (``-Rd <= q_lo <= q_hi <= Rc``).
    rd, rc : float
        Discharge / charge ratings [kW].
    vertical_prices : tuple of 4 floats or None
        Prices of the slider = 0 bid (all points at ``q_t``).
    """

    q_t: float
    slope: float
    b: float
    delta: float
    rd: float
    rc: float
    q_lo: float
    q_hi: float
    vertical_prices: tuple[float, float, float, float] | None = None

    @property
    def points(self) -> NDArray[np.float64]:
        """The 4x2 array ``[[Q, P], ...]``: (-Rd, Q_t, Q_t, Rc) clipped to [q_lo, q_hi] and priced on the line."""
        if self.vertical_prices is not None:
            q = min(max(self.q_t, self.q_lo), self.q_hi)
            return np.array([[q, p] for p in self.vertical_prices])
        qs = np.clip([-self.rd, self.q_t, self.q_t, self.rc], self.q_lo, self.q_hi)
        shifts = np.array([self.delta, self.delta, -self.delta, -self.delta])
        return np.column_stack([qs, self.slope * qs + self.b + shifts])

    def clipped(self, q_lo: float, q_hi: float) -> "BatteryBid":
        """The same bid restricted to what the battery can do [kW]; clipped points are re-priced on the line."""
        return BatteryBid(self.q_t, self.slope, self.b, self.delta, self.rd, self.rc,
                          max(q_lo, -self.rd), min(q_hi, self.rc), self.vertical_prices)


def four_point_bid(q_t: float, f_t: float, f_max: float, f_min: float, *, rc: float, rd: float, deg: float,
                   profit_margin: float, slider: float) -> BatteryBid:
    """Build the bid for one interval.

    Parameters
    ----------
    q_t : float
        Scheduled quantity [kW], > 0 charge.
    f_t, f_max, f_min : float
        Forecast price of this interval and the extremes of the day [$/kWh].
    rc, rd : float
        Charge and discharge ratings [kW].
    deg, profit_margin : float
        Degradation cost [$/kWh] and margin [pu]; ``delta = deg (1 + profit_margin)``.
    slider : float
        0 gives a vertical bid at ``q_t`` priced (f_max, f_t, f_t, f_min); larger values make it flatter.

    Returns
    -------
    BatteryBid
        E.g. q_t 2, f 0.20 in [0.10, 0.30], 5 kW, deg 0.005, margin 1, slider 0.5 ->
        [[-5, 0.49], [2, 0.21], [2, 0.19], [5, 0.07]].
    """
    delta = deg * (1.0 + profit_margin)
    if slider == 0:
        return BatteryBid(q_t, 0.0, f_t, delta, rd, rc, -rd, rc, (f_max, f_t, f_t, f_min))
    slope = (f_max - f_min) / (-rd - rc) / slider
    return BatteryBid(q_t, slope, f_t - slope * q_t, delta, rd, rc, -rd, rc)


def quantity_limits(soc: float, capacity_kwh: float, period_h: float, *, rc: float, rd: float,
                    soc_min: float, soc_max: float = 0.99) -> tuple[float, float]:
    """What the battery can buy/sell over one period [kW] given its SOC: ``(q_lo <= 0, q_hi >= 0)``."""
    room = max(soc_max - soc, 0.0) * capacity_kwh / period_h
    stock = max(soc - soc_min, 0.0) * capacity_kwh / period_h
    return -min(rd, stock), min(rc, room)


def setpoint_from_price(points: ArrayLike, price: float) -> float:
    """Inverter setpoint [kW, > 0 discharge] for a cleared ``price`` [$/kWh] on a four-point bid.

    Above P0 the battery sells its most (-Q0), below P3 it buys its most (-Q3), between P2 and P1 it holds the
    schedule (-Q1), and on the sloped segments it interpolates.
    """
    pts = np.asarray(points, dtype=float)
    q, p = pts[:, 0], pts[:, 1]
    if price >= p[0]:
        return float(-q[0])
    if price <= p[3]:
        return float(-q[3])
    if p[2] <= price <= p[1]:
        return float(-q[1])
    if price > p[1]:  # segment 0-1
        return float(-np.interp(price, [p[1], p[0]], [q[1], q[0]]))
    return float(-np.interp(price, [p[3], p[2]], [q[3], q[2]]))  # segment 2-3


def bid_to_blocks(points: ArrayLike, n_blocks: int = 10) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Discretise a four-point bid into double-auction blocks.

    Each sloped part is cut into ``n_blocks`` equal quantity blocks, each priced where the curve reaches the middle of
    the block. Returns ``(sells, buys)`` as lists of ``(price $/kWh, kW)``: sells for ``supplier_bid``, buys for
    ``collect_bid(..., is_on=False)``; buy blocks with price <= 0 are dropped, as the auction would drop them.
    """
    pts = np.asarray(points, dtype=float)
    sells: list[tuple[float, float]] = []
    buys: list[tuple[float, float]] = []
    for (q_a, p_a), (q_b, p_b) in ((pts[0], pts[1]), (pts[2], pts[3])):
        if q_b <= q_a:
            continue  # vertical part: no quantity
        edges = np.linspace(q_a, q_b, n_blocks + 1)
        for lo, hi in zip(edges[:-1], edges[1:]):
            for s_lo, s_hi, target in ((min(lo, 0.0), min(hi, 0.0), sells), (max(lo, 0.0), max(hi, 0.0), buys)):
                size = s_hi - s_lo
                if size <= 1e-12:
                    continue
                mid = 0.5 * (s_lo + s_hi)
                price = float(np.interp(mid, [q_a, q_b], [p_a, p_b]))
                if target is buys and price <= 0:
                    continue
                target.append((price, float(size)))
    return sells, buys


def accepted_setpoint(sells: list[tuple[float, float]], buys: list[tuple[float, float]], price: float) -> float:
    """Setpoint [kW, > 0 discharge] after clearing: sells priced <= price and buys priced >= price are accepted."""
    sold = sum(q for p, q in sells if p <= price)
    bought = sum(q for p, q in buys if p >= price)
    return float(sold - bought)


def arbitrage_schedule(prices: ArrayLike, dt_h: float, *, e0: float, e_min: float, e_max: float, p_ch: float,
                       p_dis: float, eta_c: float = 1.0, eta_d: float = 1.0, deg: float = 0.0,
                       e_final: float | None = None) -> NDArray[np.float64]:
    """Day-ahead schedule that buys low and sells high (LP, HiGHS).

    Maximises ``sum f_t (d_t - c_t) dt - deg (d_t + c_t) dt`` subject to the same energy and power limits as the
    peak-shaving LP. Returns ``Q_t = c_t - d_t`` [kW] (> 0 charge), the quantity the bid is centred on.
    """
    f = np.asarray(prices, dtype=float)
    n = f.size
    lower = np.tril(np.ones((n, n)))
    a_e = np.hstack([lower * (eta_c * dt_h), lower * (-dt_h / eta_d)])
    a_ub = [a_e, -a_e]
    b_ub = [np.full(n, e_max - e0), np.full(n, e0 - e_min)]
    if e_final is not None:
        a_ub.append(-a_e[-1:])
        b_ub.append(np.array([e0 - e_final]))
    cost = np.concatenate([(f + deg) * dt_h, (-f + deg) * dt_h])
    res = linprog(cost, A_ub=np.vstack(a_ub), b_ub=np.concatenate(b_ub),
                  bounds=[(0, p_ch)] * n + [(0, p_dis)] * n, method="highs")
    if res.status != 0:
        raise ValueError(f"arbitrage LP failed: {res.message}")
    return res.x[:n] - res.x[n:]
