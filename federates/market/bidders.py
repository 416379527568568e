"""External bidders (VPP aggregator, battery manager): curves, blocks, awards and the endpoint message format.

Why curves: a VPP's power function or a battery's charge/discharge bid is a piecewise-linear quantity-price curve
(DSO+T's four-point bid ``[[Q, P], ...]``, Q > 0 buys/charges, Q < 0 sells/discharges). The auction takes blocks, so a
curve becomes sell blocks (where Q < 0) and buy blocks (where Q > 0), split at Q = 0; after clearing, the bidder
either follows the curve at the cleared price (:meth:`BidCurve.quantity_at`) or takes what its blocks were awarded
(:func:`awarded`). Prices $/kWh, quantities kW.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from vppfed.federates.market.auction import ClearingResult, ClearingType, Curve


@dataclass(frozen=True)
class BidCurve:
    """Piecewise-linear bid ``[(Q kW, P $/kWh), ...]``: Q non-decreasing and P non-increasing along the points.

    Vertical pieces (same Q, falling P) hold a quantity over a price band; horizontal pieces (same P) are
    indifference over a quantity band.
    """

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 1:
            raise ValueError("points: need a list of [quantity, price] pairs")
        if np.any(np.diff(pts[:, 0]) < 0) or np.any(np.diff(pts[:, 1]) > 0):
            raise ValueError("points: quantity must not decrease and price must not increase along the curve")
        object.__setattr__(self, "points", tuple((float(q), float(p)) for q, p in pts))

    @classmethod
    def from_list(cls, points: Sequence[Sequence[float]]) -> "BidCurve":
        """Build from ``[[Q, P], ...]`` (the DSO+T layout)."""
        return cls(tuple((float(q), float(p)) for q, p in points))

    def quantity_at(self, price: float) -> float:
        """Quantity (kW, + = buy/charge) the bidder wants at ``price``; flat beyond the end points.

        Where a vertical piece meets the price, the held quantity is returned; on a horizontal piece (several
        quantities at one price) the largest purchase is returned.
        """
        q = np.array([pt[0] for pt in self.points])
        p = np.array([pt[1] for pt in self.points])
        if price >= p[0]:
            return float(q[0]) if price > p[0] else float(q[p == p[0]].max())
        if price <= p[-1]:
            return float(q[-1])
        k = int(np.nonzero(p >= price)[0][-1])  # last point at or above the price: segment k..k+1
        if p[k] == price:
            return float(q[p == price].max())
        frac = (p[k] - price) / (p[k] - p[k + 1])
        return float(q[k] + frac * (q[k + 1] - q[k]))

    def setpoint_at(self, price: float) -> float:
        """Battery set point (kW, + = discharge) at ``price``: the negated curve quantity (DSO+T convention)."""
        return -self.quantity_at(price)

    def to_blocks(self, steps_per_segment: int = 1) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Sell and buy blocks ``(price, kW)`` approximating the curve.

        Each sloped piece (split at Q = 0) becomes ``steps_per_segment`` equal-quantity blocks priced at the middle
        of their price interval; vertical pieces add no quantity. A quantity already positive at the top of the curve
        (or negative at its bottom) is a block at that end price.

        Returns
        -------
        sell, buy : list of (price, kW)
            Supply blocks (positive kW) and demand blocks.
        """
        if steps_per_segment < 1:
            raise ValueError("steps_per_segment: must be >= 1")
        sell: list[tuple[float, float]] = []
        buy: list[tuple[float, float]] = []
        q0, p0 = self.points[0]
        if q0 > 0:
            buy.append((p0, q0))
        pieces: list[tuple[float, float, float, float]] = []
        for (qa, pa), (qb, pb) in zip(self.points[:-1], self.points[1:]):
            if qa < 0 < qb:  # split where the curve crosses zero
                pz = pa + (pb - pa) * (0 - qa) / (qb - qa)
                pieces += [(qa, pa, 0.0, pz), (0.0, pz, qb, pb)]
            else:
                pieces.append((qa, pa, qb, pb))
        for qa, pa, qb, pb in pieces:
            if qb == qa:
                continue
            edges_q = np.linspace(qa, qb, steps_per_segment + 1)
            edges_p = np.linspace(pa, pb, steps_per_segment + 1)
            for k in range(steps_per_segment):
                dq = float(edges_q[k + 1] - edges_q[k])
                price = float(0.5 * (edges_p[k] + edges_p[k + 1]))
                (buy if edges_q[k] >= 0 else sell).append((price, dq))
        qn, pn = self.points[-1]
        if qn < 0:
            sell.append((pn, -qn))
        return sell, buy


def awarded(curve: Curve, owner: str, result: ClearingResult, buyer_side: bool) -> float:
    """Quantity (kW) of ``owner``'s blocks in ``curve`` that the clearing ``result`` accepts.

    Buy blocks priced above the clearing price are served, sell blocks below it are dispatched; blocks exactly at the
    price are served in full, except on the marginal side (BUYER clearing for buyers, SELLER for sellers) where they get
    ``marginal_frac``. A FAILURE or NULL clearing awards nothing to responsive blocks.
    """
    if result.type in (ClearingType.FAILURE, ClearingType.NULL):
        return 0.0
    p = np.asarray(curve.prices, dtype=float)
    q = np.asarray(curve.quantities, dtype=float)
    mine = np.array([o == owner for o in curve.owners], dtype=bool)
    if not mine.any():
        return 0.0
    price = result.price
    if buyer_side:
        strict, marginal_type = p > price, ClearingType.BUYER
    else:
        strict, marginal_type = p < price, ClearingType.SELLER
    at = p == price
    frac = result.marginal_frac if result.type == marginal_type else 1.0
    return float(q[mine & strict].sum() + frac * q[mine & at].sum())


@dataclass(frozen=True)
class ExternalBid:
    """One external bidder's offer for a period: a curve, or explicit blocks, or both."""

    bidder: str
    curve: BidCurve | None = None
    buy: tuple[tuple[float, float], ...] = ()
    sell: tuple[tuple[float, float], ...] = ()
    steps_per_segment: int = 4
    #: endpoint the award goes back to (the sender of the bid message)
    reply_to: str = ""

    def blocks(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """All sell and buy blocks ``(price, kW)`` of this bid."""
        sell, buy = list(self.sell), list(self.buy)
        if self.curve is not None:
            s, b = self.curve.to_blocks(self.steps_per_segment)
            sell += s
            buy += b
        return sell, buy


def parse_bid_message(payload: str | bytes | Mapping[str, Any], sender: str = "") -> ExternalBid:
    """Decode a bid sent to the market endpoint.

    Layout (JSON): ``{"bidder": "vpp_7", "curve": [[Q, P], ...], "buy": [[P, kW], ...], "sell": [[P, kW], ...],
    "steps": 4}``; every key but one of curve/buy/sell is optional; ``bidder`` defaults to the sender endpoint.
    Raises ValueError on a malformed message (the federate logs and drops it).
    """
    try:
        data = json.loads(payload) if isinstance(payload, (str, bytes)) else dict(payload)
    except json.JSONDecodeError as exc:
        raise ValueError(f"bid from {sender!r}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"bid from {sender!r}: expected a JSON object")
    bidder = str(data.get("bidder") or sender)
    if not bidder:
        raise ValueError("bid: no bidder name and no sender")
    try:
        curve = BidCurve.from_list(data["curve"]) if data.get("curve") else None
        buy = tuple((float(p), float(q)) for p, q in data.get("buy", []))
        sell = tuple((float(p), float(q)) for p, q in data.get("sell", []))
        steps = int(data.get("steps", 4))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bid from {bidder!r}: {exc}") from None
    if curve is None and not buy and not sell:
        raise ValueError(f"bid from {bidder!r}: needs 'curve', 'buy' or 'sell'")
    if any(q < 0 for _, q in buy + sell):
        raise ValueError(f"bid from {bidder!r}: block quantities must be >= 0")
    return ExternalBid(bidder, curve, buy, sell, steps, reply_to=sender)


def award_message(bid: ExternalBid, result: ClearingResult, bought_kw: float, sold_kw: float) -> str:
    """JSON reply to a bidder after clearing: price, type, awarded quantities and the curve's own response.

    ``curve_kw`` is the quantity the bidder's curve asks for at the cleared price (+ = buy/charge); a bidder that
    follows the price uses it, one that follows its award uses ``bought_kw - sold_kw``.
    """
    reply = {"clear_price": result.price, "clearing_type": int(result.type), "bought_kw": bought_kw,
             "sold_kw": sold_kw, "net_kw": bought_kw - sold_kw}
    if bid.curve is not None:
        reply["curve_kw"] = bid.curve.quantity_at(result.price)
    return json.dumps(reply)
