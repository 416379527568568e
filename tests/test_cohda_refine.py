"""The annealing token after COHDA (federates/cohda/refine.py): never worse, 1-opt, seeded, neighbour to neighbour."""
from __future__ import annotations

import numpy as np

from vppfed.federates.cohda.instance import generate
from vppfed.federates.cohda.refine import _csr, _tour, token_refine
from vppfed.federates.cohda.solve import solve


def is_one_opt(inst, selection) -> bool:
    sel = np.array(selection)
    d = inst.distance(sel)
    for i in range(inst.agents):
        for j in range(inst.schedules.shape[1]):
            trial = sel.copy()
            trial[i] = j
            if inst.distance(trial) < d - 1e-6:
                return False
    return True


def test_refinement_leaves_cohdas_1_opt_point_never_worsens_and_ends_1_opt():
    inst = generate(30, 6, 24, seed=3)
    # GIVEN COHDA's own result (a 1-opt point)
    plain = solve(inst, seed=0, refine=False)
    assert plain.refine is None and plain.D == plain.cohda_D
    assert is_one_opt(inst, plain.selection)
    # WHEN the token refines it
    res = solve(inst, seed=0)
    # THEN the result starts from COHDA's, is strictly closer to the target here, and is again 1-opt
    assert res.cohda_D == plain.D
    assert res.D < 0.8 * plain.D
    assert res.refine["before"] == plain.D and abs(res.refine["after"] - res.D) < 1e-6
    assert is_one_opt(inst, res.selection)


def test_same_seed_same_selection_another_seed_another_walk():
    inst = generate(20, 5, 24, seed=5)
    sel = np.array(solve(inst, seed=0, refine=False).selection)
    a, sa = token_refine(inst.schedules, inst.target, sel, inst.edges, seed=1, hops=20000)
    b, sb = token_refine(inst.schedules, inst.target, sel, inst.edges, seed=1, hops=20000)
    c, sc = token_refine(inst.schedules, inst.target, sel, inst.edges, seed=2, hops=20000)
    assert np.array_equal(a, b) and sa.accepted == sb.accepted
    assert sa.accepted != sc.accepted
    for s in (sa, sb, sc):
        assert s.after <= s.before


def test_the_token_moves_only_between_overlay_neighbours_and_visits_everyone():
    inst = generate(40, 3, 8, seed=1)
    indptr, indices = _csr(inst.agents, inst.edges)
    order = _tour(inst.agents, indptr, indices, 7)
    assert set(order.tolist()) == set(range(inst.agents))
    nbrs = {(int(a), int(b)) for a, b in inst.edges} | {(int(b), int(a)) for a, b in inst.edges}
    assert all((int(x), int(y)) in nbrs for x, y in zip(order[:-1], order[1:]))


def test_weights_enter_the_refined_distance():
    inst = generate(12, 4, 12, seed=2)
    sel = np.zeros(inst.agents, dtype=np.int64)
    w = np.linspace(0.5, 2.0, 12)
    out, st = token_refine(inst.schedules, inst.target, sel, inst.edges, weights=w, seed=0, hops=5000)
    d = float(np.abs(inst.target - inst.schedules[np.arange(inst.agents), out].sum(axis=0)) @ w)
    assert abs(d - st.after) < 1e-6 and st.after <= st.before


def test_benchmark_families_are_planted_exactly_and_seeded():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from cohda_families import FAMILIES, make

    for family in FAMILIES:
        a, b = make(family, 30, 5, 24, seed=2), make(family, 30, 5, 24, seed=2)
        assert np.array_equal(a.schedules, b.schedules) and np.array_equal(a.target, b.target)
        assert a.distance(a.planted) < 1e-9
        assert not np.array_equal(a.schedules, make(family, 30, 5, 24, seed=3).schedules)
        # not the project's generator: other values than its CHP / PV / shiftable rows
        assert not np.array_equal(a.schedules, generate(30, 5, 24, seed=2).schedules)


def test_messages_total_adds_the_tokens_messages_to_cohdas():
    inst = generate(30, 6, 24, seed=3)
    # GIVEN the same negotiation with and without the token
    plain = solve(inst, seed=0, refine=False)
    res = solve(inst, seed=0)
    # THEN ``messages`` stays COHDA's own count and the total adds every token message (walk, revert tour, greedy
    # tours), whose bytes are the refinement's bytes
    assert res.messages == plain.messages and plain.messages_total == plain.messages
    r = res.refine
    assert r["messages"] >= r["hops"] + inst.agents + r["tour_hops"]   # the revert tour visits every agent
    assert res.messages_total == res.messages + r["messages"] > res.messages
    assert r["bytes"] == r["messages"] * (8 * inst.schedules.shape[2] + 40)
    assert res.to_json()["messages_total"] == res.messages_total
