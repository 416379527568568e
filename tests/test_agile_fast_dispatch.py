"""The fast agile engine (orders repaired step to step) equals the frozen pre-issue-15 engine bit for bit.

``ReferenceFleet`` (tests/agile_fleet_reference.py) sorts from scratch at every step; :class:`AgileFleet` repairs the
previous step's order (:class:`~vppfed.federates.agile.ordering.StableOrder`). Both run side by side over many steps
on random, tie-heavy and the reference portfolios, and every output (per-unit power and energy, the step summary,
the running flags) must be identical down to the bit pattern (so -0.0 against 0.0 fails too).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from agile_fleet_reference import ReferenceFleet

from vppfed.federates.agile.fleet import AgileFleet
from vppfed.federates.agile.greedy import greedy_fill
from vppfed.federates.agile.kernels import walk
from vppfed.federates.agile.ordering import StableOrder
from vppfed.federates.agile.portfolio import read_params_csv
from vppfed.federates.agile.signal import random_signal, read_signal_csv
from vppfed.federates.agile.synthetic import random_portfolio

RULES = ("strict", "2015b", "2015a")
BBB = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbb"


def bits(x: np.ndarray) -> np.ndarray:
    """Bit patterns of a float array, so that equality also tells -0.0 from 0.0."""
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


def assert_same_steps(portfolio, signal, rules, min_size=0, perturb_seed=None):
    """Step both engines through ``signal``; optionally overwrite both states at random steps (an aggregator's
    estimates), which moves many keys at once and exercises the repair's fallback."""
    fast = AgileFleet(portfolio, rules=rules, incremental_min_size=min_size)
    ref = ReferenceFleet(portfolio, rules=rules)
    rng = np.random.default_rng(perturb_seed) if perturb_seed is not None else None
    for k, value in enumerate(signal, start=1):
        if rng is not None and rng.random() < 0.3:
            e = ref.unit_energy() + rng.choice([0.0, 0.0, -0.5, 0.5, 2.0], size=len(portfolio))
            e = np.clip(e, portfolio.Emin, portfolio.Emax)
            p, run = ref.unit_power(), np.zeros(len(portfolio), dtype=bool)
            run[ref.dfr] = ref.running
            for eng in (fast, ref):
                eng.set_state(e, p, run, k - 1)
        a, b = fast.step(k, float(value)), ref.step(k, float(value))
        assert a == b, f"{rules}: step {k} summaries differ: {a} != {b}"
        assert np.array_equal(bits(fast.unit_power()), bits(ref.unit_power())), f"{rules}: step {k} powers differ"
        assert np.array_equal(bits(fast.unit_energy()), bits(ref.unit_energy())), f"{rules}: step {k} energies differ"
        assert np.array_equal(fast.running, ref.running) and np.array_equal(fast.ever_on, ref.ever_on)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("rules", RULES)
def test_fast_engine_equals_reference_on_random_portfolios(rules, seed):
    rng = np.random.default_rng(500 + seed)
    n = int(rng.integers(50, 3000))
    portfolio = random_portfolio(n, seed, horizon=60, random_start=seed % 2 == 1)
    signal = rng.choice([-0.3 * n, -1.0, 0.0, 0.02 * n, 0.1 * n, 0.3 * n, 2.0 * n], size=60)
    assert_same_steps(portfolio, signal, rules)


@pytest.mark.parametrize("quantize", [1.0, 0.25, 0.5])
@pytest.mark.parametrize("rules", RULES)
def test_fast_engine_equals_reference_on_tie_heavy_portfolios(rules, quantize):
    """Quantised sizes: thousands of units share each agility, so every order is mostly tie-breaking by index."""
    portfolio = random_portfolio(2500, 11, horizon=50, quantize=quantize, random_start=quantize == 0.5)
    assert_same_steps(portfolio, random_signal(50, 4) * (2500 / 105.0), rules)


@pytest.mark.parametrize("rules", RULES)
def test_fast_engine_equals_reference_when_states_jump(rules):
    portfolio = random_portfolio(1500, 3, horizon=40, quantize=0.25, random_start=True)
    assert_same_steps(portfolio, random_signal(40, 9) * (1500 / 105.0), rules, perturb_seed=5)


@pytest.mark.parametrize("rules", RULES)
def test_fast_engine_equals_reference_with_default_threshold(rules):
    """Above the default size the repair is on without asking (the path the benchmark and big cases take)."""
    portfolio = random_portfolio(12_000, 21, horizon=40, random_start=True)
    assert_same_steps(portfolio, random_signal(40, 22) * (12_000 / 105.0), rules, min_size=4096)
    assert_same_steps(portfolio, random_signal(40, 23) * (12_000 / 105.0), rules, min_size=4096)


@pytest.mark.parametrize("scenario", ["scenario1", "scenario2"])
@pytest.mark.parametrize("rules", RULES)
def test_fast_engine_equals_reference_on_reference_scenarios(rules, scenario):
    if not (BBB / f"{scenario}_params.csv").exists():
        pytest.fail(f"reference data missing: expected {BBB}/{scenario}_params.csv (../shared/data/bbb)")
    portfolio = read_params_csv(BBB / f"{scenario}_params.csv")
    assert_same_steps(portfolio, read_signal_csv(BBB / f"{scenario}_vpp.csv"), rules)


def _key_sequences(seed: int):
    """Key arrays as dispatch produces them and worse: common shifts, a few or many keys rising or falling, ties,
    signed zeros, infinities, a NaN, and a change of size."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    k = np.round(rng.uniform(-5, 5, n) * rng.choice([1, 4])) / rng.choice([1, 4, 1e6])
    for _ in range(40):
        k = k - 1.0
        moved = rng.random(n) < rng.choice([0.0, 0.02, 0.2, 0.9])
        k[moved] += rng.choice([-3.0, -0.25, 0.25, 1.0, 7.5], size=int(moved.sum()))
        if rng.random() < 0.1:
            k[rng.integers(0, n)] = rng.choice([0.0, -0.0, np.inf, -np.inf, np.nan])
        if rng.random() < 0.05:
            n = int(rng.integers(1, 400))
            k = rng.choice([0.0, -0.0, 1.0], size=n)
        yield k.copy()


@pytest.mark.parametrize("seed", range(30))
def test_stable_order_equals_numpy_stable_argsort(seed):
    order = StableOrder(min_size=0)
    for keys in _key_sequences(seed):
        got = order.argsort(keys)
        assert np.array_equal(got, np.argsort(keys, kind="stable")), keys


@pytest.mark.parametrize("seed", range(30))
def test_negated_order_equals_numpy_stable_argsort_of_minus_keys(seed):
    """One order serves both directions: the stable argsort of -keys derived from the repaired order of keys (ties
    back in index order; NaN, which numpy puts last either way, falls back to numpy)."""
    order = StableOrder(min_size=0)
    for keys in _key_sequences(seed):
        if seed % 2:
            assert np.array_equal(order.argsort(keys), np.argsort(keys, kind="stable"))
        got = order.argsort_negated(keys)
        assert np.array_equal(got, np.argsort(-keys, kind="stable")), keys


def _block_moves(seed: int):
    """Large key arrays where a block of units moves together each step (the units given power), a few keys fall
    far, and half the keys tie: the repair splits the moved units again instead of sorting them."""
    rng = np.random.default_rng(seed)
    n = 20_000
    k = np.where(rng.random(n) < 0.5, rng.integers(0, 50, n).astype(float), rng.uniform(0, 50, n))
    for _ in range(12):
        k = k - 1.0
        block = rng.random(n) < rng.choice([0.05, 0.2, 0.4])
        k[block] += rng.choice([0.5, 1.0, 3.0])
        fall = rng.integers(0, n, size=int(rng.integers(0, 4)))
        k[fall] -= rng.uniform(0, 60, fall.size)
        yield k.copy()


@pytest.mark.parametrize("seed", range(6))
def test_stable_order_repairs_block_moves_by_splitting_them_again(seed):
    order = StableOrder(min_size=0)
    depths = 0
    for keys in _block_moves(seed):
        got = order.argsort(keys)
        assert np.array_equal(got, np.argsort(keys, kind="stable"))
        depths = max(depths, len(order._work))
    assert depths >= 2, "the moved units were never split again (the path this test is for)"


def test_stable_order_returns_read_only_orders():
    order = StableOrder(min_size=0)
    order.argsort(np.arange(10.0))
    got = order.argsort(np.arange(10.0)[::-1].copy())
    assert got.tolist() == list(range(9, -1, -1))
    with pytest.raises(ValueError):
        got[0] = 3


@pytest.mark.parametrize("seed", range(60))
def test_compiled_walk_equals_greedy_fill(seed):
    """The compiled walk writes exactly what greedy_fill gives along the order, in its three modes; signed zeros,
    NaN and infinite wants included (a wrong test or order of operations flips bits here)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 120))
    want = rng.choice([0.0, -0.0, 0.1, 0.3, 0.7, 1.0, 1 / 3, np.nan, np.inf, -1.0], size=n,
                      p=[0.1, 0.05, 0.15, 0.15, 0.15, 0.15, 0.15, 0.03, 0.02, 0.05]) * rng.choice([1.0, 0.5], size=n)
    aon = rng.random(n) < rng.random()
    order = rng.permutation(n).astype(np.int64)
    budget = float(rng.choice([-1.0, 0.0, 0.05, 0.7, 2.0, 5.0, 100.0, np.inf]))
    F = rng.choice([0.0, 0.2, 0.5], size=n)
    room = F + rng.choice([0.0, 0.1, 1.0], size=n)
    give = np.zeros(n)
    with np.errstate(invalid="ignore"):  # inf - inf in an infinite budget's walk
        give[order] = greedy_fill(want[order], aon[order], budget)
    expected = {0: np.minimum(F + give, room), 1: give, 2: -give}
    for mode, start in ((0, np.minimum(F + 0.0, room)), (1, np.zeros(n)), (2, np.full(n, -0.0))):
        out = start.copy()
        walk(order, want, aon, budget, mode, out, F, room)
        assert np.array_equal(bits(out), bits(expected[mode])), mode


def test_compiled_min_max_match_numpy_on_signed_zeros_and_nan():
    """The kernels' min/max return what np.minimum/np.maximum return, bit for bit (ties of 0.0 and -0.0 give the
    second argument; NaN propagates)."""
    from vppfed.federates.agile.kernels import _max, _min

    values = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan]
    for a in values:
        for b in values:
            for ours, theirs in ((_max, np.maximum), (_min, np.minimum)):
                got, want = ours(a, b), theirs(np.full(9, a), np.full(9, b))[0]
                same = np.array_equal(bits(np.array([got])), bits(np.array([want])))
                assert same or (np.isnan(got) and np.isnan(want)), (ours, a, b)
