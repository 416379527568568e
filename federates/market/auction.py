"""Retail double auction in the form of TESP's ``simple_auction`` (pure core, no HELICS).

Why this shape: TESP's TE30 results are our yardstick, so the auction reproduces the clearing rules of TESP's
substation market (itself a simplification of GridLAB-D's ``auction`` object): the substation sells at the wholesale
LMP up to a capacity, the load that does not bid ("unresponsive") buys at the price cap, responsive buyers bid
``(price, quantity, is_on)`` blocks and external sellers (batteries, VPPs) bid ``(price, quantity)`` blocks. One period:

1. :meth:`DoubleAuction.open` with the substation load (kW): every kW is assumed unresponsive until a running bidder
   claims it;
2. :meth:`DoubleAuction.add_buyer` / :meth:`DoubleAuction.add_seller` (or whole curves);
3. :meth:`DoubleAuction.aggregate`: adds the unresponsive block at the price cap and fits the responsive part for the
   wholesale OPF (:func:`aggregate_bid`);
4. :meth:`DoubleAuction.clear` against the LMP: clearing type, price, quantity, marginal share and surpluses.

Prices are in $/kWh, quantities in kW (the aggregate bid is in MW and $/MWh, as PYPOWER wants it).

Differences from TESP, on purpose: the marginal quantity/fraction use the bids *at* the clearing price (TESP's loop
indexes the wrong variable and over-counts the marginal total); out-of-range indexing in TESP's PRICE branch (an
unresponsive block matched exactly with no buyer left) is guarded instead of raising. Clearing price, type, quantity and
surpluses follow TESP's rules exactly.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

#: Offset ($/kWh) that puts a PRICE-type clearing price just off the next bid so it triggers no further block.
BID_OFFSET = 1e-4


class ClearingType(enum.IntEnum):
    """How the market cleared; the integer codes are those of TESP's ``auction_`` metrics (``[0..5]``)."""

    NULL = 0
    FAILURE = 1
    PRICE = 2
    EXACT = 3
    SELLER = 4
    BUYER = 5


@dataclass(frozen=True)
class MarketConfig:
    """Parameters of one auction, named as in the ``markets`` section of TESP's ``<root>_agent_dict.json``.

    Attributes
    ----------
    name : str
        Market key (``Market_1``); also the uid in the ``auction_`` metrics.
    period : float
        Market interval (s).
    pricecap : float
        Price cap ($/kWh): the unresponsive load bids at it, a FAILURE clears at it.
    init_price, init_stdev : float
        Initial clearing price and price standard deviation ($/kWh); the HVAC ramps use them as mean and sigma.
    max_capacity_reference_bid_quantity : float
        Quantity (kW) the substation offers at the LMP; <= 0 means no substation seller.
    clearing_scalar : float
        Interpolation factor between first seller and first buyer price when nothing clears (TESP fixes it at 0.5,
        whatever the dictionary says).
    """

    name: str = "Market_1"
    period: float = 300.0
    pricecap: float = 3.78
    init_price: float = 0.02078
    init_stdev: float = 0.01
    max_capacity_reference_bid_quantity: float = 5000.0
    clearing_scalar: float = 0.5
    unit: str = "kW"

    @classmethod
    def from_agent_dict(cls, name: str, row: Mapping[str, Any]) -> "MarketConfig":
        """Build from one ``markets`` row of a TESP agent dictionary (unknown keys ignored, as TESP does)."""
        try:
            return cls(
                name=name,
                period=float(row["period"]),
                pricecap=float(row["pricecap"]),
                init_price=float(row["init_price"]),
                init_stdev=float(row["init_stdev"]),
                max_capacity_reference_bid_quantity=float(row["max_capacity_reference_bid_quantity"]),
                unit=str(row.get("unit", "kW")),
            )
        except KeyError as exc:
            raise ValueError(f"markets.{name}: missing key {exc.args[0]!r}") from None


@dataclass
class Curve:
    """Bid blocks of one side of the market, kept sorted (buyers descending, sellers ascending by price).

    Zero-quantity blocks are dropped (as TESP does). Ties keep insertion order; it does not change the cleared price,
    type or quantity.
    """

    descending: bool
    prices: list[float] = field(default_factory=list)
    quantities: list[float] = field(default_factory=list)
    owners: list[str | None] = field(default_factory=list)
    total_on: float = 0.0
    total_off: float = 0.0

    def add(self, price: float, quantity: float, is_on: bool = False, owner: str | None = None) -> None:
        """Insert one block (price $/kWh, quantity kW) at its place in the order."""
        if quantity == 0:
            return
        if is_on:
            self.total_on += quantity
        else:
            self.total_off += quantity
        keys = np.asarray(self.prices)
        if self.descending:
            pos = int(np.searchsorted(-keys, -price, side="right")) if keys.size else 0
        else:
            pos = int(np.searchsorted(keys, price, side="right")) if keys.size else 0
        self.prices.insert(pos, float(price))
        self.quantities.insert(pos, float(quantity))
        self.owners.insert(pos, owner)

    @property
    def count(self) -> int:
        """Number of blocks."""
        return len(self.prices)

    @property
    def total(self) -> float:
        """Sum of block quantities (kW)."""
        return float(sum(self.quantities))


@dataclass(frozen=True)
class AggregateBid:
    """The feeder's demand curve as the wholesale OPF sees it (TESP's five ``responsive_*``/``unresponsive_mw`` keys).

    Cost of the responsive block = ``c2 q^2 + c1 q`` with q in MW (zero intercept).
    """

    unresponsive_mw: float
    responsive_max_mw: float
    deg: int
    c2: float
    c1: float

    def as_list(self) -> list[float]:
        """``[unresp_MW, max_MW, deg, c2, c1]`` as TESP's ``aggregate_bid`` returns it."""
        return [self.unresponsive_mw, self.responsive_max_mw, self.deg, self.c2, self.c1]


@dataclass(frozen=True)
class ClearingResult:
    """Outcome of one clearing; prices $/kWh, quantities kW, surpluses $/h (kW x $/kWh, as in TESP's metrics)."""

    price: float
    quantity: float
    type: ClearingType
    lmp: float
    marginal_quantity: float = 0.0
    marginal_frac: float = 0.0
    consumer_surplus: float = 0.0
    average_consumer_surplus: float = 0.0
    supplier_surplus: float = 0.0
    unresp_supplier_surplus: float = 0.0
    unresponsive_buy: float = 0.0
    responsive_buy: float = 0.0
    unresponsive_sell: float = 0.0
    responsive_sell: float = 0.0


def aggregate_bid(prices: Sequence[float], quantities: Sequence[float]) -> AggregateBid:
    """Fit the responsive part of a buyer curve for the wholesale market (TESP's ``aggregate_bid``).

    The block(s) at the highest price are the unresponsive load. The responsive blocks, taken from the highest price
    down, give cumulative quantity Q_k (MW) and cumulative cost C_k ($/h); a zero-intercept least-squares fit of C(Q)
    is linear with one or two responsive blocks and quadratic otherwise. Why a fit: PYPOWER's OPF takes a polynomial
    cost, so the stepwise demand curve becomes a dispatchable load with that cost.

    Parameters
    ----------
    prices : sequence of float
        Block prices ($/kWh), any order.
    quantities : sequence of float
        Block quantities (kW).

    Returns
    -------
    AggregateBid
        Unresponsive MW, responsive maximum MW, degree (0, 1, 2), c2 ($/MW^2h), c1 ($/MWh).
    """
    p_kwh = np.asarray(prices, dtype=float)
    if p_kwh.size == 0:
        return AggregateBid(0.0, 0.0, 0, 0.0, 0.0)
    order = np.argsort(-p_kwh, kind="stable")
    p = 1000.0 * p_kwh[order]
    q = 0.001 * np.asarray(quantities, dtype=float)[order]
    top = int(np.count_nonzero(p == p[0]))
    unresp = float(q[:top].sum())
    presp, qblk = p[top:], q[top:]
    n = presp.size
    if n < 1:
        return AggregateBid(unresp, 0.0, 0, 0.0, 0.0)
    qcum = np.cumsum(qblk)
    cost = np.cumsum(presp * qblk)
    if n <= 2:
        c1 = float(np.linalg.lstsq(qcum[:, None], cost, rcond=None)[0][0])
        return AggregateBid(unresp, float(qcum[-1]), 1, 0.0, c1)
    coef = np.linalg.lstsq(np.column_stack([qcum**2, qcum]), cost, rcond=None)[0]
    return AggregateBid(unresp, float(qcum[-1]), 2, float(coef[0]), float(coef[1]))


class DoubleAuction:
    """One substation market; call :meth:`open`, add bids, :meth:`aggregate`, :meth:`clear` once per period.

    Parameters
    ----------
    config : MarketConfig
        Cap, capacity, initial price statistics.
    """

    def __init__(self, config: MarketConfig) -> None:
        self.config = config
        self.buyers = Curve(descending=True)
        self.sellers = Curve(descending=False)
        self.refload = 0.0
        self.unresp = 0.0
        self.lmp = config.init_price
        self.aggregated: AggregateBid | None = None
        self.last: ClearingResult | None = None

    # ------------------------------------------------------------------ bids
    def open(self, refload_kw: float) -> None:
        """Start a period: forget all bids, assume the whole substation load ``refload_kw`` (kW) is unresponsive."""
        self.buyers = Curve(descending=True)
        self.sellers = Curve(descending=False)
        self.refload = float(refload_kw)
        self.unresp = float(refload_kw)
        self.aggregated = None

    def add_buyer(self, price: float, quantity: float, is_on: bool = False, owner: str | None = None) -> None:
        """A demand block (TESP ``collect_bid``).

        A running bidder (``is_on``) is part of the measured load, so its quantity is taken out of the unresponsive
        estimate even when its price is <= 0; blocks with price <= 0 do not enter the curve (TESP drops them).
        External bidders (VPP, battery charging) pass ``is_on=False``: their load is not yet in the measurement.
        """
        if self.aggregated is not None:
            raise RuntimeError("add_buyer after aggregate(): open() a new period first")
        if is_on:
            self.unresp -= quantity
        if price > 0.0:
            self.buyers.add(price, quantity, is_on, owner)

    def add_seller(self, price: float, quantity: float, owner: str | None = None) -> None:
        """A supply block (TESP ``supplier_bid``): price $/kWh, quantity kW."""
        self.sellers.add(price, quantity, False, owner)

    def add_buyer_curve(self, blocks: Iterable[tuple[float, float]], owner: str | None = None) -> None:
        """Several demand blocks ``(price, kW)`` of one external bidder (not running: ``is_on=False``)."""
        for price, quantity in blocks:
            self.add_buyer(price, quantity, False, owner)

    def add_seller_curve(self, blocks: Iterable[tuple[float, float]], owner: str | None = None) -> None:
        """Several supply blocks ``(price, kW)`` of one external bidder."""
        for price, quantity in blocks:
            self.add_seller(price, quantity, owner)

    def aggregate(self) -> AggregateBid:
        """Add the unresponsive block at the price cap and fit the responsive curve (TESP ``aggregate_bids``).

        A negative unresponsive estimate (bidders claim more than the measured load) is logged and left out.
        """
        if self.aggregated is not None:
            return self.aggregated
        if self.unresp > 0:
            self.buyers.add(self.config.pricecap, self.unresp, True, None)
        else:
            logger.warning("%s: unresponsive load %.3f kW <= 0 (buyers %.3f kW on, %.3f kW off)", self.config.name,
                           self.unresp, self.buyers.total_on, self.buyers.total_off)
        self.aggregated = aggregate_bid(self.buyers.prices, self.buyers.quantities)
        return self.aggregated

    # -------------------------------------------------------------- clearing
    def clear(self, lmp: float) -> ClearingResult:
        """Clear against the wholesale price ``lmp`` ($/kWh); the substation sells at it up to the capacity."""
        self.aggregate()
        self.lmp = float(lmp)
        cap = self.config.pricecap
        if self.config.max_capacity_reference_bid_quantity > 0:
            self.sellers.add(self.lmp, self.config.max_capacity_reference_bid_quantity, True, None)
        bp, bq = self.buyers.prices, self.buyers.quantities
        sp, sq = self.sellers.prices, self.sellers.quantities
        nb, ns = len(bp), len(sp)
        unresp_sell = float(sum(q for p, q in zip(sp, sq) if p == cap))
        unresp_buy = float(sum(q for p, q in zip(bp, bq) if p == cap))
        resp_sell = float(sum(sq)) - unresp_sell
        resp_buy = float(sum(bq)) - unresp_buy
        if nb == 0 or ns == 0:
            price = self._price_without_crossing(bp, sp)
            result = ClearingResult(price, 0.0, ClearingType.NULL, self.lmp)
            self.last = result
            return result

        ctype, price, quantity = self._walk(bp, bq, sp, sq)
        if quantity == 0:
            ctype, price = ClearingType.NULL, self._price_without_crossing(bp, sp)
        elif quantity < unresp_buy:
            ctype, price = ClearingType.FAILURE, cap
        elif quantity < unresp_sell:
            ctype, price = ClearingType.FAILURE, -cap
        elif quantity == unresp_buy and quantity == unresp_sell:
            ctype, price = ClearingType.PRICE, 0.0

        mq, mfrac = self._marginal(ctype, price, quantity)
        surplus = self._surplus(price)
        result = ClearingResult(price, quantity, ctype, self.lmp, mq, mfrac, *surplus,
                                unresponsive_buy=unresp_buy, responsive_buy=resp_buy,
                                unresponsive_sell=unresp_sell, responsive_sell=resp_sell)
        self.last = result
        return result

    def _price_without_crossing(self, bp: list[float], sp: list[float]) -> float:
        """TESP's price when nothing is traded: just off the only side, or between the two best bids."""
        cap, off = self.config.pricecap, BID_OFFSET
        if sp and not bp:
            return sp[0] - off
        if bp and not sp:
            return bp[0] + off
        if not bp and not sp:
            return 0.0
        if sp[0] == cap:
            return bp[0] + off
        if sp[0] == -cap:
            return sp[0] - off
        return sp[0] + (bp[0] - sp[0]) * self.config.clearing_scalar

    def _walk(self, bp: list[float], bq: list[float], sp: list[float], sq: list[float]
              ) -> tuple[ClearingType, float, float]:
        """Walk both curves while the buyer price covers the seller price; return (type, price, quantity)."""
        cap, off = self.config.pricecap, BID_OFFSET
        nb, ns = len(bp), len(sp)
        a, b = cap, -cap
        i = j = 0
        demand = supply = quantity = 0.0
        ctype = ClearingType.NULL
        split = False  # the last step ended exactly at a block boundary on both sides
        while i < nb and j < ns and bp[i] >= sp[j]:
            buy, sell = demand + bq[i], supply + sq[j]
            if buy > sell:  # buyer block straddles the end of the seller block
                quantity = supply = sell
                a = b = bp[i]
                j += 1
                split = False
                ctype = ClearingType.BUYER
            elif buy < sell:
                quantity = demand = buy
                a = b = sp[j]
                i += 1
                split = False
                ctype = ClearingType.SELLER
            else:
                quantity = demand = supply = buy
                a, b = bp[i], sp[j]
                i += 1
                j += 1
                split = True
        price = a if a == b else 0.0
        if not split:
            return ctype, price, quantity
        # quantities met exactly: EXACT if the prices agree, else a PRICE clearing between them
        price = a
        if a == b:
            return ClearingType.EXACT, price, quantity
        nxt_b = bp[i] if i < nb else None
        nxt_s = sp[j] if j < ns else None
        d_high = a if nxt_b is None else nxt_b
        d_low = b if nxt_s is None else nxt_s
        avg = 0.5 * (a + b)
        if a == cap and b != -cap:
            price = nxt_b + off if (nxt_b is not None and nxt_b > b) else b
        elif a != cap and b == -cap:
            price = nxt_s - off if (nxt_s is not None and nxt_s < a) else a
        elif a == cap and b == -cap:
            if nxt_b is None and nxt_s is None:
                price = 0.0
            elif nxt_s is None:
                price = nxt_b + off
            elif nxt_b is None:
                price = nxt_s - off
            else:
                price = 0.5 * (d_high + d_low)
        else:
            if nxt_b is not None and nxt_b == a:
                price = a
            elif nxt_s is not None and nxt_s == b:
                price = b
            elif nxt_b is not None and avg < nxt_b:
                price = d_high + off
            elif nxt_s is not None and avg > nxt_s:
                price = d_low - off
            else:
                price = avg
        return ClearingType.PRICE, price, quantity

    def _marginal(self, ctype: ClearingType, price: float, quantity: float) -> tuple[float, float]:
        """Quantity and fraction of the blocks *at* the clearing price that the marginal side gets.

        Why: a BUYER clearing means the buyers at exactly the clearing price share what is left after every
        higher-priced buyer is served (SELLER: the same for sellers below the price). A bidder at the margin is
        accepted by ``marginal_frac`` of its quantity.
        """
        if ctype == ClearingType.BUYER:
            p, q = np.asarray(self.buyers.prices), np.asarray(self.buyers.quantities)
            above = float(q[p > price].sum())
        elif ctype == ClearingType.SELLER:
            p, q = np.asarray(self.sellers.prices), np.asarray(self.sellers.quantities)
            above = float(q[p < price].sum())
        else:
            return 0.0, 0.0
        marginal_q = quantity - above
        at_price = float(q[p == price].sum())
        return marginal_q, (marginal_q / at_price if at_price > 0 else 0.0)

    def _surplus(self, price: float) -> tuple[float, float, float, float]:
        """Consumer surplus, its average over served responsive buyers, supplier surplus, unresponsive supplier surplus.

        As TESP: buyers at or above the price are served; the unresponsive (cap) quantity is supplied first by the
        cheapest sellers and its supplier surplus is reported apart.
        """
        cap = self.config.pricecap
        consumer = 0.0
        n_resp = 0
        granted_unresp = granted_resp = 0.0
        for p, q in zip(self.buyers.prices, self.buyers.quantities):
            if p >= price:
                if p == cap:
                    granted_unresp += q
                else:
                    granted_resp += q
                    n_resp += 1
                    consumer += (p - price) * q
        average = consumer / n_resp if n_resp else 0.0
        supplier = unresp_supplier = 0.0
        for p, q in zip(self.sellers.prices, self.sellers.quantities):
            if p > price:
                continue
            margin = price - p
            to_unresp = min(granted_unresp, q)
            unresp_supplier += margin * to_unresp
            granted_unresp -= to_unresp
            to_resp = min(granted_resp, q - to_unresp)
            supplier += margin * to_resp
            granted_resp -= to_resp
            if to_resp < q - to_unresp:  # this seller covered all remaining responsive demand
                break
        if granted_resp > 1e-9:
            logger.debug("%s: cleared %.4f kW more responsive quantity than supplied", self.config.name, granted_resp)
        return consumer, average, supplier, unresp_supplier
