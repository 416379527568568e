"""The agile VPP as a bidder in the substation's double auction (pure core, no HELICS).

Why: the aggregator knows its portfolio's *power function* (what it must take, what it could take, what its storage
could give back) and that part of it can wait. A double auction clears on price-quantity curves, so once per market
period the aggregator turns that knowledge into a demand curve for the next interval, and after the clearing turns
the award into the dispatch signal it follows for that interval (:class:`MarketBidder`).

Bid for the market interval ``[T, T + period)`` = dispatch steps ``k_first .. k_first + M - 1`` (``M = period/S``):

1. :func:`interval_limits` gives every unit's least and largest *average* power over the M steps from the state
   the aggregator expects at ``k_first``: a battery (EV) must take ``need - Ts Pmax (Tend - k_first - M)`` in the
   interval to still meet its deadline and can take ``min(need, Ts Pmax M)``; a bakery must run if its latest start
   falls inside the interval; a bucket can take ``min(Pmax, (Emax - E)/(M Ts))`` and give back
   ``min(-Pmin, (E - Emin)/(M Ts))``. Unavailable units (an EV away) count 0, units the aggregator no longer hears
   from count their predicted power at every price.
2. :func:`unit_curves` prices the flexible part with price statistics of recent cleared prices, as TESP's HVAC
   agents centre their ramps on the auction's mean and standard deviation; here a robust centre ``mu`` (median) and
   scale ``sigma`` (scaled median absolute deviation), see :class:`PriceStatistics`. A unit
   that must run a share ``u`` of its remaining steps buys when the price is among the cheapest ``u`` of the expected
   prices: at ``c = mu + sigma z(u)`` (``z`` the standard normal quantile, ``u`` clipped to
   ``[quantile_clip, 1 - quantile_clip]``); a battery ramps from its largest to its least power over
   ``c +- spread_sigma sigma``, a bakery steps at ``c``. A bucket ``f`` full is centred at ``c = mu + sigma z(1 - f)``:
   it charges fully below ``c - spread``, is idle at ``c`` and gives back fully above ``c + spread`` (the spread pays
   for its round-trip losses). Prices are clipped to ``[price_floor, pricecap]``; forced power is therefore bought at
   the price cap, like the unresponsive load.
3. :func:`aggregate_curve` sums the units' curves exactly (piecewise linear, with vertical steps) into the
   ``[[Q kW, P $/kWh], ...]`` curve the market takes (Q > 0 buys).
4. *Net of the baseline*: the market's reference load is the measured feeder load, which already holds the VPP's
   present power ``B`` (the market counts every measured kW as unresponsive unless an "on" bid claims it, and an
   external bid cannot). So the curve sent is ``D(p) - B``: above ``B`` the VPP buys, below it it sells load
   reduction. The market's excess demand is then the same as with the baseline taken out of its reference load, so it
   clears at the same price, and the dispatch signal is ``B + awarded net quantity`` (:meth:`PortfolioBid.signal`).

After a FAILURE (price at the cap) or a NULL clearing no block is awarded; the VPP then takes its curve's quantity at
the cleared price (its forced power at the cap). Without an award (none yet, or a lost message) it follows its own
curve at the last cleared price (before any, the initial mean): a price taker on a stale price.

Units: kW, kWh, $/kWh, steps of ``Ts`` hours.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy.special import ndtri

from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, Portfolio
from vppfed.federates.agile.protocol import apply_command
from vppfed.federates.market.auction import ClearingType
from vppfed.federates.market.bidders import BidCurve

#: Clearing types whose price says something about the market (a FAILURE sits at the cap, NULL cleared nothing).
INFORMATIVE = (ClearingType.PRICE, ClearingType.EXACT, ClearingType.SELLER, ClearingType.BUYER)


@dataclass(frozen=True)
class BiddingConfig:
    """How the VPP prices its flexibility.

    Attributes
    ----------
    pricecap : float
        Market price cap ($/kWh): forced power is bid at it.
    price_floor : float
        Lowest bid price ($/kWh); must be > 0 (the auction drops buy blocks at or below 0).
    init_price, init_stdev : float
        The market's initial price mean and standard deviation ($/kWh): the prior of the price statistics.
    window : int
        Number of recent cleared prices the statistics use (288 = one day of 300 s periods).
    prior_weight : float
        Weight of the prior, in cleared prices (:class:`PriceStatistics`).
    min_stdev : float
        Floor of the price scale ($/kWh): hours of a flat LMP must not collapse every ramp onto one price.
    spread_sigma : float
        Half-width of a battery's ramp and of a bucket's charge/discharge ramp, in units of the price scale.
    quantile_clip : float
        Urgencies and fill levels are clipped to ``[q, 1 - q]`` before the normal quantile (0.01: +-2.33 sigma).
    net_of_baseline : bool
        Send ``D(p) - B`` (see the module docstring); False sends ``D(p)`` and double-counts the VPP's present load.
    steps, max_steps : int
        Least and largest number of blocks per sloped curve segment in the market (the message's ``steps``).
    block_kw : float
        Wanted block size [kW]: the message asks for enough blocks that the widest segment's blocks are at most this
        large (within ``steps .. max_steps``). Identical units make steep segments of many kW; coarse blocks would
        award a block more or less than the curve asks for at the cleared price.
    """

    pricecap: float = 3.78
    price_floor: float = 0.001
    init_price: float = 0.02078
    init_stdev: float = 0.01
    window: int = 288
    prior_weight: float = 144.0
    min_stdev: float = 0.002
    spread_sigma: float = 0.5
    quantile_clip: float = 0.01
    net_of_baseline: bool = True
    steps: int = 4
    max_steps: int = 50
    block_kw: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.price_floor < self.pricecap:
            raise ValueError("price_floor: must lie in (0, pricecap)")
        if not (self.init_stdev > 0 and self.min_stdev > 0):
            raise ValueError("init_stdev, min_stdev: must be > 0")
        if not (self.window >= 2 and self.prior_weight >= 0):
            raise ValueError("window, prior_weight: need window >= 2 and prior_weight >= 0")
        if not 0 < self.quantile_clip < 0.5:
            raise ValueError("quantile_clip: must lie in (0, 0.5)")
        if self.spread_sigma < 0 or not 1 <= self.steps <= self.max_steps or not self.block_kw > 0:
            raise ValueError("spread_sigma: must be >= 0; need 1 <= steps <= max_steps and block_kw > 0")


class PriceStatistics:
    """Robust centre and scale of recent informative cleared prices, shrunk towards the market's initial statistics.

    Centre = median, scale = 1.4826 x median absolute deviation (the standard deviation for normal prices). Why
    robust: prices are heavy-tailed. A generator outage lifts them tenfold for hours; a mean and standard deviation
    over a window that holds those hours would call 0.20 $/kWh an ordinary price for a day afterwards (an empty
    battery would then charge at it). Why a prior: the first hours of a run (a night of flat prices) would make every
    later price look extreme. With ``n`` prices in the window and ``n0 = prior_weight``:
    ``centre = (n median + n0 init_price) / (n + n0)``, ``scale = (n 1.4826 MAD + n0 init_stdev) / (n + n0)``,
    at least ``min_stdev``.
    """

    MAD_TO_STD = 1.4826

    def __init__(self, cfg: BiddingConfig) -> None:
        self.cfg = cfg
        self.prices: deque[float] = deque(maxlen=cfg.window)

    def observe(self, price: float, clearing_type: int) -> None:
        """Record one clearing; FAILURE (at the cap) and NULL clearings say nothing about the price level."""
        if int(clearing_type) in INFORMATIVE and math.isfinite(price):
            self.prices.append(float(price))

    def centre_scale(self) -> tuple[float, float]:
        """(centre, scale) in $/kWh of the window's prices and the prior; scale >= ``min_stdev``."""
        c = self.cfg
        n, n0 = len(self.prices), float(c.prior_weight)
        if n == 0:
            return c.init_price, max(c.init_stdev, c.min_stdev)
        p = np.fromiter(self.prices, dtype=np.float64)
        med = float(np.median(p))
        mad = self.MAD_TO_STD * float(np.median(np.abs(p - med)))
        centre = (n * med + n0 * c.init_price) / (n + n0)
        scale = (n * mad + n0 * c.init_stdev) / (n + n0)
        return centre, max(scale, c.min_stdev)


@dataclass(frozen=True)
class IntervalLimits:
    """Per unit (portfolio order): least and largest average power over the interval [kW] and the urgency in [0, 1].

    ``flexible`` marks units whose curve is priced (managed and available); the others hold ``q_min == q_max``.
    ``urgency`` is the share of its remaining steps a battery or bakery must still run, and a bucket's fill level.
    """

    q_min: np.ndarray
    q_max: np.ndarray
    urgency: np.ndarray
    flexible: np.ndarray
    kind: np.ndarray


def interval_limits(p: Portfolio, E: np.ndarray, running: np.ndarray, k_first: int, steps: int, Ts: float,
                    available: np.ndarray | None = None, managed: np.ndarray | None = None,
                    fixed_power: np.ndarray | None = None) -> IntervalLimits:
    """Least and largest average power of every unit over steps ``k_first .. k_first + steps - 1``.

    Parameters
    ----------
    p : Portfolio
        Unit parameters.
    E : ndarray
        Energy at the start of step ``k_first`` [kWh].
    running : ndarray of bool
        Bakeries that have started.
    k_first, steps : int
        First step of the interval and its number of steps.
    Ts : float
        Step length [h].
    available : ndarray of bool, optional
        Units that can take power (default all); the others count 0 kW.
    managed : ndarray of bool, optional
        Units the aggregator dispatches (default all); the others count ``fixed_power``.
    fixed_power : ndarray, optional
        Predicted power of unmanaged units [kW] (default 0).
    """
    n = len(p)
    E = np.asarray(E, dtype=np.float64)
    running = np.asarray(running, dtype=bool)
    avail = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    managed = np.ones(n, dtype=bool) if managed is None else np.asarray(managed, dtype=bool)
    fixed = np.zeros(n) if fixed_power is None else np.asarray(fixed_power, dtype=np.float64)
    span = Ts * steps                                   # interval length [h]
    need = np.maximum(p.Emax - E, 0.0)                  # energy still to take [kWh]
    left = np.maximum(p.Tend - k_first, 1.0)            # steps left before the deadline (batteries, bakeries)
    is_bkt, is_bat, is_bak = p.kind == BUCKET, p.kind == BATTERY, p.kind == BAKERY
    with np.errstate(divide="ignore", invalid="ignore"):
        # buckets: charge up to the headroom, give back down to Emin, averaged over the interval
        b_up = np.minimum(p.Pmax, need / span)
        b_down = np.minimum(-p.Pmin, np.maximum(E - p.Emin, 0.0) / span)
        fill = np.where(p.Emax > p.Emin, (E - p.Emin) / (p.Emax - p.Emin), 0.5)
        # batteries: what must be taken now to meet Tend with full power afterwards, and what can be taken
        after = np.maximum(p.Tend - (k_first + steps), 0.0)
        e_bat_min = np.clip(need - Ts * p.Pmax * after, 0.0, Ts * p.Pmax * steps)
        e_bat_max = np.minimum(need, Ts * p.Pmax * steps)
        u_bat = need / (Ts * p.Pmax * left)
        # bakeries: a started one runs on; an idle one must start by Tend - Trun, may start now
        latest = p.Tend - p.Trun
        run_steps = np.minimum(steps, p.Trun)
        forced_start = np.maximum(latest, k_first)
        e_bak_min = np.where(latest <= k_first + steps - 1,
                             p.Pmax * Ts * np.minimum(k_first + steps - forced_start, p.Trun), 0.0)
        e_bak_max = p.Pmax * Ts * run_steps
        e_bak_min = np.where(running, np.minimum(need, p.Pmax * span), np.minimum(e_bak_min, need))
        e_bak_max = np.where(running, e_bak_min, np.minimum(e_bak_max, need))
        u_bak = np.where(need > 0, p.Trun / left, 0.0)
    q_min = np.where(is_bkt, -b_down, np.where(is_bat, e_bat_min, e_bak_min) / span)
    q_max = np.where(is_bkt, b_up, np.where(is_bat, e_bat_max, e_bak_max) / span)
    urgency = np.clip(np.where(is_bkt, fill, np.where(is_bat, u_bat, u_bak)), 0.0, 1.0)
    flexible = managed & avail
    q_min = np.where(flexible, q_min, np.where(avail, fixed, 0.0))
    q_max = np.where(flexible, q_max, q_min)
    return IntervalLimits(q_min=q_min, q_max=q_max, urgency=urgency, flexible=flexible, kind=p.kind.copy())


def unit_curves(lim: IntervalLimits, mean: float, std: float, cfg: BiddingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Every unit's demand curve as three points ``(price ascending, quantity non-increasing)``, for prices of
    centre ``mean`` and scale ``std`` [$/kWh].

    Returns
    -------
    prices, quantities : ndarray, shape (n, 3)
        Quantity (kW) at and below ``prices[:, 0]``, linear between the points, constant at and above
        ``prices[:, 2]``; equal prices make a vertical step.
    """
    q = np.clip(lim.urgency, cfg.quantile_clip, 1.0 - cfg.quantile_clip)
    is_bkt = lim.kind == BUCKET
    centre = mean + std * ndtri(np.where(is_bkt, 1.0 - q, q))
    half = np.where(lim.kind == BAKERY, 0.0, cfg.spread_sigma * std)
    prices = np.clip(np.column_stack([centre - half, centre, centre + half]), cfg.price_floor, cfg.pricecap)
    mid = np.where(is_bkt, np.clip(0.0, lim.q_min, lim.q_max), 0.5 * (lim.q_min + lim.q_max))
    quantities = np.column_stack([lim.q_max, mid, lim.q_min])
    fixed = lim.q_max <= lim.q_min
    prices[fixed] = cfg.pricecap
    quantities[fixed] = lim.q_min[fixed, None]
    return prices, quantities


def _limits(prices: np.ndarray, quantities: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total quantity just above and just below each price of ``xs`` (right and left limits of the summed curves).

    Unit i's curve is flat at ``Q[i, 0]`` below ``P[i, 0]``, linear between consecutive points and flat at ``Q[i, 2]``
    above ``P[i, 2]``; where two points share a price the curve jumps there, and the two limits differ.
    """
    P = np.asarray(prices, dtype=np.float64)[:, :, None]       # (units, 3, 1)
    Q = np.asarray(quantities, dtype=np.float64)[:, :, None]
    x = np.asarray(xs, dtype=np.float64)[None, :]              # (1, breakpoints)

    def side(right: bool) -> np.ndarray:
        res = np.where((x >= P[:, 2]) if right else (x > P[:, 2]), Q[:, 2], Q[:, 0])
        for j in (0, 1):
            a, b = P[:, j], P[:, j + 1]
            inside = ((a <= x) & (x < b)) if right else ((a < x) & (x <= b))
            with np.errstate(divide="ignore", invalid="ignore"):
                val = Q[:, j] + (Q[:, j + 1] - Q[:, j]) * (x - a) / (b - a)
            res = np.where(inside, val, res)
        return res.sum(axis=0)

    return side(True), side(False)


def aggregate_curve(prices: np.ndarray, quantities: np.ndarray, floor: float, cap: float) -> list[tuple[float, float]]:
    """The exact sum of unit curves as ``[(Q kW, P $/kWh), ...]``, price descending from ``cap`` to ``floor``.

    At every breakpoint the quantity just above and just below it are both listed, so a vertical step of a unit
    becomes a horizontal piece (a block at that price); collinear and repeated points are dropped.
    """
    xs = np.unique(np.concatenate([np.asarray(prices, dtype=np.float64).ravel(), [floor, cap]]))
    xs = xs[(xs >= floor) & (xs <= cap)][::-1]
    above, below = _limits(prices, quantities, xs) if len(prices) else (np.zeros(len(xs)), np.zeros(len(xs)))
    pts: list[tuple[float, float]] = []
    for x, qa, qb in zip(xs.tolist(), above.tolist(), below.tolist()):
        for qv in (qa, qb):
            pt = (float(qv) + 0.0, float(x))
            if not pts or abs(pts[-1][0] - pt[0]) > 1e-12 or pts[-1][1] != pt[1]:
                pts.append(pt)
    return _drop_collinear(pts)


def _drop_collinear(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for pt in pts:
        while len(out) >= 2:
            (q0, p0), (q1, p1) = out[-2], out[-1]
            cross = (q1 - q0) * (pt[1] - p0) - (p1 - p0) * (pt[0] - q0)
            scale = max(abs(q1 - q0) + abs(pt[0] - q0), 1e-12) * max(abs(p1 - p0) + abs(pt[1] - p0), 1e-12)
            if abs(cross) <= 1e-12 * scale:
                out.pop()
            else:
                break
        out.append(pt)
    return out


@dataclass(frozen=True)
class PortfolioBid:
    """The VPP's bid for one market interval and what it turns an award into.

    Attributes
    ----------
    clear_time : float
        Clearing time T [s] of the interval ``[T, T + period)``.
    points : list of (Q, P)
        Absolute demand curve ``D(p)`` (kW, $/kWh), price descending.
    baseline : float
        The VPP power the market's reference load already holds [kW] (0 when not bidding net of it).
    centre, scale : float
        Price statistics used [$/kWh].
    """

    clear_time: float
    points: tuple[tuple[float, float], ...]
    baseline: float
    centre: float
    scale: float
    steps: int = 4

    @property
    def curve(self) -> BidCurve:
        return BidCurve(self.points)

    @property
    def forced_kw(self) -> float:
        """Least total power [kW]: what the VPP buys at the price cap."""
        return self.points[0][0]

    @property
    def max_kw(self) -> float:
        """Largest total power [kW]: what the VPP buys at the price floor."""
        return self.points[-1][0]

    def quantity_at(self, price: float) -> float:
        """Total power the curve asks for at ``price`` [kW] (the market's rule on vertical/horizontal pieces)."""
        return self.curve.quantity_at(price)

    def sent_points(self) -> list[list[float]]:
        """The curve as sent: ``D(p) - baseline``."""
        return [[q - self.baseline + 0.0, pr] for q, pr in self.points]

    def message(self, bidder: str) -> dict[str, Any]:
        """The bid message for the market endpoint (see :func:`vppfed.federates.market.bidders.parse_bid_message`)."""
        return {"bidder": bidder, "curve": self.sent_points(), "steps": self.steps}

    def signal(self, award: Mapping[str, Any]) -> float:
        """Dispatch signal [kW] for the interval from the market's award message.

        Normal clearing: ``baseline + net_kw`` (the awarded blocks); FAILURE/NULL (no block awarded): the curve at
        the cleared price. Clipped to ``[forced_kw, max_kw]``: a block's share at the margin can round past the curve.
        """
        ctype = int(award.get("clearing_type", ClearingType.NULL))
        price = float(award.get("clear_price", float("nan")))
        if ctype in INFORMATIVE:
            value = self.baseline + float(award["net_kw"])
        elif math.isfinite(price):
            value = self.quantity_at(price)
        else:
            value = self.forced_kw
        return float(min(max(value, self.forced_kw), self.max_kw))


def build_bid(lim: IntervalLimits, clear_time: float, centre: float, scale: float, baseline: float,
              cfg: BiddingConfig) -> PortfolioBid:
    """The portfolio's bid for the interval cleared at ``clear_time`` from its interval limits and the price
    statistics (centre and scale, $/kWh)."""
    prices, quantities = unit_curves(lim, centre, scale, cfg)
    points = aggregate_curve(prices, quantities, cfg.price_floor, cfg.pricecap)
    return PortfolioBid(clear_time=float(clear_time), points=tuple(points),
                        baseline=float(baseline) if cfg.net_of_baseline else 0.0, centre=float(centre),
                        scale=float(scale),
                        steps=blocks_per_segment(points, cfg))


def blocks_per_segment(points: list[tuple[float, float]], cfg: BiddingConfig) -> int:
    """Blocks per sloped segment so that the widest sloped segment's blocks are at most ``block_kw`` (within
    ``steps .. max_steps``); horizontal pieces are single blocks at their price whatever this says."""
    widest = 0.0
    for (qa, pa), (qb, pb) in zip(points[:-1], points[1:]):
        if pa != pb:
            widest = max(widest, qb - qa)
    return int(min(max(math.ceil(widest / cfg.block_kw - 1e-9), cfg.steps), cfg.max_steps))


@dataclass(frozen=True)
class MarketClock:
    """When the VPP bids and which dispatch steps a market interval covers.

    Dispatch step ``k`` covers ``[(k-1) S, k S)`` and the aggregator acts at ``(k-1) S + lead``; the market clears
    at multiples ``T`` of ``period`` (the first at ``T = period``) and takes external bids up to ``T - bid_lead``
    (our market closes its book at ``T - 2 dt``; bidding a little earlier keeps clear of a simultaneous grant).
    The market's reference load is the feeder load it last read at ``T - market_lead``, published by the feeder at
    its last solve at or before then; that solve applied the setpoints the unit hosts published ``host_lead`` into
    the latest step that had begun by then.

    Attributes
    ----------
    period, step : float
        Market period and dispatch step [s]; ``period`` must be a multiple of ``step``.
    lead : float
        Aggregator's offset into each step [s] (1).
    bid_lead : float
        Bids are sent no later than ``T - bid_lead`` [s].
    market_lead : float
        The market reads its reference load at ``T - market_lead`` [s] (2 dt = 30).
    feeder_period : float
        Solve step of the feeder [s].
    host_lead : float
        The unit hosts' offset into each step [s] (2).
    """

    period: float
    step: float
    lead: float = 1.0
    bid_lead: float = 45.0
    market_lead: float = 30.0
    feeder_period: float = 60.0
    host_lead: float = 2.0

    def __post_init__(self) -> None:
        ratio = self.period / self.step
        if self.step <= 0 or abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(f"period: {self.period} s must be a whole multiple of the step {self.step} s")
        if not self.lead + self.bid_lead < self.period:
            raise ValueError(f"bid_lead: {self.bid_lead} s leaves no time to bid in a {self.period} s period")

    @property
    def steps_per_period(self) -> int:
        return int(round(self.period / self.step))

    def grant(self, k: int) -> float:
        """Time [s] at which the aggregator acts for step ``k``."""
        return (k - 1) * self.step + self.lead

    def first_step(self, clear_time: float) -> int:
        """First dispatch step of the interval that starts at ``clear_time``."""
        return int(round(clear_time / self.step)) + 1

    def interval_of(self, k: int) -> float:
        """Start ``T`` [s] of the market interval step ``k`` lies in (0 for the interval before the first clearing)."""
        return math.floor((k - 1) * self.step / self.period + 1e-9) * self.period

    def bid_for(self, k: int) -> float | None:
        """Clearing time the aggregator bids for at step ``k``: the last step whose grant is at or before
        ``T - bid_lead`` bids for ``T``; None on other steps."""
        g = self.grant(k)
        T = (math.floor(g / self.period + 1e-9) + 1) * self.period
        deadline = T - self.bid_lead
        return T if g <= deadline + 1e-9 < g + self.step else None

    def baseline_step(self, clear_time: float) -> int:
        """The dispatch step whose command the market's reference load for ``clear_time`` holds (0 = none yet)."""
        read = clear_time - self.market_lead
        solve = math.floor(read / self.feeder_period + 1e-9) * self.feeder_period
        return max(int(math.floor((solve - self.host_lead) / self.step + 1e-9)) + 1, 0) if solve >= self.host_lead \
            else 0


@dataclass
class IntervalRecord:
    """What happened in one market interval (one row of the bid metrics)."""

    clear_time: float
    bid: PortfolioBid
    sent: bool
    award: dict[str, Any] | None = None
    signal: float = float("nan")


class MarketBidder:
    """The aggregator's market side: bids per interval, price statistics, awards -> dispatch signal.

    Parameters
    ----------
    cfg : BiddingConfig
        Pricing parameters.
    clock : MarketClock
        Bid timing and interval steps.
    name : str
        Bidder name in the messages.
    """

    def __init__(self, cfg: BiddingConfig, clock: MarketClock, name: str = "vpp") -> None:
        self.cfg = cfg
        self.clock = clock
        self.name = name
        self.stats = PriceStatistics(cfg)
        self.records: dict[float, IntervalRecord] = {}
        self.last_price: float | None = None
        self.planned: dict[int, float] = {}

    # ----------------------------------------------------------------- bidding
    def make_bid(self, lim: IntervalLimits, clear_time: float, sent: bool = True) -> PortfolioBid:
        """Bid for the interval that starts at ``clear_time``; the baseline is the planned power of the step the
        market's reference load holds (:meth:`MarketClock.baseline_step`)."""
        centre, scale = self.stats.centre_scale()
        baseline = self.planned.get(self.clock.baseline_step(clear_time), 0.0)
        bid = build_bid(lim, clear_time, centre, scale, baseline, self.cfg)
        self.records[float(clear_time)] = IntervalRecord(float(clear_time), bid, sent)
        return bid

    def record_planned(self, k: int, planned: float) -> None:
        """The aggregator's planned total power of step ``k`` [kW] (kept for the baselines of later bids)."""
        self.planned[k] = float(planned)
        for old in [j for j in self.planned if j < k - 4 * self.clock.steps_per_period]:
            del self.planned[old]

    # ----------------------------------------------------------------- awards
    def on_award(self, clear_time: float, award: Mapping[str, Any]) -> float | None:
        """Take the market's reply for the clearing at ``clear_time``; returns the interval's signal [kW] (None if
        the VPP had not bid for it). The cleared price joins the statistics either way."""
        price = float(award.get("clear_price", float("nan")))
        ctype = int(award.get("clearing_type", ClearingType.NULL))
        self.stats.observe(price, ctype)
        if ctype in INFORMATIVE or ctype == ClearingType.FAILURE:
            self.last_price = price
        rec = self.records.get(float(clear_time))
        if rec is None:
            return None
        rec.award = dict(award)
        rec.signal = rec.bid.signal(award)
        return rec.signal

    def fallback_price(self) -> float:
        """Price a VPP without an award assumes: the last cleared price, else the statistics' centre."""
        return self.last_price if self.last_price is not None else self.stats.centre_scale()[0]

    def signal_for(self, clear_time: float) -> float | None:
        """Signal [kW] of the interval starting at ``clear_time``: from its award, else its bid at the fallback price
        (None when there is no bid for it)."""
        rec = self.records.get(float(clear_time))
        if rec is None:
            return None
        if rec.award is None:
            rec.signal = rec.bid.quantity_at(self.fallback_price())
        return rec.signal

    def forget_before(self, clear_time: float) -> None:
        """Drop records of intervals that ended before ``clear_time`` (keeps memory flat over long runs)."""
        for t in [t for t in self.records if t < clear_time - self.clock.period]:
            del self.records[t]


def interval_state(agg: Any, k_first: int) -> tuple[Portfolio, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """The state an :class:`~vppfed.federates.agile.aggregator.Aggregator` expects at the start of step ``k_first``.

    Its estimates hold the energy at the start of its last step ``agg.k`` and the power assumed for it; the energy is
    rolled forward with that power over ``k_first - agg.k`` steps. Unmanaged (silent) units keep their predicted
    power (the unit's own rule on the last command), deregistered ones count as unavailable.

    Returns
    -------
    portfolio, E, running, available, managed, fixed_power
    """
    p = agg.p
    Ts = agg.cfg.Ts
    steps = max(k_first - agg.k, 1)
    E = np.clip(agg.E + Ts * agg.P_assumed * steps, p.Emin, p.Emax)
    running = agg.running & ((p.kind != BAKERY) | (E < p.Emax))
    available = agg.available & agg.active
    managed = agg.managed & agg.active
    fixed, _ = apply_command(p, k_first, E, agg.command, running, Ts, available)
    return p, E, running, available, managed, fixed


def limits_from_aggregator(agg: Any, k_first: int, steps: int) -> IntervalLimits | None:
    """:func:`interval_limits` of an aggregator's portfolio for the ``steps`` steps from ``k_first`` (None before any
    unit registered)."""
    if agg.p is None:
        return None
    p, E, running, available, managed, fixed = interval_state(agg, k_first)
    return interval_limits(p, E, running, k_first, steps, agg.cfg.Ts, available, managed, fixed)


__all__ = ["BiddingConfig", "PriceStatistics", "IntervalLimits", "interval_limits", "unit_curves", "aggregate_curve",
           "PortfolioBid", "build_bid", "blocks_per_segment", "MarketClock", "MarketBidder", "IntervalRecord", "interval_state",
           "limits_from_aggregator"]
