"""Double auction in TESP's form: the exact vectors of issue 6 and market-and-bidding.md section 8.1/8.2."""
from __future__ import annotations

import pytest

from vppfed.federates.market.auction import (AggregateBid, ClearingType, DoubleAuction, MarketConfig,
                                             aggregate_bid)

BIDS = [(0.10, 5.0, True), (0.04, 5.0, False), (0.06, 10.0, True)]


def auction_with_reference_bids(capacity_kw: float) -> DoubleAuction:
    """GIVEN cap 1.0 $/kWh, refload 50 kW and the three reference HVAC bids."""
    auction = DoubleAuction(MarketConfig(pricecap=1.0, max_capacity_reference_bid_quantity=capacity_kw))
    auction.open(50.0)
    for price, kw, on in BIDS:
        auction.add_buyer(price, kw, on)
    return auction


def test_running_bidders_are_taken_out_of_the_unresponsive_load():
    auction = auction_with_reference_bids(100.0)
    auction.aggregate()
    assert auction.unresp == pytest.approx(35.0)
    assert auction.buyers.prices == [1.0, 0.10, 0.06, 0.04]
    assert auction.buyers.quantities == [35.0, 5.0, 10.0, 5.0]


@pytest.mark.parametrize("capacity, ctype, price, quantity", [
    (100.0, ClearingType.SELLER, 0.05, 50.0),
    (40.0, ClearingType.PRICE, 0.075, 40.0),
    (45.0, ClearingType.BUYER, 0.06, 45.0),
    (30.0, ClearingType.FAILURE, 1.0, 30.0),
])
def test_reference_vectors_clear_with_tesp_type_price_and_quantity(capacity, ctype, price, quantity):
    result = auction_with_reference_bids(capacity).clear(lmp=0.05)
    assert result.type == ctype
    assert result.price == pytest.approx(price, abs=1e-9)
    assert result.quantity == pytest.approx(quantity, abs=1e-9)


def test_marginal_seller_gets_the_share_of_its_block_that_was_needed():
    result = auction_with_reference_bids(100.0).clear(0.05)
    assert result.marginal_quantity == pytest.approx(50.0)
    assert result.marginal_frac == pytest.approx(0.5)


def test_marginal_buyer_block_at_the_price_is_served_in_part():
    # 40 kW go to buyers above 0.06 (35 unresponsive + 5), 5 of the 10 kW at 0.06 remain
    result = auction_with_reference_bids(45.0).clear(0.05)
    assert result.marginal_quantity == pytest.approx(5.0)
    assert result.marginal_frac == pytest.approx(0.5)


def test_surpluses_follow_tesp_for_seller_and_price_clearings():
    seller = auction_with_reference_bids(100.0).clear(0.05)
    assert seller.consumer_surplus == pytest.approx(0.05 * 5 + 0.01 * 10)
    assert seller.average_consumer_surplus == pytest.approx(0.35 / 2)
    assert seller.supplier_surplus == pytest.approx(0.0)
    price = auction_with_reference_bids(40.0).clear(0.05)
    assert price.consumer_surplus == pytest.approx(0.025 * 5)
    assert price.unresp_supplier_surplus == pytest.approx(0.025 * 35)
    assert price.supplier_surplus == pytest.approx(0.025 * 5)


def test_aggregate_bid_fits_the_reference_curve_for_the_wholesale_market():
    auction = auction_with_reference_bids(100.0)
    agg = auction.aggregate()
    assert agg.unresponsive_mw == pytest.approx(0.035, abs=1e-12)
    assert agg.responsive_max_mw == pytest.approx(0.02, abs=1e-12)
    assert agg.deg == 2
    assert agg.c2 == pytest.approx(-2074.074074, abs=1e-6)
    assert agg.c1 == pytest.approx(105.925926, abs=1e-6)


def test_aggregate_bid_is_linear_with_two_responsive_blocks_and_empty_without():
    # cumulative (MW, $/h): (0.005, 0.5), (0.015, 1.1) -> c1 = sum(QC)/sum(Q^2)
    agg = aggregate_bid([1.0, 0.10, 0.06], [35.0, 5.0, 10.0])
    expected = (0.005 * 0.5 + 0.015 * 1.1) / (0.005**2 + 0.015**2)
    assert (agg.deg, agg.c2) == (1, 0.0)
    assert agg.c1 == pytest.approx(expected, rel=1e-12)
    assert aggregate_bid([1.0], [20.0]) == AggregateBid(0.02, 0.0, 0, 0.0, 0.0)
    assert aggregate_bid([], []) == AggregateBid(0.0, 0.0, 0, 0.0, 0.0)


def test_non_positive_bids_reduce_unresponsive_load_but_stay_out_of_the_curve():
    auction = DoubleAuction(MarketConfig(pricecap=1.0))
    auction.open(10.0)
    auction.add_buyer(0.0, 3.0, True)
    auction.aggregate()
    assert auction.buyers.prices == [1.0] and auction.buyers.quantities == [7.0]


def test_no_crossing_gives_null_between_best_bids():
    # GIVEN only a responsive buyer below the LMP and no unresponsive load
    auction = DoubleAuction(MarketConfig(pricecap=1.0, max_capacity_reference_bid_quantity=100.0))
    auction.open(0.0)
    auction.add_buyer(0.03, 5.0, False)
    result = auction.clear(0.05)
    assert result.type == ClearingType.NULL and result.quantity == 0.0
    assert result.price == pytest.approx(0.05 + (0.03 - 0.05) * 0.5)


def test_external_seller_below_lmp_is_dispatched_first():
    # GIVEN a battery offering 20 kW at 0.02 under a 0.05 LMP and 50 kW of load, 15 kW of it responsive at 0.10
    auction = DoubleAuction(MarketConfig(pricecap=1.0, max_capacity_reference_bid_quantity=100.0))
    auction.open(50.0)
    auction.add_buyer(0.10, 15.0, True)
    auction.add_seller_curve([(0.02, 20.0)], owner="bat")
    result = auction.clear(0.05)
    # 50 kW demand: 20 from the battery, 30 from the substation at the LMP
    assert result.type == ClearingType.SELLER
    assert result.price == pytest.approx(0.05)
    assert result.quantity == pytest.approx(50.0)
    assert result.supplier_surplus + result.unresp_supplier_surplus == pytest.approx(0.03 * 20)


def test_exact_match_at_equal_prices_is_exact():
    auction = DoubleAuction(MarketConfig(pricecap=1.0, max_capacity_reference_bid_quantity=0.0))
    auction.open(0.0)
    auction.add_buyer(0.05, 10.0, False)
    auction.add_seller(0.05, 10.0)
    result = auction.clear(0.05)
    assert (result.type, result.price, result.quantity) == (ClearingType.EXACT, 0.05, 10.0)


def test_bids_after_aggregation_are_refused():
    auction = auction_with_reference_bids(100.0)
    auction.aggregate()
    with pytest.raises(RuntimeError):
        auction.add_buyer(0.2, 1.0)
