"""Integration with the real PyPI GridLAB-D: stepped equals batch, worker teardown, clear load errors, climate writes."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vppfed.configs.feeder_glm import FeederSpec, generate_feeder, write_feeder
from vppfed.configs.feeder_helics import FeederHelicsConfig
from vppfed.configs.weather import WeatherSpec, write_weather
from vppfed.formats.weather import read_weather
from vppfed.federates.feeder.core import FeederCore, build_metrics, load_gridlabd_config, make_writers, object_class_map
from vppfed.formats.gld_strings import parse_complex, parse_float
from vppfed.federates.feeder.session import GridlabdError, GridlabdSession
from vppfed.federates.metrics import MetricsWriter

pytestmark = pytest.mark.slow

BATCH_RECORDERS = """
object group_recorder { name rec_air; group "class=house"; property air_temperature; interval 300; file air.csv; }
object recorder { name rec_load; parent network_node; property distribution_load; interval 300; file load.csv; }
"""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _batch(glm: Path, workdir: Path) -> tuple[list[list[str]], list[list[str]]]:
    """GridLAB-D's own batch run of ``glm`` in a separate process; returns the recorder rows."""
    code = ("import gridlabd,sys; g=gridlabd.GridLabD(); assert g.load_glm(sys.argv[1])==0; "
            "assert g.run()==0; g.finalize()")
    subprocess.run([sys.executable, "-c", code, str(glm)], cwd=workdir, check=True, timeout=300)
    rows = []
    for name in ("air.csv", "load.csv"):
        with open(workdir / name) as fh:
            rows.append([r for r in csv.reader(fh) if r and not r[0].startswith("#")])
    return rows[0], rows[1]


def test_stepped_run_equals_gridlabd_batch_run(tmp_path):
    # GIVEN a 6-house feeder with water heaters, 6 h, heartbeat at 300 s, plus recorders for the batch run
    spec = FeederSpec(houses=6, period_s=300, stop="2013-07-01 06:00:00", water_heater_fraction=0.5,
                      battery_fraction=0.5)
    glm = tmp_path / "m.glm"
    glm.write_text(generate_feeder(spec).glm + BATCH_RECORDERS)
    air_rows, load_rows = _batch(glm, tmp_path)
    houses = ["F1_house_B%d" % i for i in range(6)]
    # WHEN the same model is stepped every 300 s through the session
    stepped_air, stepped_load = {}, {}
    with GridlabdSession(glm) as s:
        for k in range(1, 6 * 12 + 1):
            t = 300 * k
            s.step_to(t)
            air = s.get_class("house", "air_temperature")
            stepped_air[t] = [parse_float(air[h]) for h in houses]
            stepped_load[t] = parse_complex(s.get("network_node", "distribution_load"))
    # THEN house temperatures and the substation load equal the batch recorder at every 5-min mark
    load_at = {s.clock.to_seconds(r[0][:19]): parse_complex(r[1]) for r in load_rows}
    checked_air = checked_load = 0
    for row in air_rows:
        t = s.clock.to_seconds(row[0][:19])
        if t == 0:
            continue  # the batch run records the initial sync; a stepped model is first solved at its first step
        assert [float(v) for v in row[1:]] == pytest.approx(stepped_air[t], abs=1e-9), t
        checked_air += 1
        if t in load_at:
            assert load_at[t] == pytest.approx(stepped_load[t], abs=1e-9), t
            checked_load += 1
    assert checked_air == 72 and checked_load >= 71   # the plain recorder skips its row at the stop time
    # sanity: the houses really moved (the silent wrong-physics failure swings them 31-147 F)
    temps = [v for vals in stepped_air.values() for v in vals]
    assert 60 < min(temps) < max(temps) < 90


def test_worker_is_gone_after_close_and_after_an_exception(tmp_path):
    glm = tmp_path / "m.glm"
    glm.write_text(generate_feeder(FeederSpec(houses=2, period_s=60)).glm)
    pid_file = tmp_path / "pids" / "gld.pid"
    s = GridlabdSession(glm, pid_file=pid_file).open()
    pid = s.pid
    assert pid_file.read_text().strip() == str(pid) and _pid_alive(pid)
    s.step_to(60)
    s.close()
    assert not _pid_alive(pid) and not pid_file.exists()
    with pytest.raises(RuntimeError, match="boom"):
        with GridlabdSession(glm) as s2:
            pid2 = s2.pid
            s2.step_to(60)
            raise RuntimeError("boom")
    assert not _pid_alive(pid2)


def test_bad_glm_raises_with_gridlabd_own_message_and_leaves_no_worker(tmp_path):
    glm = tmp_path / "bad.glm"
    glm.write_text(generate_feeder(FeederSpec(houses=1)).glm.replace("object house {", "object house {\n  bogus 3;", 1))
    session = GridlabdSession(glm)
    with pytest.raises(GridlabdError) as err:
        session.open()
    text = str(err.value)
    # the first line is GridLAB-D's own file(line): message
    assert text.splitlines()[0].startswith("bad.glm(") and "property bogus is not defined in class house" in text
    assert not session.alive
    with pytest.raises(GridlabdError, match="GLM file not found"):
        GridlabdSession(tmp_path / "missing.glm").open()


def test_step_errors_are_raised_not_ignored(tmp_path):
    glm = tmp_path / "m.glm"
    glm.write_text(generate_feeder(FeederSpec(houses=1, period_s=60)).glm)
    with GridlabdSession(glm) as s:
        s.step_to(120)
        with pytest.raises(GridlabdError, match="cannot step back"):
            s.step_to(60)
        with pytest.raises(GridlabdError, match="cannot write nothing.x"):
            s.set("nothing", "x", 1.0)
        with pytest.raises(GridlabdError, match="cannot read F1_house_B0.nope"):
            s.get("F1_house_B0", "nope")


def test_core_writes_weather_applies_inputs_publishes_and_writes_metrics(tmp_path):
    # GIVEN a generated case folder starting at 11:00 with weather and the TE30 interface
    res = write_feeder(FeederSpec(houses=4, period_s=60, start="2013-07-01 11:00:00",
                                  stop="2013-07-01 12:00:00"), tmp_path, "TE")
    write_weather(WeatherSpec(start="2013-07-01 11:00:00", hours=1), tmp_path / "weather.dat")
    hc = FeederHelicsConfig("gld_7", 60)
    hc.add_te30_defaults(res.inventory, "pypower", 7)
    cfg = load_gridlabd_config(hc.document())
    session = GridlabdSession(tmp_path / "TE.glm")
    session.open()
    metrics = build_metrics(res.inventory)
    writers = make_writers(lambda p, c: MetricsWriter(tmp_path, p, "TEH", c, session.clock.start_label()), metrics)
    core = FeederCore(session, cfg, object_class=object_class_map(res.inventory.by_class()),
                      weather=read_weather(tmp_path / "weather.dat", session.clock.start, session.clock.timezone),
                      metrics=metrics, writers=writers, sample_every_s=60)
    try:
        core.start()
        first = core.step(60)
        assert set(first) == {p.key for p in cfg.publications}  # everything is new at the first step
        v_before = abs(first["F1_tpm_B0/measured_voltage_1"])
        # WHEN the bulk grid raises the feeder-head voltage by 5 %
        core.set_input("pypower#three_phase_voltage_7", complex(1.05 * 132790.56, 0))
        out = core.step(120)
        for k in range(3, 61):
            core.step(60 * k)
        pv = [parse_complex(v).real for v in session.get_class("inverter", "VA_Out").values()]
    finally:
        core.finish()
    # THEN the triplex voltage follows, PV produces at noon from the written climate, metrics exist
    assert abs(out["F1_tpm_B0/measured_voltage_1"]) == pytest.approx(1.05 * v_before, rel=0.01)
    assert isinstance(first["F1_house_B0/power_state"], str)
    assert min(pv) > 1000
    house = json.loads((tmp_path / "house_TEH_metrics.json").read_text())
    assert house["StartTime"] == "2013-07-01 11:00:00 PDT"
    assert sorted(int(k) for k in house if k not in ("StartTime", "Metadata")) == list(range(300, 3601, 300))
    inverter = json.loads((tmp_path / "inverter_TEH_metrics.json").read_text())
    assert inverter["3600"]["inv_F1_house_B0"][2] > 1000
    assert not session.alive


@pytest.mark.skipif(shutil.which("helics_broker") is None and not Path(sys.executable).with_name("helics_broker").exists(),
                    reason="helics_broker missing")
def test_feeder_and_bulk_federates_run_one_hour_under_helics(tmp_path):
    case = tmp_path / "case.yaml"
    case.write_text("case:\n  name: fdt\n  hours: 1\n  seed: 2\nfeeder:\n  houses: 4\nbulk:\n  bus: 7\n")
    out = tmp_path / "run"
    vppfed = Path(sys.executable).with_name("vppfed")
    proc = subprocess.run([str(vppfed), "run", str(case), "--out", str(out), "--no-progress"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sub = json.loads((out / "substation_fdt_metrics.json").read_text())
    assert sub["3600"]["network_node"][2] > 100  # W, average real power of 4 houses in the last interval
    bus = json.loads((out / "bus_fdt_metrics.json").read_text())
    assert "3600" in bus
    assert "GridLAB-D" in (out / "gld_7.log").read_text()
