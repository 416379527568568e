"""The CHARGE / REST / SELL state machine: explicit states, guarded transitions, causes."""
from __future__ import annotations

import logging

import pytest

from vppfed.federates.battery.config import BatteryConfig, in_window
from vppfed.federates.battery.state_machine import ALLOWED, BatteryState, Observation, StateMachine

C, R, S = BatteryState.CHARGE, BatteryState.REST, BatteryState.SELL


def config(**kwargs) -> BatteryConfig:
    base = dict(capacity_ah=100.0, nominal_voltage_v=48.0, max_charge_w=3000.0, max_discharge_w=3000.0,
                soc_low=0.2, soc_high=0.9, soc_hysteresis=0.05, v_empty=44.0, v_full=54.0, rest_min_s=600.0,
                coulombic_efficiency=0.95, idle_rest_s=0.0, reconcile_warn=0.05, degradation_cost=0.005)  # the core defaults before issue 17 (sections and core now share the section's)
    base.update(kwargs)
    cfg = BatteryConfig(**base)
    cfg.validate()
    return cfg


def obs(t, soc=0.5, wanted=0.0, v=50.0, hour=12.0):
    return Observation(t_s=t, hour=hour, soc=soc, voltage_v=v, wanted_w=wanted)


def test_full_cycle_charge_rest_sell_rest_charge_with_causes(caplog):
    machine = StateMachine(config(), entered_at_s=-600.0)
    with caplog.at_level(logging.INFO, logger="vppfed.federates.battery.state_machine"):
        assert machine.step(obs(0, soc=0.5, wanted=-1000)) is C
        assert machine.step(obs(300, soc=0.8, wanted=-1000)) is C
        assert machine.step(obs(600, soc=0.91, wanted=-1000)) is R  # soc_high
        assert machine.step(obs(900, soc=0.91, wanted=+1000)) is R  # minimum rest not over
        assert machine.step(obs(1200, soc=0.91, wanted=+1000)) is S
        assert machine.step(obs(1500, soc=0.19, wanted=+1000)) is R  # soc_low
        assert machine.step(obs(2100, soc=0.19, wanted=-1000)) is C
    assert [(t.source, t.target, t.cause) for t in machine.transitions] == [
        (R, C, "policy_charge"), (C, R, "soc_high"), (R, S, "policy_discharge"), (S, R, "soc_low"),
        (R, C, "policy_charge")]
    assert [t.t_s for t in machine.transitions] == [0, 600, 1200, 1500, 2100]
    assert sum("CHARGE -> REST (soc_high)" in r.getMessage() for r in caplog.records) == 1


def test_voltage_breach_stops_current_in_the_same_step():
    machine = StateMachine(config(), state=C)
    # GIVEN charging is wanted at 3 kW, WHEN the voltage reaches v_full, THEN REST and a zero command at once
    assert machine.step(obs(300, soc=0.6, wanted=-3000, v=54.0)) is R
    assert machine.clip(-3000) == 0.0
    assert machine.transitions[-1].cause == "voltage_full"
    machine = StateMachine(config(), state=S)
    assert machine.step(obs(300, soc=0.6, wanted=2000, v=43.9)) is R
    assert machine.transitions[-1].cause == "voltage_empty"


def test_rest_does_not_restart_a_direction_at_its_limit_voltage_or_inside_hysteresis():
    machine = StateMachine(config(), entered_at_s=0.0)
    assert machine.step(obs(1000, soc=0.5, wanted=-1000, v=54.5)) is R  # voltage still at the full limit
    assert machine.step(obs(1300, soc=0.88, wanted=-1000)) is R  # 0.88 > 0.9 - 0.05
    assert machine.step(obs(1600, soc=0.22, wanted=+1000)) is R  # 0.22 < 0.2 + 0.05
    assert machine.step(obs(1900, soc=0.84, wanted=-1000)) is C


def test_time_windows_close_and_gate_the_active_states():
    cfg = config(charge_window_h=[22.0, 6.0], sell_window_h=[17.0, 21.0])
    machine = StateMachine(cfg, entered_at_s=-600.0)
    assert machine.step(obs(0, wanted=-1000, hour=12.0)) is R  # charge window closed at noon
    assert machine.step(obs(300, wanted=-1000, hour=23.0)) is C  # open across midnight
    assert machine.step(obs(600, wanted=-1000, hour=6.0)) is R
    assert machine.transitions[-1].cause == "charge_window_closed"
    assert machine.step(obs(1200, wanted=1000, hour=16.9)) is R
    assert machine.step(obs(1500, wanted=1000, hour=17.0)) is S
    assert machine.step(obs(1800, wanted=1000, hour=21.0)) is R
    assert machine.transitions[-1].cause == "sell_window_closed"


def test_policy_reversal_goes_through_rest_never_directly():
    machine = StateMachine(config(rest_min_s=0.0), state=C)
    assert machine.step(obs(0, wanted=+500)) is R
    assert machine.transitions[-1].cause == "policy_discharge"
    assert machine.step(obs(300, wanted=+500)) is S
    assert (C, S) not in ALLOWED and (S, C) not in ALLOWED
    with pytest.raises(RuntimeError):
        machine._go(600, C, "test")


def test_clip_respects_state_and_inverter_limits():
    machine = StateMachine(config(), state=C)
    assert machine.clip(-5000) == -3000 and machine.clip(800) == 0.0
    machine.state = S
    assert machine.clip(5000) == 3000 and machine.clip(-800) == 0.0
    machine.state = R
    assert machine.clip(5000) == 0.0


def test_machine_round_trips_through_dict():
    machine = StateMachine(config(), entered_at_s=-600.0)
    machine.step(obs(0, wanted=-1000))
    again = StateMachine.from_dict(machine.config, machine.to_dict())
    assert again.state is C and again.transitions == machine.transitions and again.entered_at_s == 0


@pytest.mark.parametrize("hour,window,expected", [
    (5.0, [22.0, 6.0], True), (12.0, [22.0, 6.0], False), (22.0, [22.0, 6.0], True), (6.0, [22.0, 6.0], False),
    (12.0, [], True), (24.5, [0.0, 1.0], True)])
def test_in_window(hour, window, expected):
    assert in_window(hour, window) is expected
