"""The ``battery:`` section in market mode and the te30-battery case: wiring to sub_<bus>, errors, co-simulations.

The co-simulation (slow) checks what crosses the federation: the bids reach the auction (its metrics show the
external quantities the batteries were awarded) and each inverter's P_Out follows its award.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vppfed.configs.case import build_case
from vppfed.io import load_yaml
from vppfed.errors import UserError
from vppfed.federates.battery.wiring import read_manager_file

CASE_YAML = Path(__file__).resolve().parents[1] / "cases" / "te30-battery" / "case.yaml"


def small_market_case(**battery) -> dict:
    """Six houses, two batteries, the market without a bulk grid (it clears at its initial price)."""
    section = {"name": "battery_7", "batteries": "all", "market": True, "period_s": 60}
    section.update(battery)
    return {
        "case": {"name": "bm", "root": "BM", "hours": 1, "period_s": 15, "seed": 3},
        "feeder": {"houses": 6, "pv_fraction": 0.5, "battery_fraction": 0.34, "step_s": 60},
        "market": {"enabled": True},
        "battery": section,
    }


def test_te30_battery_case_bids_from_one_endpoint_per_battery(tmp_path):
    built = build_case(CASE_YAML, tmp_path / "case")
    folder = built.directory
    inventory = json.loads((folder / "TE30B_inventory.json").read_text())
    batteries = inventory["batteries"]
    assert len(batteries) == 6
    # THEN one federate named with one number manages all six, each with its own endpoint, command and state file
    assert [f.name for f in built.federates] == ["gld_7", "pypower", "sub_7", "battery_7"]
    helics = json.loads((folder / "TE30B_battery_7.json").read_text())
    assert [e["name"] for e in helics["endpoints"]] == batteries
    assert helics["wait_for_current_time_update"] is True and helics["period"] == 60
    setup = read_manager_file(folder / "TE30B_battery_7_manager.json")
    assert setup.market_target == "sub_7/market" and setup.battery is None
    units = setup.unit_list()
    assert [u.uid for u in units] == batteries and [u.endpoint for u in units] == batteries
    assert len({u.state_file for u in units}) == 6
    cfg = units[0].battery
    assert (cfg.policy, cfg.market_follow, cfg.market_period_s, cfg.bid_lead_s) == ("market", "award", 300.0, 45.0)
    assert cfg.price_forecast == [0.02078] * 24 and cfg.price_stdev == 0.01
    # AND the feeder writes each command into its inverter's P_Out; the agent dictionary lists the batteries
    feeder = json.loads((folder / "TE30B_gridlabd.json").read_text())
    subs = {s["key"]: s["info"] for s in feeder["subscriptions"]}
    for unit, inverter in zip(units, inventory["battery_inverters"]):
        assert subs[f"battery_7/{unit.command_key}"] == {"object": inverter, "property": "P_Out"}
    agents = json.loads((folder / "TE30B_agent_dict.json").read_text())
    assert sorted(agents["batteries"]) == sorted(batteries)
    assert agents["batteries"][batteries[0]]["endpoint"] == f"battery_7/{batteries[0]}"
    market = json.loads((folder / "TE30B_sub_7.json").read_text())
    assert market["endpoints"] == [{"name": "market", "global": False}]


def test_without_the_market_nothing_is_sent(tmp_path):
    built = build_case(CASE_YAML, tmp_path / "case", {"market.enabled": False})
    assert read_manager_file(built.directory / "TE30B_battery_7_manager.json").market_target == ""


@pytest.mark.parametrize("change,message", [
    ({"policy": "schedule"}, "battery.policy: leave it out with market: true"),
    ({"batteries": 3}, "battery.batteries: the feeder has only 2 batteries"),
    ({"sense": "F1_tpm_B0"}, "battery.sense: must be 'substation' when the federate manages several"),
    ({"inverter": "x"}, "battery.inverter: names one battery"),
    ({"bid_lead_s": 15}, "battery.bid_lead_s: must be in [30, 300) s"),
    ({"period_s": 240}, "battery.period_s: must divide case.market_period_s"),
    ({"slider": 0.0}, "battery.slider: must be > 0"),
])
def test_bad_market_settings_name_the_field(tmp_path, change, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        build_case(small_market_case(**change), tmp_path / "case", source="case.yaml")


def test_market_mode_needs_a_market_that_takes_external_bids(tmp_path):
    desc = small_market_case()
    del desc["market"]
    with pytest.raises(UserError, match="battery.market: needs a market: section"):
        build_case(desc, tmp_path / "a", source="case.yaml")
    desc = small_market_case()
    desc["market"]["external_bidders"] = False
    with pytest.raises(UserError, match="market.external_bidders: must be true"):
        build_case(desc, tmp_path / "b", source="case.yaml")


def test_one_bidding_battery_uses_the_units_layout(tmp_path):
    built = build_case(small_market_case(batteries=1), tmp_path / "case", source="case.yaml")
    setup = read_manager_file(built.directory / "BM_battery_7_manager.json")
    (unit,) = setup.unit_list()
    assert unit.endpoint == unit.uid and setup.market_target == "sub_7/market"


# ------------------------------------------------------------------------------------------------- co-simulation
@pytest.mark.slow
def test_bids_reach_the_auction_and_p_out_follows_the_award(tmp_path):
    from vppfed.launcher import Launcher
    from vppfed.formats.metrics import load_if_present

    # GIVEN te30-battery for 2 h with 10 houses (2 batteries) and a price prior well above the night's LMP, so the
    # batteries buy from the first clearing on
    raw = load_yaml(CASE_YAML)
    overrides = {"case.hours": 2, "feeder.houses": 10, "market.init_price": 0.05}
    built = build_case(raw, tmp_path / "run", overrides, source="case.yaml")
    Launcher(built.runner, timeout=600).run()
    bat = load_if_present(built.directory, "battery")
    auction = load_if_present(built.directory, "auction")
    assert bat is not None and auction is not None and len(bat.uids) == 2
    times = bat.times
    award = bat.column("award")       # W, > 0 discharge; NaN before the first award
    command = bat.column("command")
    power = bat.column("power")
    clearings = auction.times
    assert list(clearings) == list(range(300, 7201, 300))
    # THEN every clearing got both bids (bid columns filled 60 s before it) ...
    for t in clearings:
        i = int(np.searchsorted(times, t - 60))
        assert not np.isnan(bat.column("bid_buy")[i]).any(), f"no bid before the clearing at {t} s"
    # ... and the auction's external quantities are exactly the awards the batteries received at each clearing
    at = np.searchsorted(times, clearings)
    awarded = award[at]
    np.testing.assert_allclose(auction.column("external_bought")[:, 0],
                               np.clip(-awarded, 0, None).sum(axis=1) / 1000.0, atol=1e-9)  # kW vs W
    np.testing.assert_allclose(auction.column("external_sold")[:, 0],
                               np.clip(awarded, 0, None).sum(axis=1) / 1000.0, atol=1e-9)
    assert auction.column("external_bought")[:, 0].min() > 0.5  # kW: they bought at every clearing
    # AND P_Out follows the award: never beyond it, equal to it on most steps (the rest are the state machine's
    # one-step rests on a reversal and the SOC headroom)
    live = ~np.isnan(award)
    assert np.all(np.abs(command[live]) <= np.abs(award[live]) + 1e-6)
    assert np.all(command[live] * award[live] >= 0)
    assert np.mean(np.isclose(command[live], award[live])) > 0.9
    # AND the inverters deliver it one feeder step later (GridLAB-D applies P_Out at its next step)
    delivered, asked = power[1:][live[:-1]], command[:-1][live[:-1]]
    assert np.mean(np.abs(delivered - asked) <= 50.0) > 0.9


@pytest.mark.slow
def test_sigkill_in_market_mode_then_resume_replays_the_bids(tmp_path):
    """The market federate restarts at t = 0 on a resume: only replayed bids give it the same auction again."""
    import os
    import signal
    import threading
    import time

    from vppfed.errors import CosimError
    from vppfed.formats.metrics import recover
    from vppfed.launcher import Launcher

    raw = load_yaml(CASE_YAML)
    overrides = {"case.hours": 2, "feeder.houses": 10, "market.init_price": 0.05}
    reference = build_case(raw, tmp_path / "ref", overrides, source="case.yaml")
    Launcher(reference.runner, timeout=600).run()
    # GIVEN the same case running, WHEN battery_7 is SIGKILLed after its first simulated hour
    built = build_case(raw, tmp_path / "run", overrides, source="case.yaml")
    run = built.directory
    launcher = Launcher(built.runner, timeout=600, cohost=False)   # the battery in a process of its own, to kill
    outcome: list[BaseException | None] = []
    thread = threading.Thread(target=lambda: outcome.append(_run_catching(launcher)))
    thread.start()
    state = next(iter(sorted(run.glob("battery_7_*_state.sqlite"))), None)
    killed_at = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and thread.is_alive():
        state = state or next(iter(sorted(run.glob("battery_7_*_state.sqlite"))), None)
        last = _last_saved(state) if state is not None else None
        if last is not None and last >= 3600.0:
            os.kill(next(r for r in launcher.processes if r.name == "battery_7").popen.pid, signal.SIGKILL)
            killed_at = last
            break
        time.sleep(0.02)
    thread.join(120)
    assert killed_at is not None and killed_at < 7200 - 600, "battery_7 was not killed mid-run"
    assert isinstance(outcome[0], CosimError)
    # WHEN the case is resumed
    Launcher(built.runner, timeout=600, resume=True).run()
    log = (run / "battery_7.log").read_text()
    assert "resuming after t = " in log
    # THEN the batteries' metrics and the auction (re-run from t = 0 on the replayed bids) equal the reference
    assert recover(run / "battery_TE30B_metrics.json") == recover(reference.directory / "battery_TE30B_metrics.json")
    assert recover(run / "auction_TE30B_metrics.json") == recover(reference.directory / "auction_TE30B_metrics.json")


def _run_catching(launcher) -> BaseException | None:
    try:
        launcher.run()
    except BaseException as exc:  # noqa: BLE001 - the failure is what the test checks
        return exc
    return None


def _last_saved(path: Path) -> float | None:
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1)
        try:
            return conn.execute("SELECT max(t_s) FROM commands").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None
