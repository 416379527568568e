"""Nothing lost on the GridLAB-D side: a user's own recorders and metrics files are complete after a stepped run.

GridLAB-D writes recorder files only when it finalizes, and a metrics_collector_writer dumps its rows only at each
``interim`` and at the stop time it read at initialisation: a worker that is killed, or a model whose clock runs past
the co-simulation, loses them (FACTS.md). The feeder federate ends GridLAB-D the way a batch run ends
(``GridlabdSession.finish``); these tests compare with GridLAB-D's own batch run of the same model.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vppfed.federates.feeder.core import FeederConfig, FeederCore, Point
from vppfed.federates.feeder.session import GridlabdSession

pytestmark = pytest.mark.slow

PERIOD = 60
RECORDER_FILES = ("rec_load.csv", "mrec.csv", "col_air.csv", "col_load.csv")
METRICS_PREFIXES = ("house", "billing_meter", "substation", "inverter", "capacitor", "regulator", "transformer", "line",
                    "evchargerdet")


def small_feeder_glm(stop: str, houses: int = 3) -> str:  # houses >= 2 (the multi_recorder reads h1, h2)
    """A feeder we write here: a substation, one split-phase transformer, ``houses`` metered houses with plug loads,
    and every kind of GridLAB-D output a TESP model uses (recorder, multi_recorder, collectors, metrics collectors
    with a JSON metrics_collector_writer whose ``interim`` is one hour), plus the co-simulation heartbeat."""
    parts = [f"""#set relax_naming_rules=1
#set minimum_timestep=60
clock {{
  timezone PST+8PDT;
  starttime '2013-07-01 00:00:00';
  stoptime '{stop}';
}}
module powerflow {{ solver_method NR; }}
module residential {{ implicit_enduses NONE; }}
module climate;
module tape;
object climate {{ name wx; latitude 32.13; longitude -110.95; tz_meridian -120.00; temperature 85; humidity 0.4;
  solar_direct 0; solar_diffuse 0; pressure 1000; wind_speed 0; }}
object transformer_configuration {{ name xc_sub; connect_type WYE_WYE; install_type PADMOUNT;
  primary_voltage 7200 V; secondary_voltage 7200 V; power_rating 300 kVA; impedance 0.00033+0.0022j; }}
object transformer_configuration {{ name xc_ct; connect_type SINGLE_PHASE_CENTER_TAPPED; install_type POLETOP;
  primary_voltage 7200 V; secondary_voltage 120 V; power_rating 75 kVA; powerA_rating 75 kVA;
  impedance 0.006+0.0136j; impedance1 0.012+0.0204j; impedance2 0.012+0.0204j; shunt_impedance 1728000+691200j; }}
object triplex_line_conductor {{ name tc; resistance 0.97 Ohm/mile; geometric_mean_radius 0.0111 ft; }}
object triplex_line_configuration {{ name tcfg; conductor_1 tc; conductor_2 tc; conductor_N tc;
  insulation_thickness 0.08 in; diameter 0.368 in; }}
object substation {{ name sub; bustype SWING; phases ABCN; nominal_voltage 7200; positive_sequence_voltage 7200;
  base_power 300 kVA; power_convergence_value 100 VA; reference_phase PHASE_A;
  object metrics_collector {{ interval 300; }}; }}
object meter {{ name head; phases ABCN; nominal_voltage 7200; }}
object transformer {{ name xsub; phases ABCN; from sub; to head; configuration xc_sub; }}
object triplex_node {{ name tn; phases AS; nominal_voltage 120; }}
object transformer {{ name xct; phases AS; from head; to tn; configuration xc_ct; }}
"""]
    for i in range(1, houses + 1):
        parts.append(f"""object triplex_line {{ name tl{i}; phases AS; from tn; to tm{i}; length {60 + 20 * i} ft;
  configuration tcfg; }}
object triplex_meter {{ name tm{i}; phases AS; nominal_voltage 120; bill_mode UNIFORM; price 0.11; monthly_fee 0;
  object metrics_collector {{ interval 300; }}; }}
object house {{ name h{i}; parent tm{i}; floor_area {1500 + 300 * i}; cooling_system_type ELECTRIC;
  heating_system_type GAS; thermostat_deadband 2; cooling_setpoint {72 + i}; air_temperature {73 + i};
  mass_temperature {73 + i};
  object metrics_collector {{ interval 300; }};
  object ZIPload {{ name z{i}; base_power 1.{i}; power_fraction 0.8; impedance_fraction 0.1; current_fraction 0.1;
    power_pf 0.95; current_pf 0.95; impedance_pf 0.95; heatgain_fraction 0.9; }}; }}
""")
    parts.append(f"""object metrics_collector_writer {{ name mcw; interval 300; interim 3600;
  filename out_metrics.json; }}
object recorder {{ name rec_load; parent sub; property distribution_load; interval 300; file rec_load.csv; }}
object multi_recorder {{ name mrec; interval 300;
  property h1:air_temperature,h2:air_temperature,tm{houses}:measured_real_power; file mrec.csv; }}
object collector {{ name col_air; group "class=house"; property avg(air_temperature); interval 300; file col_air.csv; }}
object collector {{ name col_load; group "class=house"; property sum(total_load); interval 300; file col_load.csv; }}
object recorder {{ name cosim_heartbeat; parent sub; property voltage_A; interval {PERIOD}; file /dev/null; }}
""")
    return "".join(parts)


def batch_run(folder: Path) -> None:
    """GridLAB-D's own batch run of ``folder/m.glm`` (load_glm, run, finalize) in a process of its own."""
    code = ("import gridlabd,sys; g=gridlabd.GridLabD(); assert g.load_glm('m.glm', workdir='.')==0; "
            "assert g.run()==0; g.finalize()")
    subprocess.run([sys.executable, "-c", code], cwd=folder, check=True, timeout=300)


def recorder_lines(path: Path) -> list[str]:
    """A recorder file without the header lines that carry the wall time of the run (``# date``)."""
    return [ln for ln in path.read_text().splitlines() if not ln.startswith("# date")]


def data_rows(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]


def same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN (GridLAB-D writes NaN for metrics of an object without samples)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def test_stepped_federate_core_writes_the_same_outputs_as_gridlabd_batch_run(tmp_path):
    # GIVEN one model whose own clock runs 12 h (a user's GLM), co-simulated for 4 h, and the same model with a 4 h
    # clock run by GridLAB-D in batch
    hours = 4
    batch, stepped = tmp_path / "batch", tmp_path / "stepped"
    batch.mkdir()
    stepped.mkdir()
    (batch / "m.glm").write_text(small_feeder_glm(stop=f"2013-07-01 0{hours}:00:00"))
    (stepped / "m.glm").write_text(small_feeder_glm(stop="2013-07-01 12:00:00"))
    batch_run(batch)
    # WHEN the feeder core steps it every 60 s as the federate does (set_stop as in on_start, finish at the end)
    session = GridlabdSession(stepped / "m.glm").open()
    config = FeederConfig(name="gld", period=PERIOD, subscriptions=[],
                          publications=[Point("distribution_load", "sub", "distribution_load", "complex")])
    core = FeederCore(session, config)
    try:
        session.set_stop(hours * 3600)
        core.start()
        for k in range(1, hours * 3600 // PERIOD + 1):
            core.step(k * PERIOD)
    finally:
        core.finish()
    assert not session.alive
    # THEN every recorder file is the batch run's, line for line (header lines with the wall time aside)
    for name in RECORDER_FILES:
        assert recorder_lines(stepped / name) == recorder_lines(batch / name), name
    assert len(data_rows(stepped / "rec_load.csv")) == hours * 12
    # ... and every metrics_collector_writer file holds the same rows: the hourly interim dumps and the last one
    # (GridLAB-D 6.0.0 fills the first interval's rows from uninitialised memory: two batch runs of one model differ
    # there, so that interval is compared by its keys only)
    for prefix in METRICS_PREFIXES:
        got = json.loads((stepped / f"{prefix}_out_metrics.json").read_text())
        want = json.loads((batch / f"{prefix}_out_metrics.json").read_text())
        assert got.keys() == want.keys(), prefix
        for key in want:
            if key == "300":
                assert (got[key] or {}).keys() == (want[key] or {}).keys(), prefix
            else:
                assert same(got[key], want[key]), (prefix, key)
    houses = json.loads((stepped / "house_out_metrics.json").read_text())
    times = sorted(int(k) for k in houses if k.isdigit())
    assert times == list(range(300, hours * 3600 + 1, 300))
    assert len(houses[str(hours * 3600)]) == 3


def test_session_without_finish_loses_what_finish_keeps(tmp_path):
    # GIVEN the model stepped to its own stop time (the failure this module guards against, shown once)
    for name, finish in (("killed", False), ("finished", True)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "m.glm").write_text(small_feeder_glm(stop="2013-07-01 02:00:00", houses=2))
        session = GridlabdSession(folder / "m.glm").open()
        for k in range(1, 2 * 3600 // 300 + 1):
            session.step_to(k * 300)
        # WHEN the worker is killed (the old close) or finished
        if finish:
            seconds = session.finish()
            assert seconds is not None and seconds < 5
        else:
            session._gld._process.kill()
            session._gld._process.wait()
        session.close()
    # THEN killing leaves empty recorder files and metrics up to the last interim dump (1 h); finishing leaves
    # them complete
    assert (tmp_path / "killed" / "rec_load.csv").stat().st_size == 0
    killed = json.loads((tmp_path / "killed" / "house_out_metrics.json").read_text())
    assert max(int(k) for k in killed if k.isdigit()) == 3600
    assert len(data_rows(tmp_path / "finished" / "rec_load.csv")) == 24
    finished = json.loads((tmp_path / "finished" / "house_out_metrics.json").read_text())
    assert max(int(k) for k in finished if k.isdigit()) == 7200


def test_federate_stopped_by_sigterm_mid_run_leaves_complete_recorder_lines(tmp_path):
    from vppfed.launcher import PortBlock, helics_broker_binary

    # GIVEN the feeder federate alone in a federation, co-simulating 48 h of the model, and the batch run of 48 h
    batch, run = tmp_path / "batch", tmp_path / "run"
    batch.mkdir()
    run.mkdir()
    stop = "2013-07-03 00:00:00"
    (batch / "m.glm").write_text(small_feeder_glm(stop=stop))
    (run / "m.glm").write_text(small_feeder_glm(stop=stop))
    (run / "gld.json").write_text(json.dumps({
        "name": "gld_1", "period": PERIOD, "log_level": "warning",
        "publications": [{"key": "distribution_load", "type": "complex",
                          "info": {"object": "sub", "property": "distribution_load"}}]}))
    batch_run(batch)
    block = PortBlock()
    broker = subprocess.Popen([helics_broker_binary(), "-f", "1", f"--port={block.port}", "--timeout=120s",
                               f"--name=outputs_{block.port}"], cwd=run, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    progress = run / "progress"
    env = dict(os.environ, HELICS_BROKER_PORT=str(block.port), PYTHONUNBUFFERED="1",
               VPPFED_PROGRESS_DIR=str(progress), VPPFED_PID_DIR=str(run / "pids"))
    log_path = run / "gld_1.log"
    fed = None
    try:
        with open(log_path, "w") as log_file:
            fed = subprocess.Popen([sys.executable, "-m", "vppfed.federates.feeder", "--config", "gld.json",
                                    "--glm", "m.glm", "--hours", "48"], cwd=run, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        # WHEN it gets SIGTERM once it has simulated a few hours
        deadline = time.monotonic() + 120
        granted = 0.0
        while granted < 3 * 3600 and time.monotonic() < deadline and fed.poll() is None:
            time.sleep(0.2)
            try:
                granted = float((progress / "gld_1").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        assert fed.poll() is None, log_path.read_text()
        assert granted >= 3 * 3600, log_path.read_text()
        pid_file = next((run / "pids").glob("*.pid"))
        worker = int(pid_file.read_text())
        fed.send_signal(signal.SIGTERM)
        fed.wait(timeout=30)
    finally:
        if fed is not None and fed.poll() is None:
            fed.kill()
        broker.kill()
        broker.wait()
        block.release()
    log_text = log_path.read_text()
    assert fed.returncode == 143, log_text
    assert "finished its outputs" in log_text and "SIGKILL" not in log_text, log_text
    # THEN the worker is gone, and each recorder file holds whole lines, the batch run's first ones, up to the stop
    assert not Path(f"/proc/{worker}").exists() or Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z"
    assert not pid_file.exists()
    for name in RECORDER_FILES:
        text = (run / name).read_text()
        assert text.endswith("\n"), name
        got, want = data_rows(run / name), data_rows(batch / name)
        assert 3 * 12 - 1 <= len(got) < len(want), (name, len(got))
        assert got == want[:len(got)], name


def test_a_worker_that_cannot_finish_is_killed_after_the_timeout_and_the_log_says_why(tmp_path, caplog):
    # GIVEN a session whose worker is frozen (SIGSTOP) after a few steps
    (tmp_path / "m.glm").write_text(small_feeder_glm(stop="2013-07-01 01:00:00", houses=2))
    session = GridlabdSession(tmp_path / "m.glm", pid_file=tmp_path / "gld.pid").open()
    session.step_to(600)
    worker = session.pid
    os.kill(worker, signal.SIGSTOP)
    # WHEN it is closed with a 1 s budget
    started = time.monotonic()
    with caplog.at_level("ERROR"):
        session.close(timeout_s=1.0)
    # THEN close returns soon after the budget, the worker is gone, and the log names the stage and the SIGKILL
    assert time.monotonic() - started < 5
    assert not session.alive and not (tmp_path / "gld.pid").exists()
    assert not Path(f"/proc/{worker}").exists() or Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z"
    text = caplog.text
    assert "did not finish in 1.0 s" in text and "SIGKILL" in text and "finalize" in text
