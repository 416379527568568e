"""HVAC bidders: TESP's single ramp (section 8.3) and GridLAB-D's double ramp (section 8.4)."""
from __future__ import annotations

import pytest

from vppfed.federates.market.hvac import (DoubleRampController, DoubleRampParams, RampController, RampParams,
                                          SetpointSchedule)

SCHEDULE = SetpointSchedule(wakeup_start=6.0, daylight_start=8.5, evening_start=17.5, night_start=22.5,
                            wakeup_set=79.0, daylight_set=85.0, evening_set=79.5, night_set=73.0,
                            weekend_day_start=8.4, weekend_day_set=82.0, weekend_night_start=23.0,
                            weekend_night_set=73.5)


def reference_controller() -> RampController:
    """GIVEN mean 0.05, sigma 0.01, ramp 2, offset limit 3 and a base set point of 75 degF."""
    params = RampParams(name="h", house="h", meter="m", schedule=SCHEDULE, deadband=2.0, offset_limit=3.0,
                        ramp=2.0, price_cap=3.0)
    ctl = RampController(params, mean=0.05, std_dev=0.01)
    ctl.basepoint = 75.0
    return ctl


@pytest.mark.parametrize("air, price", [(77.0, 0.0566667), (90.0, 0.10), (60.0, 0.0)])
def test_ramp_bid_price_from_air_temperature(air, price):
    ctl = reference_controller()
    ctl.observe(air_temperature=air, hvac_load=4.2, power_state="ON")
    bid = ctl.formulate_bid()
    assert bid.price == pytest.approx(price, abs=1e-7)
    assert (bid.quantity, bid.is_on) == (4.2, True)


@pytest.mark.parametrize("cleared, setpoint", [(0.06, 78.0), (0.055, 76.5), (0.05, 75.0), (0.045, 73.5),
                                               (0.02, 72.0)])
def test_ramp_setpoint_follows_cleared_price_within_offset_limit(cleared, setpoint):
    assert reference_controller().respond(cleared) == pytest.approx(setpoint, abs=1e-9)


def test_bid_is_capped_and_zero_load_keeps_last_running_power():
    ctl = reference_controller()
    ctl.observe(air_temperature=1000.0, hvac_load=5.0, power_state="OFF")
    ctl.observe(hvac_load=0.0)
    bid = ctl.formulate_bid()
    assert (bid.price, bid.quantity, bid.is_on) == (3.0, 5.0, False)


def test_schedule_only_mode_neither_bids_nor_responds():
    ctl = reference_controller()
    ctl.params = RampParams(**{**ctl.params.__dict__, "control_mode": "CN_NONE"})
    assert ctl.formulate_bid() is None and ctl.respond(0.5) is None


def test_change_basepoint_picks_weekday_and_weekend_periods():
    ctl = reference_controller()
    assert ctl.update_basepoint(7.0, 0) and ctl.basepoint == 79.0  # Monday 07:00 -> wakeup_set
    assert not ctl.update_basepoint(7.5, 0)                        # unchanged -> no publication
    assert ctl.update_basepoint(12.0, 5) and ctl.basepoint == 82.0  # Saturday 12:00 -> weekend_day_set
    assert SCHEDULE.base_setpoint(3.0, 2) == 73.0                   # early morning = night
    assert SCHEDULE.base_setpoint(12.0, 2) == 85.0
    assert SCHEDULE.base_setpoint(20.0, 4) == 79.5
    assert SCHEDULE.base_setpoint(23.5, 6) == 73.5


DOUBLE = DoubleRampController(DoubleRampParams(base_setpoint=75.0, ramp_low=2.0, ramp_high=2.0, range_low=-3.0,
                                               range_high=5.0, price_cap=3.78))


@pytest.mark.parametrize("air, price", [(77.0, 0.058), (73.0, 0.0366667), (81.0, 3.78), (71.0, None),
                                        (75.0, 0.05)])
def test_double_ramp_bids(air, price):
    got = DOUBLE.bid_price(air, avg=0.05, std=0.01)
    assert got == (None if price is None else pytest.approx(price, abs=1e-7))


@pytest.mark.parametrize("cleared, setpoint", [(0.06, 77.5), (0.04, 73.5), (0.20, 80.0), (0.05, 75.0)])
def test_double_ramp_response_is_clipped_to_the_band(cleared, setpoint):
    assert DOUBLE.setpoint(cleared, avg=0.05, std=0.01) == pytest.approx(setpoint, abs=1e-9)


def test_double_ramp_with_equal_halves_equals_tesp_ramp():
    # TESP ramp r, offset L == GridLAB-D ramp_high = ramp_low = r/2, range = +-L
    single = reference_controller()
    double = DoubleRampController(DoubleRampParams(75.0, 1.0, 1.0, -3.0, 3.0))
    for air in (73.5, 75.0, 76.2, 77.9):
        assert double.bid_price(air, 0.05, 0.01) == pytest.approx(single.bid_price_for(air), abs=1e-12)
    for price in (0.03, 0.048, 0.052, 0.07):
        assert double.setpoint(price, 0.05, 0.01) == pytest.approx(single.setpoint_for(price), abs=1e-12)


def test_double_ramp_rejects_a_band_that_misses_the_base():
    with pytest.raises(ValueError):
        DoubleRampController(DoubleRampParams(75.0, 2.0, 2.0, 1.0, 5.0))
