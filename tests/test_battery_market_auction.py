"""Auction mode of the battery manager: timing, price statistics, the bid, its blocks, the award and the set point.

Exact small vectors; the bid reproduces the DSO+T example of the market-and-bidding reference (§8.5).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vppfed.errors import UserError
from vppfed.io import parse_dataclass
from vppfed.federates.battery.bidding import (Award, MarketBid, PriceStatistics, bid_clearing_time, energy_limits,
                                              plan_bid)
from vppfed.federates.battery.config import BatteryConfig
from vppfed.federates.battery.manager import BatteryManager, StepInput
from vppfed.federates.battery.market import setpoint_from_price
from vppfed.federates.battery.persistence import StateStore
from vppfed.federates.battery.state_machine import BatteryState, StateMachine

V_NOM, E_WH, P_MAX = 480.0, 13500.0, 5000.0


def auction_config(**kwargs) -> BatteryConfig:
    base = dict(capacity_ah=E_WH / V_NOM, nominal_voltage_v=V_NOM, max_charge_w=P_MAX, max_discharge_w=P_MAX,
                coulombic_efficiency=1.0, conversion_efficiency=1.0, soc_initial=0.5, soc_low=0.2, soc_high=0.95,
                soc_hysteresis=0.05, rest_min_s=0.0, period_s=60.0, policy="market", market_follow="award",
                market_period_s=300.0, bid_lead_s=45.0, price_forecast=[0.02] * 24, price_stdev=0.01,
                idle_rest_s=0.0, reconcile_warn=0.05, degradation_cost=0.005)  # the core defaults before issue 17 (sections and core now share the section's)
    base.update(kwargs)
    return parse_dataclass(BatteryConfig, base, "test")


# ------------------------------------------------------------------------------------------------------- timing
@pytest.mark.parametrize("t,control,expected", [
    (240, 60, 300.0), (180, 60, None), (300, 60, None), (540, 60, 600.0),  # 60 s steps: 45 s before at 240 s
    (0, 300, 300.0), (300, 300, 600.0),                                    # 300 s steps: at the previous clearing
    (255, 15, 300.0), (240, 15, None), (270, 15, None),                    # 15 s steps: exactly T - 45 s
])
def test_the_bid_leaves_at_the_last_control_step_before_the_lead(t, control, expected):
    assert bid_clearing_time(t, control, 300.0, 45.0) == expected


# -------------------------------------------------------------------------------------------- price statistics
def test_price_statistics_learn_yesterdays_profile_and_todays_level():
    stats = PriceStatistics.from_prior([0.02] * 24, 0.01, level_memory=4)
    # GIVEN day 1: two prices at 00:xx, one at 01:xx (no level yet: the reference is only the prior)
    for hour, price in ((0.0, 0.01), (0.5, 0.03), (1.0, 0.03)):
        stats.observe(hour, price)
    assert stats.level == 0.0 and stats.learned == [False] * 24
    # the hour seen today stands for itself while no day has completed; the rest is the prior
    np.testing.assert_allclose(stats.forecast(0.0, 3), [0.02, 0.03, 0.02])
    assert stats.stdev() == pytest.approx(np.std([0.01, 0.03, 0.03]))
    # WHEN day 2 starts and its first price is twice yesterday's 00:xx mean (0.02)
    stats.observe(0.0, 0.04)
    # THEN yesterday's hourly means are the reference and the level is the log-ratio over level_memory
    assert stats.reference[:3] == [0.02, 0.03, 0.02] and stats.learned[:3] == [True, True, False]
    level = math.log(2.0) / 4
    assert stats.level == pytest.approx(level)
    np.testing.assert_allclose(stats.forecast(0.0, 3), np.array([0.02, 0.03, 0.02]) * math.exp(level))
    # tomorrow's 00:xx in a horizon from 23:00 is today's observed mean, not scaled again
    np.testing.assert_allclose(stats.forecast(23.0, 2), [0.02 * math.exp(level), 0.04])


def test_price_level_decays_over_the_horizon_and_round_trips():
    stats = PriceStatistics(reference=[0.1] * 24, learned=[True] * 24, level=math.log(2.0), level_decay=0.5)
    np.testing.assert_allclose(stats.forecast(5.0, 3), [0.2, 0.1 * 2 ** 0.5, 0.1 * 2 ** 0.25])
    assert PriceStatistics.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats


# ----------------------------------------------------------------------------------------------- limits and bid
def test_energy_limits_over_one_period_with_efficiencies():
    kw = dict(rc_kw=5.0, rd_kw=5.0, eta_charge=0.9, eta_discharge=0.9)
    # 0.3 kWh above the floor, 90 % out: 0.27 kWh in 5 min = 3.24 kW; 0.225 kWh of room, 90 % in: 3.0 kW
    assert energy_limits(3.0, 2.7, 12.825, 1 / 12, **kw) == pytest.approx((-3.24, 5.0))
    assert energy_limits(12.6, 2.7, 12.825, 1 / 12, **kw) == pytest.approx((-5.0, 3.0))
    assert energy_limits(2.0, 2.7, 12.825, 1 / 12, **kw) == (-0.0, 5.0)


def reference_bid(**kwargs) -> MarketBid:
    """Forecast 0.20, 0.30, 0.10 $/kWh and 2 kWh of room: the LP buys 2 kW now to sell in the next hour (Q_t = 2),
    which with 5 kW ratings, deg 0.005, margin 1 and slider 0.5 is the reference's example bid."""
    stats = PriceStatistics.from_prior([0.20, 0.30, 0.10] + [0.2] * 21, 0.01)
    args = dict(clear_at_s=300.0, hour=0.0, e0_kwh=0.0, e_min_kwh=0.0, e_max_kwh=2.0, rc_kw=5.0, rd_kw=5.0,
                q_lo=-5.0, q_hi=5.0, deg=0.005, profit_margin=1.0, slider=0.5, horizon_h=3, n_blocks=1)
    args.update(kwargs)
    return plan_bid(stats, **args)


def test_plan_bid_is_the_dso_t_reference_bid_and_its_blocks():
    bid = reference_bid()
    assert (bid.q_t, bid.f_t, bid.f_lo, bid.f_hi) == pytest.approx((2.0, 0.20, 0.10, 0.30))
    np.testing.assert_allclose(bid.points, [[-5, 0.49], [2, 0.21], [2, 0.19], [5, 0.07]], atol=1e-12)
    # one block per sloped piece, priced at its middle: sell 5 kW at 0.39; buy 2 kW at 0.25 and 3 kW at 0.13
    np.testing.assert_allclose(bid.sells, [[0.39, 5.0]], atol=1e-12)
    np.testing.assert_allclose(bid.buys, [[0.25, 2.0], [0.13, 3.0]], atol=1e-12)
    assert (bid.sell_kw, bid.buy_kw, bid.sell_price, bid.buy_price) == pytest.approx((5.0, 5.0, 0.39, 0.25))
    assert bid.message("bat_1") == {"bidder": "bat_1", "sell": [[pytest.approx(0.39), 5.0]],
                                    "buy": [[pytest.approx(0.25), 2.0], [pytest.approx(0.13), 3.0]]}


def test_a_clipped_bid_offers_only_what_the_soc_allows():
    bid = reference_bid(q_lo=0.0, q_hi=1.0)
    np.testing.assert_allclose(bid.points, [[0, 0.29], [1, 0.25], [1, 0.23], [1, 0.23]], atol=1e-12)
    assert bid.sells == () and bid.buy_kw == pytest.approx(1.0)
    assert reference_bid(q_lo=0.0, q_hi=0.0).empty


def test_the_spread_floor_keeps_a_flat_forecast_bid_sloped():
    # GIVEN an empty battery and a flat forecast (nothing to sell, no spread worth a cycle: Q_t = 0)
    stats = PriceStatistics.from_prior([0.02] * 24, 0.01)
    bid = plan_bid(stats, clear_at_s=300.0, hour=0.0, e0_kwh=0.0, e_min_kwh=0.0, e_max_kwh=10.0, rc_kw=5.0, rd_kw=5.0,
                   q_lo=-5.0, q_hi=5.0, deg=0.001, profit_margin=0.0, slider=0.5, spread_sigmas=2.0, n_blocks=1)
    # THEN the band is 0.02 +- sigma: slope = 0.02 / -10 / 0.5 = -0.004 $/kWh per kW, delta = 0.001
    assert (bid.q_t, bid.f_lo, bid.f_hi) == pytest.approx((0.0, 0.01, 0.03))
    np.testing.assert_allclose(bid.points, [[-5, 0.041], [0, 0.021], [0, 0.019], [5, -0.001]], atol=1e-12)
    np.testing.assert_allclose(bid.sells, [[0.031, 5.0]], atol=1e-12)
    np.testing.assert_allclose(bid.buys, [[0.009, 5.0]], atol=1e-12)


def test_stored_energy_is_sold_at_the_dearest_forecast_hour():
    # the rolling schedule gives stored energy no value after its horizon: a full battery sells at the dearest hour
    stats = PriceStatistics.from_prior([0.02, 0.03, 0.05] + [0.02] * 21, 0.01)
    kw = dict(clear_at_s=300.0, e_min_kwh=0.0, e_max_kwh=5.0, rc_kw=5.0, rd_kw=5.0, q_lo=-5.0, q_hi=5.0, deg=0.001,
              horizon_h=3)
    assert plan_bid(stats, hour=0.0, e0_kwh=5.0, **kw).q_t == pytest.approx(0.0)   # 0.05 comes at 02:00
    assert plan_bid(stats, hour=2.0, e0_kwh=5.0, **kw).q_t == pytest.approx(-5.0)  # now is the dearest hour


@pytest.mark.parametrize("price", [0.45, 0.39, 0.30, 0.25, 0.20, 0.13, 0.10])
def test_awarded_blocks_follow_the_curve_up_to_one_block(price):
    bid = reference_bid(n_blocks=20)
    sold = sum(q for p, q in bid.sells if p <= price)
    bought = sum(q for p, q in bid.buys if p >= price)
    assert sold - bought == pytest.approx(setpoint_from_price(bid.points, price), abs=7.0 / 20 + 1e-9)


# ---------------------------------------------------------------------------------------------------------- award
def test_award_message_decodes_to_a_set_point():
    msg = json.dumps({"clear_price": 0.2, "clearing_type": 4, "bought_kw": 2.0, "sold_kw": 0.5, "net_kw": 1.5})
    award = Award.from_message(msg, 300.0)
    assert award == Award(300.0, 0.2, 4, 2.0, 0.5) and award.setpoint_kw == -1.5 and award.priced
    assert not Award(300.0, 3.78, 1, 0.0, 0.0).priced
    with pytest.raises(ValueError, match="malformed"):
        Award.from_message(b'{"clear_price": 0.2}', 300.0)


# ------------------------------------------------------------------------------------------------- state machine
@pytest.mark.parametrize("state,soc,charge,sell", [
    (BatteryState.REST, 0.5, True, True),
    (BatteryState.REST, 0.24, True, False),   # below soc_low + hysteresis: REST may not enter SELL
    (BatteryState.SELL, 0.24, True, True),    # ... but a running SELL continues down to soc_low
    (BatteryState.SELL, 0.2, True, False),
    (BatteryState.REST, 0.91, False, True),   # above soc_high - hysteresis: no CHARGE from REST
    (BatteryState.CHARGE, 0.91, True, True),
    (BatteryState.CHARGE, 0.95, False, True),
])
def test_bids_offer_only_directions_the_state_machine_allows(state, soc, charge, sell):
    machine = StateMachine(auction_config(), state)
    assert machine.could_run(BatteryState.CHARGE, 12.0, soc) is charge
    assert machine.could_run(BatteryState.SELL, 12.0, soc) is sell


def test_closed_windows_and_voltage_limits_close_a_direction():
    cfg = auction_config(charge_window_h=[0, 6], v_full=500.0, v_empty=400.0)
    machine = StateMachine(cfg)
    assert not machine.could_run(BatteryState.CHARGE, 12.0, 0.5)
    assert machine.could_run(BatteryState.CHARGE, 3.0, 0.5)
    assert not machine.could_run(BatteryState.CHARGE, 3.0, 0.5, voltage_v=500.0)
    assert not machine.could_run(BatteryState.SELL, 3.0, 0.5, voltage_v=400.0)


# ------------------------------------------------------------------------------------------------------- manager
def run_steps(manager: BatteryManager, awards: dict[float, Award], until: float, delivered: dict[float, float]):
    out = {}
    for t in np.arange(0.0, until + 1, 60.0):
        out[t] = manager.step(StepInput(t_s=t, hour=t / 3600.0, load_w=0.0, delivered_w=delivered.get(t, 0.0),
                                        award=awards.get(t)))
    return out


def test_manager_bids_before_each_clearing_and_follows_the_award_for_one_period():
    manager = BatteryManager(auction_config())
    award = Award(300.0, 0.2, 4, 0.0, 2.5)
    # delivered power of each step = the command of the step before (an ideal inverter)
    out = run_steps(manager, {300.0: award}, 660.0, {t: 2500.0 for t in (360.0, 420.0, 480.0, 540.0, 600.0)})
    # THEN bids leave at 240 s (for 300 s) and 540 s (for 600 s), nothing in between
    assert [t for t, o in out.items() if o.market_bid is not None] == [240.0, 540.0]
    assert out[240.0].market_bid.clear_at_s == 300.0 and out[540.0].market_bid.clear_at_s == 600.0
    # AND the command follows the award of 300 s for its five control steps, then drops to 0 without a new one
    commands = [out[t].command_w for t in sorted(out)]
    assert commands == [0.0] * 5 + [2500.0] * 5 + [0.0] * 2
    assert out[300.0].state is BatteryState.SELL and out[600.0].award is None
    # AND revenue is the delivered energy at the clearing price: 5 x 2.5 kW x 1 min x 0.2 $/kWh
    assert out[660.0].revenue_usd == pytest.approx(5 * 2.5 / 60 * 0.2)
    assert out[660.0].clear_price == 0.2


def test_the_bid_is_for_the_soc_the_current_command_leads_to():
    # GIVEN 0.5 SOC of 13.5 kWh and an award to sell 5 kW from 300 s: at 540 s one more minute is left until 600 s
    manager = BatteryManager(auction_config())
    out = run_steps(manager, {300.0: Award(300.0, 0.2, 4, 0.0, 5.0)}, 540.0, {})
    bid = out[540.0].market_bid
    e_then = 0.5 * 13.5 - 5.0 / 60  # the estimate counted nothing delivered (delivered 0), then one minute at 5 kW
    q_lo, q_hi = energy_limits(e_then, 0.2 * 13.5, 0.95 * 13.5, 300 / 3600, rc_kw=5.0, rd_kw=5.0)
    assert min(q for q, _ in bid.points) == pytest.approx(q_lo) and max(q for q, _ in bid.points) == pytest.approx(q_hi)


def test_an_empty_battery_offers_no_discharge():
    manager = BatteryManager(auction_config(soc_initial=0.22))
    bid = run_steps(manager, {}, 240.0, {})[240.0].market_bid
    assert bid.sells == () and bid.buy_kw > 0


def test_the_state_machine_still_guards_an_award():
    # GIVEN a battery at its soc_low, awarded a sale it should not make (a stale bid)
    manager = BatteryManager(auction_config(soc_initial=0.2))
    out = run_steps(manager, {300.0: Award(300.0, 0.2, 4, 0.0, 5.0)}, 360.0, {})
    assert out[300.0].command_w == 0.0 and out[300.0].state is BatteryState.REST
    assert out[300.0].award is not None and out[300.0].wanted_w == 5000.0


def test_award_mode_state_survives_the_state_file(tmp_path):
    cfg = auction_config()
    store = StateStore.create(tmp_path / "s.sqlite", cfg.fingerprint())
    manager = BatteryManager(cfg, store)
    run_steps(manager, {300.0: Award(300.0, 0.2, 4, 0.0, 2.5)}, 540.0, {360.0: 2500.0})
    assert sorted(store.outbox()) == [240.0, 540.0]
    assert MarketBid.from_dict(store.outbox()[540.0]) == manager.last_bid
    resumed = BatteryManager.resume(cfg, store)
    assert resumed.state_dict() == manager.state_dict()
    assert resumed.award == manager.award and resumed.prices == manager.prices
    store.close()


def test_a_corrupt_saved_bid_is_a_clear_error(tmp_path):
    import sqlite3

    cfg = auction_config()
    path = tmp_path / "s.sqlite"
    with StateStore.create(path, cfg.fingerprint()) as store:
        run_steps(BatteryManager(cfg, store), {}, 240.0, {})
    conn = sqlite3.connect(path)
    conn.execute("UPDATE outbox SET message = replace(message, 'clear_at_s', 'clear_at_x')")
    conn.commit()
    conn.close()
    with StateStore.open_existing(path, cfg.fingerprint()) as store, pytest.raises(UserError, match="checksum"):
        store.outbox()


# ------------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("change,field", [
    ({"slider": 0.0}, "slider"),
    ({"period_s": 120.0}, "period_s"),
    ({"bid_lead_s": 300.0}, "bid_lead_s"),
    ({"price_stdev": 0.0}, "price_stdev"),
    ({"price_level_decay": 1.5}, "price_level_decay"),
    ({"bid_blocks": 0}, "bid_blocks"),
])
def test_bad_auction_settings_name_the_field(change, field):
    with pytest.raises(UserError, match=f"test.{field}:"):
        auction_config(**change)
