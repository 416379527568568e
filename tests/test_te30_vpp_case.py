"""The te30-vpp case: the vpp section's market wiring (fast), and a short run over HELICS in which the VPP's bids
reach the market and its devices follow the awards (slow)."""
from __future__ import annotations

import json
import shlex

import numpy as np
import pytest

from vppfed.cases import case_yaml
from vppfed.configs.case import build_case
from vppfed.errors import UserError
from vppfed.federates.agile.market_bidding import MarketClock
from vppfed.launcher import Launcher
from vppfed.postprocess.agile_run import feasible_steps, load_agile_run, tracking_stats
from vppfed.formats.metrics import load_if_present


def test_vpp_market_section_wires_the_aggregator_to_the_market(tmp_path):
    # GIVEN the te30-vpp case built for one hour
    built = build_case(case_yaml("te30-vpp"), tmp_path / "c", {"case.hours": 1})
    d = built.directory
    # THEN the aggregator bids from its own 'market' endpoint to sub_7/market with the market's cap and statistics
    spec = json.loads((d / "vpp_market.json").read_text())
    agent = json.loads((d / "TE30_agent_dict.json").read_text())["markets"]["Market_1"]
    assert spec["endpoint"] == "sub_7/market"
    assert (spec["bidding"]["pricecap"], spec["bidding"]["init_price"], spec["bidding"]["init_stdev"]) == \
        (agent["pricecap"], agent["init_price"], agent["init_stdev"])
    assert spec["clock"] == {"period": 300.0, "bid_lead": 45.0, "market_lead": 30.0, "feeder_period": 60.0,
                             "host_lead": 2.0}
    agg = json.loads((d / "TE30_vpp_aggregator.json").read_text())
    assert {e["name"] for e in agg["endpoints"]} == {"vpp", "market"} and "subscriptions" not in agg
    sub = json.loads((d / "TE30_sub_7.json").read_text())
    assert {e["name"] for e in sub["endpoints"]} == {"market"}
    runner = json.loads(built.runner.read_text())
    args = shlex.split(next(f["exec"] for f in runner["federates"] if f["name"] == "vpp_aggregator"))
    assert args[args.index("--market") + 1] == "vpp_market.json" and "--signal" not in args
    assert float(args[args.index("--ts-hours") + 1]) == pytest.approx(60 / 3600)
    # AND the units are the feeder's 9 battery inverters (buckets) and 9 EV chargers (batteries)
    params = (d / "vpp_params.csv").read_text().splitlines()[1:]
    assert sum(r.startswith("Bkt-") for r in params) == 9 and sum(r.startswith("Bat-") for r in params) == 9


@pytest.mark.parametrize("override,message", [
    ({"market.enabled": False}, "vpp.market: the market is disabled"),
    ({"market.external_bidders": False}, "external_bidders is false"),
    ({"vpp.step_s": 120}, "vpp.step_s: the market period"),
    ({"vpp.market": {"bid_lead_s": 30}}, "vpp.market.bid_lead_s"),
    ({"vpp.random_signal": True}, "give exactly one of signal, random_signal: true, signal_input, market"),
    ({"vpp.market": {"spread": 1}}, "vpp.market.spread: unknown field"),
])
def test_bad_market_wiring_is_a_user_error(tmp_path, override, message):
    with pytest.raises(UserError, match=message):
        build_case(case_yaml("te30-vpp"), tmp_path / "c", {"case.hours": 1, **override})


def test_vpp_market_needs_a_market_section(tmp_path):
    raw = {"case": {"name": "nomarket", "hours": 1},
           "feeder": {"houses": 3, "battery_fraction": 0.34, "step_s": 60},
           "vpp": {"devices": {"battery_inverters": {}}, "market": True, "step_s": 60}}
    with pytest.raises(UserError, match="vpp.market: needs a market: section"):
        build_case(raw, tmp_path / "c")


@pytest.mark.slow
def test_te30_vpp_bids_reach_the_market_and_the_devices_follow_the_awards(tmp_path):
    # GIVEN the te30-vpp case (feeder, PYPOWER, market, VPP of 9 batteries and 9 EVs) over its first hour
    built = build_case(case_yaml("te30-vpp"), tmp_path / "run", {"case.hours": 1})
    summary = Launcher(built.runner, timeout=900).run()
    assert summary.ok, summary.table()
    d = built.directory
    bids = load_if_present(d, "vppbid")
    auction = load_if_present(d, "auction")
    run = load_agile_run(d)
    col = lambda m, c: m.column(c)[:, 0]  # noqa: E731
    t_bid = bids.times.astype(int)
    sent = col(bids, "sent") > 0
    # THEN the first interval (before any clearing) follows a local bid, and every later one a bid that was sent
    assert t_bid[0] == 0 and not sent[0] and sent[1:].all()
    assert list(t_bid[1:]) == list(range(300, 3600, 300))
    # AND each of those bids reached sub_7: the market cleared it as the only external bidder, and the award that came
    # back carries the market's own price and the quantities in its auction metrics
    a_row = {int(t): i for i, t in enumerate(auction.times)}
    for i, T in enumerate(t_bid[1:], start=1):
        j = a_row[T]
        assert col(bids, "clear_price")[i] == col(auction, "clearing_price")[j]
        assert col(bids, "bought")[i] == pytest.approx(col(auction, "external_bought")[j], abs=1e-9)
        assert col(bids, "sold")[i] == pytest.approx(col(auction, "external_sold")[j], abs=1e-9)
    net = col(bids, "net")[1:]
    assert np.max(np.abs(net)) > 1.0, "the VPP was never awarded anything"
    # AND the award became the signal: baseline (the planned power of the step the market's load reading held) + net
    clock = MarketClock(period=300, step=60)
    planned, signal = run.agg["planned"], run.agg["signal"]
    for i, T in enumerate(t_bid[1:], start=1):
        assert col(bids, "baseline")[i] == pytest.approx(planned[clock.baseline_step(T) - 1], abs=1e-9)
        assert col(bids, "signal")[i] == pytest.approx(col(bids, "baseline")[i] + net[i - 1], abs=1e-9)
        k0 = clock.first_step(T)
        assert np.all(signal[k0 - 1:k0 + 4] == col(bids, "signal")[i])     # held over the interval's 5 steps
    # AND the devices delivered it (GridLAB-D's measured powers) on every feasible step, within their limits
    st = tracking_stats(run)
    ok = feasible_steps(run)
    assert st.within_limits, st
    assert ok.sum() >= 0.9 * run.steps
    assert np.max(np.abs(signal - run.delivered)[ok]) <= 0.05


@pytest.mark.slow
def test_battery_discharging_into_its_lower_limit_stops_there_when_the_feeder_solves_once_per_step(tmp_path):
    # GIVEN one 13.5 kWh battery inverter 0.675 kWh above its lower limit (soc 0.5, soc_min 0.45), a feeder that
    # solves once per 60 s dispatch step (setpoints take effect a step late) and a signal of -5 kW for 15 minutes
    signal = tmp_path / "signal.csv"
    signal.write_text("Timestep,VPP Power\n" + "".join(f"{k},-5\n" for k in range(1, 16)), encoding="utf-8")
    raw = {"case": {"name": "drain", "hours": 0.25, "seed": 1, "period_s": 15, "metrics_interval_s": 60},
           "feeder": {"houses": 3, "pv_fraction": 0.0, "battery_fraction": 0.34, "step_s": 60,
                      "minimum_timestep_s": 60},
           "vpp": {"devices": {"battery_inverters": {"soc_min": 0.45, "soc_max": 0.9}}, "signal": str(signal),
                   "step_s": 60}}
    built = build_case(raw, tmp_path / "run")
    summary = Launcher(built.runner, timeout=600).run()
    assert summary.ok, summary.table()
    run = load_agile_run(built.directory)
    E, Emin = run.unit["E"][:, 0], run.unit["Emin"][:, 0]
    # THEN it discharged down to its limit (the measured state of charge, projected over the setpoint in effect)
    # and never below it: without the projection it ends a full step of discharge (0.08 kWh) below
    assert E.min() == pytest.approx(Emin[0], abs=0.02)
    assert np.all(E >= Emin - 1e-6), E - Emin
    assert tracking_stats(run).within_limits
