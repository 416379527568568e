"""TESP 1.3.7's own federates in a folder written by ``vppfed config``, beside ours, with no edit of any config.

Each test does what a user does: build a case, replace one federate's command in ``runner.json`` by TESP's, run it
with our launcher for at least one simulated hour, and check that values crossed both ways between TESP's federate
and ours. Needs ``pip install 'vppfed[tesp]'`` (CI installs it in a second environment, see .ci/run).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

pytest.importorskip("tesp_support", reason="TESP pairing tests need tesp_support 1.3.7: pip install 'vppfed[tesp]'")

from vppfed.cases import case_yaml  # noqa: E402
from vppfed.configs.case import build_case  # noqa: E402
from vppfed.launcher import Launcher  # noqa: E402

pytestmark = pytest.mark.slow

#: TESP 1.3.7's substation (auction + HVAC controllers) as TESP's runh.sh starts it
TESP_SUBSTATION = ("python -c \"from tesp_support.api.substation import substation_loop; "
                   "substation_loop('{agent_dict}', '{root}', helicsConfig='{config}', hour_stop={hours:g})\"")
#: TESP 1.3.7's weather agent (reads WEATHER_CONFIG from its environment, which our runner entry already sets)
TESP_WEATHER = ("python -c \"from tesp_support.weather.weather_agent import startWeatherAgent; "
                "startWeatherAgent('weather.dat')\"")
#: TESP 1.3.7's bulk grid federate on a TESP PYPOWER case JSON
TESP_PYPOWER = ("python -c \"from tesp_support.api.tso_PYPOWER import tso_pypower_loop; "
                "tso_pypower_loop('{case}', '{root}', helicsConfig='{config}')\"")


def replace_command(runner: Path, name: str, command: str) -> None:
    """The user's only edit: another command for federate ``name`` in the runner JSON."""
    doc = json.loads(runner.read_text())
    entries = [f for f in doc["federates"] if f["name"] == name]
    assert entries, f"no federate {name} in {runner}"
    entries[0]["exec"] = command
    runner.write_text(json.dumps(doc, indent=2))


def run(runner: Path) -> None:
    summary = Launcher(runner, timeout=900).run()
    assert summary.ok, summary.reason
    assert summary.simulated_seconds >= 3600


def metrics(folder: Path, prefix: str, root: str = "TE30") -> tuple[dict[str, int], dict[int, dict[str, list]]]:
    """TESP metrics JSON: column index by name, rows by time (s)."""
    doc = json.loads((folder / f"{prefix}_{root}_metrics.json").read_text())
    columns = {k: v["index"] for k, v in doc["Metadata"].items()}
    rows = {int(t): v for t, v in doc.items() if t not in ("Metadata", "StartTime")}
    return columns, rows


def tesp_auction_log(path: Path) -> dict[int, dict[str, float]]:
    """The clearing lines TESP's simple_auction prints (``##,tnow,...,LMP,RefLoad,...``), by clearing time."""
    lines = path.read_text().splitlines()
    header = next(line for line in lines if line.startswith("##,tnow")).split(",")
    out: dict[int, dict[str, Any]] = {}
    for line in lines:
        parts = line.split(",")
        if line.startswith("##,") and len(parts) == len(header) and parts[1].isdigit():
            row = dict(zip(header, parts))
            out[int(float(row["tclear"]))] = {k: float(row[k]) for k in ("ClearP", "LMP", "RefLoad")}
    return out


def test_tesp_substation_loop_as_sub_7(tmp_path):
    """TESP's substation_loop in place of our sub_7: distribution_load and the LMP reach it, its clearing price and
    thermostat set points come back to our feeder."""
    hours = 1
    built = build_case(case_yaml("te30"), tmp_path / "case", {"case.hours": hours, "market.enabled": True})
    folder, root = built.directory, "TE30"
    replace_command(built.runner, "sub_7", TESP_SUBSTATION.format(agent_dict=f"{root}_agent_dict.json", root=root,
                                                                   config=f"{root}_sub_7.json", hours=hours))
    run(built.runner)

    log = tesp_auction_log(folder / "sub_7.log")
    assert sorted(log) == list(range(300, 3601, 300)), "TESP's auction cleared every 300 s for the hour"
    assert (folder / f"auction_{root}_metrics.json").exists(), "TESP's substation wrote its own metrics"

    # pypower -> TESP: the LMP it cleared against is the one our bulk federate recorded at that time
    bus_cols, bus = metrics(folder, "bus")
    for t, row in log.items():
        assert row["LMP"] == pytest.approx(bus[t]["7"][bus_cols["LMP_P"]], rel=1e-4), t

    # gld_7 -> TESP: its reference load (|distribution_load| in kW) lies within what our feeder metered
    sub_cols, sub = metrics(folder, "substation")
    for t, row in log.items():
        values = next(iter(sub[t].values()))
        s_min = math.hypot(values[sub_cols["real_power_min"]], values[sub_cols["reactive_power_min"]]) / 1000
        s_max = math.hypot(values[sub_cols["real_power_max"]], values[sub_cols["reactive_power_max"]]) / 1000
        assert 0.95 * s_min <= row["RefLoad"] <= 1.05 * s_max, (t, row["RefLoad"], s_min, s_max)
        assert row["RefLoad"] > 10

    # TESP -> gld_7: the clearing price became every billing meter's price (bill per kWh one interval later;
    # the GLM's own price is 0.11 $/kWh)
    meter_cols, meters = metrics(folder, "billing_meter")
    checked = 0
    for t in range(900, 3601, 300):
        for name, values in meters[t].items():
            energy_kwh = values[meter_cols["real_energy"]] / 1000
            if energy_kwh > 0.001:
                assert values[meter_cols["bill"]] / energy_kwh == pytest.approx(log[t - 300]["ClearP"], rel=0.01), \
                    (t, name)
                checked += 1
    assert checked >= 30 * 10

    # TESP -> gld_7: set points; TESP publishes heating_setpoint 60 °F (the GLM has 61-65 °F) and cooling set
    # points within each controller's night base point +- its offset limit
    house_cols, houses = metrics(folder, "house")
    agents = json.loads((folder / f"{root}_agent_dict.json").read_text())["controllers"]
    by_house = {row["houseName"]: row for row in agents.values()}
    assert len(by_house) == 30
    for t in range(600, 3601, 300):
        for house, values in houses[t].items():
            assert values[house_cols["air_temperature_setpoint_heating"]] == pytest.approx(60.0), (t, house)
            ctl = by_house[house]
            cooling = values[house_cols["air_temperature_setpoint_cooling"]]
            assert abs(cooling - ctl["night_set"]) <= ctl["offset_limit"] + 0.01, (t, house, cooling)


def test_tesp_weather_agent_as_local_weather(tmp_path):
    """TESP's weather agent in place of our localWeather gives the feeder exactly what ours gives it (the same
    house and PV metrics); mid-morning, so the irradiance it publishes drives the PV inverters."""
    overrides = {"case.hours": 1, "case.start": "2013-07-01 10:00:00", "feeder.weather": "federate"}
    ours = build_case(case_yaml("te30"), tmp_path / "ours", overrides)
    tesp = build_case(case_yaml("te30"), tmp_path / "tesp", overrides)
    assert json.loads((tesp.directory / "TE30_weather.json").read_text())["name"] == "localWeather"
    replace_command(tesp.runner, "localWeather", TESP_WEATHER)
    run(ours.runner)
    run(tesp.runner)
    assert "finalizing HELICS" in (tesp.directory / "localWeather.log").read_text(), "TESP's agent ran to the end"

    for prefix in ("house", "inverter"):
        cols, a = metrics(ours.directory, prefix)
        _, b = metrics(tesp.directory, prefix)
        assert sorted(a) == sorted(b) == list(range(300, 3601, 300))
        for t in a:
            assert a[t].keys() == b[t].keys()
            x = np.array([a[t][k] for k in sorted(a[t])], dtype=float)
            y = np.array([b[t][k] for k in sorted(b[t])], dtype=float)
            np.testing.assert_allclose(y, x, rtol=1e-9, atol=1e-9, err_msg=f"{prefix} metrics at t={t}")
    cols, inv = metrics(tesp.directory, "inverter")
    pv_kw = sum(v[cols["real_power_avg"]] for v in inv[3600].values()) / 1000
    assert pv_kw > 30, f"30 rooftop PV inverters at 11:00 in July gave {pv_kw:.1f} kW: the irradiance did not arrive"


def write_tesp_grid(folder: Path, hours: float) -> Path:
    """A TESP-layout PYPOWER case (our te30 grid's numbers) and its CSV, as a user brings them; returns the JSON.

    What TESP 1.3.7's ``tso_pypower_loop`` needs beyond MATPOWER arrays: generator row 4 is the feeder's dispatchable
    load at the DSO bus (its OPF writes the responsive curve into that row and its gencost), each DSO row has a
    fourth field (the unresponsive estimate is written there), and it runs to its own ``Tmax``.
    """
    grid = build_case(case_yaml("te30"), folder / "grid", {"case.hours": hours}).directory
    pp = json.loads((grid / "te30_pp.json").read_text())
    background = grid / pp["CSVFile"]  # our grid's non-feeder loads (288 five-minute rows, MW at buses 5, 7, 9)
    pp["gen"].append([7, 0, 0, 0, 0, 1.0, 250, 1, 0, -5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    pp["gencost"].append([2, 0, 0, 3, 0.0, 0.0, 0.0])
    for key in ("genfuel", "CSVBuses", "CSVInterval"):
        pp.pop(key, None)
    pp.update(DSO=[[7, "SUBSTATION7", 250.0, 0.0]], UnitsOut=[], BranchesOut=[], Tmax=int(hours * 3600),
              CSVFile="NonGLDLoad.txt")
    (folder / "NonGLDLoad.txt").write_bytes(background.read_bytes())
    path = folder / "mine_pp.json"
    path.write_text(json.dumps(pp))
    return path


def tesp_tso_csv(path: Path) -> dict[int, dict[str, str]]:
    """TESP's ``<root>.csv`` (one row per power flow), by time."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    return {int(row[0]): dict(zip(header, row)) for row in (line.split(",") for line in lines[1:] if line)}


def test_tesp_tso_pypower_loop_as_pypower(tmp_path):
    """TESP's tso_pypower_loop in place of our pypower, on a TESP case JSON given as ``bulk.tesp_json``: our
    feeder's load and our market's curve reach it, its LMP comes back to our market."""
    hours = 1
    pp = write_tesp_grid(tmp_path, hours)
    doc = yaml.safe_load(Path(case_yaml("te30")).read_text())
    doc["case"]["hours"] = hours
    doc["bulk"] = {"tesp_json": pp.name}
    doc["market"] = {"enabled": True}
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(doc))
    built = build_case(tmp_path / "case.yaml", tmp_path / "case", {})
    folder, root = built.directory, "TE30"
    command = TESP_PYPOWER.format(case=pp.name, root=root, config=f"{root}_pypower.json")
    replace_command(built.runner, "pypower", command)
    run(built.runner)

    csv = tesp_tso_csv(folder / f"{root}.csv")
    assert max(csv) == 3600 and all(row["Converged"] == "True" for row in csv.values())
    sub_cols, sub = metrics(folder, "substation")
    auc_cols, auction = metrics(folder, "auction")
    for t in range(300, 3601, 300):
        row = csv[t - 15]  # TESP's OPF runs at T - dt, the auction clears at T
        # gld_7 -> TESP: its feeder load (MW x ampFactor 250) is what our feeder metered
        values = next(iter(sub[t].values()))
        kw = float(row["GLD Pub"]) * 1000 / 250
        low, high = values[sub_cols["real_power_min"]] / 1000, values[sub_cols["real_power_max"]] / 1000
        assert 0.95 * low <= kw <= 1.05 * high, (t, kw, low, high)
        # sub_7 -> TESP: our market's bid curve went into its dispatchable load
        ours = next(iter(auction[t].values()))
        assert float(row["Unresp (opf)"]) == pytest.approx(250 * ours[auc_cols["unresponsive_mw"]], abs=2e-3), t
        assert float(row["c1"]) > 1
        # TESP -> sub_7: our auction cleared against the LMP TESP's OPF published ($/MWh there, $/kWh here)
        assert ours[auc_cols["lmp"]] == pytest.approx(float(row["LMP_P7"]) / 1000, abs=1e-6), t
    assert (folder / f"bus_{root}_metrics.json").exists() and (folder / "model_dict.json").exists()
