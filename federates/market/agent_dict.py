"""Our generator of TESP's ``<root>_agent_dict.json`` (``markets`` + ``controllers``), seeded.

Why our own: TESP's ``prep_substation`` scans GLM text, seeds numpy's global RNG at import time and cannot run from the
PyPI wheel in every configuration; we need the same dictionary from our generated feeder, reproducibly. The draw order
and ranges are TESP's (one participation draw, then sixteen uniform draws per house with electric cooling), so with
``tesp_compatible=True`` (numpy's legacy ``RandomState(seed)``) seed 0 gives TESP's TE30 numbers to the printed digit;
the default uses ``numpy.random.default_rng(seed)`` as every stochastic part of vppfed does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from vppfed.federates.market.auction import MarketConfig
from vppfed.federates.market.hvac import CONTROLLER_KEYS


@dataclass(frozen=True)
class HouseInfo:
    """A house that gets a controller: GridLAB-D name, its billing meter, its ``groupid`` class (may be empty)."""

    name: str
    meter: str
    house_class: str = ""


@dataclass(frozen=True)
class ControllerRanges:
    """Uniform ranges ``(lo, hi)`` of the per-house controller parameters; defaults are TESP's (TE30)."""

    wakeup_start: tuple[float, float] = (5.0, 6.5)
    daylight_start: tuple[float, float] = (8.0, 9.0)
    evening_start: tuple[float, float] = (17.0, 18.5)
    night_start: tuple[float, float] = (22.0, 23.5)
    wakeup_set: tuple[float, float] = (78.0, 80.0)
    daylight_set: tuple[float, float] = (84.0, 86.0)
    evening_set: tuple[float, float] = (78.0, 80.0)
    night_set: tuple[float, float] = (72.0, 74.0)
    weekend_day_start: tuple[float, float] = (8.0, 9.0)
    weekend_day_set: tuple[float, float] = (76.0, 84.0)
    weekend_night_start: tuple[float, float] = (22.0, 24.0)
    weekend_night_set: tuple[float, float] = (72.0, 74.0)
    deadband: tuple[float, float] = (2.0, 3.0)
    offset_limit: tuple[float, float] = (2.0, 4.0)
    ramp: tuple[float, float] = (0.5, 3.0)
    price_cap: tuple[float, float] = (1.0, 3.0)


#: Digits TESP keeps when it writes each drawn parameter.
_DIGITS = {"ramp": 4}


@dataclass(frozen=True)
class AgentDictOptions:
    """Everything besides the houses that goes into the agent dictionary.

    Attributes
    ----------
    seed : int
        RNG seed.
    tesp_compatible : bool
        Use numpy's legacy ``RandomState(seed)`` so seed 0 reproduces TESP's dictionary exactly.
    participation : float
        Probability that a house's controller bids (``CN_RAMP``); others follow the schedule only (``CN_NONE``).
    controller_suffix : str
        Appended to the house name to form the controller key (``""`` in TESP 1.3.7, ``"_hvac"`` in 1.3.6).
    """

    seed: int = 0
    tesp_compatible: bool = False
    participation: float = 1.0
    dt: float = 15.0
    period: float = 300.0
    gld_federate: str = "gld_7"
    market_name: str = "Market_1"
    pricecap: float = 3.78
    init_price: float = 0.02078
    init_stdev: float = 0.01
    max_capacity_kw: float = 5000.0
    controller_suffix: str = ""
    ranges: ControllerRanges = field(default_factory=ControllerRanges)


def market_row(opts: AgentDictOptions) -> dict[str, Any]:
    """The ``markets`` row with TESP's keys (the statistics fields are written for compatibility, not used)."""
    return {"market_id": 1, "unit": "kW", "special_mode": "MD_NONE", "use_future_mean_price": 0,
            "pricecap": opts.pricecap, "clearing_scalar": 0.0, "period": opts.period, "latency": 0,
            "init_price": opts.init_price, "init_stdev": opts.init_stdev, "ignore_pricecap": 0,
            "ignore_failedmarket": 0, "statistic_mode": 1, "capacity_reference_object": "substation_transformer",
            "max_capacity_reference_bid_quantity": opts.max_capacity_kw, "stat_mode": ["ST_CURR", "ST_CURR"],
            "stat_interval": [86400, 86400], "stat_type": ["SY_MEAN", "SY_STDEV"], "stat_value": [0, 0]}


def build_agent_dict(houses: Iterable[HouseInfo], opts: AgentDictOptions = AgentDictOptions()) -> dict[str, Any]:
    """Draw one controller per house and return the agent dictionary (``markets``, ``controllers``, ``dt``, ``GridLABD``).

    Parameters
    ----------
    houses : iterable of HouseInfo
        Houses with electric cooling, in feeder order (the order decides which draws each house gets).
    opts : AgentDictOptions
        Seed, ranges, market parameters.

    Returns
    -------
    dict
        JSON-ready dictionary in TESP 1.3.7's layout.
    """
    rng: Any = np.random.RandomState(opts.seed) if opts.tesp_compatible else np.random.default_rng(opts.seed)
    ranges = opts.ranges
    drawn = [f.name for f in fields(ranges)]  # declaration order = TESP's draw order
    controllers: dict[str, Any] = {}
    for house in houses:
        mode = "CN_RAMP" if rng.uniform(0.0, 1.0) <= opts.participation else "CN_NONE"
        values = {}
        for name in drawn:
            lo, hi = getattr(ranges, name)
            values[name] = round(float(rng.uniform(lo, hi)), _DIGITS.get(name, 3))
        row: dict[str, Any] = {"control_mode": mode, "meterName": house.meter, "houseName": house.name,
                               "houseClass": house.house_class, "period": opts.period, **values,
                               "bid_delay": 3.0 * opts.dt, "use_predictive_bidding": 0, "use_override": "OFF"}
        controllers[house.name + opts.controller_suffix] = {k: row[k] for k in CONTROLLER_KEYS}
    return {"markets": {opts.market_name: market_row(opts)}, "controllers": controllers, "dt": opts.dt,
            "GridLABD": opts.gld_federate}


def houses_from_glm_dict(glm_dict: Mapping[str, Any]) -> list[HouseInfo]:
    """Houses with electric cooling from a TESP ``<root>_glm_dict.json`` mapping, in its order."""
    out = []
    for name, row in glm_dict.get("houses", {}).items():
        if str(row.get("cooling", "")).upper() == "ELECTRIC":
            out.append(HouseInfo(name, str(row.get("billingmeter_id", row.get("parent", ""))),
                                 str(row.get("house_class", ""))))
    return out


def write_agent_dict(path: str | Path, agent_dict: Mapping[str, Any]) -> Path:
    """Write the dictionary as indented JSON (stable bytes for a given seed) and return the path."""
    path = Path(path)
    path.write_text(json.dumps(agent_dict, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def market_config_from_agent_dict(agent_dict: Mapping[str, Any]) -> MarketConfig:
    """The first market of a dictionary (TESP's substation uses only the first)."""
    markets = agent_dict.get("markets") or {}
    if not markets:
        raise ValueError("agent dictionary: no 'markets' section")
    name = next(iter(markets))
    return MarketConfig.from_agent_dict(name, markets[name])
