"""The battery federate on HELICS against a stand-in feeder: peak shaving, metrics, and kill -9 then resume."""
from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from vppfed.errors import CosimError
from vppfed.federates.battery.plant import li_ion_ocv, ocv_table
from vppfed.launcher import Launcher

PLANT = Path(__file__).with_name("battery_plant_federate.py")
HOURS = 24


def write_case(folder: Path, delay: float = 0.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plant = {"name": "gld1", "period": 300, "log_level": "warning",
             "publications": [{"key": "distribution_load", "global": False, "type": "complex"},
                              {"key": "Bat1/state_of_charge", "global": False, "type": "double"},
                              {"key": "Inv1/VA_Out", "global": False, "type": "complex"}],
             "subscriptions": [{"key": "battery/p_out", "type": "double"}]}
    battery = {"name": "battery", "period": 300, "log_level": "warning", "wait_for_current_time_update": True,
               "publications": [{"key": "p_out", "global": False, "type": "double"}],
               "subscriptions": [{"key": "gld1/distribution_load", "type": "complex"},
                                 {"key": "gld1/Bat1/state_of_charge", "type": "double"},
                                 {"key": "gld1/Inv1/VA_Out", "type": "complex"}]}
    manager = {"battery": {"capacity_ah": 13500 / 480, "nominal_voltage_v": 480.0, "max_charge_w": 5000.0,
                           "max_discharge_w": 5000.0, "coulombic_efficiency": 0.97, "soc_initial": 0.5,
                           "v_empty": li_ion_ocv(0.02, 480.0), "v_full": li_ion_ocv(0.999, 480.0),
                           "ocv_table": ocv_table(480.0), "charge_below_w": 8000.0, "discharge_above_w": 14000.0,
                           "period_s": 300.0, "reconcile_warn": 0.1},
               "load_key": "gld1/distribution_load", "soc_key": "gld1/Bat1/state_of_charge",
               "power_key": "gld1/Inv1/VA_Out", "start": "2013-07-01 00:00:00", "uid": "Bat1"}
    for name, doc in (("plant.json", plant), ("battery.json", battery), ("manager.json", manager)):
        (folder / name).write_text(json.dumps(doc, indent=1))
    runner = {"name": "battery_test", "broker": True, "federates": [
        {"name": "gld1", "directory": ".",
         "exec": f"python {PLANT} --config plant.json --hours {HOURS} --delay {delay} --out plant.csv"},
        {"name": "battery", "directory": ".",
         "exec": f"python -m vppfed.federates.battery --config battery.json --manager manager.json --hours {HOURS} "
                 "--metrics-root bt"}],
        "vppfed": {"stop_seconds": HOURS * 3600.0}}
    (folder / "runner.json").write_text(json.dumps(runner))
    return folder / "runner.json"


def metrics(folder: Path) -> dict:
    return json.loads((folder / "battery_bt_metrics.json").read_text())


@pytest.mark.slow
def test_federate_shaves_the_peak_and_writes_metrics(tmp_path):
    Launcher(write_case(tmp_path), timeout=120).run()
    doc = metrics(tmp_path)
    names = list(doc["Metadata"])
    samples = {int(k): v["Bat1"] for k, v in doc.items() if k not in ("StartTime", "Metadata")}
    assert len(samples) == HOURS * 12
    col = {n: names.index(n) for n in names}
    net = [row[col["net_load"]] for row in samples.values()]
    gross = [row[col["gross_load"]] for row in samples.values()]
    assert max(net) < max(gross) - 2500
    states = {row[col["state"]] for row in samples.values()}
    assert states == {-1, 0, 1}
    gaps = [abs(row[col["soc"]] - row[col["soc_estimate"]]) for row in samples.values()]
    assert max(gaps) < 0.05


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    # GIVEN an uninterrupted reference run
    ref = tmp_path / "ref"
    Launcher(write_case(ref), timeout=120).run()
    # WHEN the battery federate is SIGKILLed in the middle of a (slowed) run
    run = tmp_path / "run"
    launcher = Launcher(write_case(run, delay=0.02), timeout=120, cohost=False)  # kill one process
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: errors.append(_expect_failure(launcher)))
    thread.start()
    killed_after = _kill_when(run / "battery_state.sqlite", launcher, min_t=6 * 3600)
    thread.join(60)
    assert isinstance(errors[0], CosimError) and "battery" in str(errors[0]).splitlines()[0]
    assert 6 * 3600 <= killed_after < HOURS * 3600 - 3600
    # THEN the case rerun with resume finishes, and everything equals the reference from the resume point on
    Launcher(run / "runner.json", timeout=120, resume=True).run()
    assert "resuming after t" in (run / "battery.log").read_text()
    assert metrics(run) == metrics(ref)
    assert (run / "plant.csv").read_text() == (ref / "plant.csv").read_text()


def _expect_failure(launcher: Launcher) -> BaseException | None:
    try:
        launcher.run()
    except BaseException as exc:  # noqa: BLE001
        return exc
    return None


def _kill_when(state: Path, launcher: Launcher, min_t: float) -> float:
    """SIGKILL the battery federate once its state file has a step at or after ``min_t``; returns that time."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if state.exists():
            try:
                conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
                last = conn.execute("SELECT max(t_s) FROM steps").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                last = None
            if last is not None and last >= min_t:
                record = next(r for r in launcher.processes if r.name == "battery")
                record.popen.send_signal(signal.SIGKILL)
                return float(last)
        time.sleep(0.05)
    raise AssertionError("the battery federate never reached the kill time")


@pytest.mark.slow
def test_battery_figures_from_a_run(tmp_path):
    from vppfed.postprocess.battery_plots import plot_run

    Launcher(write_case(tmp_path), timeout=120).run()
    paths = plot_run(tmp_path, tmp_path / "figures")
    names = sorted(p.name for p in paths)
    assert names == sorted(f"battery_{n}.{e}" for n in ("load", "soc", "states") for e in ("png", "pdf"))
    assert all(p.stat().st_size > 5000 for p in paths)
