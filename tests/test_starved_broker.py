"""A broker that is descheduled for a while (a starved 2-core machine) must not end a healthy run (issue 15.2).

Measured before the fix: a sub-broker of ercot8 stopped (SIGSTOP) for 40 s ended the run with "core lost connection
with broker"; a 1,000-house feeder under a sub-broker died the same way while the machine was loaded. The launcher
now turns HELICS's ping timers off (it watches every process itself), so the run goes on when the broker resumes.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

from launcher_helpers import run_in_thread, wait_until_running


@pytest.mark.slow
def test_a_sub_broker_stopped_for_40_s_does_not_end_the_run(tmp_path):
    from vppfed.cases import case_yaml
    from vppfed.configs.case import build_case
    from vppfed.launcher import Launcher

    # GIVEN an ercot8 run with two feeders under sub-brokers, long enough to still run after the pause
    built = build_case(case_yaml("ercot8"), tmp_path / "run", {"case.hours": 48, "feeder.houses": 5, "bulk.buses": 2})
    launcher = Launcher(built.runner, timeout=600)
    thread, outcome = run_in_thread(launcher)
    wait_until_running(built.directory, "pypower")
    # WHEN the first sub-broker is stopped for 40 s (8 HELICS ticks) mid-run, then continued
    broker = launcher.sub_brokers[0]
    os.kill(broker.popen.pid, signal.SIGSTOP)
    try:
        time.sleep(40)
    finally:
        os.kill(broker.popen.pid, signal.SIGCONT)
    thread.join(600)
    # THEN the run finishes to its stop time
    summary = outcome[0]
    assert getattr(summary, "ok", False), summary
    assert summary.simulated_seconds == pytest.approx(48 * 3600.0)
