"""The market federate under HELICS with a stub feeder/PYPOWER: timing, curve, prices, set points, awards, metrics."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from vppfed.federates.market.agent_dict import AgentDictOptions, HouseInfo, build_agent_dict, write_agent_dict
from vppfed.federates.market.helics_config import market_helics_config
from vppfed.launcher import Launcher
from vppfed.formats.metrics import read_metrics

sys.path.insert(0, str(Path(__file__).parent))
from market_stub_federate import HOUSES, stub_config  # noqa: E402

STUB = Path(__file__).with_name("market_stub_federate.py")


def test_helics_config_has_tesp_keys_and_bus_from_name():
    agents = build_agent_dict([HouseInfo("h0", "m0"), HouseInfo("h1", "m0")])
    cfg = market_helics_config("sub_7", agents, separator="#")
    pubs = [p["key"] for p in cfg["publications"]]
    assert pubs[:6] == ["unresponsive_mw", "responsive_max_mw", "responsive_c2", "responsive_c1", "responsive_deg",
                        "clear_price"]
    assert "h0/cooling_setpoint" in pubs and "h0/m0/price" in pubs and "h1/m0/price" not in pubs
    subs = [s["key"] for s in cfg["subscriptions"]]
    assert subs[:2] == ["pypower/LMP_7", "gld_7/distribution_load"] and "gld_7/h1#power_state" in subs
    with pytest.raises(ValueError):
        market_helics_config("sub", agents)


@pytest.mark.slow
@pytest.mark.parametrize("with_market", [True, False])
def test_market_federate_clears_every_period_against_the_lmp(tmp_path, with_market):
    # GIVEN 4 houses (2 running), 60 kW feeder load, LMP 0.03 then 0.40 from t = 885 s and a VPP bid each period
    agents = build_agent_dict([HouseInfo(h, f"m{i}") for i, h in enumerate(HOUSES)],
                              AgentDictOptions(seed=0, init_price=0.03))
    write_agent_dict(tmp_path / "R_agent_dict.json", agents)
    (tmp_path / "sub.json").write_text(json.dumps(market_helics_config("sub_7", agents)))
    (tmp_path / "stub.json").write_text(json.dumps(stub_config()))
    flag = "" if with_market else " --no-market"
    runner = {"name": "mkt", "broker": True, "federates": [
        {"name": "sub_7", "directory": ".", "exec": "python -m vppfed.federates.market --config sub.json "
                                                   f"--agent-dict R_agent_dict.json --hours 0.3 --metrics-root R{flag}"},
        {"name": "stub_7", "directory": ".", "exec": f"python {STUB} --config stub.json --hours 0.3"}],
        "vppfed": {"stop_seconds": 1080}}
    (tmp_path / "runner.json").write_text(json.dumps(runner))
    # WHEN run
    summary = Launcher(tmp_path / "runner.json", timeout=120).run()
    assert summary.ok, [(f["name"], f["status"]) for f in summary.federates]
    got = json.loads((tmp_path / "stub_received.json").read_text())
    values = got["values"]
    auction = read_metrics(tmp_path / "auction_R_metrics.json")
    controller = read_metrics(tmp_path / "controller_R_metrics.json")
    # THEN three clearings at 300, 600, 900 and bids recorded for each under the clearing time
    assert list(auction.times) == [300, 600, 900] and list(controller.times) == [300, 600, 900]
    assert set(controller.uids) == set(HOUSES)
    # the curve is published at T - 30 and seen by T - 15 (the OPF time), with the measured load minus the
    # running HVACs (2 x 4 kW)
    unresp = values["sub_7/unresponsive_mw"]
    assert 270 <= unresp[0][0] <= 285
    expected_unresp = 0.052 if with_market else 0.060
    assert unresp[0][1] == pytest.approx(expected_unresp)
    price = auction.series("Market_1")["clearing_price"]
    if with_market:
        # prices follow the LMP of 15 s before: 0.03, 0.03 then 0.40 (the VPP sells its 5 kW there)
        assert price[:2] == pytest.approx([0.03, 0.03]) and price[2] == pytest.approx(0.40)
        # published at T, seen by the feeder side at its next step (T + 15)
        seen = values["sub_7/clear_price"]
        assert [t for t, _ in seen] == [315, 615, 915] and [p for _, p in seen] == pytest.approx([0.03, 0.03, 0.40])
        assert auction.series("Market_1")["external_sold"][2] == pytest.approx(5.0)
        award = [a for t, a in got["awards"] if a["clear_price"] == pytest.approx(0.40)][0]
        # one block per segment: the whole 5 kW block (priced 0.39) is awarded; the curve itself asks -2.75 kW
        assert award["sold_kw"] == pytest.approx(5.0) and award["curve_kw"] == pytest.approx(-2.75)
        # the high price raises every cooling set point to its schedule + offset limit
        for i, h in enumerate(HOUSES):
            last = values[f"sub_7/{h}/cooling_setpoint"][-1][1]
            row = agents["controllers"][h]
            assert last == pytest.approx(row["night_set"] + row["offset_limit"])
    else:
        assert "sub_7/clear_price" not in values
        assert list(price) == pytest.approx([0.03, 0.03, 0.03])
        assert got["awards"] == []


@pytest.mark.slow
def test_market_and_bulk_grid_close_the_loop_through_curve_and_lmp(tmp_path):
    # GIVEN the real bulk federate (te30 model, unit 3 out), the market and a stub feeder of 300 kW with 4 houses
    from vppfed.configs.case import CaseContext, CaseSettings
    from vppfed.federates.feeder.inventory import FeederInventory
    from vppfed.configs.sections import bulk, market
    from test_market_section import FeederStandIn

    settings = CaseSettings(name="mb", root="MB", hours=0.5, start="2013-07-02 10:00:00")
    settings.validate()
    ctx = CaseContext(settings, {}, tmp_path, "test")
    bulk.build(ctx, {"outage_start_h": 0, "outage_end_h": 48})
    ctx.handles["feeder"] = FeederStandIn(inventory=FeederInventory(
        houses=list(HOUSES), house_meter={h: f"m{i}" for i, h in enumerate(HOUSES)}))
    market.build(ctx, {"enabled": True})
    (tmp_path / "stub.json").write_text(json.dumps(stub_config(lmp=False)))
    ctx.add_federate("stub_7", f"python {STUB} --config stub.json --hours 0.5 --load-kw 300")
    ctx.finalize()
    # WHEN run
    summary = Launcher(tmp_path / "runner.json", timeout=120).run()
    assert summary.ok, [(f["name"], f["status"]) for f in summary.federates]
    auction = read_metrics(tmp_path / "auction_MB_metrics.json").series("Market_1")
    buses = read_metrics(tmp_path / "bus_MB_metrics.json")
    gens = read_metrics(tmp_path / "gen_MB_metrics.json")
    # THEN every clearing is a SELLER clearing at the LMP the OPF computed 15 s before (bus metrics at T)
    assert list(auction["clearing_type"]) == [4] * 6
    assert list(auction["clearing_price"]) == pytest.approx(list(auction["lmp"]), abs=1e-12)
    lmp_at_t = {int(t): v for t, v in zip(buses.times, buses.series("7")["LMP_P"])}
    assert [lmp_at_t[t] for t in range(300, 1801, 300)] == pytest.approx(list(auction["lmp"]), abs=1e-9)
    # AND the OPF dispatched the responsive curve as a load: the extra generator row is negative, within its range
    disp = gens.series(max(gens.uids, key=int))["Pgen"][1:]
    resp_max = auction["responsive_max_mw"][0] * 250.0
    assert all(-resp_max - 1e-6 <= p < 0 for p in disp)
    # the unresponsive part is the measured 300 kW minus the two running HVACs
    assert auction["unresponsive_mw"][0] == pytest.approx(0.292)
