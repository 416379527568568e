"""Neighbourhood core: PySSMic reference vectors, the slot objective, the schedulers and the negotiation rules."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from vppfed.federates.neighbourhood.metrics import peak_to_average, pyssmic_peak_to_average, run_metrics
from vppfed.federates.neighbourhood.model import GRID, Contract, Job, Profile, house_of
from vppfed.federates.neighbourhood.negotiation import (
    INITIAL_SCORE, Manager, Producer, ProducerSettings, ScoreBoard)
from vppfed.federates.neighbourhood.objective import (
    FixedJob, FreeJob, SlotObjective, pyssmic_objective, pyssmic_strictly_positive, start_options)
from vppfed.federates.neighbourhood.optimisers import (
    BasinHopping, FiftyFifty, MilpScheduler, coordinate_descent, make_scheduler)
from vppfed.federates.neighbourhood.profiles import (
    differentiate, interpolate_by_time, merge_prediction, round_to_nearest_60, slot_energy)
from vppfed.federates.neighbourhood.simulation import RunResult

from neighbourhood_helpers import small_neighbourhood_in

PREDICTION = Profile(np.array([0.0, 300.0, 600.0]), np.array([0.0, 25.0, 50.0]))
LOAD = Profile(np.array([0.0, 60.0, 120.0]), np.array([0.0, 5.0, 10.0]))
OVERLOAD = Profile(np.array([0.0, 60.0, 120.0]), np.array([0.0, 10.0, 20.0]))



@pytest.fixture(scope="module")
def small_neighbourhood(tmp_path_factory):
    return small_neighbourhood_in(tmp_path_factory.mktemp("small"))


# ---------------------------------------------------------------- reference vectors (PySSMic, exact)

@pytest.mark.parametrize("start, expected", [(0, 200.0), (29, 200.0), (31, 450.0), (60, 450.0), (480, 700.0)])
def test_pyssmic_objective_matches_reference_vectors_with_position_interpolation(start, expected):
    assert pyssmic_objective(np.array([start]), [LOAD], PREDICTION, 1.0, "position") == pytest.approx(expected)


@pytest.mark.parametrize("start, expected", [(0, 0.0), (29, 0.0), (31, 300.0), (60, 300.0)])
def test_pyssmic_objective_with_time_linear_interpolation_matches_reference_column(start, expected):
    assert pyssmic_objective(np.array([start]), [LOAD], PREDICTION, 1.0, "time") == pytest.approx(expected)


def test_overload_costs_difference_plus_penalty_and_is_not_strictly_positive():
    assert pyssmic_objective(np.array([0]), [OVERLOAD], PREDICTION, 1.0, "position") == pytest.approx(200.0)
    assert not pyssmic_strictly_positive(np.array([0]), [OVERLOAD], PREDICTION)
    assert pyssmic_strictly_positive(np.array([0]), [LOAD], PREDICTION)


def test_round_to_nearest_60_ties_to_even():
    assert round_to_nearest_60(np.array([29, 30, 31, 90])).tolist() == [0, 0, 60, 120]


def test_prediction_update_lifts_new_file_by_old_value_one_hour_before_it():
    old = Profile(np.array([0, 3600, 7200, 10800.0]), np.array([0, 1, 2, 3.0]))
    new = Profile(np.array([7200, 10800, 14400, 18000.0]), np.array([5, 6, 7, 8.0]))
    merged = merge_prediction(old, new)
    assert merged.times_s.tolist() == [0, 3600, 7200, 10800, 14400, 18000]
    assert merged.cumulative_wh.tolist() == [0, 1, 6, 7, 8, 9]


def test_differentiate_and_time_interpolation_reference_vectors():
    assert differentiate(np.array([0, .5, 1, 2, 2, 3])).tolist() == [0, .5, .5, 1, 0, 1]
    got = interpolate_by_time(np.array([2, 4, 6.0]), np.array([4, 8, 12.0]), np.arange(9))
    assert got.tolist() == [4, 4, 4, 6, 8, 10, 12, 12, 12]


def test_pyssmic_par_has_97_buckets_and_standard_par_96():
    per_minute = np.zeros(1441)
    per_minute[1:3] = 5.0  # the job of the reference at time 0: 5 Wh in minutes 1 and 2
    assert pyssmic_peak_to_average(per_minute, 15) == pytest.approx(97.0)
    assert peak_to_average(per_minute[1:], 15) == pytest.approx(96.0)


def test_energy_split_of_pv_and_grid_contracts():
    pv = Contract("p;[1]:[2]:[1];0", "[1]:[2]:[1]", "1", "pv_producer[2]:[3]", 0.0, 0.0,
                  Profile(np.array([0, 60.0]), np.array([0, 10.0])))
    grid = Contract("g;[1]:[2]:[2];0", "[1]:[2]:[2]", "1", GRID, 0.0, 0.0,
                    Profile(np.array([0, 60.0]), np.array([0, 4.0])))
    result = RunResult([pv, grid], [], {}, {})
    totals = run_metrics(result, 86400.0).totals
    assert (totals["pv_contract_wh"], totals["grid_contract_wh"]) == (10.0, 4.0)
    assert totals["consumption_wh"] == 14.0


def test_house_of_job_and_producer_ids():
    assert house_of("[57]:[219]:[3]") == "57"
    assert house_of("pv_producer[57]:[220]") == "57"


# ---------------------------------------------------------------- slot objective

def _free(profile, lo, hi, step=60.0):
    first, count = start_options(lo, hi, 0.0, step)
    return FreeJob(profile, first, step, count)


def test_slot_objective_is_zero_when_job_matches_production_exactly():
    obj = SlotObjective(PREDICTION, [_free(LOAD, 0, 0)], penalty=1.0, slot_s=60.0)
    assert obj.value(np.array([0])) == 0.0
    assert obj.overshoot_wh(np.array([0])) == 0.0


def test_slot_objective_penalises_consumption_above_production():
    obj = SlotObjective(PREDICTION, [_free(OVERLOAD, 0, 0)], penalty=1.0, slot_s=60.0)
    # two minutes at 10 Wh against 5 Wh: |5|+|5| mismatch plus the same again as penalty, times 60 s
    assert obj.value(np.array([0])) == pytest.approx(60.0 * 20.0)
    assert obj.overshoot_wh(np.array([0])) == pytest.approx(10.0)


def test_slot_objective_equals_constant_plus_weighted_overshoot():
    rng = np.random.default_rng(0)
    pred = Profile(3600.0 * np.arange(25), np.concatenate([[0], np.cumsum(rng.uniform(0, 500, 24))]))
    jobs = [_free(OVERLOAD, 0, 80000, 300.0), _free(Profile(np.array([0, 1800, 5400.0]), np.array([0, 900, 1000.0])),
                                                   3000, 40000, 300.0)]
    obj = SlotObjective(pred, jobs, penalty=2.0, slot_s=300.0)
    const = obj.slot_s * (obj.production.sum() - (OVERLOAD.energy_wh + 1000.0))
    for _ in range(20):
        x = np.array([rng.integers(j.count) for j in jobs])
        assert obj.value(x) == pytest.approx(const + obj.slot_s * (2 + 2.0) * obj.overshoot_wh(x))


def test_time_correct_interpolation_conserves_energy_for_any_start():
    irregular = Profile(np.array([0.0, 45.0, 200.0, 370.0]), np.array([0.0, 30.0, 31.0, 100.0]))
    edges = 60.0 * np.arange(20)
    for start in (0.0, 7.0, 59.0, 61.5, 300.0):
        assert slot_energy(irregular, start, edges).sum() == pytest.approx(100.0)
    # started at 37.5 s, the job's first 22.5 s (half of its first 45 s, so 15 of 30 Wh) fall in minute 0
    assert slot_energy(irregular, 37.5, edges)[0] == pytest.approx(15.0)


def test_option_overshoots_agree_with_full_evaluation():
    rng = np.random.default_rng(1)
    pred = Profile(3600.0 * np.arange(25), np.concatenate([[0], np.cumsum(rng.uniform(0, 800, 24))]))
    jobs = [_free(Profile(60.0 * np.arange(61), np.linspace(0, 1500, 61)), 20000, 60000, 900.0) for _ in range(3)]
    obj = SlotObjective(pred, jobs, [FixedJob(OVERLOAD, 30000.0)], slot_s=300.0)
    x = np.array([3, 10, 20])
    over = obj.option_overshoots(1, x)
    for m in range(jobs[1].count):
        y = x.copy()
        y[1] = m
        assert over[m] == pytest.approx(obj.overshoot_wh(y))


def test_start_options_are_anchored_at_est_and_never_before_now():
    assert start_options(100.0, 1000.0, 0.0, 300.0) == (100.0, 4)
    assert start_options(100.0, 1000.0, 500.0, 300.0) == (700.0, 2)
    assert start_options(100.0, 150.0, 500.0, 300.0) == (500.0, 1)  # window passed: start now


# ---------------------------------------------------------------- schedulers

def _two_blocks_problem():
    """Production in two blocks; two jobs that each fill one block exactly, windows spanning both."""
    times = np.array([0, 600, 1200, 1800, 2400.0])
    pred = Profile(times, np.array([0, 100, 100, 200, 200.0]))
    job = Profile(np.array([0, 600.0]), np.array([0, 100.0]))
    jobs = [_free(job, 0, 1800, 300.0), _free(job, 0, 1800, 300.0)]
    return SlotObjective(pred, jobs, slot_s=300.0)


def test_milp_finds_the_schedule_without_grid_energy():
    obj = _two_blocks_problem()
    best = MilpScheduler().solve(obj, np.array([0, 0]), np.random.default_rng(0))
    assert obj.overshoot_wh(best) == pytest.approx(0.0)
    assert sorted(obj.starts_from_indices(best).tolist()) == [0.0, 1200.0]


def test_milp_skips_highs_when_the_warm_start_draws_nothing_above_the_prediction_and_counts_its_limits():
    """GIVEN a schedule coordinate descent already fits under the prediction WHEN solved THEN HiGHS is not called
    (the overshoot cannot be negative); a node limit that stops a solve is counted, never silent."""
    obj = _two_blocks_problem()
    scheduler = MilpScheduler()
    best = scheduler.solve(obj, np.array([0, 0]), np.random.default_rng(0))
    assert obj.overshoot_wh(best) == pytest.approx(0.0)
    assert scheduler.limits == {"milp_solves": 0, "exact_without_milp": 1, "node_limit": 0, "time_limit": 0}
    rng = np.random.default_rng(5)
    pred = Profile(3600.0 * np.arange(13), np.concatenate([[0], np.cumsum(rng.uniform(0, 300, 12))]))
    jobs = [_free(Profile(60.0 * np.arange(91), np.linspace(0, 1500, 91)), lo, lo + 20000, 600.0)
            for lo in rng.uniform(0, 20000, 12)]
    tight = MilpScheduler(max_nodes=1, mip_rel_gap=0.0)
    tight.solve(SlotObjective(pred, jobs, slot_s=300.0), np.zeros(len(jobs), dtype=int), rng)
    assert tight.limits["milp_solves"] == 1 and tight.limits["time_limit"] == 0
    assert tight.limits["node_limit"] in (0, 1)   # 1 unless HiGHS proves optimality at the root


def test_milp_equals_brute_force_optimum_on_small_instances():
    rng = np.random.default_rng(5)
    for trial in range(4):
        pred = Profile(3600.0 * np.arange(13), np.concatenate([[0], np.cumsum(rng.uniform(0, 900, 12))]))
        jobs = []
        for _ in range(3):
            minutes = int(rng.integers(30, 120))
            load = Profile(60.0 * np.arange(minutes + 1), np.linspace(0, rng.uniform(300, 1500), minutes + 1))
            lo = float(rng.uniform(0, 20000))
            jobs.append(_free(load, lo, lo + rng.uniform(3600, 12000), 1800.0))
        obj = SlotObjective(pred, jobs, slot_s=300.0)
        brute = min(obj.value(np.array(x)) for x in itertools.product(*[range(j.count) for j in jobs]))
        x0 = np.zeros(len(jobs), dtype=int)
        got = MilpScheduler(mip_rel_gap=0.0).solve(obj, x0, rng)
        assert obj.value(got) == pytest.approx(brute, rel=1e-9), f"trial {trial}"


def _neighbourhood_problem(small_neighbourhood):
    """All jobs of the generated neighbourhood against 30 % of the summed prediction of all producers (scarce PV, so
    the schedule matters)."""
    predictions: dict[str, Profile] = {}
    for ev in small_neighbourhood.producer_events:
        predictions[ev.producer_id] = merge_prediction(predictions.get(ev.producer_id), ev.prediction)
    grid = 3600.0 * np.arange(25)
    total = Profile(grid, 0.3 * np.sum([p.at(grid) for p in predictions.values()], axis=0))
    jobs = []
    for job in small_neighbourhood.jobs:
        first, count = start_options(job.est_s, job.lst_s, 0.0, 1800.0)
        jobs.append(FreeJob(job.profile, first, 1800.0, count))
    return SlotObjective(total, jobs, slot_s=300.0)


@pytest.mark.parametrize("method", ["L-BFGS-B", "SLSQP", "TNC"])
def test_milp_is_at_least_as_good_as_scipy_basinhopping(small_neighbourhood, method):
    obj = _neighbourhood_problem(small_neighbourhood)
    assert len(obj.free) >= 3
    x0 = np.array([np.random.default_rng(3).integers(j.count) for j in obj.free])
    scipy_best = BasinHopping(method=method, niter=15).solve(obj, x0, np.random.default_rng(3))
    milp_best = MilpScheduler(mip_rel_gap=0.0, max_nodes=100000).solve(obj, x0, np.random.default_rng(3))
    assert obj.overshoot_wh(scipy_best) > 0.0, "instance too easy to compare optimisers"
    assert obj.value(milp_best) <= obj.value(scipy_best) + 1e-9 * abs(obj.value(scipy_best))
    assert obj.value(milp_best) <= obj.value(coordinate_descent(obj, x0)) + 1e-6


def test_basinhopping_is_reproducible_for_a_seed():
    obj = _two_blocks_problem()
    a = BasinHopping("SLSQP", niter=5).solve(obj, np.array([3, 4]), np.random.default_rng(9))
    b = BasinHopping("SLSQP", niter=5).solve(obj, np.array([3, 4]), np.random.default_rng(9))
    assert a.tolist() == b.tolist()


def test_make_scheduler_names_and_unknown_name():
    assert make_scheduler("lbfgs-b".replace("lbfgs", "L-BFGS")).name == "L-BFGS-B"
    assert make_scheduler("tnc").name == "TNC"
    assert isinstance(make_scheduler("MILP"), MilpScheduler)
    assert isinstance(make_scheduler("fifty_fifty"), FiftyFifty)
    with pytest.raises(ValueError, match="unknown optimiser"):
        make_scheduler("genetic")


# ---------------------------------------------------------------- negotiation

def _job(job_id, est, lst, profile=LOAD, reg=0.0):
    return Job(job_id, house_of(job_id), job_id.split(":")[1].strip("[]"), reg, est, lst, profile, "x.csv")


def _day_prediction(peak_wh_per_hour=1000.0):
    hours = np.arange(25)
    hourly = np.where((hours[1:] > 8) & (hours[1:] <= 16), peak_wh_per_hour, 0.0)
    return Profile(3600.0 * hours, np.concatenate([[0], np.cumsum(hourly)]))


def _producer(scheduler=None, share=0.0):
    p = Producer("pv_producer[1]:[9]", "1", scheduler or MilpScheduler(), ProducerSettings(max_grid_share=share),
                 np.random.default_rng(0))
    p.update_prediction(_day_prediction())
    return p


def test_producer_accepts_a_job_it_can_cover_and_the_contract_uses_the_chosen_start():
    producer = _producer()
    washer = Profile(60.0 * np.arange(61), np.linspace(0, 800, 61))
    decision = producer.request(_job("[2]:[5]:[1]", 0.0, 20 * 3600.0, washer), now_s=0.0)
    assert decision.accepted
    start = decision.contract.start_s
    assert 8 * 3600 <= start <= 15 * 3600, "the job must be moved into the production hours"
    assert producer.held["[2]:[5]:[1]"].contract is decision.contract


def test_producer_declines_a_night_job_with_no_production():
    producer = _producer()
    decision = producer.request(_job("[2]:[5]:[1]", 0.0, 3 * 3600.0), now_s=0.0)
    assert not decision.accepted and decision.contract is None


def test_held_jobs_move_only_before_they_start():
    producer = _producer()
    big = Profile(60.0 * np.arange(121), np.linspace(0, 1900, 121))
    first = producer.request(_job("[2]:[5]:[1]", 8 * 3600.0, 14 * 3600.0, big), now_s=0.0).contract
    start_before = first.start_s
    producer.request(_job("[3]:[6]:[1]", 8 * 3600.0, 14 * 3600.0, big), now_s=start_before + 1.0)
    assert first.start_s == start_before


def test_manager_ranks_by_score_then_registration_and_updates_scores():
    manager = Manager(ScoreBoard())
    for pid in ("a", "b", "c"):
        manager.register(pid)
    assert manager.ranking() == ["a", "b", "c"]
    manager.record("a", accepted=False)
    manager.record("c", accepted=True)
    assert manager.scores.scores == {"a": INITIAL_SCORE + 1, "b": INITIAL_SCORE, "c": INITIAL_SCORE - 1}
    assert manager.ranking() == ["c", "b", "a"]


def test_scoreboard_round_trips_through_json(tmp_path):
    board = ScoreBoard({"x": 9.0, "y": 12.0})
    board.save(tmp_path / "s.json")
    assert ScoreBoard.load(tmp_path / "s.json").scores == {"x": 9.0, "y": 12.0}
    assert ScoreBoard.load(tmp_path / "missing.json").scores == {}


def test_fifty_fifty_rejects_about_half_of_coverable_jobs():
    producer = Producer("p", "1", FiftyFifty(), ProducerSettings(max_grid_share=1.0), np.random.default_rng(4))
    producer.update_prediction(Profile(np.array([0, 1e7]), np.array([0, 1e9])))
    accepted = sum(producer.request(_job(f"[2]:[5]:[{i}]", 0.0, 1000.0), 0.0).accepted for i in range(200))
    assert 70 < accepted < 130
