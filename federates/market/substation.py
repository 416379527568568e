"""The substation market agent: auction + HVAC controllers + external bidders on TESP's clock (pure core, no HELICS).

TESP's ``substation_loop`` timing, market period P (300 s) and federate step dt (15 s), clearing at T = k P:

==========  =====================================================================================================
T - 2 dt    controllers bid from the latest house readings; external bids received so far join; the auction adds
            the unresponsive load and publishes the aggregate curve (``unresponsive_mw`` ... ``responsive_deg``)
T - dt      (PYPOWER solves its OPF with the curve and publishes ``LMP_<bus>``; nothing happens here)
T           clear against the LMP; ``clear_price``; every controller's new cooling set point; meter prices; awards
==========  =====================================================================================================

Base set points follow each controller's schedule, evaluated at every wake-up. Without a market (TESP's
``NoMarket``) the controllers still bid (the bids go to the metrics only), the curve carries only the measured
load, nothing clears and the set points follow the schedules alone.

The adapter (:mod:`vppfed.federates.market.adapter`) feeds :meth:`SubstationMarket.step` with inputs and publishes
what it returns; everything here is testable without HELICS.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

import numpy as np

from vppfed.federates.market.auction import AggregateBid, ClearingResult, ClearingType, DoubleAuction, MarketConfig
from vppfed.federates.market.bidders import ExternalBid, awarded
from vppfed.federates.market.hvac import RampController, RampParams

logger = logging.getLogger(__name__)

#: Columns of TESP's ``auction_`` and ``controller_`` metrics (name, units), in index order.
AUCTION_COLUMNS = [("clearing_price", "USD"), ("clearing_type", "[0..5]=[Null,Fail,Price,Exact,Seller,Buyer]"),
                   ("consumer_surplus", "USD"), ("average_consumer_surplus", "USD"), ("supplier_surplus", "USD")]
CONTROLLER_COLUMNS = [("bid_price", "USD"), ("bid_quantity", "kW")]
#: Extra columns we add (TESP's readers look columns up by name and ignore these).
AUCTION_EXTRA_COLUMNS = [("clearing_quantity", "kW"), ("lmp", "USD/kwh"), ("refload", "kW"),
                         ("unresponsive_mw", "MW"), ("responsive_max_mw", "MW"), ("external_bought", "kW"),
                         ("external_sold", "kW")]


@dataclass(frozen=True)
class MarketOptions:
    """How the agent runs.

    Attributes
    ----------
    with_market : bool
        TESP's ``WithMarket`` (True) or ``NoMarket``.
    dt : float
        Federate step (s); bids and the aggregate curve are due at ``T - 2 dt``.
    start : datetime
        Local wall-clock time at t = 0 (for the set-point schedules).
    integer_hours : bool
        Evaluate schedules at the whole hour, as TESP does (``datetime.hour``); False uses fractional hours.
    rolling_statistics : bool
        Re-centre the HVAC ramps on the mean/sigma of the last day of clearing prices (TESP keeps the initial
        values all run long).
    """

    with_market: bool = True
    dt: float = 15.0
    start: datetime = datetime(2013, 7, 1)
    integer_hours: bool = True
    rolling_statistics: bool = False


@dataclass
class StepOutput:
    """What the adapter publishes or records after one :meth:`SubstationMarket.step` (empty fields: nothing)."""

    cooling_setpoints: dict[str, float] = field(default_factory=dict)
    aggregate: AggregateBid | None = None
    clearing: ClearingResult | None = None
    clear_price: float | None = None
    meter_prices: dict[str, float] = field(default_factory=dict)
    awards: dict[str, dict[str, Any]] = field(default_factory=dict)
    controller_metrics: tuple[int, dict[str, list[float]]] | None = None
    auction_metrics: tuple[int, dict[str, list[float]]] | None = None


class SubstationMarket:
    """One feeder's retail market with its HVAC controllers and external bidders.

    Parameters
    ----------
    market : MarketConfig
        Auction parameters (period, cap, capacity, initial price statistics).
    controllers : list of RampParams
        One per house with electric cooling (TESP's ``controllers`` section).
    options : MarketOptions
        Timing and mode.
    """

    def __init__(self, market: MarketConfig, controllers: list[RampParams], options: MarketOptions = MarketOptions()
                 ) -> None:
        self.config = market
        self.options = options
        self.auction = DoubleAuction(market)
        self.controllers = {p.name: RampController(p, market.init_price, market.init_stdev) for p in controllers}
        self.by_house = {c.params.house: c for c in self.controllers.values()}
        self.period = float(market.period)
        self.lead = 2.0 * options.dt
        if not 0 < self.lead < self.period:
            raise ValueError(f"dt: 2*dt = {self.lead} s must be shorter than the market period {self.period} s")
        self.lmp = market.init_price
        self.refload_kw = 0.0
        self.next_bid = self.period - self.lead
        self.next_clear = self.period
        self.pending_bids: dict[str, ExternalBid] = {}
        self.period_bids: dict[str, ExternalBid] = {}
        self.history: deque[float] = deque(maxlen=max(2, int(round(86400.0 / self.period))))
        self.last_price = market.init_price

    # ------------------------------------------------------------------ inputs
    def set_lmp(self, lmp: float) -> None:
        """Wholesale price at the feeder's bus ($/kWh)."""
        self.lmp = float(lmp)

    def set_refload(self, kw: float) -> None:
        """Measured substation load (kW)."""
        self.refload_kw = float(kw)

    def observe_house(self, house: str, air_temperature: float | None = None, hvac_load: float | None = None,
                      power_state: str | bool | None = None) -> None:
        """New readings of one house (degF, kW, ``ON``/``OFF``); unknown houses are ignored."""
        ctl = self.by_house.get(house)
        if ctl is not None:
            ctl.observe(air_temperature, hvac_load, power_state)

    def submit(self, bid: ExternalBid) -> None:
        """An external bid for the next clearing; a later bid of the same bidder replaces the earlier one."""
        self.pending_bids[bid.bidder] = bid

    # ---------------------------------------------------------------- schedule
    def next_time(self, t: float) -> float:
        """The next wake-up after ``t`` (s): the next bid or clearing time."""
        return min(self.next_bid, self.next_clear) if min(self.next_bid, self.next_clear) > t else t + self.options.dt

    def initial_setpoints(self) -> dict[str, float]:
        """Base set points at t = 0 (publish them with the deadbands at start)."""
        return self._schedule(0.0)

    def _clock(self, t: float) -> tuple[float, int]:
        now = self.options.start + timedelta(seconds=float(t))
        hour = float(now.hour) if self.options.integer_hours else now.hour + now.minute / 60 + now.second / 3600
        return hour, now.weekday()

    def _schedule(self, t: float) -> dict[str, float]:
        hour, weekday = self._clock(t)
        return {name: ctl.basepoint for name, ctl in self.controllers.items() if ctl.update_basepoint(hour, weekday)}

    # -------------------------------------------------------------------- step
    def step(self, t: float) -> StepOutput:
        """Advance to time ``t`` (s): schedules, then bids/aggregation and clearing when due."""
        out = StepOutput(cooling_setpoints=self._schedule(t))
        if t + 1e-9 >= self.next_bid:
            clear_key = int(round(self.next_clear))
            self.auction.open(self.refload_kw)
            rows: dict[str, list[float]] = {}
            for name, ctl in self.controllers.items():
                bid = ctl.formulate_bid()
                if bid is None:
                    continue
                if self.options.with_market:
                    self.auction.add_buyer(bid.price, bid.quantity, bid.is_on, owner=name)
                rows[name] = [bid.price, bid.quantity]
            self.period_bids = dict(self.pending_bids) if self.options.with_market else {}
            self.pending_bids.clear()
            for bidder, ext in self.period_bids.items():
                sell, buy = ext.blocks()
                self.auction.add_buyer_curve(buy, owner=bidder)
                self.auction.add_seller_curve(sell, owner=bidder)
            out.aggregate = self.auction.aggregate()
            out.controller_metrics = (clear_key, rows)
            self.next_bid += self.period
        if t + 1e-9 >= self.next_clear:
            clear_key = int(round(self.next_clear))
            agg = self.auction.aggregated or AggregateBid(0.0, 0.0, 0, 0.0, 0.0)
            bought = sold = 0.0
            if self.options.with_market:
                result = self.auction.clear(self.lmp)
                out.clearing = result
                out.clear_price = result.price
                self.last_price = result.price
                for bidder, ext in self.period_bids.items():
                    b = awarded(self.auction.buyers, bidder, result, buyer_side=True)
                    s = awarded(self.auction.sellers, bidder, result, buyer_side=False)
                    bought, sold = bought + b, sold + s
                    out.awards[bidder] = {"bid": ext, "bought_kw": b, "sold_kw": s}
                self._update_statistics(result)
                for name, ctl in self.controllers.items():
                    setpoint = ctl.respond(result.price)
                    if setpoint is not None:
                        out.cooling_setpoints[name] = setpoint
                    out.meter_prices[ctl.params.meter] = result.price
                row = [result.price, int(result.type), result.consumer_surplus, result.average_consumer_surplus,
                       result.supplier_surplus, result.quantity]
            else:
                row = [self.last_price, int(ClearingType.NULL), 0.0, 0.0, 0.0, 0.0]
            row += [self.lmp, self.refload_kw, agg.unresponsive_mw, agg.responsive_max_mw, bought, sold]
            out.auction_metrics = (clear_key, {self.config.name: row})
            self.next_clear += self.period
        return out

    def _update_statistics(self, result: ClearingResult) -> None:
        if result.type in (ClearingType.FAILURE, ClearingType.NULL):
            return
        self.history.append(result.price)
        if self.options.rolling_statistics and len(self.history) >= 2:
            prices = np.fromiter(self.history, dtype=float)
            mean, std = float(prices.mean()), float(prices.std())
            if std > 0.0:
                for ctl in self.controllers.values():
                    ctl.set_price_statistics(mean, std)


def controllers_from_agent_dict(agent_dict: Mapping[str, Any]) -> list[RampParams]:
    """Every controller row of a TESP agent dictionary, as parameters (dictionary order)."""
    return [RampParams.from_agent_dict(name, row) for name, row in (agent_dict.get("controllers") or {}).items()]
