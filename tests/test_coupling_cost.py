"""Issue 15, coupling cost: one GridLAB-D worker round trip per step and the fast parse of GridLAB-D texts; both must
leave the results as they were, byte for byte."""
from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pytest

from vppfed.configs.feeder_glm import FeederSpec, generate_feeder
from vppfed.federates.feeder.gld_worker import run_batch
from vppfed.formats.gld_strings import parse_complex, parse_complex_many


# ----------------------------------------------------------------------------------------------- the worker's batch
class _Cmd(Enum):
    SET_PROPERTY = "set_property"
    STEP_TO = "step_to"
    GET_PROPERTY = "get_property"


@dataclass
class _Msg:
    command: _Cmd
    args: dict[str, Any]


@dataclass
class _Resp:
    success: bool
    result: Any = None
    error: str | None = None


def test_a_batch_runs_in_order_and_stops_at_the_first_refused_write():
    # GIVEN handlers that record what ran and refuse writes to "bad"
    ran: list[str] = []

    def set_property(msg: _Msg) -> _Resp:
        ran.append(f"set {msg.args['object_name']}")
        return _Resp(True, 0 if msg.args["object_name"] != "bad" else 3)

    def step_to(msg: _Msg) -> _Resp:
        ran.append("step")
        return _Resp(True, {"code": 0, "time": msg.args["target_time"]})

    handlers = {_Cmd.SET_PROPERTY: set_property, _Cmd.STEP_TO: step_to}
    calls = [{"command": "set_property", "args": {"object_name": "a"}},
             {"command": "set_property", "args": {"object_name": "bad"}},
             {"command": "step_to", "args": {"target_time": "2013-07-01 00:01:00"}}]
    # WHEN the batch runs THEN it stops after the refused write: GridLAB-D never steps on half of a step's writes
    replies = run_batch(calls, handlers, _Msg, _Cmd)
    assert ran == ["set a", "set bad"]
    assert [r["result"] for r in replies] == [0, 3]
    # AND without the refusal every call runs, in order, each with its own time
    ran.clear()
    replies = run_batch([calls[0], calls[2]], handlers, _Msg, _Cmd)
    assert ran == ["set a", "step"] and all(r["seconds"] >= 0 for r in replies)
    # AND an unknown command ends the batch with an error, not an exception
    replies = run_batch([{"command": "nonsense", "args": {}}, calls[0]], handlers, _Msg, _Cmd)
    assert len(replies) == 1 and not replies[0]["success"] and "nonsense" in replies[0]["error"]


# ---------------------------------------------------------------------------------------------- the fast text parser
def test_the_fast_parser_gives_the_general_parsers_bits():
    rng = random.Random(4)
    texts = [f"{rng.uniform(-300, 300):+.6f}{rng.uniform(-180, 180):+.6f}d V" for _ in range(3000)]
    texts += [f"{rng.uniform(-3e5, 3e5):+.6g}{rng.uniform(-3e5, 3e5):+.6g}j VA" for _ in range(3000)]
    texts += [f"{rng.uniform(-3e5, 3e5):+.6e}{rng.uniform(-3e5, 3e5):+.6e}j VA" for _ in range(1000)]
    texts += ["+0", "-1.5", "+1e3 W", "+120.0;", "0+0j", "-0-0j", "+5-0j", "-5+0j", "-0+0d V", "+0-0d", "-0.0-180d",
              "+5-0.0d", "[1,2]", " +3 W", "+3i", "-2e-3+1e-3j kW", "1.5e3", "+2j", "-0", "+1.2+3.4r", "+77.86 degF"]
    fast = parse_complex_many(texts)
    slow = [parse_complex(t) for t in texts]
    # bit for bit, the sign of a zero included (it shows in the metrics files as -0.0)
    assert [(c.real.hex(), c.imag.hex()) for c in fast] == [(c.real.hex(), c.imag.hex()) for c in slow]
    with pytest.raises(ValueError):
        parse_complex_many(["+1.2 V", "twelve"])


# ------------------------------------------------------------------------------ the real worker: one round trip a step
@pytest.mark.slow
def test_one_round_trip_a_step_reads_what_separate_calls_read(tmp_path):
    from vppfed.federates.feeder.session import GridlabdError, GridlabdSession

    glm = tmp_path / "m.glm"
    glm.write_text(generate_feeder(FeederSpec(houses=4, period_s=60)).glm)
    with GridlabdSession(glm) as a, GridlabdSession(glm) as b:
        for k in range(1, 6):
            t = 60.0 * k
            setpoint = 74.0 + k
            # GIVEN the same writes; WHEN one session steps with separate calls, the other in one exchange
            a.set("F1_house_B0", "cooling_setpoint", setpoint)
            a.step_to(t)
            separate = (a.get_class("house", "air_temperature"), a.get("network_node", "distribution_load"))
            classes, objects = b.exchange(t, [("F1_house_B0", "cooling_setpoint", setpoint)],
                                          [("house", "air_temperature")], [("network_node", "distribution_load")])
            # THEN both read the same texts
            assert classes[("house", "air_temperature")] == separate[0]
            assert objects[("network_node", "distribution_load")] == separate[1]
        assert b.stats.round_trips == 5 and b.stats.steps == 5 and b.stats.writes == 5
        # AND a refused write names the property, and GridLAB-D did not step
        with pytest.raises(GridlabdError, match="F1_house_B0.no_such_property"):
            b.exchange(360.0, [("F1_house_B0", "no_such_property", 1.0)], [("house", "air_temperature")])
        assert b.time_s == 300.0


@pytest.mark.slow
def test_te30_runs_the_same_bytes_twice_at_once(tmp_path):
    # GIVEN the same te30 hour run twice at the same time (the load makes HELICS's message order differ)
    runs = [tmp_path / "a", tmp_path / "b"]
    procs = [subprocess.Popen([sys.executable, "-m", "vppfed.cli", "run", "te30", "--hours", "1", "--out", str(r),
                               "--no-progress", "--no-report"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for r in runs]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out[-2000:]
    # THEN every metrics file is the same, byte for byte
    names = sorted(p.name for p in runs[0].glob("*_metrics.json"))
    assert len(names) >= 9
    for name in names:
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    # AND the feeder made one worker round trip per step, and says where its time went
    log = (runs[0] / "gld_7.log").read_text()
    assert "60 steps" in log and "60 worker round trips" in log, log[-600:]
    assert "CPU s in this thread" in log   # co-hosted (vppfed run's default): the feeder's thread
