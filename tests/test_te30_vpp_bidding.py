"""The VPP's bidding core (federates/agile/market_bidding.py): power function over a market interval -> bid curve ->
award -> dispatch signal, with exact small vectors, and the bid's round trip through the double auction."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vppfed.federates.agile.aggregator import Aggregator, AggregatorConfig
from vppfed.federates.agile.market_bidding import (BiddingConfig, IntervalLimits, MarketBidder, MarketClock,
                                                   PortfolioBid, PriceStatistics, aggregate_curve, build_bid,
                                                   interval_limits, interval_state, limits_from_aggregator,
                                                   unit_curves)
from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, make_portfolio
from vppfed.federates.agile.protocol import register_message
from vppfed.federates.market.auction import ClearingType, DoubleAuction, MarketConfig
from vppfed.federates.market.bidders import awarded, parse_bid_message

Z_025 = -0.6744897501960817   # standard normal quantile of 0.25
PHI_1 = 0.8413447460685429    # standard normal CDF at 1

ROWS = [  # name, P0, E0, Pmax, Pmin, Emax, Emin, Tend, Trun
    ("Bkt-1", 0, 6, 5, -5, 9, 3, -1, -1),     # half full: can take 3 kWh, give back 3 kWh
    ("Bat-1", 0, 0, 2, 0, 4, 0, 5, -1),       # needs 4 kWh at 2 kW in 4 steps: must run half of them
    ("Bat-2", 0, 0, 4, 0, 10, 0, 4, -1),      # needs 10 kWh at 4 kW in 3 steps: 6 kWh inside a 2-step interval
    ("Bak-1", 0, 0, 2, 0, 2, 0, 5, 1),        # one 2 kW step by step 5 (may wait; runs 1 of 4 steps)
    ("Bak-2", 0, 0, 2, 0, 4, 0, 3, 2),        # two 2 kW steps by step 3: must start at step 1
]


def portfolio():
    return make_portfolio(ROWS)


def test_interval_limits_of_each_unit_type_over_two_steps():
    # GIVEN the five units at the start of step 1 and an interval of 2 one-hour steps
    p = portfolio()
    lim = interval_limits(p, p.E0, np.zeros(5, bool), k_first=1, steps=2, Ts=1.0)
    # THEN the bucket can take or give back 3 kWh (1.5 kW on average), the lax battery may take 0..4 kWh, the urgent
    # one must take 10 - 4*1 = 6 of at most 8 kWh, the lax bakery may run one step, the due bakery must run both
    np.testing.assert_allclose(lim.q_min, [-1.5, 0.0, 3.0, 0.0, 2.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lim.q_max, [1.5, 2.0, 4.0, 1.0, 2.0], rtol=0, atol=1e-12)
    # AND the urgencies: fill level 0.5; 4/(2*4) = 0.5; 10/(4*3) (clipped to 1 later); Trun/left = 1/4; 2/2
    np.testing.assert_allclose(lim.urgency, [0.5, 0.5, 10 / 12, 0.25, 1.0], rtol=0, atol=1e-12)


def test_unavailable_units_count_zero_and_silent_units_their_predicted_power():
    p = portfolio()
    avail = np.array([True, False, True, True, True])
    managed = np.array([True, True, False, True, True])
    fixed = np.array([0.0, 0.0, 1.25, 0.0, 0.0])
    lim = interval_limits(p, p.E0, np.zeros(5, bool), 1, 2, 1.0, avail, managed, fixed)
    assert (lim.q_min[1], lim.q_max[1]) == (0.0, 0.0)          # the EV is away
    assert (lim.q_min[2], lim.q_max[2]) == (1.25, 1.25)        # no keep-alive: its predicted power at any price
    assert list(lim.flexible) == [True, False, False, True, True]


def test_running_bakery_is_forced_for_what_it_still_needs():
    p = portfolio()
    E = p.E0.copy()
    E[4] = 2.0                                                 # Bak-2 ran one of its two steps
    lim = interval_limits(p, E, np.array([False, False, False, False, True]), 2, 2, 1.0)
    assert lim.q_min[4] == lim.q_max[4] == 1.0                 # 2 kWh left over a 2-step interval


def test_unit_curves_centre_on_the_quantile_of_the_urgency():
    # GIVEN mean 0.05, std 0.01, ramps of +-0.5 std
    cfg = BiddingConfig(pricecap=1.0, spread_sigma=0.5)
    lim = IntervalLimits(q_min=np.array([-1.5, 0.0, 0.0, 0.0, 0.5]), q_max=np.array([1.5, 2.0, 2.0, 1.0, 0.5]),
                         urgency=np.array([0.5, 0.5, PHI_1, 0.25, 0.3]), flexible=np.ones(5, bool),
                         kind=np.array([BUCKET, BATTERY, BATTERY, BAKERY, BATTERY], dtype=np.int8))
    P, Q = unit_curves(lim, 0.05, 0.01, cfg)
    # THEN a half-full bucket charges below 0.045, idles at the mean and gives back above 0.055
    np.testing.assert_allclose(P[0], [0.045, 0.05, 0.055], atol=1e-15)
    np.testing.assert_allclose(Q[0], [1.5, 0.0, -1.5])
    # AND a battery that must run half its remaining steps ramps around the mean, one that must run 84 % around +1 std
    np.testing.assert_allclose(P[1], [0.045, 0.05, 0.055], atol=1e-15)
    np.testing.assert_allclose(Q[1], [2.0, 1.0, 0.0])
    np.testing.assert_allclose(P[2], [0.055, 0.06, 0.065], atol=1e-12)
    # AND a bakery steps (all or nothing) at mean + std * z(0.25); a unit without choice sits at the cap
    np.testing.assert_allclose(P[3], [0.05 + 0.01 * Z_025] * 3, atol=1e-15)
    np.testing.assert_allclose(Q[3], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(P[4], [1.0] * 3)
    np.testing.assert_allclose(Q[4], [0.5] * 3)


def test_a_full_bucket_sells_at_low_prices_and_an_empty_one_buys_at_high_prices():
    cfg = BiddingConfig(pricecap=1.0, spread_sigma=0.0, quantile_clip=0.01)
    lim = IntervalLimits(np.array([-1.0, -1.0]), np.array([1.0, 1.0]), np.array([0.99, 0.01]), np.ones(2, bool),
                         np.array([BUCKET, BUCKET], dtype=np.int8))
    P, _ = unit_curves(lim, 0.05, 0.01, cfg)
    z99 = 2.3263478740408408
    np.testing.assert_allclose(P[:, 1], [0.05 - 0.01 * z99, 0.05 + 0.01 * z99], atol=1e-15)


AGG_P = np.array([[0.04, 0.05, 0.06], [0.03, 0.05, 0.07], [0.055] * 3, [1.0] * 3])
AGG_Q = np.array([[2.0, 0.0, -2.0], [4.0, 2.0, 0.0], [1.0, 0.5, 0.0], [0.5] * 3])
AGG_EXPECTED = [(-1.5, 1.0), (-1.5, 0.07), (-0.5, 0.06), (1.0, 0.055), (2.0, 0.055), (6.5, 0.04), (7.5, 0.03),
                (7.5, 0.001)]


def test_aggregate_curve_is_the_exact_sum_with_steps_as_horizontal_pieces():
    # GIVEN a bucket ramp, a battery ramp, a 1 kW bakery step at 0.055 and 0.5 kW fixed
    pts = aggregate_curve(AGG_P, AGG_Q, floor=0.001, cap=1.0)
    # THEN the curve lists every breakpoint once, both sides of the step, and drops the collinear point at 0.05
    assert len(pts) == len(AGG_EXPECTED)
    np.testing.assert_allclose(pts, AGG_EXPECTED, rtol=0, atol=1e-12)
    # AND the market's own curve reads it back: the sum at the mean, the largest purchase on the horizontal piece
    bid = PortfolioBid(300.0, tuple(pts), baseline=0.0, centre=0.05, scale=0.01)
    assert bid.quantity_at(0.05) == pytest.approx(3.5, abs=1e-12)
    assert bid.quantity_at(0.055) == pytest.approx(2.0, abs=1e-12)
    assert (bid.forced_kw, bid.max_kw) == pytest.approx((-1.5, 7.5))


def test_bid_is_sent_net_of_the_baseline_and_the_award_becomes_the_signal():
    bid = PortfolioBid(300.0, tuple(AGG_EXPECTED), baseline=2.0, centre=0.05, scale=0.01, steps=3)
    msg = bid.message("vpp")
    np.testing.assert_allclose(msg["curve"], [[q - 2.0, p] for q, p in AGG_EXPECTED])
    parsed = parse_bid_message(json.dumps(msg), sender="vpp_aggregator/market")
    assert parsed.bidder == "vpp" and parsed.steps_per_segment == 3 and parsed.reply_to == "vpp_aggregator/market"
    # a normal clearing: baseline + awarded net quantity
    assert bid.signal({"clear_price": 0.05, "clearing_type": int(ClearingType.SELLER), "net_kw": 1.25}) == 3.25
    # a net award past the curve is clipped to the feasible range
    assert bid.signal({"clear_price": 0.01, "clearing_type": int(ClearingType.BUYER), "net_kw": 9.0}) == 7.5
    # FAILURE: nothing awarded; the curve at the cap (the forced power); NULL without a price: forced power
    assert bid.signal({"clear_price": 1.0, "clearing_type": int(ClearingType.FAILURE), "net_kw": 0.0}) == -1.5
    assert bid.signal({"clearing_type": int(ClearingType.NULL)}) == -1.5


def _clear(refload, vpp_points, capacity, lmp=0.05):
    """Clear one period with 10 kW of HVAC bids and the VPP's curve; returns (result, VPP net award)."""
    auction = DoubleAuction(MarketConfig(pricecap=1.0, max_capacity_reference_bid_quantity=capacity))
    auction.open(refload)
    auction.add_buyer(0.10, 5.0, True, owner="h1")
    auction.add_buyer(0.06, 5.0, True, owner="h2")
    bid = parse_bid_message({"bidder": "vpp", "curve": vpp_points, "steps": 1})
    sell, buy = bid.blocks()
    auction.add_buyer_curve(buy, owner="vpp")
    auction.add_seller_curve(sell, owner="vpp")
    auction.aggregate()
    result = auction.clear(lmp)
    net = awarded(auction.buyers, "vpp", result, True) - awarded(auction.sellers, "vpp", result, False)
    return result, net


@pytest.mark.parametrize("baseline,capacity", [(3.0, 200.0), (3.0, 60.0), (3.0, 58.0), (3.0, 54.0), (3.0, 50.0),
                                               (2.0, 200.0), (2.0, 59.0), (2.0, 56.0)])
def test_bidding_net_of_the_baseline_clears_like_a_reference_load_without_the_vpp(baseline, capacity):
    # GIVEN a feeder measuring 60 kW, of which `baseline` kW is the VPP's present power, and a VPP that wants 1 kW at
    # any price, 2 kW more below 0.07 and 2 kW more below 0.03 (steps, so that the market's blocks match exactly)
    points = [[1, 1.0], [1, 0.07], [3, 0.07], [3, 0.03], [5, 0.03], [5, 0.001]]
    shifted = [[q - baseline, p] for q, p in points]
    # WHEN the VPP bids D(p) - baseline against the measured 60 kW, or D(p) against 60 kW - baseline
    net_result, net = _clear(60.0, shifted, capacity)
    ref_result, ref = _clear(60.0 - baseline, points, capacity)
    # THEN both clear at the same price, and baseline + net award equals the reference's award (the midpoint of a
    # PRICE-type clearing can differ when the bounding block is a VPP sell block instead of a VPP buy block)
    assert net_result.price == pytest.approx(ref_result.price, abs=1e-12)
    assert baseline + net == pytest.approx(ref, abs=1e-9)


def test_market_clock_bids_at_the_last_step_before_the_deadline():
    c = MarketClock(period=300, step=60, lead=1, bid_lead=45, market_lead=30, feeder_period=60, host_lead=2)
    assert [c.bid_for(k) for k in range(1, 12)] == [None, None, None, None, 300, None, None, None, None, 600, None]
    assert (c.first_step(300), c.interval_of(5), c.interval_of(6), c.steps_per_period) == (6, 0, 300, 5)
    # the market reads the load at 270 s; the feeder solved at 240 s with the command of step 4 ([180, 240) s)
    assert c.baseline_step(300) == 4 and c.baseline_step(600) == 9
    slow = MarketClock(period=300, step=300, bid_lead=45)
    assert [slow.bid_for(k) for k in (1, 2)] == [300, 600] and slow.first_step(300) == 2
    assert slow.baseline_step(300) == 1
    with pytest.raises(ValueError, match="multiple"):
        MarketClock(period=300, step=70)


def test_price_statistics_are_robust_and_shrunk_towards_the_markets_prior():
    cfg = BiddingConfig(init_price=0.02, init_stdev=0.01, window=5, prior_weight=2.0, min_stdev=0.002)
    st = PriceStatistics(cfg)
    assert st.centre_scale() == (0.02, 0.01)               # nothing cleared yet: the prior
    st.observe(0.03, ClearingType.SELLER)
    st.observe(3.78, ClearingType.FAILURE)                 # at the cap: no information about the price level
    st.observe(0.05, ClearingType.BUYER)
    # two prices: median 0.04, MAD 0.01 -> scale 0.014826; with two prior prices: (0.08 + 0.04)/4, (0.029652 + 0.02)/4
    centre, scale = st.centre_scale()
    assert centre == pytest.approx(0.03, abs=1e-15) and scale == pytest.approx(0.012413, abs=1e-15)
    # an outage price among ordinary ones moves neither the centre nor the scale (a mean and std would: 0.0664, 0.0918)
    robust = PriceStatistics(BiddingConfig(window=5, prior_weight=0.0, min_stdev=0.001))
    for price in (0.020, 0.022, 0.250, 0.021, 0.019):
        robust.observe(price, ClearingType.SELLER)
    assert robust.centre_scale() == pytest.approx((0.021, 1.4826 * 0.001), abs=1e-15)
    for _ in range(5):
        robust.observe(0.04, ClearingType.SELLER)          # the window forgets; a flat price keeps the scale floor
    assert robust.centre_scale() == (0.04, 0.001)


def test_market_bidder_baseline_award_and_fallback():
    cfg = BiddingConfig(pricecap=1.0, init_price=0.05, init_stdev=0.01, spread_sigma=0.5)
    bidder = MarketBidder(cfg, MarketClock(period=300, step=60))
    assert bidder.fallback_price() == 0.05                 # nothing cleared yet: the prior centre
    for k in range(1, 6):
        bidder.record_planned(k, float(k))
    p = portfolio()
    lim = interval_limits(p, p.E0, np.zeros(5, bool), 6, 5, 1 / 60)
    bid = bidder.make_bid(lim, 300.0)
    assert bid.baseline == 4.0 and (bid.centre, bid.scale) == (0.05, 0.01)      # planned power of step 4
    # before the award: the curve at the statistics' centre; after it: baseline + net
    assert bidder.signal_for(300.0) == pytest.approx(bid.quantity_at(0.05))
    assert bidder.on_award(300.0, {"clear_price": 0.07, "clearing_type": 4, "net_kw": -1.0}) == pytest.approx(3.0)
    assert bidder.signal_for(300.0) == pytest.approx(3.0) and bidder.fallback_price() == 0.07
    # an award for an interval it did not bid for still teaches it the price
    assert bidder.on_award(600.0, {"clear_price": 0.08, "clearing_type": 4, "net_kw": 0.0}) is None
    assert bidder.fallback_price() == 0.08 and bidder.signal_for(600.0) is None


def test_build_bid_without_the_baseline_option_sends_the_absolute_curve():
    p = portfolio()
    lim = interval_limits(p, p.E0, np.zeros(5, bool), 1, 2, 1.0)
    bid = build_bid(lim, 300.0, 0.05, 0.01, baseline=3.0, cfg=BiddingConfig(pricecap=1.0, net_of_baseline=False))
    assert bid.baseline == 0.0 and bid.message("v")["curve"][0][0] == pytest.approx(bid.forced_kw)
    # forced power (urgent battery 3 kW + due bakery 2 kW - bucket 1.5 kW) at the cap, everything at the floor
    assert (bid.forced_kw, bid.max_kw) == pytest.approx((3.5, 10.5))
    assert bid.points[0][1] == 1.0 and bid.points[-1][1] == 0.001


def test_interval_state_rolls_the_aggregators_estimates_to_the_interval():
    # GIVEN an aggregator that registered a bucket and a battery and dispatched 3 kW at step 1 (Ts = 0.5 h)
    rows = [("Bkt-1", 0, 6, 5, -5, 9, 3, -1, -1), ("Bat-1", 0, 0, 2, 0, 4, 0, 10, -1)]
    p = make_portfolio(rows)
    agg = Aggregator(AggregatorConfig(Ts=0.5))
    for i in range(2):
        agg.receive(register_message(p, i))
    _, summary = agg.step(1, 3.0)
    assert summary.planned == pytest.approx(3.0)
    # WHEN the bid for the interval from step 3 is made
    q, E, running, available, managed, fixed = interval_state(agg, 3)
    # THEN the energies are rolled over steps 1 and 2 with the powers of step 1
    np.testing.assert_allclose(E, p.E0 + 0.5 * agg.P_assumed * 2)
    assert available.all() and managed.all()
    lim = limits_from_aggregator(agg, 3, 2)
    assert lim is not None and lim.q_max[1] == pytest.approx(2.0)


def test_blocks_per_segment_keeps_blocks_near_the_wanted_size():
    cfg = BiddingConfig(pricecap=1.0, steps=4, max_steps=50, block_kw=1.0)
    from vppfed.federates.agile.market_bidding import blocks_per_segment
    # the widest sloped segment is 6.5 - 2 = 4.5 kW (0.055 -> 0.04): 5 blocks of 0.9 kW; horizontal pieces do not count
    assert blocks_per_segment(AGG_EXPECTED, cfg) == 5
    assert blocks_per_segment([(0.0, 1.0), (90.0, 0.02), (90.0, 0.001)], cfg) == 50      # capped
    assert blocks_per_segment([(0.0, 1.0), (0.0, 0.001)], cfg) == 4                      # at least `steps`


def test_battery_energy_is_projected_over_the_setpoint_still_in_effect():
    # GIVEN a 13.5 kWh battery inverter (efficiency 0.9) read at 6 kWh while its previous setpoint still acts for a
    # whole one-minute step (the feeder solves once per step)
    from vppfed.federates.agile.devices import BATTERY_INVERTER, Device, DeviceBank
    from vppfed.federates.agile.adapter import project_battery_energy
    from vppfed.federates.agile.unit_host import Measurement

    dev = Device("Bkt-1", BATTERY_INVERTER, "ibat_h1", "ibat_h1/P_Out",
                 {"soc": "gld_7/bat_h1/state_of_charge", "power": "gld_7/ibat_h1/VA_Out"}, 13.5, 0.9)
    bank = DeviceBank([dev, dev], 1 / 60)
    measured = Measurement(E=np.array([6.0, 6.0]), available=np.ones(2, bool), P_meas=np.array([-4.5, 3.0]))
    # THEN a discharge at 4.5 kW takes 4.5 / 0.9 kW from the battery for that step, a charge adds its face value
    out = project_battery_energy(measured, bank, 1.0)
    np.testing.assert_allclose(out.E, [6.0 - 5.0 / 60, 6.0 + 3.0 / 60], rtol=0, atol=1e-12)
    # AND a quarter-step lag projects a quarter of that; an unmeasured power leaves the energy alone
    out = project_battery_energy(measured, bank, 0.25)
    np.testing.assert_allclose(out.E, [6.0 - 1.25 / 60, 6.0 + 0.75 / 60], rtol=0, atol=1e-12)
    unknown = Measurement(E=np.array([6.0, 6.0]), available=np.ones(2, bool), P_meas=np.array([np.nan, 3.0]))
    np.testing.assert_allclose(project_battery_energy(unknown, bank, 1.0).E, [6.0, 6.05], rtol=0, atol=1e-12)
