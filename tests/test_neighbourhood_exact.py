"""The exact scheduler: the branch and bound equals brute force, the pair scan is exhaustive for two jobs, and the
result depends only on the instance and its deterministic limits (node count), never on the machine's speed."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from vppfed.federates.neighbourhood.exact import _search, descent, packed, twins
from vppfed.federates.neighbourhood.model import Profile
from vppfed.federates.neighbourhood.objective import FreeJob, SlotObjective
from vppfed.federates.neighbourhood.optimisers import (
    HIGHS_OPTIONS, MilpScheduler, coordinate_descent, pair_descent)


def _random_problem(rng: np.random.Generator, n_jobs: int, pv_wh: float = 900.0, max_count: int = 14) -> SlotObjective:
    pred = Profile(3600.0 * np.arange(13), np.concatenate([[0], np.cumsum(rng.uniform(0, pv_wh, 12))]))
    jobs = []
    for _ in range(n_jobs):
        minutes = int(rng.integers(30, 120))
        load = Profile(60.0 * np.arange(minutes + 1), np.linspace(0, rng.uniform(300, 1500), minutes + 1))
        first = float(rng.uniform(0, 20000))
        jobs.append(FreeJob(load, first, 900.0, int(rng.integers(2, max_count))))
    return SlotObjective(pred, jobs, slot_s=300.0)


def _brute(obj: SlotObjective) -> float:
    return min(obj.value(np.array(x)) for x in itertools.product(*[range(j.count) for j in obj.free]))


def test_pair_descent_is_exhaustive_for_two_jobs_where_coordinate_descent_is_not():
    rng = np.random.default_rng(11)
    beaten = 0
    for _ in range(25):
        obj = _random_problem(rng, 2)
        x0 = np.zeros(2, dtype=int)
        assert obj.value(pair_descent(obj, x0)) == pytest.approx(_brute(obj), rel=1e-12, abs=1e-9)
        beaten += obj.value(coordinate_descent(obj, x0)) > _brute(obj) + 1e-6
    assert beaten >= 1, "no instance where single moves get stuck: the test would not see a broken pair scan"


def test_pair_descent_never_worse_than_coordinate_descent_and_chunking_does_not_change_it():
    rng = np.random.default_rng(12)
    for _ in range(5):
        obj = _random_problem(rng, 6, pv_wh=500.0)
        x0 = np.array([rng.integers(j.count) for j in obj.free])
        full = pair_descent(obj, x0)
        assert obj.value(full) <= obj.value(coordinate_descent(obj, x0)) + 1e-9
        assert pair_descent(obj, x0, max_cells=1).tolist() == full.tolist()


def test_milp_skips_highs_for_two_jobs_and_matches_brute_force():
    rng = np.random.default_rng(13)
    obj = _random_problem(rng, 2)
    scheduler = MilpScheduler(engine="highs", max_nodes=1000)
    got = scheduler.solve(obj, np.zeros(2, dtype=int), rng)
    assert obj.value(got) == pytest.approx(_brute(obj), rel=1e-12, abs=1e-9)
    assert scheduler.limits["milp_solves"] == 0 and scheduler.limits["exact_without_milp"] == 1


@pytest.mark.parametrize("n_jobs", [2, 3, 4, 6])
def test_search_equals_brute_force_and_says_it_was_not_cut_short(n_jobs):
    """GIVEN random instances where PV is scarce (so the order of the search matters) WHEN the default engine solves
    them from the worst start THEN it finds the brute-force optimum every time and no node limit bound. Six jobs run
    the neighbourhood search (groups of 4) before the full search."""
    rng = np.random.default_rng(20 + n_jobs)
    searched = 0
    for _ in range(6):
        max_count = 14 if n_jobs < 4 else 7 if n_jobs == 4 else 5   # brute force stays under 20,000 schedules
        obj = _random_problem(rng, n_jobs, pv_wh=120.0 * n_jobs, max_count=max_count)
        scheduler = MilpScheduler(mip_rel_gap=0.0)
        got = scheduler.solve(obj, np.zeros(n_jobs, dtype=int), rng)
        assert obj.value(got) == pytest.approx(_brute(obj), rel=1e-12, abs=1e-9)
        assert scheduler.limits["node_limit"] == 0
        searched += scheduler.limits["milp_solves"]
    assert searched >= 1, "every instance was solved before the search: the test would not see a broken bound"


def _hard_six_jobs() -> tuple[SlotObjective, np.ndarray]:
    """Six free jobs on a ramping PV profile that the exact search cannot settle in a few nodes, and a start."""
    rng = np.random.default_rng(5)
    pred = Profile(3600.0 * np.arange(13), np.concatenate([[0], np.cumsum(rng.uniform(0, 300, 12))]))
    load = Profile(60.0 * np.arange(91), np.linspace(0, 1500, 91))
    obj = SlotObjective(pred, [FreeJob(load, lo, 1800.0, 12) for lo in rng.uniform(0, 20000, 6)], slot_s=300.0)
    return obj, np.zeros(6, dtype=int)


def test_search_with_a_binding_node_limit_keeps_its_incumbent_and_counts_it():
    obj, x0 = _hard_six_jobs()
    scheduler = MilpScheduler(max_nodes=3)
    got = scheduler.solve(obj, x0, np.random.default_rng(0))
    assert scheduler.limits == {"milp_solves": 1, "exact_without_milp": 0, "node_limit": 1, "time_limit": 0}
    assert obj.value(got) <= obj.value(coordinate_descent(obj, x0)) + 1e-9
    full = MilpScheduler()
    assert obj.value(full.solve(obj, x0, np.random.default_rng(0))) <= obj.value(got) + 1e-9
    assert full.limits["node_limit"] == 0


@pytest.mark.parametrize("engine", ["search", "highs"])
def test_milp_result_is_decided_by_node_limits_not_by_time(engine):
    """GIVEN a hard instance and a node limit that binds WHEN solved twice, once with a 60 s wall-clock guard and
    once with a far larger one THEN both give the same schedule and the same counts (no time limit decided)."""
    obj, x0 = _hard_six_jobs()
    a = MilpScheduler(max_nodes=3, time_limit_s=60.0, engine=engine)
    b = MilpScheduler(max_nodes=3, time_limit_s=6000.0, engine=engine)
    xa, xb = a.solve(obj, x0, np.random.default_rng(0)), b.solve(obj, x0, np.random.default_rng(1))
    assert a.limits == {"milp_solves": 1, "exact_without_milp": 0, "node_limit": 1, "time_limit": 0}
    assert xa.tolist() == xb.tolist() and a.limits == b.limits


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine"):
        MilpScheduler(engine="cplex")


def test_default_highs_options_are_accepted_by_highs():
    import highspy

    h = highspy.Highs()
    for option, value in HIGHS_OPTIONS.items():
        assert h.setOptionValue(option, value) == highspy.HighsStatus.kOk, option


def test_cutoff_gives_the_same_decision_and_accepted_schedule_as_the_full_search():
    """GIVEN instances where the new (last) job sometimes fits and sometimes cannot WHEN solved with the producer's
    acceptance level as cutoff and without THEN the decision is the same; where accepted, so is the overshoot."""
    rng = np.random.default_rng(31)
    outcomes = set()
    for _ in range(12):
        obj = _random_problem(rng, 5, pv_wh=500.0, max_count=8)
        x0 = np.zeros(5, dtype=int)
        held = np.array([True] * 4 + [False])
        allowed = obj.overshoot_wh(x0, held) + 0.2 * obj.free[-1].profile.energy_wh
        full = MilpScheduler(mip_rel_gap=0.0).solve(obj, x0, rng)
        cut = MilpScheduler(mip_rel_gap=0.0).solve(obj, x0, rng, accept_below_wh=allowed)
        accepted = obj.overshoot_wh(full) <= allowed + 1e-9
        assert (obj.overshoot_wh(cut) <= allowed + 1e-9) == accepted
        if accepted:
            assert obj.overshoot_wh(cut) == pytest.approx(obj.overshoot_wh(full), rel=1e-9, abs=1e-9)
        outcomes.add(accepted)
    assert outcomes == {True, False}, "the instances never (or always) fit: the test would not see a wrong cutoff"


def _twin_problem(rng: np.random.Generator, copies: tuple[int, ...], pv_wh: float) -> SlotObjective:
    """Jobs in classes of identical copies (same load, window and options), as PySSMic's inputs repeat devices."""
    pred = Profile(3600.0 * np.arange(13), np.concatenate([[0], np.cumsum(rng.uniform(0, pv_wh, 12))]))
    jobs = []
    for k in copies:
        minutes = int(rng.integers(30, 120))
        load = Profile(60.0 * np.arange(minutes + 1), np.linspace(0, rng.uniform(300, 1500), minutes + 1))
        jobs += [FreeJob(load, float(rng.uniform(0, 20000)), 900.0, int(rng.integers(3, 6)))] * k
    return SlotObjective(pred, jobs, slot_s=300.0)


def test_twins_pair_only_jobs_identical_bit_for_bit():
    ka = np.array([[0, 1], [0, 1], [0, 2], [0, 1]], dtype=np.int64)
    energy = np.ones((4, 2, 2))
    energy[3, 1, 1] = 1.0 + 1e-12
    assert twins(ka, energy, np.array([2, 2, 2, 2])).tolist() == [-1, 0, -1, -1]
    assert twins(ka, energy, np.array([2, 1, 2, 2])).tolist() == [-1, -1, -1, -1]


def test_search_over_identical_jobs_equals_brute_force_with_far_fewer_nodes():
    """GIVEN instances where jobs come in classes of identical copies WHEN the branch and bound searches them with the
    twin chains and without THEN both give the brute-force optimum, and the twin chains cut the nodes (the
    permutations of a class are searched once)."""
    rng = np.random.default_rng(41)
    with_twins = without = 0
    for _ in range(4):
        obj = _twin_problem(rng, (3, 2, 1), pv_wh=400.0)
        ka, energy, counts = packed(obj)
        rest0 = obj.base - obj.production
        brute = min(obj.overshoot_wh(np.array(x)) for x in itertools.product(*[range(j.count) for j in obj.free]))
        for chains in (twins(ka, energy, counts), np.full(counts.size, -1, dtype=np.int64)):
            x = np.zeros(counts.size, dtype=np.int64)
            best, nodes, _, hit = _search(rest0, ka, energy, counts, chains, x, np.inf, 10**7, 10**12, 0.0)
            assert not hit and obj.overshoot_wh(x) == pytest.approx(brute, rel=1e-9, abs=1e-9)
            if chains.max() >= 0:
                with_twins += nodes
                assert twins(ka, energy, counts).tolist() == [-1, 0, 1, -1, 3, -1]
            else:
                without += nodes
    assert with_twins < 0.5 * without, (with_twins, without)


def test_compiled_descent_ends_where_no_single_move_helps():
    """GIVEN random starts WHEN the compiled coordinate descent runs THEN its schedule is no worse than the start and
    no job can move alone to an option better by more than 1e-9 Wh (checked with the objective's own numpy form)."""
    rng = np.random.default_rng(17)
    moved = 0
    for _ in range(8):
        obj = _random_problem(rng, 6, pv_wh=400.0)
        x0 = np.array([rng.integers(j.count) for j in obj.free])
        x = descent(obj, x0)
        assert obj.overshoot_wh(x) <= obj.overshoot_wh(x0) + 1e-9
        for j in range(len(obj.free)):
            assert obj.option_overshoots(j, x).min() >= obj.overshoot_wh(x) - 1e-6
        moved += int((x != x0).any())
    assert moved >= 4, "the starts were local optima already: the test would not see a broken descent"


def test_evaluation_limit_binds_like_the_node_limit_and_is_counted():
    """GIVEN the hard 6-job instance and a limit on option evaluations only WHEN solved THEN the search stops early,
    says so in ``node_limit``, and still returns a schedule no worse than its incumbent; without the limit the same
    instance needs no limit at all."""
    obj, x0 = _hard_six_jobs()
    tight = MilpScheduler(max_evals=50)
    got = tight.solve(obj, x0, np.random.default_rng(0))
    assert tight.limits["node_limit"] == 1 and tight.limits["milp_solves"] == 1
    assert obj.value(got) <= obj.value(descent(obj, x0)) + 1e-9
    free = MilpScheduler()
    free.solve(obj, x0, np.random.default_rng(0))
    assert free.limits["node_limit"] == 0
