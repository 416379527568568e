"""Unit tests of the COHDA core: weights, data classes, merge rules, decide, messages, overlay (no transport)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from vppfed.federates.cohda.agent import CohdaAgent, merge_candidates
from vppfed.federates.cohda.data import Catalogue, SolutionCandidate, SystemConfig
from vppfed.federates.cohda.dyadic import Dyadic
from vppfed.federates.cohda.messages import (CandidateCache, InitMessage, ResultMessage, StepMessage, StopMessage,
                                             WeightMessage, decode)
from vppfed.federates.cohda.objectives import L1Objective, PeakShaving, ValleyFilling
from vppfed.federates.cohda.overlay import is_connected, neighbour_lists, small_world


def small_catalogue(n=4, m=3, t=5, seed=0):
    rng = np.random.default_rng(seed)
    s = np.round(rng.uniform(0, 10, size=(n, m, t)), 1)
    return s, Catalogue.build(np.arange(n), s)


# ---------------------------------------------------------------- dyadic weights
def test_weights_halved_many_times_sum_back_to_exactly_one():
    # GIVEN weight 1 split by repeated halving far beyond float precision
    held, pieces = Dyadic.ONE, []
    for _ in range(300):
        held = held.half()
        pieces.append(held)
    pieces.append(held)  # the last holder keeps the other half
    # WHEN all pieces are returned THEN the sum is exactly one
    total = Dyadic.ZERO
    for p in pieces:
        total = total + p
    assert total.is_one()
    assert not (total - pieces[0]).is_one()


def test_worked_example_from_the_notes_terminates_only_at_the_end():
    s_share = Dyadic.ONE.half()
    a, b = s_share, s_share           # S sends 1/2 to A and B
    a = a.half(); fly = a             # A sends to B
    b = b + fly                       # delivered: B = 3/4
    assert (a, b) == (Dyadic(1, 2), Dyadic(3, 2))
    b = b.half(); a = a + b           # B sends to A: A = 5/8, B = 3/8
    assert (a, b) == (Dyadic(5, 3), Dyadic(3, 3))
    assert (a + b).is_one()


def test_dyadic_roundtrip_bytes():
    w = Dyadic(12345678901234567891, 400)
    back, off = Dyadic.from_bytes(w.to_bytes())
    assert back == w and off == w.nbytes()


# ---------------------------------------------------------------- sysconf and candidates
def test_sysconf_merge_takes_the_higher_counter_and_keeps_the_aggregate_exact():
    s, cat = small_catalogue()
    sc = SystemConfig.empty(cat)
    sc.set(np.array([0]), np.array([3]), np.array([1]))
    # GIVEN two messages of one inbox that both carry slot 1, the second with the higher counter
    first = sc.merge([0, 1], [2, 5], [2, 0])
    second = sc.merge([1, 2], [7, 1], [2, 1])
    stale = sc.merge([1], [6], [0])
    # THEN the older counter of slot 0 and the stale slot-1 entry are ignored, the newest entries win
    assert first == [1] and second == [1, 2] and stale is None
    assert sc.cnt.tolist() == [3, 7, 1, -1] and sc.sel.tolist() == [1, 2, 1, 3]
    assert sc.n_known == 3
    # AND the cached aggregate (unknown agents count zero) equals the exact sum
    np.testing.assert_allclose(sc.total, s[0, 1] + s[1, 2] + s[2, 1])


def test_sysconf_aggregate_via_a_candidate_equals_the_exact_sum():
    s, cat = small_catalogue(n=12, m=3, t=5, seed=3)
    sc = SystemConfig.empty(cat)
    obj = L1Objective(np.zeros(5))
    sc.set(np.arange(12), np.zeros(12, np.int32), np.zeros(12, np.int16))
    c = cat.candidate(0, 1, sc.sel.copy(), obj)
    _ = sc.total
    # many changed entries (the candidate route) and few (the incremental route) give the same exact sum
    sc.merge(list(range(12)), [1] * 12, [1, 2] * 6)
    total, _ = sc.total_via(c)
    np.testing.assert_allclose(total, cat.aggregate(sc.sel))
    sc.merge([4], [5], [0])
    total, _ = sc.total_via(c)
    np.testing.assert_allclose(total, cat.aggregate(sc.sel))


def cand(cat, creator, serial, sel, perf=None):
    obj = L1Objective(np.zeros(cat.intervals))
    c = cat.candidate(creator, serial, np.array(sel), obj)
    if perf is not None:
        c = SolutionCandidate(c.creator, c.serial, c.sel, c.coverage, perf, c.total, c.cost, c.n_options)
    return c, obj


def test_merge_more_complete_candidate_wins():
    _, cat = small_catalogue()
    own, obj = cand(cat, 1, 1, [0, 3, 3, 3], perf=1.0)
    other, _ = cand(cat, 2, 1, [1, 2, 3, 3], perf=99.0)
    assert merge_candidates(own, other, 1, 2, cat, obj) is other
    assert merge_candidates(other, own, 2, 2, cat, obj) is other


def test_merge_disjoint_coverage_combines_and_reevaluates_with_receiver_as_creator():
    _, cat = small_catalogue()
    own, obj = cand(cat, 1, 4, [0, 3, 3, 3], perf=1.0)
    other, _ = cand(cat, 2, 7, [3, 2, 3, 3], perf=2.0)
    merged = merge_candidates(own, other, 1, 5, cat, obj)
    assert merged.key == (1, 5) and merged.sel.tolist() == [0, 2, 3, 3]
    assert merged.perf == pytest.approx(float(obj.evaluate(cat.aggregate(np.array([0, 2, 3, 3])))))


def test_merge_equal_keys_better_perf_then_lower_integer_creator_wins():
    _, cat = small_catalogue()
    own, obj = cand(cat, 9, 1, [0, 1, 2, 0], perf=5.0)
    better, _ = cand(cat, 10, 1, [1, 1, 2, 0], perf=4.0)
    tie10, _ = cand(cat, 10, 1, [1, 1, 2, 0], perf=5.0)
    tie3, _ = cand(cat, 3, 1, [1, 1, 2, 0], perf=5.0)
    assert merge_candidates(own, better, 9, 2, cat, obj) is better
    # ids are integers: 10 > 9 although "10" < "9" as strings
    assert merge_candidates(own, tie10, 9, 2, cat, obj) is own
    assert merge_candidates(own, tie3, 9, 2, cat, obj) is tie3


# ---------------------------------------------------------------- decide
def init_agent(cat, slot, neighbours, target, objective="l1", starter=True):
    agent = CohdaAgent(slot, cat.schedules[slot, :-1])
    msg = InitMessage(-1, slot, cat.ids, np.array(neighbours), 0.0, 900, target, None, 0, Dyadic(1, 2), objective,
                      1, starter)
    return agent, agent.on_init(msg, cat)


def test_decide_picks_the_brute_force_best_own_schedule_given_the_sysconf():
    s, cat = small_catalogue(n=3, m=6, t=8, seed=4)
    target = s[:, 2].sum(axis=0) + 1.0
    agent, _ = init_agent(cat, 0, [1], target)
    sc = agent.wm.sysconf
    sc.set(np.array([1, 2]), np.array([4, 4]), np.array([3, 5]))
    agent.wm.candidate = SolutionCandidate(0, 0, agent.wm.candidate.sel, 1, float("inf"),
                                           agent.wm.candidate.total, 0.0, 6)
    agent.decide()
    others = s[1, 3] + s[2, 5]
    brute = min(range(6), key=lambda j: np.abs(target - others - s[0, j]).sum())
    assert agent.wm.sysconf.sel[0] == brute
    assert agent.wm.candidate.coverage == 3
    assert agent.wm.candidate.perf == pytest.approx(np.abs(target - others - s[0, brute]).sum())


@pytest.mark.parametrize("objective,cls", [("peak", PeakShaving), ("valley", ValleyFilling)])
def test_decide_with_peak_shaving_and_valley_filling(objective, cls):
    s, cat = small_catalogue(n=2, m=5, t=6, seed=2)
    agent, _ = init_agent(cat, 0, [1], np.zeros(6), objective)
    vals = cls().evaluate(s[0])
    assert agent.wm.sysconf.sel[0] == int(np.argmin(vals))


def test_agent_that_is_not_the_starter_waits_for_its_first_step():
    _, cat = small_catalogue()
    agent, out = init_agent(cat, 1, [0, 2], np.zeros(5), starter=False)
    assert out == [] and agent.stats.decides == 0


def test_act_sends_deltas_without_echoing_entries_back_to_their_source():
    s, cat = small_catalogue(n=4, m=3, t=5)
    agent, out = init_agent(cat, 1, [0, 2], s[:, 0].sum(axis=0))
    assert {m.receiver for m in out} == {0, 2}
    assert all(list(m.slots) == [1] or not m.slots for m in out)
    # neighbour 0 tells us about agent 3; the reply to 0 must not contain slot 3, the one to 2 must
    msg = StepMessage(0, 1, [3], [2], [1], None, Dyadic(1, 3))
    out = agent.on_messages([msg])
    by_dst = {m.receiver: m for m in out}
    assert 3 in by_dst[2].slots
    assert 0 not in by_dst or 3 not in by_dst[0].slots


# ---------------------------------------------------------------- messages
def test_encoded_size_equals_nbytes_and_messages_roundtrip():
    s, cat = small_catalogue(n=40, m=3, t=5)
    obj = L1Objective(np.zeros(5))
    cache = CandidateCache(cat, obj)
    dense = cat.candidate(3, 2, np.r_[np.zeros(39, int), 3], obj)
    sparse = cat.candidate(4, 9, np.r_[np.full(39, 3), 1], obj)
    msgs = [
        StepMessage(1, 2, [1, 5], [3, 4], [0, 2], dense, Dyadic(3, 70)),
        StepMessage(1, 2, [7], [1], [1], sparse, Dyadic(1, 1)),
        StepMessage(1, 2, [], [], [], None, Dyadic(1, 1)),
        WeightMessage(3, -1, Dyadic(5, 9)), StopMessage(-1, 4), ResultMessage(4, -1, dense, 2, 4),
        InitMessage(-1, 3, np.arange(40), np.array([2, 4]), 1.5e9, 900, np.arange(5.0), np.ones(5), 1,
                    Dyadic(1, 6), "l1", 2, False),
        InitMessage(-1, 3, np.arange(40), np.array([2, 4]), 1.5e9, 900, np.arange(5.0), None, 1,
                    Dyadic(1, 6), "l1", 2, True, dense),
    ]
    for m in msgs:
        buf = m.encode()
        assert len(buf) == m.nbytes()
        back = decode(buf, cache)
        assert type(back) is type(m) and back.sender == m.sender and back.receiver == m.receiver
        if isinstance(m, StepMessage):
            assert (back.slots, back.cnts, back.sels) == (m.slots, m.cnts, m.sels)
            assert back.weight == m.weight
            if m.candidate is not None:
                assert back.candidate.key == m.candidate.key
                assert back.candidate.sel.tolist() == m.candidate.sel.tolist()
                assert back.candidate.perf == m.candidate.perf
                np.testing.assert_allclose(back.candidate.total, m.candidate.total)
        if isinstance(m, InitMessage) and m.initial is not None:
            assert back.initial.key == m.initial.key and back.initial.sel.tolist() == m.initial.sel.tolist()
    assert msgs[1].nbytes() < msgs[0].nbytes()  # sparse body for a one-agent candidate


# ---------------------------------------------------------------- overlay
def test_small_world_ring_plus_shortcuts_is_seeded_and_bounded():
    e = small_world(10, 1, 0.5, seed=3)
    assert e.tolist() == small_world(10, 1, 0.5, seed=3).tolist()
    assert 10 <= len(e) <= 15
    ring = {(i, (i + 1) % 10) if i < (i + 1) % 10 else ((i + 1) % 10, i) for i in range(10)}
    assert ring <= set(map(tuple, e.tolist()))
    assert is_connected(10, e)
    nb = neighbour_lists(10, e)
    assert all(len(x) >= 2 for x in nb)
    assert len(small_world(1000, 2, 0.0, 1)) == 2000


def test_brute_force_helpers_agree_with_catalogue_aggregate():
    s, cat = small_catalogue(n=3, m=2, t=4)
    for combo in itertools.product(range(2), repeat=3):
        np.testing.assert_allclose(cat.aggregate(np.array(combo)), s[np.arange(3), combo].sum(axis=0))
