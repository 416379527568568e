"""The bulk federate under real HELICS: TESP names in, voltage and LMP out at the right times, TESP metrics written."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vppfed.configs.bulk_model import Te30BulkParams, background_load, write_bulk_model
from vppfed.formats.metrics import recover
from vppfed.launcher import Launcher

PEER = Path(__file__).with_name("bulk_peer_federate.py")


def pypower_config(curve: bool, voltage_type: str = "double") -> dict:
    """TESP's static pypower.json (tesp-contract §3.3), optionally without the market subscriptions."""
    subs = [{"key": "gld_7/distribution_load", "type": "complex"}]
    if curve:
        subs += [{"key": f"sub_7/{k}", "type": "double"} for k in
                 ("unresponsive_mw", "responsive_max_mw", "responsive_c1", "responsive_c2")]
        subs.append({"key": "sub_7/responsive_deg", "type": "integer"})
    return {"name": "pypower", "period": 15, "logging": "warning",
            "publications": [{"global": False, "key": "three_phase_voltage_7", "type": voltage_type},
                             {"global": False, "key": "LMP_7", "type": "double"}],
            "subscriptions": subs}


def peer_config(curve: bool) -> dict:
    pubs = [{"global": False, "key": "distribution_load", "type": "complex"}]
    if curve:
        pubs += [{"global": True, "key": f"sub_7/{k}", "type": "double"} for k in
                 ("unresponsive_mw", "responsive_max_mw", "responsive_c1", "responsive_c2")]
        pubs.append({"global": True, "key": "sub_7/responsive_deg", "type": "integer"})  # HELICS rejects double
    return {"name": "gld_7", "period": 15, "log_level": "warning", "publications": pubs,
            "subscriptions": [{"key": "pypower/three_phase_voltage_7", "type": "complex"},
                              {"key": "pypower/LMP_7", "type": "double"}]}


def run_case(folder: Path, hours: float, curve: bool, voltage_type: str = "double") -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    write_bulk_model(Te30BulkParams(), folder, "te30")
    (folder / "pypower.json").write_text(json.dumps(pypower_config(curve, voltage_type)))
    (folder / "peer.json").write_text(json.dumps(peer_config(curve)))
    curve_flag = " --curve" if curve else ""
    runner = {"name": "bulktest", "broker": True, "federates": [
        {"name": "pypower", "directory": ".", "exec": f"python -m vppfed.federates.bulk --config pypower.json "
                                                      f"--case te30_pp.json --metrics-root T --hours {hours}"},
        {"name": "gld_7", "directory": ".",
         "exec": f"python {PEER} --config peer.json --hours {hours} --record rec.jsonl{curve_flag}"}],
        "vppfed": {"stop_seconds": hours * 3600}}
    (folder / "runner.json").write_text(json.dumps(runner))
    summary = Launcher(folder / "runner.json", timeout=120).run()
    assert summary.ok, (folder / "pypower.log").read_text()[-3000:]
    return [json.loads(line) for line in (folder / "rec.jsonl").read_text().splitlines()]


@pytest.mark.integration
def test_feeder_receives_voltage_from_the_first_step_and_lmp_in_dollars_per_kwh(tmp_path):
    # GIVEN the TE30 bulk model and a feeder peer WHEN run for 1 h under HELICS
    rec = run_case(tmp_path, 1.0, curve=False)
    volts = [r for r in rec if r["key"].endswith("three_phase_voltage_7")]
    lmps = [r for r in rec if r["key"].endswith("LMP_7")]
    # THEN the voltage published in on_start arrives at the feeder's first step (15 s), line-to-neutral of 230 kV
    assert volts[0]["t"] == 15.0
    assert 0.9 * 230e3 / math.sqrt(3) < volts[0]["value"] < 1.1 * 230e3 / math.sqrt(3)
    # AND the LMP is in $/kWh in the night band of the model (0.01-0.03), first at 15 s
    assert lmps[0]["t"] == 15.0
    assert all(0.01 < r["value"] < 0.03 for r in lmps)
    # AND the TESP metrics exist with samples every 300 s from 0
    bus = recover(tmp_path / "bus_T_metrics.json")
    assert sorted(int(k) for k in bus if k not in ("StartTime", "Metadata")) == list(range(0, 3601, 300))
    assert list(bus["Metadata"]) == ["LMP_P", "LMP_Q", "PD", "QD", "Vang", "Vmag", "Vmax", "Vmin"]
    pd7 = bus["600"]["7"][bus["Metadata"]["PD"]["index"]]
    background7 = background_load(Te30BulkParams())[600 // 300, 1]
    assert pd7 == pytest.approx(background7 + 100e3 * 250 / 1e6, abs=1e-3)  # background + 100 kW * 250 at night
    gen = recover(tmp_path / "gen_T_metrics.json")
    assert set(gen["300"]) == {"1", "2", "3", "4", "5"}  # four units + the dispatchable load of bus 7
    model = json.loads((tmp_path / "model_dict.json").read_text())
    assert model["dsoBuses"]["7"]["ampFactor"] == 250.0 and model["UnitsOut"] == [[2, 108000.0, 154800.0]]


@pytest.mark.integration
def test_market_curve_becomes_a_dispatchable_load(tmp_path):
    # GIVEN a market peer sending a responsive curve (30 % of the feeder responsive, bid c1 = 100 $/MWh)
    rec = run_case(tmp_path, 0.5, curve=True, voltage_type="complex")
    assert any(r["key"].endswith("LMP_7") for r in rec)
    # THEN the OPF dispatches the dispatchable load (gen 5) where its bid price c1 + 2·(c2/scale)·q meets the LMP:
    # q = (c1 − λ) / (2·2000/250) MW, inside its 0.3 · 100 kW · 250 = 7.5 MW limit
    gen = recover(tmp_path / "gen_T_metrics.json")
    pgen = gen["600"]["5"][gen["Metadata"]["Pgen"]["index"]]
    lmp = 1000.0 * gen["600"]["5"][gen["Metadata"]["LMP_P"]["index"]]
    assert 10.0 < lmp < 30.0
    assert pgen == pytest.approx(-(100.0 - lmp) / (2 * 2000.0 / 250.0), rel=1e-4)
    assert -7.5 < pgen < 0


@pytest.mark.parametrize("target,expected", [
    ("gld_7/distribution_load", ("load", "gld_7")),
    ("gridlabdBus3#gld_load", ("load", "gridlabdBus3")),
    ("sub_7/UNRESPONSIVE_MW", ("unresponsive_mw", "sub_7")),
    ("substationBus2/responsive_max_mw", ("responsive_max_mw", "substationBus2")),
    ("sub_7/responsive_deg", ("responsive_deg", "sub_7")),
    ("sub_7/clear_price", None),
    ("localWeather/#temperature", None),
])
def test_inputs_are_recognised_by_target_like_tso_pypower(target, expected):
    from vppfed.federates.bulk.adapter import classify_target

    assert classify_target(target) == expected


def test_source_federates_map_to_dso_buses_by_their_number():
    from vppfed.federates.bulk.adapter import bus_of

    assert bus_of("gridlabdBus3", [1, 3, 5]) == 3
    assert bus_of("sub_9", [1, 3]) is None
    assert bus_of("gld_feeder", [7]) == 7  # one DSO bus takes every feeder
