"""The substation market agent on TESP's clock, without HELICS."""
from __future__ import annotations

from datetime import datetime

import pytest

from vppfed.federates.market.agent_dict import AgentDictOptions, HouseInfo, build_agent_dict
from vppfed.federates.market.auction import ClearingType, MarketConfig
from vppfed.federates.market.bidders import BidCurve, ExternalBid
from vppfed.federates.market.substation import MarketOptions, SubstationMarket, controllers_from_agent_dict

AGENTS = build_agent_dict([HouseInfo(f"h{i}", f"m{i}") for i in range(4)], AgentDictOptions(seed=2))
MARKET = MarketConfig(init_price=0.05, init_stdev=0.01)


def make(with_market: bool = True, **kw) -> SubstationMarket:
    agent = SubstationMarket(MARKET, controllers_from_agent_dict(AGENTS),
                             MarketOptions(with_market=with_market, start=datetime(2013, 7, 1), **kw))
    agent.set_refload(40.0)
    for i in range(4):
        agent.observe_house(f"h{i}", air_temperature=80.0 + i, hvac_load=4.0, power_state="ON" if i % 2 else "OFF")
    return agent


def test_wakeups_follow_tesp_bid_then_clear_times():
    agent = make()
    times, t = [], 0.0
    while t < 900:
        t = agent.next_time(t)
        times.append(t)
        agent.step(t)
    assert times == [270, 300, 570, 600, 870, 900]


def test_bids_at_t_minus_30_give_curve_and_clearing_at_t_moves_setpoints():
    agent = make()
    first = agent.step(0.0)
    assert set(first.cooling_setpoints) == {"h0", "h1", "h2", "h3"}  # initial schedule
    bid = agent.step(270.0)
    assert bid.aggregate is not None and bid.clearing is None
    key, rows = bid.controller_metrics
    assert key == 300 and set(rows) == {"h0", "h1", "h2", "h3"}
    # two running HVACs (4 kW each) leave 32 kW unresponsive
    assert bid.aggregate.unresponsive_mw == pytest.approx(0.032)
    assert bid.aggregate.responsive_max_mw == pytest.approx(0.016)
    agent.set_lmp(0.08)
    cleared = agent.step(300.0)
    assert cleared.clear_price is not None and cleared.clear_price >= 0.05
    assert cleared.auction_metrics[0] == 300
    for name, ctl in agent.controllers.items():
        expected = ctl.setpoint_for(cleared.clear_price)
        assert cleared.cooling_setpoints[name] == pytest.approx(expected)
        assert expected > ctl.basepoint  # a price above the mean raises the cooling set point
    assert set(cleared.meter_prices) == {"m0", "m1", "m2", "m3"}


def test_no_market_records_bids_but_clears_nothing():
    agent = make(with_market=False)
    agent.step(0.0)
    bid = agent.step(270.0)
    assert bid.aggregate.unresponsive_mw == pytest.approx(0.040) and bid.aggregate.deg == 0
    assert len(bid.controller_metrics[1]) == 4
    cleared = agent.step(300.0)
    assert cleared.clear_price is None and cleared.cooling_setpoints == {}
    row = cleared.auction_metrics[1]["Market_1"]
    assert row[0] == pytest.approx(0.05) and row[1] == int(ClearingType.NULL)


def test_external_battery_bid_is_cleared_and_awarded():
    agent = make()
    agent.step(0.0)
    agent.submit(ExternalBid("bat_7", BidCurve.from_list([[-5, 0.49], [2, 0.21], [2, 0.19], [5, 0.07]]),
                             steps_per_segment=1))
    agent.step(270.0)
    agent.set_lmp(0.45)
    out = agent.step(300.0)
    award = out.awards["bat_7"]
    # the sell block of 5 kW at 0.39 is below the 0.45 clearing price: the battery discharges 5 kW
    assert out.clearing.type == ClearingType.SELLER and out.clear_price == pytest.approx(0.45)
    assert award["sold_kw"] == pytest.approx(5.0) and award["bought_kw"] == 0.0
    assert out.auction_metrics[1]["Market_1"][-1] == pytest.approx(5.0)
    # bids are per period: the next clearing has no battery
    agent.step(570.0)
    assert "bat_7" not in agent.step(600.0).awards


def test_schedule_uses_whole_hours_like_tesp():
    agent = make()
    agent.step(0.0)
    ctl = agent.controllers["h0"]
    wake = ctl.params.schedule.wakeup_start  # between 5 and 6.5 h
    t = (int(wake) + 1) * 3600.0 - 30.0      # just before the next whole hour after wake-up start
    agent.step(t)
    assert ctl.basepoint == ctl.params.schedule.night_set  # TESP compares the whole hour with the start
    agent.step((int(wake) + 1) * 3600.0)
    assert ctl.basepoint == ctl.params.schedule.wakeup_set


def test_too_coarse_step_is_rejected():
    with pytest.raises(ValueError):
        SubstationMarket(MARKET, [], MarketOptions(dt=150.0))
