"""VPP over an unreliable network (pure core): corner cases of seed 000, fault rules, seeded loss and delay."""
from __future__ import annotations

import numpy as np
import pytest

from vppfed.federates.agile.aggregator import Aggregator, AggregatorConfig
from vppfed.federates.agile.link import Link, LinkConfig
from vppfed.federates.agile.netsim import run_network, write_network_outputs
from vppfed.federates.agile.portfolio import BAKERY, make_portfolio, read_params_csv
from vppfed.federates.agile.protocol import apply_command
from vppfed.federates.agile.signal import random_signal, read_signal_csv
from vppfed.federates.agile.simulate import simulate
from vppfed.federates.agile.synthetic import random_portfolio
from vppfed.federates.agile.unit_host import UnitHost



def small():
    return make_portfolio([("Bkt-1", 0, 0.0, 1.0, -1, 4.0, -4, -1, -1), ("Bat-1", 0, 0.0, 1.0, 0, 3.0, 0, 12, -1),
                           ("Bak-1", 0, 0.0, 1.0, 0, 2.0, 0, 10, 2)])


def within_limits(tr, p) -> bool:
    energy = np.vstack([tr.energy, tr.energy_end])
    return bool(np.all(energy >= p.Emin - 1e-9) and np.all(energy <= p.Emax + 1e-9)
                and np.all(tr.power >= p.Pmin) and np.all(tr.power <= p.Pmax))


@pytest.mark.parametrize("hosts", [1, 3])
def test_perfect_network_equals_central_strict_dispatch_bit_for_bit(hosts):
    p = random_portfolio(120, 4, horizon=40, random_start=True)
    sig = random_signal(40, 2) * 12
    tr, central = run_network(p, sig, hosts=hosts), simulate(p, sig, rules="strict", record_units=True)
    assert np.array_equal(tr.power, central.power) and np.array_equal(tr.energy, central.energy)
    assert np.array_equal(tr.view_energy, tr.energy)


def test_perfect_network_on_scenario2_equals_central(bbb):
    p, sig = read_params_csv(bbb / "scenario2_params.csv"), read_signal_csv(bbb / "scenario2_vpp.csv")
    assert np.array_equal(run_network(p, sig, hosts=5).power, simulate(p, sig, "strict", record_units=True).power)


def test_delayed_reports_are_rolled_forward_over_the_elapsed_steps():
    """Corner case 1: reports 3 steps late; the aggregator integrates the 3 elapsed steps and stays exact."""
    p = random_portfolio(40, 9, horizon=30)
    tr = run_network(p, random_signal(30, 4) * 4, uplink=LinkConfig(delay=3))
    assert np.array_equal(tr.view_energy, tr.energy)
    assert min(a.reports for a in tr.aggregator[4:]) == 40


def test_unit_host_integrates_every_step_it_skipped():
    host = UnitHost(make_portfolio([("Bkt-1", 0.5, 0.0, 1.0, -1, 10.0, -10, -1, -1)]))
    host.step(1, [])
    host.step(4, [])
    assert host.E[0] == 2.0  # 0.5 kW held for steps 0..3


def test_report_arriving_while_dispatch_is_computed_waits_for_the_next_step():
    """Corner case 2: the inbox is snapshotted when the step begins."""
    p = small()
    host, agg = UnitHost(p), Aggregator()
    for m in host.registrations():
        agg.receive(m)
    cmds, _ = agg.step(1, 1.0)
    reports = host.step(1, cmds)
    agg.begin_step(2)
    for r in reports:
        agg.receive(r)                     # arrives during the computation of step 2
    _, s2 = agg.finish_step(2, 1.0)
    assert s2.reports == 0
    _, s3 = agg.step(3, 1.0)
    assert s3.reports == 3


def test_without_reports_the_aggregator_predicts_from_the_last_known_power():
    """Corner case 3: a unit silent for 2 steps (below the timeout) is predicted exactly from its commands."""
    p = random_portfolio(30, 3, horizon=30)
    tr = run_network(p, random_signal(30, 1) * 3, silent={0: (5, 6), 7: (10, 11)},
                     aggregator=AggregatorConfig(keepalive_timeout=3))
    assert np.array_equal(tr.view_energy, tr.energy)
    assert max(a.unmanaged for a in tr.aggregator) == 0


def test_stale_energy_report_is_ignored():
    """Corner case 4: a report older than what the aggregator knows does not overwrite the estimate."""
    p = small()
    host, agg = UnitHost(p), Aggregator()
    for m in host.registrations():
        agg.receive(m)
    old = None
    for k in range(1, 5):
        for r in (old or []):
            agg.receive(r)
        cmds, _ = agg.step(k, 1.5)
        reports = host.step(k, cmds)
        if k == 1:
            first = reports
        old = reports
    for r in first:                                  # the step-1 reports once more, long after step 3's
        agg.receive({**r, "E": 99.0})
    _, s = agg.step(5, 1.5)
    assert s.stale == 3
    assert np.all(agg.E <= p.Emax) and not np.any(agg.E == 99.0)


def test_unit_without_commands_keeps_clipped_last_power():
    p = make_portfolio([("Bkt-1", 0, 3.8, 1.0, -1, 4.0, -4, -1, -1), ("Bat-1", 0, 0.0, 1.0, 0, 3.0, 0, 10, -1)])
    P, _ = apply_command(p, 1, p.E0.copy(), np.array([0.9, 0.4]), np.zeros(2, dtype=bool))
    assert P[0] == pytest.approx(0.2)   # 0.9 clipped to what still fits (4.0 - 3.8)
    assert P[1] == 0.4                  # K = 10-1-3 = 6: no forced power, the last command stands


def test_fault_rule_floor_is_the_forced_power():
    p = make_portfolio([("Bat-1", 0, 0.0, 1.0, 0, 3.0, 0, 4, -1)])
    P, _ = apply_command(p, 1, p.E0.copy(), np.array([0.0]), np.zeros(1, dtype=bool))
    assert P[0] == 1.0                  # K = 4 - 1 - 3 = 0: the battery takes full power whatever it was told


def test_started_bakery_keeps_running_when_told_zero_or_told_nothing():
    p = make_portfolio([("Bak-1", 0, 1.0, 1.0, 0, 3.0, 0, 50, 3)])
    P, run = apply_command(p, 2, np.array([1.0]), np.array([0.0]), np.array([True]))
    assert P[0] == 1.0 and run[0]
    P, run = apply_command(p, 2, np.array([1.0]), np.array([0.0]), np.array([False]))
    assert P[0] == 0.0 and not run[0]   # an idle bakery told 0 stays idle


def test_keepalive_timeout_makes_a_unit_unmanaged_and_a_report_readmits_it():
    p = random_portfolio(20, 5, horizon=40)
    tr = run_network(p, random_signal(40, 5) * 2, silent={3: (5, 14)}, aggregator=AggregatorConfig(keepalive_timeout=3))
    unmanaged = [a.unmanaged for a in tr.aggregator]
    # silent from step 5: last heard 4; at step k the silence is k-1-4 > 3 from k = 9; the report of step 15 arrives
    # for the dispatch of step 16
    assert unmanaged[:8] == [0] * 8 and all(u == 1 for u in unmanaged[8:15]) and unmanaged[15:] == [0] * 25
    assert within_limits(tr, p)


def test_unmanaged_unit_power_is_counted_as_fixed():
    p = make_portfolio([("Bat-1", 0, 0.0, 1.0, 0, 10.0, 0, 12, -1), ("Bkt-1", 0, 0.0, 1.0, -1, 5.0, -5, -1, -1)])
    agg = Aggregator(AggregatorConfig(keepalive_timeout=1))
    host = UnitHost(p)
    for m in host.registrations():
        agg.receive(m)
    for k in range(1, 5):
        cmds, s = agg.step(k, 0.5)
        reports = host.step(k, cmds)
        for r in reports:
            if r["unit"] == "Bkt-1" or k == 1:
                agg.receive(r)
    # Bat-1 silent since step 1 -> unmanaged from step 4 (silence 2 > 1); its predicted power (its forced power,
    # K = 12-4-(10-E)) is fixed and the bucket gets the rest
    assert s.unmanaged == 1 and s.managed == 1
    assert not any(c["unit"] == "Bat-1" for c in cmds)
    assert s.fixed == pytest.approx(agg.P_assumed[agg.index["Bat-1"]])


@pytest.mark.parametrize("seed", range(5))
def test_under_30_percent_loss_no_unit_leaves_its_limits(seed):
    p = random_portfolio(150, seed, horizon=50, random_start=True)
    tr = run_network(p, random_signal(50, seed) * 15, hosts=3, seed=seed,
                     uplink=LinkConfig(loss=0.3, delay=1, jitter=2), downlink=LinkConfig(loss=0.3, jitter=1))
    assert within_limits(tr, p)
    assert 0.25 < tr.dropped / tr.sent < 0.35
    bak = p.kind == BAKERY
    pw, en = tr.power[:, bak], tr.energy[:, bak]
    stopped = (pw[:-1] > 0) & (pw[1:] == 0)
    assert np.all(en[1:][stopped] >= p.Emax[bak][np.nonzero(stopped)[1]] - 1e-9)  # bakeries never interrupted


def test_loss_and_delay_are_reproducible_from_the_seed(tmp_path):
    p = random_portfolio(60, 1, horizon=30)
    sig = random_signal(30, 1) * 6
    kw = dict(hosts=2, uplink=LinkConfig(loss=0.2, delay=1, jitter=1), downlink=LinkConfig(loss=0.2))
    a, b, c = run_network(p, sig, seed=3, **kw), run_network(p, sig, seed=3, **kw), run_network(p, sig, seed=4, **kw)
    assert np.array_equal(a.power, b.power) and np.array_equal(a.view_energy, b.view_energy)
    assert not np.array_equal(a.power, c.power)
    write_network_outputs(a, p, tmp_path / "a")
    write_network_outputs(b, p, tmp_path / "b")
    for name in ("agile_output.csv", "agile_units.csv", "agile_views.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_link_drops_the_configured_fraction_and_never_drops_registrations():
    link = Link(LinkConfig(loss=0.3, delay=2), seed=1)
    link.send([{"type": "report", "unit": str(i), "k": 0} for i in range(10_000)], 0)
    link.send([{"type": "register", "unit": "x", "k": 0}], 0)
    assert link.due(0) == [{"type": "register", "unit": "x", "k": 0}]
    assert link.due(1) == []
    assert len(link.due(2)) == pytest.approx(7000, abs=150)


class _PerUnitAggregator(Aggregator):
    """The aggregator with the literal per-report walk of its reports (reference for the array version)."""

    def _apply_reports(self, msgs, k):
        from vppfed.federates.agile.portfolio import BAKERY

        p, Ts, H = self.p, self.cfg.Ts, self.cfg.history
        fresh = np.zeros(len(self.rows), dtype=bool)
        stale = 0
        for m in msgs:
            i = self.index.get(m.get("unit", ""))
            if i is None or m.get("type") not in ("report", "keepalive"):
                continue
            kr = int(m["k"])
            self.last_heard[i] = max(self.last_heard[i], kr)
            if m["type"] == "keepalive":
                continue
            if kr <= self.k_known[i] or kr >= k or k - kr >= H:
                stale += 1
                continue
            one = p.subset([i])
            E, P = np.array([float(m["E"])]), np.array([float(m["P"])])
            run, avail = np.array([bool(m["running"])]), np.array([bool(m.get("avail", True))])
            for j in range(kr + 1, k + 1):
                E = np.clip(E + Ts * P, one.Emin, one.Emax)
                run &= (one.kind != BAKERY) | (E < one.Emax)
                if j < k:
                    P, run = apply_command(one, j, E, self.cmd_hist[j % H, i:i + 1], run, Ts, avail)
            self.E[i], self.running[i], self.k_known[i], self.available[i] = E[0], run[0], kr, avail[0]
            fresh[i] = True
        self.stale_total += stale
        return fresh, stale


def test_array_report_handling_equals_the_per_unit_walk_under_loss_delay_and_jitter(monkeypatch):
    # GIVEN 120 units behind 3 hosts, 30 % loss and 0-3 steps of delay both ways (several reports per unit and
    # inbox, stale ones, reports several steps old)
    import vppfed.federates.agile.netsim as netsim

    p = random_portfolio(120, 11, horizon=40, random_start=True)
    sig = random_signal(40, 5) * 12
    links = dict(hosts=3, seed=9, uplink=LinkConfig(0.3, 1, 2), downlink=LinkConfig(0.3, 0, 1))
    fast = run_network(p, sig, **links)
    monkeypatch.setattr(netsim, "Aggregator", _PerUnitAggregator)
    slow = run_network(p, sig, **links)
    # THEN every unit's power, energy and the aggregator's view are the same bit for bit
    assert sum(a.stale for a in fast.aggregator) > 0
    assert np.array_equal(fast.power, slow.power) and np.array_equal(fast.energy, slow.energy)
    assert np.array_equal(fast.view_energy, slow.view_energy)
    assert [a.stale for a in fast.aggregator] == [a.stale for a in slow.aggregator]
