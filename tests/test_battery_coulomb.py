"""Coulomb counting, recalibration at rest and efficiency re-estimation (GridLAB-D devices reference §8)."""
from __future__ import annotations

import pytest

from vppfed.federates.battery.coulomb import CoulombCounter, estimate_efficiency


def make_counter(**kwargs) -> CoulombCounter:
    base = dict(capacity_ah=100.0, eta_c=0.95, soc=0.5, rest_current_a=0.5, rest_min_s=600.0)
    base.update(kwargs)
    return CoulombCounter.from_soc(base.pop("capacity_ah"), base.pop("eta_c"), base.pop("soc"), **base)


def test_charge_then_discharge_matches_reference_vector():
    # GIVEN 100 Ah at 50 % and eta_c 0.95
    counter = make_counter()
    # WHEN +20 A flow for 2 h, THEN SOC is 88 % (only the charge pays the efficiency)
    counter.update(20.0, 7200.0)
    assert counter.soc == pytest.approx(0.88, abs=1e-12)
    # WHEN -30 A flow for 1 h, THEN SOC is 58 %
    counter.update(-30.0, 3600.0)
    assert counter.soc == pytest.approx(0.58, abs=1e-12)
    assert counter.ah_in_total == pytest.approx(40.0)
    assert counter.ah_out_total == pytest.approx(30.0)


def test_reference_vector_is_independent_of_step_length():
    counter = make_counter()
    for _ in range(7200 // 60):
        counter.update(20.0, 60.0)
    for _ in range(3600 // 300):
        counter.update(-30.0, 300.0)
    assert counter.soc == pytest.approx(0.58, abs=1e-12)


def test_efficiency_from_equal_rest_states_is_ah_out_over_ah_in():
    assert estimate_efficiency(105.263, 100.0) == pytest.approx(0.95, abs=1e-5)
    # a rest 2 Ah higher than the first one counts those 2 Ah as stored charge
    assert estimate_efficiency(100.0, 93.0, delta_ah=2.0) == pytest.approx(0.95)
    with pytest.raises(ValueError):
        estimate_efficiency(0.0, 1.0)


def test_rest_recalibrates_from_ocv_table_after_minimum_rest_only():
    table = [[0.0, 44.0], [0.5, 48.0], [1.0, 52.0]]
    counter = make_counter(ocv_table=table)
    counter.update(10.0, 3600.0)  # 59.5 %
    # GIVEN a rest shorter than the minimum: no recalibration
    assert counter.update(0.0, 300.0, voltage_v=49.0) is None
    assert counter.soc == pytest.approx(0.595)
    # WHEN the rest reaches 600 s, THEN the SOC is taken from the OCV table (49 V -> 62.5 %)
    event = counter.update(0.0, 300.0, voltage_v=49.0)
    assert event is not None and event.cause == "ocv"
    assert counter.soc == pytest.approx(0.625)
    # only once per rest
    assert counter.update(0.0, 300.0, voltage_v=50.0) is None


def test_voltage_limits_anchor_full_and_empty_at_the_next_rest():
    counter = make_counter(v_empty=42.0, v_full=54.0, soc=0.9)
    counter.update(20.0, 600.0, voltage_v=54.2)  # full after the taper, though the count says 93 %
    event = counter.update(0.0, 600.0, voltage_v=52.5)  # relaxed below v_full at rest
    assert event.cause == "voltage_full" and counter.soc == 1.0
    counter.update(-50.0, 3600.0 * 2.1, voltage_v=41.5)  # count hits 0 (clamped), voltage says empty
    event = counter.update(0.0, 600.0, voltage_v=45.0)
    assert event.cause == "voltage_empty" and counter.soc == 0.0


def test_efficiency_is_reestimated_between_two_full_rests():
    # GIVEN a string whose true efficiency is 0.90 but whose counter assumes 0.95
    counter = make_counter(v_full=54.0, soc=1.0, eta_min_ah_in=1.0)
    counter.update(0.0, 600.0, voltage_v=54.5)  # first anchor: full
    assert counter.anchor_soc == 1.0
    counter.update(-45.0, 3600.0)  # 45 Ah out
    counter.update(0.0, 600.0)  # rest without a voltage: nothing to anchor
    # WHEN 50 Ah are pushed in (0.9 x 50 = 45 Ah stored) until the voltage limit, then rest
    counter.update(25.0, 7200.0, voltage_v=54.1)
    event = counter.update(0.0, 600.0, voltage_v=53.0)
    # THEN eta_c = 45 / 50
    assert event.eta_updated and counter.eta_c == pytest.approx(0.90)
    assert counter.soc == 1.0


def test_efficiency_not_reestimated_between_different_states():
    table = [[0.0, 44.0], [1.0, 54.0]]
    counter = make_counter(ocv_table=table, eta_same_state_tol=0.02)
    counter.update(0.0, 600.0, voltage_v=49.0)  # anchor at 50 %
    counter.update(20.0, 3600.0)
    event = counter.update(0.0, 600.0, voltage_v=51.0)  # 70 %: a different state
    assert event.cause == "ocv" and not event.eta_updated and counter.eta_c == 0.95


def test_counter_round_trips_through_dict():
    counter = make_counter(ocv_table=[[0.0, 1.0], [1.0, 2.0]])
    counter.update(3.0, 123.0)
    assert CoulombCounter.from_dict(counter.to_dict()) == counter
