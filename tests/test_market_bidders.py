"""External bidders: battery/VPP curves into blocks, price response (section 8.5 table), awards, messages."""
from __future__ import annotations

import json

import pytest

from vppfed.federates.market.auction import ClearingType, DoubleAuction, MarketConfig
from vppfed.federates.market.bidders import BidCurve, ExternalBid, award_message, awarded, parse_bid_message

DSOT_BID = BidCurve.from_list([[-5, 0.49], [2, 0.21], [2, 0.19], [5, 0.07]])


@pytest.mark.parametrize("price, setpoint", [(0.6, 5), (0.49, 5), (0.35, 1.5), (0.21, -2), (0.20, -2), (0.19, -2),
                                             (0.10, -4.25), (0.07, -5), (0.0, -5)])
def test_battery_setpoint_follows_the_four_point_bid(price, setpoint):
    assert DSOT_BID.setpoint_at(price) == pytest.approx(setpoint, abs=1e-9)


def test_four_point_bid_becomes_blocks_split_at_zero():
    sell, buy = DSOT_BID.to_blocks(1)
    # sell 5 -> 0 kW between 0.49 and 0.29; buy 0 -> 2 between 0.29 and 0.21; 2 -> 5 between 0.19 and 0.07
    assert sell == [pytest.approx((0.39, 5.0))]
    assert buy == [pytest.approx((0.25, 2.0)), pytest.approx((0.13, 3.0))]
    sell4, buy4 = DSOT_BID.to_blocks(4)
    assert sum(q for _, q in sell4) == pytest.approx(5.0) and sum(q for _, q in buy4) == pytest.approx(5.0)
    assert all(0.29 <= p <= 0.49 for p, _ in sell4)


def test_curve_must_be_monotone():
    with pytest.raises(ValueError):
        BidCurve.from_list([[0, 0.1], [1, 0.2]])


def test_awards_follow_the_clearing_of_blocks():
    # GIVEN a VPP buying 10 kW at 0.08 and 10 kW at 0.04, a battery selling 5 kW at 0.03, LMP 0.05, 20 kW load
    auction = DoubleAuction(MarketConfig(pricecap=1.0, max_capacity_reference_bid_quantity=100.0))
    auction.open(20.0)
    auction.add_buyer_curve([(0.08, 10.0), (0.04, 10.0)], owner="vpp")
    auction.add_seller_curve([(0.03, 5.0)], owner="bat")
    result = auction.clear(0.05)
    assert result.type == ClearingType.SELLER and result.price == pytest.approx(0.05)
    assert awarded(auction.buyers, "vpp", result, buyer_side=True) == pytest.approx(10.0)
    assert awarded(auction.sellers, "bat", result, buyer_side=False) == pytest.approx(5.0)
    assert awarded(auction.sellers, "nobody", result, buyer_side=False) == 0.0


def test_marginal_buyer_block_is_awarded_its_fraction():
    auction = DoubleAuction(MarketConfig(pricecap=1.0, max_capacity_reference_bid_quantity=25.0))
    auction.open(20.0)
    auction.add_buyer_curve([(0.08, 10.0)], owner="vpp")
    result = auction.clear(0.05)
    assert result.type == ClearingType.BUYER and result.marginal_frac == pytest.approx(0.5)
    assert awarded(auction.buyers, "vpp", result, buyer_side=True) == pytest.approx(5.0)


def test_bid_message_round_trip_and_errors():
    bid = parse_bid_message(json.dumps({"curve": [[-5, 0.49], [2, 0.21], [2, 0.19], [5, 0.07]], "steps": 2}),
                            sender="bat_7/market")
    assert bid.bidder == "bat_7/market" and bid.steps_per_segment == 2
    sell, buy = bid.blocks()
    assert len(sell) == 2 and len(buy) == 4
    plain = parse_bid_message({"bidder": "vpp_7", "buy": [[0.1, 3]]})
    assert plain.blocks() == ([], [(0.1, 3.0)])
    for bad in ("not json", "[]", json.dumps({"bidder": "x"}), json.dumps({"bidder": "x", "buy": [[0.1, -1]]})):
        with pytest.raises(ValueError):
            parse_bid_message(bad, sender="s")


def test_award_message_carries_the_curve_response():
    auction = DoubleAuction(MarketConfig(pricecap=1.0))
    auction.open(10.0)
    result = auction.clear(0.35)
    reply = json.loads(award_message(ExternalBid("b", DSOT_BID), result, 0.0, 0.0))
    assert reply["clear_price"] == pytest.approx(0.35) and reply["curve_kw"] == pytest.approx(-1.5)
