"""Market mode: four-point bid, clipping, blocks and setpoint (market-and-bidding reference §6-7, §8.5)."""
from __future__ import annotations

import numpy as np
import pytest

from vppfed.federates.battery.market import (accepted_setpoint, arbitrage_schedule, bid_to_blocks, four_point_bid,
                                             quantity_limits, setpoint_from_price)

BID = dict(q_t=2.0, f_t=0.20, f_max=0.30, f_min=0.10, rc=5.0, rd=5.0, deg=0.005, profit_margin=1.0, slider=0.5)


def test_four_point_bid_reference():
    bid = four_point_bid(**BID)
    assert bid.slope == pytest.approx(-0.04) and bid.b == pytest.approx(0.28)
    np.testing.assert_allclose(bid.points, [[-5, 0.49], [2, 0.21], [2, 0.19], [5, 0.07]], atol=1e-9)


@pytest.mark.parametrize("price,setpoint", [(0.6, 5), (0.49, 5), (0.35, 1.5), (0.21, -2), (0.20, -2), (0.19, -2),
                                            (0.10, -4.25), (0.07, -5), (0.0, -5)])
def test_setpoint_from_cleared_price_reference(price, setpoint):
    assert setpoint_from_price(four_point_bid(**BID).points, price) == pytest.approx(setpoint, abs=1e-9)


def test_clipped_bids_reference():
    bid = four_point_bid(**BID)
    np.testing.assert_allclose(bid.clipped(0.0, 1.0).points, [[0, 0.29], [1, 0.25], [1, 0.23], [1, 0.23]], atol=1e-9)
    q_lo, q_hi = quantity_limits(0.99, 13.5, 300 / 3600, rc=5.0, rd=5.0, soc_min=0.2)
    assert (q_lo, q_hi) == (-5.0, 0.0)
    np.testing.assert_allclose(bid.clipped(q_lo, q_hi).points, [[-5, 0.49], [0, 0.29], [0, 0.27], [0, 0.27]],
                               atol=1e-9)


def test_slider_zero_gives_vertical_bid():
    bid = four_point_bid(**{**BID, "slider": 0.0})
    np.testing.assert_allclose(bid.points, [[2, 0.30], [2, 0.20], [2, 0.20], [2, 0.10]])


def test_blocks_split_sell_and_buy_at_zero_and_clear_like_the_curve():
    points = four_point_bid(**BID).points
    sells, buys = bid_to_blocks(points, n_blocks=20)
    assert sum(q for _, q in sells) == pytest.approx(5.0)
    assert sum(q for _, q in buys) == pytest.approx(5.0)
    assert min(p for p, _ in sells) > 0.29 and max(p for p, _ in sells) < 0.49
    block = 7.0 / 20
    for price in (0.45, 0.35, 0.30, 0.25, 0.20, 0.15, 0.08):
        assert accepted_setpoint(sells, buys, price) == pytest.approx(setpoint_from_price(points, price), abs=block)


def test_blocks_drop_nonpositive_buy_prices():
    bid = four_point_bid(q_t=0.0, f_t=0.02, f_max=0.05, f_min=0.0, rc=5.0, rd=5.0, deg=0.0, profit_margin=0.0,
                         slider=0.2)
    sells, buys = bid_to_blocks(bid.points, n_blocks=10)
    assert all(p > 0 for p, _ in buys) and sum(q for _, q in buys) < 5.0


def test_arbitrage_buys_cheap_sells_dear():
    q = arbitrage_schedule([0.1, 0.1, 0.3, 0.3], 1.0, e0=0.0, e_min=0.0, e_max=4.0, p_ch=2.0, p_dis=3.0, deg=0.005)
    np.testing.assert_allclose(q, [2, 2, -1, -3], atol=1e-9)
    # a spread below the degradation cost is not worth a cycle
    q = arbitrage_schedule([0.100, 0.105], 1.0, e0=0.0, e_min=0.0, e_max=4.0, p_ch=2.0, p_dis=3.0, deg=0.005)
    np.testing.assert_allclose(q, [0, 0], atol=1e-9)
