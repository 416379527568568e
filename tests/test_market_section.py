"""The market: section builder: agent dictionary, sub_<bus> config and exec line, feeder and bulk wiring."""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

import pytest

from vppfed.configs.case import CaseContext, CaseSettings
from vppfed.federates.feeder.inventory import FeederInventory
from vppfed.configs.sections import market
from vppfed.configs.sections.bulk import BulkHandle
from vppfed.errors import UserError


@dataclass
class FeederStandIn:
    """Records what the market asks of the feeder section (the contract in configs/sections/market.py)."""

    name: str = "gld_7"
    inventory: FeederInventory = field(default_factory=lambda: FeederInventory(
        houses=["h0", "h1", "h2"], house_meter={"h0": "m0", "h1": "m1", "h2": "m1"}))
    pubs: list = field(default_factory=list)
    subs: list = field(default_factory=list)

    def publish(self, obj, prop, typ):
        self.pubs.append((obj, prop, typ))

    def subscribe(self, target, obj, prop, typ):
        self.subs.append((target, obj, prop, typ))


def build(tmp_path, raw, with_bulk=True):
    settings = CaseSettings(name="te30", root="TE30R", hours=2.0, seed=4)
    settings.validate()
    ctx = CaseContext(settings, {"market": raw}, tmp_path, "case.yaml")
    ctx.handles["feeder"] = FeederStandIn()
    if with_bulk:
        ctx.handles["bulk"] = BulkHandle(federate="pypower", bus=7, pp_json="te30_pp.json")
    market.build(ctx, raw)
    ctx.finalize()
    return ctx


def test_market_section_writes_agent_dict_config_and_wires_feeder_and_bulk(tmp_path):
    ctx = build(tmp_path, {"enabled": True})
    agents = json.loads((tmp_path / "TE30R_agent_dict.json").read_text())
    assert list(agents["controllers"]) == ["h0", "h1", "h2"] and agents["GridLABD"] == "gld_7"
    cfg = json.loads((tmp_path / "TE30R_sub_7.json").read_text())
    assert cfg["name"] == "sub_7" and {"key": "pypower/LMP_7", "type": "double"} in cfg["subscriptions"]
    args = shlex.split(ctx.federate("sub_7").exec)
    assert args[:3] == ["python", "-m", "vppfed.federates.market"] and "--no-market" not in args
    assert args[args.index("--stop") + 1] == "7200" and args[args.index("--start") + 1] == "2013-07-01 00:00:00"
    feeder, bulk = ctx.handles["feeder"], ctx.handles["bulk"]
    assert ("network_node", "distribution_load", "complex") in feeder.pubs
    assert ("h2", "power_state", "string") in feeder.pubs
    assert ("sub_7/h1/cooling_setpoint", "h1", "cooling_setpoint", "double") in feeder.subs
    assert [t for t, *_ in feeder.subs if t.endswith("/price")] == ["sub_7/h0/m0/price", "sub_7/h1/m1/price"]
    assert bulk.curve_sources == ["sub_7"]
    assert ctx.handles["market"].endpoint == "sub_7/market"


def test_disabled_market_runs_tesp_no_market_and_same_seed_gives_same_dict(tmp_path):
    ctx = build(tmp_path / "a", {"enabled": False})
    assert "--no-market" in shlex.split(ctx.federate("sub_7").exec)
    build(tmp_path / "b", {"enabled": False})
    assert (tmp_path / "a" / "TE30R_agent_dict.json").read_bytes() == \
        (tmp_path / "b" / "TE30R_agent_dict.json").read_bytes()


def test_bad_fields_and_missing_feeder_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="market.init_stdev"):
        build(tmp_path, {"init_stdev": 0})
    with pytest.raises(UserError, match="market.colour"):
        build(tmp_path, {"colour": "red"})
    settings = CaseSettings(name="x")
    settings.validate()
    with pytest.raises(UserError, match="feeder"):
        market.build(CaseContext(settings, {}, tmp_path, "case.yaml"), {})


def test_a_tesp_agent_dict_is_used_as_given_with_the_feeder_federate_set(tmp_path):
    # GIVEN an agent dictionary in TESP's layout (one made by the generator, then edited as a TESP user would)
    build(tmp_path / "gen", {"enabled": True})
    given = json.loads((tmp_path / "gen" / "TE30R_agent_dict.json").read_text())
    given["GridLABD"] = "gld1"
    given["controllers"]["h1"]["ramp"] = 9.25
    del given["controllers"]["h2"]
    (tmp_path / "TE_Challenge_agent_dict.json").write_text(json.dumps(given))
    # WHEN the market section names it
    ctx = build(tmp_path / "out", {"enabled": True, "agent_dict": str(tmp_path / "TE_Challenge_agent_dict.json")})
    # THEN the case's dictionary is it, controllers and all, with the feeder federate of this case
    written = json.loads((tmp_path / "out" / "TE30R_agent_dict.json").read_text())
    assert written["GridLABD"] == "gld_7" and written["controllers"]["h1"]["ramp"] == 9.25
    assert list(written["controllers"]) == ["h0", "h1"]
    assert ("sub_7/h2/cooling_setpoint", "h2", "cooling_setpoint", "double") not in ctx.handles["feeder"].subs


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["controllers"]["h0"].update(houseName="nowhere"), r"not houses of the feeder \(nowhere\)"),
    (lambda d: d["controllers"]["h0"].update(meterName="m9"), r"not billing meters of the feeder \(m9\)"),
    (lambda d: d.pop("markets"), "expected TESP's layout"),
])
def test_an_agent_dict_that_does_not_fit_the_feeder_is_one_line(tmp_path, edit, message):
    build(tmp_path / "gen", {"enabled": True})
    doc = json.loads((tmp_path / "gen" / "TE30R_agent_dict.json").read_text())
    edit(doc)
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match=message):
        build(tmp_path / "out", {"agent_dict": str(tmp_path / "a.json")})
    with pytest.raises(UserError, match="pricecap: not with market.agent_dict"):
        build(tmp_path / "out2", {"agent_dict": str(tmp_path / "a.json"), "pricecap": 1.0})
