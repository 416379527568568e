"""Peak shaving: the threshold rule and the day-ahead LP (reference vectors PS1, PS2)."""
from __future__ import annotations

import numpy as np
import pytest

from vppfed.federates.battery.peak_shaving import min_peak_discharge_only, optimal_schedule, threshold_rule

PS1 = dict(load=[2, 5, 7, 4, 2], dt_h=1.0, e0=4.0, e_max=4.0, p_ch=3.0, p_dis=3.0)
PS2 = dict(load=[1, 1, 6, 6, 1, 7], dt_h=1.0, e0=0.0, e_max=4.0, p_ch=2.0, p_dis=3.0)


def test_threshold_rule_reference_vector():
    sched = threshold_rule(**PS1, charge_below=2.0, discharge_above=4.0)
    np.testing.assert_allclose(sched.net, [2, 4, 4, 4, 2], atol=1e-12)
    np.testing.assert_allclose(sched.energy, [4, 3, 0, 0, 0], atol=1e-12)
    assert sched.peak == 4.0


def test_threshold_rule_charges_below_the_lower_threshold_up_to_the_room_left():
    sched = threshold_rule([1, 1, 1], 1.0, e0=3.0, e_max=4.0, p_ch=3.0, p_dis=3.0, charge_below=2.5,
                           discharge_above=4.0, eta_c=0.8)
    # 1.5 kW wanted; only 1 kWh of room at 0.8 -> 1.25 kW in the first hour, then nothing
    np.testing.assert_allclose(sched.charge, [1.25, 0, 0])
    np.testing.assert_allclose(sched.energy, [4, 4, 4])


def test_lp_ps1_peak_is_4_and_matches_discharge_only_bisection():
    sched = optimal_schedule(**PS1)
    assert sched.peak == pytest.approx(4.0, abs=1e-7)
    np.testing.assert_allclose(sched.discharge, [0, 1, 3, 0, 0], atol=1e-7)
    assert min_peak_discharge_only(PS1["load"], 1.0, e_avail=4.0, p_dis=3.0) == pytest.approx(4.0, abs=1e-9)


def test_lp_ps2_peak_is_13_over_3_with_recharge():
    sched = optimal_schedule(**PS2)
    assert sched.peak == pytest.approx(13 / 3, abs=1e-7)
    np.testing.assert_allclose(sched.charge, [2, 2, 0, 0, 2, 0], atol=1e-6)
    np.testing.assert_allclose(sched.discharge, [0, 0, 5 / 3, 5 / 3, 0, 8 / 3], atol=1e-6)
    assert (np.minimum(sched.charge, sched.discharge) < 1e-7).all()  # never both in one step


def test_lp_ps2_with_charge_efficiency_is_13_6_over_3():
    sched = optimal_schedule(**PS2, eta_c=0.9)
    assert sched.peak == pytest.approx(13.6 / 3, abs=1e-7)
    assert sched.energy.min() >= -1e-9 and sched.energy.max() <= 4.0 + 1e-9
    assert sched.net.min() >= -1e-9  # no export


def test_lp_honours_final_energy_and_rejects_impossible_start():
    sched = optimal_schedule(**PS1, e_final=4.0)
    assert sched.energy[-1] >= 4.0 - 1e-7
    assert sched.peak > 4.0  # recharging costs peak when it must end full
    with pytest.raises(ValueError, match="e0"):
        optimal_schedule(**{**PS1, "e0": 5.0})


def test_lp_never_worse_than_threshold_rule_on_random_days():
    rng = np.random.default_rng(3)
    for _ in range(5):
        load = rng.uniform(1.0, 8.0, size=24)
        lp = optimal_schedule(load, 1.0, e0=5.0, e_max=10.0, p_ch=3.0, p_dis=3.0, eta_c=0.95)
        rule = threshold_rule(load, 1.0, e0=5.0, e_max=10.0, p_ch=3.0, p_dis=3.0, charge_below=3.0,
                              discharge_above=6.0, eta_c=0.95)
        assert lp.peak <= rule.peak + 1e-7
