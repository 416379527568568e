"""The numpy engine equals the per-unit reference loop bit for bit, on random portfolios and the reference scenarios."""
from __future__ import annotations

import numpy as np
import pytest

from vppfed.federates.agile.greedy import greedy_fill, greedy_fill_loop
from vppfed.federates.agile.portfolio import BAKERY, read_params_csv
from vppfed.federates.agile.signal import random_signal, read_signal_csv
from vppfed.federates.agile.simulate import simulate
from vppfed.federates.agile.synthetic import random_portfolio

RULES = ("strict", "2015b", "2015a")


def assert_same_run(portfolio, signal, rules):
    vec = simulate(portfolio, signal, rules=rules, engine="vector", record_units=True)
    ref = simulate(portfolio, signal, rules=rules, engine="loop", record_units=True)
    assert np.array_equal(vec.power, ref.power), f"{rules}: powers differ"
    assert np.array_equal(vec.energy, ref.energy), f"{rules}: energies differ"
    assert vec.steps == ref.steps, f"{rules}: step summaries differ"
    return vec


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rules", RULES)
def test_vector_engine_equals_loop_on_random_portfolios(rules, seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(5, 80))
    portfolio = random_portfolio(n, seed, horizon=30, quantize=0.25 if seed % 2 else None, random_start=seed >= 3)
    # signals from deep negative to above capacity, with repeated values and exact zeros
    signal = rng.choice([-0.3 * n, -1.0, 0.0, 0.5, 0.1 * n, 0.4 * n, 2.0 * n], size=30)
    tr = assert_same_run(portfolio, signal, rules)
    energy = np.vstack([tr.energy, tr.energy_end])
    assert np.all(energy >= portfolio.Emin - 1e-9) and np.all(energy <= portfolio.Emax + 1e-9)
    assert np.all(tr.power >= portfolio.Pmin) and np.all(tr.power <= portfolio.Pmax)


@pytest.mark.parametrize("rules", RULES)
def test_vector_engine_equals_loop_on_ties(rules):
    """Many identical units: every sort has ties, which must keep file order in both engines."""
    portfolio = random_portfolio(60, 7, horizon=25, quantize=1.0)
    assert_same_run(portfolio, random_signal(25, 3) * 2.0, rules)


@pytest.mark.parametrize("scenario", ["scenario1", "scenario2"])
@pytest.mark.parametrize("rules", RULES)
def test_vector_engine_equals_loop_on_reference_scenarios(bbb, rules, scenario):
    assert_same_run(read_params_csv(bbb / f"{scenario}_params.csv"), read_signal_csv(bbb / f"{scenario}_vpp.csv"),
                    rules)


@pytest.mark.parametrize("seed", range(4))
def test_strict_never_interrupts_a_started_bakery(seed):
    portfolio = random_portfolio(200, seed, horizon=40, random_start=True)
    tr = simulate(portfolio, random_signal(40, seed) * 8, rules="strict", record_units=True)
    bak = portfolio.kind == BAKERY
    pw, en = tr.power[:, bak], tr.energy[:, bak]
    stopped = (pw[:-1] > 0) & (pw[1:] == 0)
    assert np.all(en[1:][stopped] >= portfolio.Emax[bak][np.nonzero(stopped)[1]] - 1e-9)


@pytest.mark.parametrize("seed", range(40))
def test_greedy_fill_vector_equals_loop(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    want = rng.choice([0.0, 0.1, 0.3, 0.7, 1.0, 1 / 3], size=n) * rng.choice([1.0, 0.5], size=n)
    aon = rng.random(n) < rng.random()
    budget = float(rng.choice([-1.0, 0.0, 0.05, 0.7, 2.0, 5.0, 100.0]))
    assert greedy_fill(want, aon, budget).tolist() == greedy_fill_loop(want.tolist(), aon.tolist(), budget)


def test_greedy_fill_skips_large_all_or_nothing_units_and_fills_smaller_ones():
    give = greedy_fill(np.array([0.5, 1.0, 0.3, 0.4, 0.2]), np.array([False, True, True, False, True]), 1.0)
    assert give == pytest.approx([0.5, 0.0, 0.3, 0.2, 0.0], abs=1e-15)  # partial 0.4 -> 0.2 exhausts the budget
