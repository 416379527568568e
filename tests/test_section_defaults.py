"""Every default has one home, the core's dataclass (issue 17 item 2): each YAML section is checked against the core
dataclass it builds.

For every pair below, a field the section shares (by name) with its core must have the same default, unless the
pair's ``derived`` list says why not (the section's ``None`` that is filled at build time, a core field without a
default); and every field of the core must be reachable from the YAML, unless the pair's ``unreachable`` list says why
not. Stale entries in either list fail too, so the lists stay true. Every ``*Section`` dataclass of
``configs/sections`` must appear here or in ``NO_CORE`` with a reason.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from typing import Any

import pytest

from vppfed.configs import sections
from vppfed.configs.sections.battery import BatterySection
from vppfed.configs.sections.bulk import BulkSection, GridOptions
from vppfed.configs.sections.cohda import CohdaSection
from vppfed.configs.sections.feeders import GridTemplate
from vppfed.configs.sections.market import MarketSection
from vppfed.configs.sections.neighbourhood import NeighbourhoodSection
from vppfed.configs.sections.vpp import SignalInputSection, VppMarketSection
from vppfed.io import core_default
from vppfed.federates.agile.market_bidding import BiddingConfig
from vppfed.federates.agile.signal import SignalInput
from vppfed.federates.battery.config import BatteryConfig
from vppfed.federates.bulk.core import BulkOptions
from vppfed.federates.cohda.devices import PlanSetup
from vppfed.federates.market.agent_dict import AgentDictOptions
from vppfed.federates.market.auction import MarketConfig
from vppfed.federates.neighbourhood.simulation import RunSettings

_GLM = "read from the generated feeder's GLM battery/inverter at build time"
_CASE = "derived from the case: section at build time"


@dataclass
class Pair:
    """A section dataclass, the core dataclass it builds, and the stated exceptions."""

    section: type
    core: type
    derived: dict[str, str] = field(default_factory=dict)      # shared field -> why its defaults differ
    unreachable: dict[str, str] = field(default_factory=dict)  # core field -> why the YAML cannot set it


PAIRS = [
    Pair(BatterySection, BatteryConfig,
         derived={"coulombic_efficiency": "None = the core's default (left out of the manager's values)",
                  "conversion_efficiency": f"None = inverter_efficiency x sqrt(round_trip_efficiency), {_GLM}",
                  "soc_initial": f"None = the GLM battery's state_of_charge, {_GLM}",
                  "bid_lead_s": "None = 3 x case.period_s (TESP's lead), " + _CASE,
                  "policy": "None = threshold, or market with battery.market: true (BatterySection.rule)"},
         unreachable={"capacity_ah": "battery.capacity_kwh / the GLM battery's nominal voltage",
                      "nominal_voltage_v": _GLM, "max_charge_w": _GLM, "max_discharge_w": _GLM,
                      "v_empty": "the LI_ION open-circuit voltage at 2 % SOC of the GLM battery",
                      "v_full": "the LI_ION open-circuit voltage at 99.5 % SOC of the GLM battery",
                      "ocv_table": "the LI_ION open-circuit line of the GLM battery",
                      "eta_same_state_tol": "estimator constant; the cases keep the core's value",
                      "eta_min_ah_in": "estimator constant; the cases keep the core's value",
                      "ack_tolerance_w": "acknowledgement constant; the cases keep the core's value",
                      "charge_below_w": "battery.charge_below_kw x 1000 (YAML in kW)",
                      "discharge_above_w": "battery.discharge_above_kw x 1000 (YAML in kW)",
                      "load_includes_battery": "from battery.sense and the battery's meter",
                      "forecast_w": "the build-time model forecast (battery.forecast)",
                      "price_forecast": "the market: section's init_price, 24 times",
                      "price_stdev": "the market: section's init_stdev",
                      "market_follow": "award with battery.market: true (the price mode is for core tests)",
                      "market_period_s": "case.market_period_s"}),
    Pair(SignalInputSection, SignalInput,
         derived={"target": "required in the core; the section's 'feeder' means the feeder's distribution_load"}),
    Pair(VppMarketSection, BiddingConfig,
         unreachable={"pricecap": "the market: section", "init_price": "the market: section",
                      "init_stdev": "the market: section",
                      "window": "vpp.market.window_h / the market period (YAML in hours)",
                      "prior_weight": "vpp.market.prior_h / the market period (YAML in hours)"}),
    Pair(BulkSection, BulkOptions,
         unreachable={"opf_offset": "None = the grid step (TESP's T - 15 s); not a case option",
                      "pf_tol_pu": "pypower's PF_TOL; not a case option"}),
    Pair(GridTemplate, BulkOptions,
         unreachable={"opf_offset": "None = the grid step (TESP's T - 15 s); not a case option",
                      "pf_tol_pu": "pypower's PF_TOL; not a case option"}),
    Pair(MarketSection, AgentDictOptions,
         unreachable={"seed": "case.seed", "tesp_compatible": "market.tesp_rng",
                      "dt": "case.period_s", "period": "case.market_period_s",
                      "gld_federate": "the feeder: section's federate name",
                      "market_name": "derived from the bus (Market_1)",
                      "controller_suffix": "derived from the feeder's controllers",
                      "ranges": "the agents' parameter ranges of the TESP defaults"}),
    Pair(MarketSection, MarketConfig,
         unreachable={"name": "written into the agent dictionary by the section", "period": "case.market_period_s",
                      "max_capacity_reference_bid_quantity": "market.max_capacity_kw (agent dictionary)",
                      "clearing_scalar": "TESP's constant", "unit": "always kW"}),
    Pair(NeighbourhoodSection, RunSettings),
    Pair(CohdaSection, PlanSetup,
         derived={"devices": "required in the core; the section defaults to every device type",
                  "improve": "required in the core; the section defaults to false"},
         unreachable={"start": "case.start", "start_label": _CASE, "res_s": "cohda.interval_s",
                      "intervals": "case.hours / cohda.interval_s", "lead_s": _CASE,
                      "sample_s": "the feeder's metrics interval", "seed": "case.seed"}),
]

#: ``*Section`` dataclasses that build no core dataclass of their own (their fields are wiring, not algorithm
#: settings), with the reason.
NO_CORE = {
    "FeederSection": "feeder generation options (configs/feeder_glm.py reads them as a mapping), no core dataclass",
    "FeedersSection": "multi-feeder layout (buses, regions, brokers): wiring only",
    "VppSection": "wiring of the aggregator and hosts; LinkConfig is the core's own dataclass, used as is",
}


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def problems(pair: Pair) -> list[str]:
    """Every way the pair breaks the one-home rule (an empty list: none)."""
    section = {f.name: f for f in dataclasses.fields(pair.section) if f.init}
    core = {f.name: f for f in dataclasses.fields(pair.core) if f.init}
    out: list[str] = []
    for name in sorted(section.keys() & core.keys()):
        same = _default(section[name]) == _default(core[name])
        if not same and name not in pair.derived:
            out.append(f"{pair.section.__name__}.{name} default {_default(section[name])!r} != "
                       f"{pair.core.__name__}.{name} default {_default(core[name])!r}")
        if same and name in pair.derived:
            out.append(f"{pair.section.__name__}.{name}: listed as derived but the defaults agree (stale entry)")
    for name in sorted(core.keys() - section.keys()):
        if name not in pair.unreachable:
            out.append(f"{pair.core.__name__}.{name} cannot be set from the YAML and no reason is listed")
    for name in sorted(pair.unreachable.keys() & section.keys()):
        out.append(f"{pair.core.__name__}.{name}: listed as unreachable but the section has it (stale entry)")
    for name in sorted(set(pair.derived) - (section.keys() & core.keys())):
        out.append(f"{name}: listed as derived but not a shared field (stale entry)")
    for name in sorted(set(pair.unreachable) - core.keys()):
        out.append(f"{pair.core.__name__}.{name}: listed as unreachable but the core has no such field")
    return out


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p.section.__name__}-{p.core.__name__}")
def test_section_defaults_come_from_the_core(pair: Pair) -> None:
    assert problems(pair) == []


def test_every_section_dataclass_is_checked() -> None:
    checked = {p.section.__name__ for p in PAIRS} | set(NO_CORE)
    found = set()
    for info in pkgutil.iter_modules(sections.__path__):
        module = importlib.import_module(f"{sections.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__
                    and name.endswith("Section")):
                found.add(name)
    assert found - checked == set(), "add these sections to PAIRS (with their core) or NO_CORE (with a reason)"
    assert set(NO_CORE) <= found, "stale NO_CORE entries"


def test_the_check_catches_a_different_default_and_an_unreachable_field() -> None:
    """The checker itself can fail: a section with its own copy of a default, and a core field left out."""

    @dataclass
    class Core:
        a: float = 1.0
        b: int = 2

    @dataclass
    class Copy:
        a: float = 1.5

    found = problems(Pair(Copy, Core))
    assert any("Copy.a default 1.5 != Core.a default 1.0" in p for p in found)
    assert any("Core.b cannot be set from the YAML" in p for p in found)
    assert problems(Pair(Copy, Core, derived={"a": "why"}, unreachable={"b": "why"})) == []
    assert any("stale" in p for p in problems(Pair(Core, Core, derived={"a": "why"})))


def test_a_core_default_reaches_the_section() -> None:
    """The shared defaults are the core's objects, not copies that happen to agree today."""
    assert BatterySection().idle_rest_s == core_default(BatteryConfig, "idle_rest_s") == 3600.0
    assert BatterySection().degradation_cost == core_default(BatteryConfig, "degradation_cost") == 0.0015
    assert GridOptions().pf_tol_mw == core_default(BulkOptions, "pf_tol_mw")
    assert issubclass(BulkSection, GridOptions) and issubclass(GridTemplate, GridOptions)
    with pytest.raises(TypeError, match="no field"):
        core_default(BatteryConfig, "no_such_field")
