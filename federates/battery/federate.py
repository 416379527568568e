"""HELICS adapter of the battery manager (the only module of this package that imports helics, via the runtime).

Per granted time ``t`` (every ``period`` seconds of the HELICS config):

1. read the feeder values that changed: the sensed load (substation ``distribution_load`` or a meter's
   ``measured_real_power``; the real part of a complex VA is used), the battery's ``state_of_charge`` and the
   inverter's ``VA_Out`` (the power really delivered, > 0 discharge);
2. derive the string voltage from the reported SOC with GridLAB-D's own LI_ION open-circuit line
   (:mod:`.plant`; an IR-compensated voltage sensor), because GridLAB-D publishes no battery voltage;
3. step the pure :class:`~vppfed.federates.battery.manager.BatteryManager` (which saves its whole state in SQLite in
   the same step) and publish its command as the inverter's ``P_Out`` [W, > 0 discharge];
4. write one metrics row (``battery_<root>_metrics.json``).

Resume (``--resume`` or ``VPPFED_RESUME=1``): the federation restarts at t = 0, so this federate *replays* the
commands it saved for every step up to its last saved step (the feeder sees exactly the inputs of the killed run) and
continues live after it. Its metrics file keeps the samples up to the resume point. A missing or damaged state file
stops the federate with a clear error; it never silently starts afresh.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from vppfed.configs.validate import load_json, parse_dataclass, require
from vppfed.errors import UserError
from vppfed.federates.battery.config import BatteryConfig
from vppfed.federates.battery.manager import BatteryManager, StepInput
from vppfed.federates.battery.persistence import StateStore
from vppfed.federates.battery.plant import li_ion_ocv
from vppfed.federates.metrics import MetricsWriter
from vppfed.federates.runtime import FederateBase, stop_seconds

LOG = logging.getLogger(__name__)

METRIC_COLUMNS = [
    ("soc", "pu"),             # SOC reported by GridLAB-D's battery
    ("soc_estimate", "pu"),    # the manager's coulomb-counted estimate
    ("power", "W"),            # power delivered by the inverter (VA_Out real part), > 0 discharge
    ("command", "W"),          # P_Out sent, > 0 discharge
    ("state", "-"),            # -1 CHARGE, 0 REST, +1 SELL
    ("net_load", "W"),         # sensed feeder load
    ("gross_load", "W"),       # sensed load with the battery's output added back (load without the battery)
    ("eta_c", "pu"),           # current coulombic efficiency estimate
    ("voltage", "V"),          # string voltage derived from the reported SOC
]


@dataclass
class ManagerFile:
    """The ``--manager`` JSON: the battery configuration plus how this federate is wired to the feeder.

    Attributes
    ----------
    battery : BatteryConfig
        The manager's configuration (see :class:`~vppfed.federates.battery.config.BatteryConfig`).
    load_key : str
        Subscription target of the sensed load (complex VA or double W).
    soc_key, power_key : str
        Targets of the battery's ``state_of_charge`` [pu] and the inverter's ``VA_Out`` [VA]; "" = not wired.
    command_key : str
        Local key of the publication the feeder subscribes to for the inverter's ``P_Out``.
    start : str
        Local start time ``YYYY-mm-dd HH:MM:SS`` (for the time windows and the day-ahead plan).
    state_file : str
        SQLite state file, relative to the working directory; default ``<federate>_state.sqlite``.
    uid : str
        Row name in the metrics file (the battery object's name).
    """

    battery: BatteryConfig
    load_key: str
    soc_key: str = ""
    power_key: str = ""
    command_key: str = "p_out"
    start: str = "2013-07-01 00:00:00"
    state_file: str = ""
    uid: str = "battery"

    def validate(self) -> None:
        require(bool(self.load_key), "load_key", "must name the subscription of the sensed load")
        try:
            datetime.strptime(self.start, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"start: expected 'YYYY-mm-dd HH:MM:SS', got {self.start!r}") from None


def read_manager_file(path: str | Path) -> ManagerFile:
    """Load and validate a ``--manager`` JSON; errors name the file and the field."""
    return parse_dataclass(ManagerFile, load_json(path), Path(path).name)


class BatteryFederate(FederateBase):
    """The battery manager on the shared runtime (see the module docstring)."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.config, stop_seconds(args))
        self.args = args
        self.setup = read_manager_file(args.manager)
        self.start = datetime.strptime(self.setup.start, "%Y-%m-%d %H:%M:%S")
        self.manager: BatteryManager | None = None
        self.store: StateStore | None = None
        self.metrics: MetricsWriter | None = None
        self.replay: dict[float, float] = {}
        self.resume_t: float | None = None
        self.load_w = 0.0
        self.soc: float | None = None
        self.delivered_w: float | None = None

    # ------------------------------------------------------------------ hooks
    def on_start(self) -> None:
        cfg = self.setup.battery
        state_path = Path(self.setup.state_file or f"{self.name}_state.sqlite")
        if self.resume or getattr(self.args, "resume", False):
            self.store = StateStore.open_existing(state_path, cfg.fingerprint())
            self.manager = BatteryManager.resume(cfg, self.store)
            self.resume_t = self.manager.t_s
            self.replay = self.store.commands()
            LOG.info("%s: resuming after t = %s s (%d saved steps replayed)", self.name, self.resume_t,
                     len(self.replay))
        else:
            self.store = StateStore.create(state_path, cfg.fingerprint())
            self.manager = BatteryManager(cfg, self.store)
        if self.args.metrics_root:
            label = self.setup.start
            self.metrics = MetricsWriter(self.args.metrics_dir or ".", "battery", self.args.metrics_root,
                                         METRIC_COLUMNS, label,
                                         resume_after=None if self.resume_t is None else int(self.resume_t))
        self._publish(self.replay.get(0.0, 0.0))

    def _publish(self, command_w: float) -> None:
        self.publish(self.setup.command_key, float(command_w))

    def _read_inputs(self) -> None:
        load = self.updated(self.setup.load_key, "complex")
        if load is not None:
            self.load_w = load.real
        if self.setup.soc_key:
            soc = self.updated(self.setup.soc_key, "double")
            if soc is not None:
                self.soc = soc
        if self.setup.power_key:
            power = self.updated(self.setup.power_key, "complex")
            if power is not None:
                self.delivered_w = power.real

    def _voltage(self) -> float | None:
        if self.soc is None:
            return None
        return li_ion_ocv(self.soc, self.setup.battery.nominal_voltage_v)

    def on_step(self, t: float) -> None:
        assert self.manager is not None
        self._read_inputs()
        if self.resume_t is not None and t <= self.resume_t:
            if t not in self.replay:
                raise UserError(f"{self.store.path if self.store else 'state'}: no saved command for t = {t:g} s; "
                                "the resumed case must use the same period as the killed one")
            self._publish(self.replay[t])
            return
        now = self.start + timedelta(seconds=t)
        hour = now.hour + now.minute / 60.0 + now.second / 3600.0
        voltage = self._voltage()
        out = self.manager.step(StepInput(t_s=t, hour=hour, load_w=self.load_w, measured_soc=self.soc,
                                          delivered_w=self.delivered_w, voltage_v=voltage))
        self._publish(out.command_w)
        if self.metrics is not None:
            self.metrics.write(t, {self.setup.uid: [
                self.soc, out.soc_estimate, self.delivered_w, out.command_w, out.state.code, self.load_w,
                out.gross_load_w, out.eta_c, voltage]})

    def on_finish(self, failed: bool) -> None:
        if self.metrics is not None:
            self.metrics.close()
        if self.store is not None:
            self.store.close()
        if self.manager is not None:
            machine = self.manager.machine
            LOG.info("%s: %d steps, %d transitions, SOC estimate %.3f, eta_c %.4f%s", self.name,
                     self.manager.step_index, len(machine.transitions), self.manager.soc, self.manager.counter.eta_c,
                     " (failed)" if failed else "")
