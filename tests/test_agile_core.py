"""Agile VPP pure core: unit models, agility, forced power, the three rule sets and the reference exports."""
from __future__ import annotations

import numpy as np
import pytest

from vppfed.errors import UserError
from vppfed.federates.agile.fleet import AgileFleet
from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, make_portfolio, read_params_csv
from vppfed.federates.agile.signal import read_signal_csv
from vppfed.federates.agile.simulate import compare_outputs, simulate, write_output_csv

RULES = ("strict", "2015b", "2015a")


def one_battery(emax=3.5, pmax=1.0, tend=5.0, e0=0.0):
    return make_portfolio([("Bat-1", 0, e0, pmax, 0, emax, 0, tend, -1)])


def interruption_case():
    return make_portfolio([("Bak-1", 0, 0, 1.0, 0, 2.0, 0, 8, 2), ("Bak-2", 0, 0, 0.5, 0, 1.0, 0, 9, 2)])


# ----------------------------------------------------------------------------------------------- reference exports
@pytest.mark.parametrize("engine", ["vector", "loop"])
def test_scenario1_under_2015a_matches_the_reference_export(bbb, tmp_path, engine):
    trace = simulate(read_params_csv(bbb / "scenario1_params.csv"), read_signal_csv(bbb / "scenario1_vpp.csv"),
                     rules="2015a", engine=engine)
    write_output_csv(trace, tmp_path / "out.csv")
    cmp = compare_outputs(tmp_path / "out.csv", bbb / "scenario1_combined_output.csv", tol=1e-5)
    assert cmp.ok, cmp.max_diff
    assert cmp.rows == 100


def test_scenario1_under_strict_differs_from_the_export(bbb, tmp_path):
    """GIVEN the paper's rules WHEN run on scenario 1 THEN the bakery is not started at partial power (k=8)."""
    trace = simulate(read_params_csv(bbb / "scenario1_params.csv"), read_signal_csv(bbb / "scenario1_vpp.csv"),
                     rules="strict")
    write_output_csv(trace, tmp_path / "out.csv")
    assert not compare_outputs(tmp_path / "out.csv", bbb / "scenario1_combined_output.csv").ok
    assert trace.steps[7].p_bakery == 0.0  # 2015a gives the bakery 0.2 of 0.84 kW here


@pytest.mark.parametrize("rules", RULES)
def test_scenario2_keeps_every_unit_within_limits_and_finishes_by_tend(bbb, rules):
    p = read_params_csv(bbb / "scenario2_params.csv")
    sig = read_signal_csv(bbb / "scenario2_vpp.csv")
    tr = simulate(p, sig, rules=rules, record_units=True)
    energy = np.vstack([tr.energy, tr.energy_end])
    assert (p.count(BUCKET), p.count(BATTERY), p.count(BAKERY)) == (5, 50, 50)
    assert np.all(energy >= p.Emin - 1e-9) and np.all(energy <= p.Emax + 1e-9)
    assert np.all(tr.power >= p.Pmin) and np.all(tr.power <= p.Pmax)
    deferrable = p.kind != BUCKET
    tend = int(p.Tend[deferrable][0])
    assert np.all(p.Tend[deferrable] == tend)
    # energy at the start of step Tend (after the power of step Tend-1 was integrated) is full
    np.testing.assert_allclose(tr.energy[tend - 1][deferrable], p.Emax[deferrable], atol=1e-9)
    np.testing.assert_allclose(tr.column("residual"), tr.column("signal") - tr.column("delivered"), atol=1e-12)


def test_scenario2_under_2015b_never_interrupts_and_has_the_recorded_residual(bbb):
    p = read_params_csv(bbb / "scenario2_params.csv")
    tr = simulate(p, read_signal_csv(bbb / "scenario2_vpp.csv"), rules="2015b", record_units=True)
    assert interruptions(tr, p) == 0
    assert np.abs(tr.column("residual")).sum() == pytest.approx(31.398688, abs=1e-5)


def interruptions(tr, p) -> int:
    """Number of times a bakery went from P>0 to P=0 before being full."""
    bak = p.kind == BAKERY
    pw, en = tr.power[:, bak], tr.energy[:, bak]
    return int(np.sum((pw[:-1] > 0) & (pw[1:] == 0) & (en[1:] < p.Emax[bak] - 1e-9)))


# ----------------------------------------------------------------------------------------------- issue test vectors
@pytest.mark.parametrize("rules", ["strict", "2015b"])
def test_battery_with_agility_half_gets_forced_power_half(rules):
    """Emax 3.5, Pmax 1, Tend 5 at k=1: K = 5-1-3.5 = 0.5, forced = Pmax(1-K) = 0.5; signal 0 -> residual -0.5."""
    fleet = AgileFleet(one_battery(), rules=rules)
    s = fleet.step(1, 0.0)
    assert fleet.agility(1)[1][0] == 0.5
    assert fleet.unit_power()[0] == 0.5
    assert s.residual == -0.5
    assert s.p_agg_min == 0.5 and s.p_agg_max == 1.0


def test_2015a_hands_forced_power_out_only_against_the_signal_plus_buckets():
    """The 2015a quirk: with no buckets and signal 0 the available power is 0, so the battery gets nothing."""
    fleet = AgileFleet(one_battery(), rules="2015a")
    assert fleet.step(1, 0.0).residual == 0.0
    assert fleet.unit_power()[0] == 0.0


@pytest.mark.parametrize("engine", ["vector", "loop"])
def test_2015b_interrupts_bak2_at_step_2(engine):
    tr = simulate(interruption_case(), np.array([0.5, 1, 1, 1]), rules="2015b", engine=engine, record_units=True)
    assert tr.power[0].tolist() == [0.0, 0.5]   # k=1: only Bak-2 fits
    assert tr.power[1].tolist() == [1.0, 0.0]   # k=2: Bak-1 (lower K) takes all, Bak-2 is interrupted half-way
    assert tr.energy[1][1] == 0.5


@pytest.mark.parametrize("engine", ["vector", "loop"])
def test_strict_never_interrupts_the_interruption_case(engine):
    p = interruption_case()
    tr = simulate(p, np.array([0.5, 1, 1, 1]), rules="strict", engine=engine, record_units=True)
    assert tr.power.tolist() == [[0.0, 0.5], [0.0, 0.5], [1.0, 0.0], [1.0, 0.0]]
    assert interruptions(tr, p) == 0


# ----------------------------------------------------------------------------------------------- unit models
def test_agility_of_each_unit_type_follows_the_paper():
    p = make_portfolio([("Bkt-1", 0, 1.0, 2.0, -1, 5.0, -5, -1, -1), ("Bat-1", 0, 1.0, 0.5, 0, 4.0, 0, 20, -1),
                        ("Bak-3", 0, 0.0, 1.0, 0, 3.0, 0, 12, 3)])
    for rules, k_bak in (("strict", 12 - 3 - 2), ("2015b", 12 - 3 - 2 - 3e-9), ("2015a", 12 - 3 - 2)):
        fleet = AgileFleet(p, rules=rules)  # P0 = 0: integrating to step 2 would leave the energies unchanged
        kb, kd = fleet.agility(2)
        assert kb[0] == pytest.approx((5.0 - 1.0) / 2.0)
        assert kd[0] == pytest.approx(20 - 2 - (4.0 - 1.0) / 0.5)
        assert kd[1] == pytest.approx(k_bak, abs=1e-15)


@pytest.mark.parametrize("e0, tend, forced", [
    (0.0, 7.0, 0.0),    # K = 7-1-4 = 2 > 1: free
    (0.0, 5.25, 0.75),  # K = 0.25: Pmax (1-K)
    (0.0, 5.0, 1.0),    # K = 0: all it can take
    (3.5, 2.0, 0.5),    # K = 0.5: Pmax (1-K) = 0.5 = what is left
    (3.8, 1.0, 0.2),    # K = -0.2: late, fill what is left
    (4.0, 1.0, 0.0),    # full: nothing
])
@pytest.mark.parametrize("rules", ["strict", "2015b"])
def test_battery_forced_power_by_agility(rules, e0, tend, forced):
    """Emax 4 kWh, Pmax 1 kW at k=1, K = Tend - 1 - (4 - E); a signal of -10 kW leaves only forced power."""
    fleet = AgileFleet(one_battery(emax=4.0, pmax=1.0, tend=tend, e0=e0), rules=rules)
    fleet.step(1, -10.0)
    assert fleet.unit_power()[0] == pytest.approx(forced, abs=1e-12)


def test_forced_battery_fills_exactly_by_its_deadline_under_strict():
    fleet = AgileFleet(one_battery(emax=3.5, pmax=1.0, tend=5.0), rules="strict")
    powers = []
    for k in range(1, 6):
        fleet.step(k, 0.0)
        powers.append(fleet.unit_power()[0])
    assert powers == [0.5, 1.0, 1.0, 1.0, 0.0]
    assert fleet.unit_energy()[0] == 3.5


def test_strict_bakery_starts_only_when_its_whole_power_fits_and_runs_trun_steps():
    p = make_portfolio([("Bak-1", 0, 0, 1.0, 0, 3.0, 0, 50, 3)])
    tr = simulate(p, np.array([0.9, 0.99, 1.0, 0.0, 0.0, 0.0, 0.0]), rules="strict", record_units=True)
    assert tr.power[:, 0].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert tr.column("residual").tolist()[:5] == [0.9, 0.99, 0.0, -1.0, -1.0]


def test_strict_bakery_is_forced_to_start_when_its_agility_reaches_zero():
    p = make_portfolio([("Bak-1", 0, 0, 1.0, 0, 2.0, 0, 6, 2)])
    tr = simulate(p, np.zeros(6), rules="strict", record_units=True)
    assert tr.power[:, 0].tolist() == [0, 0, 0, 1.0, 1.0, 0]  # K = 6-2-k reaches 0 at k = 4
    assert tr.energy[5, 0] == 2.0                               # full at the start of step Tend = 6


def test_buckets_give_back_fullest_first_in_strict_and_emptiest_first_in_2015a():
    p = make_portfolio([("Bkt-1", 0, -1.0, 1.0, -1, 2.0, -2, -1, -1), ("Bkt-2", 0, 1.5, 1.0, -1, 2.0, -2, -1, -1)])
    for rules, expected in (("strict", [0.0, -0.5]), ("2015b", [0.0, -0.5]), ("2015a", [-0.5, 0.0])):
        fleet = AgileFleet(p, rules=rules)
        fleet.step(1, -0.5)
        assert fleet.unit_power().tolist() == expected, rules
    for rules in RULES:  # taking: emptiest (largest K) first everywhere
        fleet = AgileFleet(p, rules=rules)
        fleet.step(1, 0.5)
        assert fleet.unit_power().tolist() == [0.5, 0.0], rules


def test_bucket_giving_back_is_limited_by_energy_and_power():
    p = make_portfolio([("Bkt-1", 0, -1.7, 1.0, -1, 2.0, -2, -1, -1), ("Bkt-2", 0, 0.0, 1.0, -0.4, 2.0, -2, -1, -1)])
    fleet = AgileFleet(p, rules="strict")
    s = fleet.step(1, -5.0)
    assert fleet.unit_power() == pytest.approx([-0.3, -0.4])
    assert s.residual == pytest.approx(-4.3)
    assert s.p_agg_min == pytest.approx(-0.7) and s.p_agg_max == pytest.approx(2.0)


def test_strict_integrates_over_elapsed_steps_and_2015_once_per_call():
    p = make_portfolio([("Bkt-1", 0.5, 0.0, 1.0, -1, 10.0, -10, -1, -1), ("Bat-1", 0.25, 0.0, 1.0, 0, 1.0, 0, 50, -1)])
    strict, old = AgileFleet(p, rules="strict"), AgileFleet(p, rules="2015b")
    for fleet in (strict, old):
        fleet.step(3, 0.0)  # first call at k = 3: P0 held for 3 steps
    assert strict.unit_energy().tolist() == [1.5, 0.75]
    assert old.unit_energy().tolist() == [0.5, 0.25]
    strict_b = AgileFleet(make_portfolio([("Bat-1", 0.5, 0.0, 1.0, 0, 1.0, 0, 50, -1)]), rules="strict")
    strict_b.step(4, 0.0)  # 4 steps at 0.5 kW would overfill: the unit stops at Emax
    assert strict_b.unit_energy().tolist() == [1.0]


def test_power_function_brackets_the_delivered_power_on_scenario2(bbb):
    p = read_params_csv(bbb / "scenario2_params.csv")
    tr = simulate(p, read_signal_csv(bbb / "scenario2_vpp.csv"), rules="strict")
    lo, hi, out = tr.column("p_agg_min"), tr.column("p_agg_max"), tr.column("delivered")
    assert np.all(lo <= out + 1e-9) and np.all(out <= hi + 1e-9)
    sig = tr.column("signal")
    inside = (sig >= lo) & (sig <= hi)
    assert np.all(np.abs(tr.column("residual"))[inside] < 1e-9)  # strict meets every feasible signal here


# ----------------------------------------------------------------------------------------------- input errors
@pytest.mark.parametrize("text, message", [
    ("Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun\nBat-1,0,0,x,0,1,0,5,-1\n", "line 2, column 'Pmax': expected a number"),
    ("Type-ID,P,E,Pmax\nBat-1,0,0,1\n", "line 1: header must be"),
    ("Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun\nFoo-1,0,0,1,0,1,0,5,-1\n", "line 2, column 'Type-ID'"),
    ("Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun\nBat-1,0,0,1,0,1,0,5\n", "line 2: expected 9 columns"),
    ("Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun\nBat-1,0,0,1,-1,1,0,5,-1\n", "Pmin"),
    ("Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun\nBat-1,0,2,1,0,1,0,5,-1\n", "must lie in [Emin, Emax]"),
    ("Type-ID,P,E,Pmax,Pmin,Emax,Emin,Tend,Trun\nBat-1,0,0,1,0,1,0,5,-1\nBat-1,0,0,1,0,1,0,5,-1\n", "duplicate"),
])
def test_bad_params_csv_names_file_line_and_column(tmp_path, text, message):
    path = tmp_path / "params.csv"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        read_params_csv(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_bad_signal_csv_names_line_and_column(tmp_path):
    path = tmp_path / "vpp.csv"
    path.write_text("Timestep,VPP Power\n1,0.5\n3,0.5\n")
    with pytest.raises(UserError, match=r"vpp.csv: line 3, column 'Timestep': expected 2"):
        read_signal_csv(path)
    path.write_text("Timestep,VPP Power\n1,nan\n")
    with pytest.raises(UserError, match="column 'VPP Power': must be finite"):
        read_signal_csv(path)
