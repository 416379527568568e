"""The compiled in-process COHDA engine against the rules and against the Python agents.

The compiled engine re-implements the agent rules on shared arrays, so these tests check what must hold whatever the
event order: termination detected exactly (Dijkstra-Scholten) with every agent holding the same complete candidate,
a 1-opt result whose reported perf is the true objective, cached aggregates equal to exact sums, determinism, and
quality in line with the Python agents (the implementation that also runs on HELICS) on the same instances.
"""
from __future__ import annotations

import numpy as np
import pytest

from vppfed.federates.cohda import compiled_kernels as k
from vppfed.federates.cohda.compiled import build_state, negotiate, run_compiled
from vppfed.federates.cohda.controller import CohdaController, Member
from vppfed.federates.cohda.inproc import InprocConfig
from vppfed.federates.cohda.instance import generate
from vppfed.federates.cohda.objectives import objective_by_name
from vppfed.federates.cohda.solve import build_agents, solve


def is_one_opt(inst, sel) -> bool:
    s = inst.schedules
    x = s[np.arange(inst.agents), sel].sum(axis=0)
    d = np.abs(inst.target - x).sum()
    for i in range(inst.agents):
        if np.abs(inst.target - (x - s[i, sel[i]] + s[i])).sum(axis=1).min() < d - 1e-6:
            return False
    return True


def run_to_end(inst, seed=0, warm_start=False, config=InprocConfig()):
    """Play the negotiation and return the final state (for checks on the agents' working memories)."""
    controller, _ = build_agents(inst)
    cat, inits = controller.start(inst.target, inst.weights, "l1", edges=inst.edges, warm_start=warm_start)
    state = build_state(cat, inits, config, seed)
    terminated, _chunks = negotiate(state, seed, config)
    assert terminated
    return state


@pytest.mark.parametrize("warm_start", [False, True])
def test_termination_is_exact_and_every_agent_holds_the_same_complete_candidate(warm_start):
    inst = generate(40, 6, 24, seed=5)
    state = run_to_end(inst, seed=2, warm_start=warm_start)
    cnt, sel, known, tot, sccost = state.A[:5]
    acand, wake, deficit, parent = state.A[10], state.A[13], state.A[14], state.A[15]
    n = inst.agents
    # THEN termination was declared only when nothing is left to do: no wake-up pending, no unacknowledged message
    assert state.iscal[k.I_TERM] == 1 and state.iscal[k.I_HEAP] == 0
    assert not wake.any() and not deficit.any() and (parent == k.IDLE).all()
    # AND every agent holds the same complete candidate, whose perf is the true objective of its selection
    assert len(set(acand.tolist())) == 1
    p = int(acand[0])
    csel, ctot, ccov, cperf = state.C[0], state.C[1], state.C[4], state.C[5]
    assert ccov[p] == n
    assert inst.distance(csel[p].astype(int)) == pytest.approx(cperf[p], abs=1e-6)
    np.testing.assert_allclose(ctot[p], inst.schedules[np.arange(n), csel[p]].sum(axis=0), atol=1e-6)
    # AND every agent knows everyone, with each owner's own entry the newest
    assert (known == n).all()
    own = np.diag(sel)
    assert (sel == own[None, :]).all() and (cnt == np.diag(cnt)[None, :]).all()
    # AND the cached sysconf aggregates equal exact sums (incremental updates, change log and reference paths)
    exact = inst.schedules[np.arange(n)[None, :], sel.astype(int)].sum(axis=1)
    np.testing.assert_allclose(tot, exact, atol=1e-6)
    assert is_one_opt(inst, own.astype(int))


def test_change_log_and_reference_paths_are_both_exercised():
    inst = generate(150, 8, 24, seed=3)
    res = run_compiled(*_started(inst), seed=1)
    assert res.terminated
    assert res.counts["log_hits"] > 0 and res.counts["rebuilt_aggregates"] > 0
    assert res.counts["entries"] > 0 and res.counts["events"] == res.activations


def _started(inst, **kw):
    controller, _ = build_agents(inst)
    cat, inits = controller.start(inst.target, inst.weights, "l1", edges=inst.edges, **kw)
    return controller, cat, inits


def test_same_seed_same_bytes_and_another_seed_another_run():
    inst = generate(50, 5, 24, seed=7)
    a, b, c = (solve(inst, seed=s) for s in (3, 3, 4))
    fields = ("selection", "messages", "bytes", "control_messages", "control_bytes", "activations", "D")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert (a.messages, a.activations) != (c.messages, c.activations)


def test_quality_and_traffic_match_the_python_agents_on_the_same_instances():
    fast, ref = [], []
    for seed in range(4):
        inst = generate(60, 8, 48, seed=11 + seed)
        for engine, out in (("compiled", fast), ("python", ref)):
            res = solve(inst, seed=seed, engine=engine)
            assert res.terminated and is_one_opt(inst, res.selection)
            out.append((res.rel_D, res.messages))
    # same rules, different event order: the same quality and traffic on average (each run is one 1-opt point)
    d_fast, d_ref = np.mean([r[0] for r in fast]), np.mean([r[0] for r in ref])
    m_fast, m_ref = np.mean([r[1] for r in fast]), np.mean([r[1] for r in ref])
    assert d_fast < 0.08 and d_ref < 0.08
    assert d_fast < 1.5 * d_ref + 0.01 and d_ref < 1.5 * d_fast + 0.01
    assert 0.5 < m_fast / m_ref < 2.0


def test_anytime_stop_by_simulated_time_gives_a_complete_selection():
    inst = generate(80, 6, 24, seed=8)
    full = solve(inst, seed=1)
    early = solve(inst, seed=1, config=InprocConfig(stop_at=20.0))
    assert full.terminated and not early.terminated
    assert len(early.selection) == 80 and early.messages < full.messages
    assert early.D == pytest.approx(inst.distance(early.selection))


def test_single_agent_and_pair_terminate():
    for n in (1, 2):
        inst = generate(n, 4, 12, seed=1)
        res = solve(inst, seed=0)
        assert res.terminated and len(res.selection) == n
        assert is_one_opt(inst, res.selection)


@pytest.mark.parametrize("objective", ["peak", "valley"])
def test_other_objectives_run_and_end_1_opt_for_that_objective(objective):
    inst = generate(30, 6, 24, seed=2)
    controller, _ = build_agents(inst)
    cat, inits = controller.start(inst.target, None, objective, edges=inst.edges)
    stats = run_compiled(controller, cat, inits, seed=0)
    sel, best = controller.final_selection()
    obj = objective_by_name(objective, inst.target)
    x = inst.schedules[np.arange(30), sel].sum(axis=0)
    assert stats.terminated and best.perf == pytest.approx(float(obj.evaluate(x)))
    for i in range(30):
        alt = obj.evaluate(x - inst.schedules[i, sel[i]] + inst.schedules[i])
        assert alt.min() >= best.perf - 1e-6


def test_local_costs_enter_the_objective():
    inst = generate(20, 5, 12, seed=4)
    controller = CohdaController()
    costs = np.tile(np.arange(5, dtype=float) * 1000.0, (20, 1))  # expensive options beyond the first
    for i in range(20):
        controller.join(Member(i, inst.schedules[i], costs[i], 0))
    cat, inits = controller.start(inst.target, edges=inst.edges, cost_weight=1.0)
    stats = run_compiled(controller, cat, inits, seed=0)
    sel, best = controller.final_selection()
    assert stats.terminated
    assert best.perf == pytest.approx(inst.distance(sel) + costs[np.arange(20), sel].sum())
    # the cost dwarfs any distance gain: everyone keeps the free option
    assert (sel == 0).all()


@pytest.mark.integration
def test_progress_is_reported_and_the_cli_picks_the_engine(tmp_path, capsys):
    import json

    from vppfed.cli import main

    inst = generate(200, 6, 24, seed=6)
    seen = []
    res = solve(inst, seed=0, progress=lambda ev, msgs, best: seen.append((ev, msgs, best)))
    assert seen and seen[-1][0] == res.activations and seen[-1][1] == res.messages
    assert seen[-1][2] == pytest.approx(res.cohda_D)
    assert res.engine == "compiled" and res.setup_seconds >= 0.0 and res.work["decides"] > 0
    path = tmp_path / "i.npz"
    inst.save(path)
    for engine in ("python", "compiled"):
        assert main(["cohda", "solve", "--instance", str(path), "--engine", engine, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["engine"] == engine and out["terminated"] and len(out["selection"]) == 200
