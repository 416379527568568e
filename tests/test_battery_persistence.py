"""Crash-safe state: every step saved in one transaction; damaged or foreign state files are clear errors."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vppfed.errors import UserError
from vppfed.federates.battery.config import BatteryConfig
from vppfed.federates.battery.manager import STATE_FORMAT, BatteryManager, StepInput
from vppfed.federates.battery.persistence import StateStore

CFG = BatteryConfig(capacity_ah=28.125, nominal_voltage_v=480.0, max_charge_w=5000.0, max_discharge_w=5000.0,
                    charge_below_w=3000.0, discharge_above_w=6000.0, rest_min_s=600.0, v_empty=420.0, v_full=478.0,
                    coulombic_efficiency=0.95, idle_rest_s=0.0, reconcile_warn=0.05, degradation_cost=0.005)  # the core defaults before issue 17 (sections and core now share the section's)


def load_at(k: int) -> float:
    return 4000.0 + 3000.0 * ((k * 7) % 5) - 1500.0 * (k % 3)


def run(manager: BatteryManager, steps: range) -> list[tuple]:
    out = []
    for k in steps:
        res = manager.step(StepInput(t_s=300.0 * k, hour=(300.0 * k / 3600) % 24, load_w=load_at(k)))
        out.append((res.t_s, res.command_w, res.state.value, res.soc_estimate))
    return out


def test_resume_from_store_continues_exactly(tmp_path):
    path = tmp_path / "battery_state.sqlite"
    # GIVEN an uninterrupted run of 40 steps
    reference = run(BatteryManager(CFG), range(40))
    # WHEN a run is stopped after 17 steps and a new manager resumes from the file
    store = StateStore.create(path, CFG.fingerprint())
    first = run(BatteryManager(CFG, store), range(17))
    store.close()
    store = StateStore.open_existing(path, CFG.fingerprint())
    resumed = BatteryManager.resume(CFG, store)
    rest = run(resumed, range(17, 40))
    store.close()
    # THEN the outputs are identical, bit for bit
    assert first + rest == reference


def test_resume_at_an_earlier_step_rewrites_the_future(tmp_path):
    path = tmp_path / "s.sqlite"
    store = StateStore.create(path, CFG.fingerprint())
    reference = run(BatteryManager(CFG, store), range(30))
    resumed = BatteryManager.resume(CFG, store, at_or_before_s=300.0 * 10 + 1)
    assert resumed.step_index == 11
    assert run(resumed, range(11, 30)) == reference[11:]
    step, t_s, _ = store.load()
    assert (step, t_s) == (30, 300.0 * 29)


def test_sigkill_during_writes_leaves_last_committed_step(tmp_path):
    # GIVEN a child process saving steps as fast as it can, WHEN it is SIGKILLed, THEN the file opens cleanly
    path = tmp_path / "killed.sqlite"
    script = textwrap.dedent(f"""
        import sys
        from vppfed.federates.battery.persistence import StateStore
        store = StateStore.create({str(path)!r}, "fp")
        k = 0
        while True:
            k += 1
            store.save(k, float(k), {{"k": k, "pad": "x" * 4000}})
            if k == 20:
                print("ready", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.kill()
    proc.wait()
    store = StateStore.open_existing(path, "fp")
    step, t_s, state = store.load()
    assert step >= 20 and state["k"] == step and t_s == float(step)
    store.close()


def test_missing_state_file_is_an_error_not_a_fresh_start(tmp_path):
    with pytest.raises(UserError, match="no battery state to resume from"):
        StateStore.open_existing(tmp_path / "nope.sqlite")


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"{not a database at all" * 100)
    with pytest.raises(UserError, match="not a battery state database"):
        StateStore.open_existing(path)


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"")
    with pytest.raises(UserError, match="not a battery state database"):
        StateStore.open_existing(path)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    store = StateStore.create(path, CFG.fingerprint())
    run(BatteryManager(CFG, store), range(200))
    store.close()
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(UserError, match=r"damaged|unreadable|malformed"):
        store = StateStore.open_existing(path, CFG.fingerprint())
        store.load()


def test_corrupted_page_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    store = StateStore.create(path, CFG.fingerprint())
    run(BatteryManager(CFG, store), range(60))
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[2 * page + 8: 2 * page + 2000] = np.random.default_rng(0).bytes(1992)  # scribble over a b-tree page
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"damaged|unreadable|checksum|malformed"):
        store = StateStore.open_existing(path, CFG.fingerprint())
        store.load()


def test_edited_row_fails_its_checksum(tmp_path):
    path = tmp_path / "s.sqlite"
    store = StateStore.create(path, CFG.fingerprint())
    run(BatteryManager(CFG, store), range(5))
    store.close()
    conn = sqlite3.connect(path)
    text = conn.execute("SELECT state FROM steps WHERE step = 5").fetchone()[0]
    conn.execute("UPDATE steps SET state = ? WHERE step = 5", (text.replace('"REST"', '"SELL"', 1),))
    conn.commit()
    conn.close()
    store = StateStore.open_existing(path, CFG.fingerprint())
    with pytest.raises(UserError, match="fails its checksum"):
        store.load()


def test_wrong_schema_version_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    StateStore.create(path, "fp").close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match="schema version '99'"):
        StateStore.open_existing(path, "fp")


def test_other_database_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE x (a)")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match="unreadable"):
        StateStore.open_existing(path)


def test_other_config_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    StateStore.create(path, CFG.fingerprint()).close()
    with pytest.raises(UserError, match="another battery configuration"):
        StateStore.open_existing(path, "0123456789abcdef")


def test_empty_store_and_malformed_state_are_clear_errors(tmp_path):
    store = StateStore.create(tmp_path / "s.sqlite", CFG.fingerprint())
    with pytest.raises(UserError, match="no saved battery step"):
        BatteryManager.resume(CFG, store)
    store.save(1, 0.0, {"format": STATE_FORMAT, "step": 1})
    with pytest.raises(UserError, match="incomplete or malformed"):
        BatteryManager.resume(CFG, store)
    good = BatteryManager(CFG)
    run(good, range(3))
    state = json.loads(json.dumps(good.state_dict()))
    state["counter"]["ah"] = -5.0
    store.save(2, 1.0, state)
    with pytest.raises(UserError, match="out of range"):
        BatteryManager.resume(CFG, store)
    store.close()
