"""Without tesp_support: every value a federate of a ``vppfed config`` folder subscribes to is published by another
federate of the folder, under the exact name TESP 1.3.7's federates use, so one of them can be swapped for TESP's
(tests/test_tesp_pairing.py runs the swaps)."""
from __future__ import annotations

import json

import pytest

from vppfed.cases import case_yaml
from vppfed.configs.case import build_case


def published_names(folder, runner) -> dict[str, str]:
    """Global publication name -> federate, over every federate config in the folder."""
    out: dict[str, str] = {}
    for fed in runner["federates"]:
        path = folder / f"TE30_{fed['name']}.json"
        if fed["name"].startswith("gld_"):
            path = folder / "TE30_gridlabd.json"
        elif fed["name"] == "localWeather":
            path = folder / "TE30_weather_helics.json"
        doc = json.loads(path.read_text())
        for pub in doc.get("publications", []):
            out[pub["key"] if pub.get("global") else f"{doc['name']}/{pub['key']}"] = fed["name"]
    return out


@pytest.mark.parametrize("weather", ["file", "federate"])
def test_every_subscription_of_a_te30_market_folder_is_published(tmp_path, weather):
    built = build_case(case_yaml("te30"), tmp_path / "c",
                       {"case.hours": 1, "market.enabled": True, "feeder.weather": weather})
    runner = json.loads(built.runner.read_text())
    published = published_names(built.directory, runner)
    sub = json.loads((built.directory / "TE30_sub_7.json").read_text())
    targets = [s["key"] for s in sub["subscriptions"]]
    # what TESP's substation_loop looks up right after creating the federate (raises on the first missing)
    agents = json.loads((built.directory / "TE30_agent_dict.json").read_text())["controllers"]
    meters = {row["meterName"] for row in agents.values()}
    assert {f"gld_7/{m}/measured_voltage_1" for m in meters} <= set(targets)
    assert {"pypower/LMP_7", "gld_7/distribution_load"} <= set(targets)
    for name in ("TE30_sub_7.json", "TE30_gridlabd.json", "TE30_pypower.json"):
        doc = json.loads((built.directory / name).read_text())
        missing = [s["key"] for s in doc["subscriptions"] if s["key"] not in published]
        assert not missing, f"{name}: nobody publishes {missing[:5]}"
