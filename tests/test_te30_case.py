"""The TE30-style case end to end: real GridLAB-D + PYPOWER (+ the market federate) under HELICS."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vppfed.cases import case_yaml
from vppfed.cli import main
from vppfed.configs.case import build_case
from vppfed.errors import CosimError
from vppfed.launcher import Launcher
from vppfed.formats.metrics import load_if_present


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_generated_configs_use_tesp_names_and_separator(tmp_path):
    built = build_case(case_yaml("te30"), tmp_path / "c", {"case.hours": 1, "case.separator": "#"})
    gld = json.loads((built.directory / "TE30_gridlabd.json").read_text())
    assert gld["name"] == "gld_7"
    pubs = {p["key"]: p for p in gld["publications"]}
    assert pubs["distribution_load"]["type"] == "complex"
    assert any(k.endswith("#air_temperature") for k in pubs), "TESP 1.3.6 keys with '#'"
    subs = {s["key"]: s for s in gld["subscriptions"]}
    assert subs["pypower/three_phase_voltage_7"]["info"]["property"] == "positive_sequence_voltage"
    pp = json.loads((built.directory / "TE30_pypower.json").read_text())
    assert {p["key"] for p in pp["publications"]} >= {"three_phase_voltage_7", "LMP_7"}
    assert "gld_7/distribution_load" in {s["key"] for s in pp["subscriptions"]}
    case = json.loads((built.directory / "te30_pp.json").read_text())
    assert case["UnitsOut"] == [[2, 108000, 154800]]
    assert case["DSO"][0][:3] == [7, "SUBSTATION7", 250.0] or case["DSO"][0][0] == 7
    runner = json.loads(built.runner.read_text())
    assert runner["broker"] is True and {f["name"] for f in runner["federates"]} >= {"gld_7", "pypower"}


def test_same_seed_same_bytes_other_seed_other_feeder(tmp_path):
    a = build_case(case_yaml("te30"), tmp_path / "a", {"case.hours": 1})
    b = build_case(case_yaml("te30"), tmp_path / "b", {"case.hours": 1})
    c = build_case(case_yaml("te30"), tmp_path / "c", {"case.hours": 1, "case.seed": 5})
    for name in ("TE30.glm", "TE30_gridlabd.json", "te30_pp.json", "weather.dat", "TE30_agent_dict.json"):
        assert (a.directory / name).read_bytes() == (b.directory / name).read_bytes(), name
    assert (a.directory / "TE30.glm").read_bytes() != (c.directory / "TE30.glm").read_bytes()


@pytest.mark.slow
def test_two_hours_of_te30_give_plausible_tesp_metrics_and_figures(tmp_path):
    out = tmp_path / "run"
    code = main(["run", "te30", "--hours", "2", "--out", str(out), "--no-progress"])
    assert code == 0
    bus = load_if_present(out, "bus")
    assert bus is not None and bus.uids == ["7"]
    lmp = bus.column("LMP_P")[:, 0]
    assert np.all((lmp > 0.005) & (lmp < 0.1)), lmp  # $/kWh, night-time of day 1
    vmag = bus.column("Vmag")[:, 0]
    assert np.all((vmag > 0.9) & (vmag < 1.1))
    sub = load_if_present(out, "substation")
    kw = sub.column("real_power_avg")[:, 0] / 1000
    assert np.all((kw > 5) & (kw < 400)), kw  # 30 houses, after midnight: cooling mostly off
    house = load_if_present(out, "house")
    assert len(house.uids) == 30
    temps = house.column("air_temperature_avg")
    assert np.nanmin(temps) > 60 and np.nanmax(temps) < 95
    meters = load_if_present(out, "billing_meter")
    assert meters is not None and len(meters.uids) >= 30
    assert list(bus.times[:2]) == [0, 300] and sub.times[-1] == 7200
    code = main(["plot", str(out)])
    assert code == 0
    for name in ("substation_load", "bus_voltage_lmp", "house_temperatures", "pv_output"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (out / "figures" / f"{name}.pdf").exists()


@pytest.mark.slow
def test_killing_the_feeder_mid_run_ends_every_process_and_names_it(tmp_path):
    built = build_case(case_yaml("te30"), tmp_path / "run", {"case.hours": 6})
    launcher = Launcher(built.runner, timeout=300)
    result: dict = {}

    def run():
        try:
            launcher.run()
        except CosimError as exc:
            result["error"] = str(exc)

    thread = threading.Thread(target=run)
    thread.start()
    progress = built.directory / ".vppfed" / "progress" / "gld_7"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if float(progress.read_text()) >= 1800:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    else:
        pytest.fail("the feeder did not reach t=1800 s")
    workers = [int(p.read_text()) for p in (built.directory / ".vppfed" / "pids").glob("*.pid")]
    assert workers, "the feeder recorded its GridLAB-D worker"
    feeder = next(r for r in launcher.processes if r.name == "gld_7")
    killed_at = time.monotonic()
    os.kill(feeder.popen.pid, signal.SIGKILL)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert time.monotonic() - killed_at < 20, "teardown within seconds"
    assert "gld_7" in result["error"].splitlines()[0]
    assert "SIGKILL" in result["error"].splitlines()[0]
    time.sleep(0.5)
    for record in launcher._all_records():
        assert not pid_alive(record.popen.pid), record.name
    for pid in workers:
        assert not pid_alive(pid), "GridLAB-D worker left behind"
