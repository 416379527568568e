"""HELICS adapter of the battery manager (the only module of this package that imports helics, via the runtime).

The HELICS ``period`` is the *sampling* period (the feeder's step, so no feeder value is missed); the manager's
``period_s`` (a multiple of it) is the *control* period. Per granted time ``t``:

1. read the feeder values that changed: the sensed load (substation ``distribution_load`` or a meter's
   ``measured_real_power``; the real part of a complex VA is used), the battery's ``state_of_charge`` and the
   inverter's ``VA_Out`` (the power really delivered, > 0 discharge), and add the load and the delivered power to
   the sums of the current control period (sample-and-hold means: the feeder's HVAC cycling makes single samples
   swing by tens of kW, while the control period's mean is the demand a utility meters);
2. at a control time (``t`` a multiple of ``period_s``): derive the string voltage from the reported SOC with
   GridLAB-D's own LI_ION open-circuit line (:mod:`.plant`; an IR-compensated voltage sensor, because GridLAB-D
   publishes no battery voltage), step the pure :class:`~vppfed.federates.battery.manager.BatteryManager` with the
   period's mean load and mean delivered power (which saves its whole state in SQLite in the same step), publish its
   command as the inverter's ``P_Out`` [W, > 0 discharge] and write one metrics row (``battery_<root>_metrics.json``).

Resume (``--resume`` or ``VPPFED_RESUME=1``): the federation restarts at t = 0, so this federate *replays* the
commands it saved for every control step up to the resume point (the feeder sees exactly the inputs of the killed
run) and continues live after it. The resume point is the last step both saved in the state file and written to the
metrics file (a kill between the two would otherwise lose that step's metrics row); the state file keeps every step,
so an earlier one can be loaded. A missing or damaged state file stops the federate with a clear error naming it; it
never silently starts afresh.
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
from vppfed.federates.metrics import MetricsWriter, metrics_path, recover
from vppfed.federates.runtime import FederateBase, stop_seconds

LOG = logging.getLogger(__name__)

METRIC_COLUMNS = [
    ("soc", "pu"),             # SOC reported by GridLAB-D's battery
    ("soc_estimate", "pu"),    # the manager's coulomb-counted estimate
    ("power", "W"),            # mean power delivered by the inverter over the period (VA_Out), > 0 discharge
    ("command", "W"),          # P_Out sent, > 0 discharge
    ("state", "-"),            # -1 CHARGE, 0 REST, +1 SELL
    ("net_load", "W"),         # sensed feeder load, mean over the period
    ("gross_load", "W"),       # sensed load with the battery's output added back (load without the battery)
    ("eta_c", "pu"),           # current coulombic efficiency estimate
    ("voltage", "V"),          # string voltage derived from the reported SOC
    ("target", "W"),           # feeder load the battery discharges down to (LP target or discharge threshold)
]

#: Full states kept in the state file (commands are kept for every step): enough to step back to the last metrics row.
KEEP_STATES = 64


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


def _is_multiple(t: float, every: float) -> bool:
    return abs(t / every - round(t / every)) < 1e-9


def last_metrics_time(path: Path) -> float | None:
    """Time [s] of the last complete sample in a metrics file, or None (no file, or no sample yet)."""
    if not path.exists():
        return None
    try:
        doc = recover(path)
    except ValueError:
        return None
    times = [int(k) for k in doc if k not in ("StartTime", "Metadata")]
    return float(max(times)) if times else None


class BatteryFederate(FederateBase):
    """The battery manager on the shared runtime (see the module docstring)."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.config, stop_seconds(args))
        self.args = args
        self.setup = read_manager_file(args.manager)
        self.start = datetime.strptime(self.setup.start, "%Y-%m-%d %H:%M:%S")
        control = self.setup.battery.period_s
        if control < self.period - 1e-9 or not _is_multiple(control, self.period):
            raise UserError(f"{Path(args.manager).name}: battery.period_s ({control:g} s) must be a multiple of the "
                            f"HELICS period of {self.config_path.name} ({self.period:g} s)")
        self.manager: BatteryManager | None = None
        self.store: StateStore | None = None
        self.metrics: MetricsWriter | None = None
        self.replay: dict[float, float] = {}
        self.resume_t: float | None = None
        self.load_w = 0.0
        self.soc: float | None = None
        self.output_w: float | None = None
        self._load_sum = 0.0
        self._power_sum = 0.0
        self._samples = 0

    # ------------------------------------------------------------------ hooks
    def _metrics_file(self) -> Path | None:
        if not self.args.metrics_root:
            return None
        return metrics_path(self.args.metrics_dir or ".", "battery", self.args.metrics_root)

    def _open_for_resume(self, state_path: Path) -> None:
        cfg = self.setup.battery
        self.store = StateStore.open_existing(state_path, cfg.fingerprint(), keep_steps=KEEP_STATES)
        metrics_file = self._metrics_file()
        limit = last_metrics_time(metrics_file) if metrics_file is not None else None
        if metrics_file is not None and limit is None:
            # killed before the first metrics row: no step was completed, so the run starts from its initial state
            LOG.warning("%s: %s has no sample yet; resuming from the initial state", self.name, metrics_file)
            self.manager = BatteryManager(cfg, self.store)
            self.resume_t = None
            return
        self.manager = BatteryManager.resume(cfg, self.store, at_or_before_s=limit)
        self.resume_t = self.manager.t_s
        self.replay = {t: c for t, c in self.store.commands().items() if t <= self.resume_t}
        LOG.info("%s: resuming after t = %s s (%d saved steps replayed)", self.name, self.resume_t, len(self.replay))

    def on_start(self) -> None:
        cfg = self.setup.battery
        state_path = Path(self.setup.state_file or f"{self.name}_state.sqlite").resolve()
        if self.resume or getattr(self.args, "resume", False):
            self._open_for_resume(state_path)
        else:
            self.store = StateStore.create(state_path, cfg.fingerprint(), keep_steps=KEEP_STATES)
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
                self.output_w = power.real

    def _voltage(self) -> float | None:
        if self.soc is None:
            return None
        return li_ion_ocv(self.soc, self.setup.battery.nominal_voltage_v)

    def on_step(self, t: float) -> None:
        assert self.manager is not None
        self._read_inputs()
        self._load_sum += self.load_w
        self._power_sum += self.output_w or 0.0
        self._samples += 1
        if not _is_multiple(t, self.setup.battery.period_s):
            return
        load_w = self._load_sum / self._samples
        delivered_w = None if self.output_w is None else self._power_sum / self._samples
        self._load_sum, self._power_sum, self._samples = 0.0, 0.0, 0
        if self.resume_t is not None and t <= self.resume_t:
            if t not in self.replay:
                raise UserError(f"{self.store.path if self.store else 'state'}: no saved command for t = {t:g} s; "
                                "the resumed case must use the same period as the killed one")
            self._publish(self.replay[t])
            return
        now = self.start + timedelta(seconds=t)
        hour = now.hour + now.minute / 60.0 + now.second / 3600.0
        voltage = self._voltage()
        out = self.manager.step(StepInput(t_s=t, hour=hour, load_w=load_w, measured_soc=self.soc,
                                          delivered_w=delivered_w, voltage_v=voltage, output_w=self.output_w))
        self._publish(out.command_w)
        if self.metrics is not None:
            self.metrics.write(t, {self.setup.uid: [
                self.soc, out.soc_estimate, delivered_w, out.command_w, out.state.code, load_w,
                out.gross_load_w, out.eta_c, voltage, self._target_w()]})

    def _target_w(self) -> float | None:
        """The load level the battery discharges down to in this step (None when it has none)."""
        assert self.manager is not None
        cfg = self.setup.battery
        if cfg.policy == "schedule" and self.manager.schedule_peak_w is not None:
            return self.manager.schedule_peak_w
        if cfg.policy in ("threshold", "schedule") and cfg.discharge_above_w < 1e12:
            return cfg.discharge_above_w
        return None

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
