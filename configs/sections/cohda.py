"""The ``cohda:`` section: COHDA agents of the generated feeder's devices plan the day, then the feeder runs the plan.

YAML (every field optional)::

    cohda:
      devices: [battery_inverters, ev_chargers]   # device types of the feeder that get an agent
      schedules: 10          # possible schedules per device (option 0 = what the device does without the VPP)
      interval_s: 900        # plan interval; case.hours must be a whole number of them, and it a multiple of the
                             # feeder's step
      target: flat           # flat: a constant aggregate (level_kw, default the devices' mean power), or
      target_file: null      # file: a CSV with one value per interval (last column, kW, feed-in > 0; header skipped)
      level_kw: null
      forecast_run: null     # feeder: flatten the feeder load, forecast from this run folder's substation metrics
                             # (a run of the same case with negotiate: false): target = other loads - their mean
                             # + the devices' mean power
      soc_min: 0.2           # battery energy limits (fraction of capacity)
      soc_max: 0.9
      ev_trip_factor: 1.0    # EV energy per day = factor * travel_distance / mileage_efficiency (capped by the
                             # battery), divided by the charging efficiency
      k: 1                   # overlay: ring neighbours per side
      phi: 0.5               # overlay: shortcut density
      improve: false         # pairwise exchanges after COHDA
      negotiate: true        # false: play option 0 of every device (the uncontrolled feeder, for comparison)

Files: ``cohda_instance.npz`` (the negotiation instance: schedules N x M x T in kW, target, overlay edges, ``init``
all zeros, i.e. the uncontrolled devices) and ``cohda_devices.json`` (timing and, per device, the feeder object it
writes and the measurement it reads). The federate ``cohda_vpp`` (:mod:`vppfed.federates.cohda.adapter`, ``--role plan``)
negotiates at t = 0, before the feeder's first step, and then writes battery ``P_Out`` and EV
``maximum_charge_rate`` per interval through the feeder's subscriptions.
"""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vppfed.configs.case import CaseContext
from vppfed.io import parse_dataclass, require
from vppfed.errors import UserError

SECTION = "cohda"
ORDER = 60
FEDERATE = "cohda_vpp"
INSTANCE_FILE = "cohda_instance.npz"
DEVICES_FILE = "cohda_devices.json"
DEVICE_TYPES = ("battery_inverters", "ev_chargers")


@dataclass
class CohdaSection:
    """The ``cohda:`` YAML section (see the module docstring)."""

    devices: list[str] = field(default_factory=lambda: list(DEVICE_TYPES))
    schedules: int = 10
    interval_s: int = 900
    target: Literal["flat", "file", "feeder"] = "flat"
    target_file: str | None = None
    level_kw: float | None = None
    forecast_run: str | None = None
    soc_min: float = 0.2
    soc_max: float = 0.9
    ev_trip_factor: float = 1.0
    k: int = 1
    phi: float = 0.5
    improve: bool = False
    negotiate: bool = True

    def validate(self) -> None:
        require(len(self.devices) > 0 and all(d in DEVICE_TYPES for d in self.devices), "devices",
                f"a non-empty list of {', '.join(DEVICE_TYPES)}")
        require(2 <= self.schedules <= 1000, "schedules", "must be within 2..1000")
        require(self.interval_s >= 60, "interval_s", "must be >= 60 s")
        require((self.target == "file") == (self.target_file is not None), "target_file",
                "give target_file exactly when target is 'file'")
        require((self.target == "feeder") == (self.forecast_run is not None), "forecast_run",
                "give forecast_run exactly when target is 'feeder'")
        require(0.0 <= self.soc_min < self.soc_max <= 1.0, "soc_min", "need 0 <= soc_min < soc_max <= 1")
        require(self.ev_trip_factor > 0, "ev_trip_factor", "must be > 0")
        require(self.k >= 1, "k", "must be >= 1")
        require(self.phi >= 0, "phi", "must be >= 0")


def read_target_file(path: Path, intervals: int, where: str) -> np.ndarray:
    """Target per interval (kW) from a CSV: the last column of every numeric line; a header line is skipped."""
    if not path.exists():
        raise UserError(f"{where}.target_file: {path}: file not found")
    values = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            values.append(float(text.replace(";", ",").split(",")[-1]))
        except ValueError:
            if values:
                raise UserError(f"{where}.target_file: {path} line {n}: not a number: {text!r}") from None
    if len(values) < intervals:
        raise UserError(f"{where}.target_file: {path} has {len(values)} values, the plan needs {intervals}")
    target = np.asarray(values[:intervals], dtype=float)
    if not np.all(np.isfinite(target)):
        raise UserError(f"{where}.target_file: {path}: values must be finite")
    return target


def feeder_target(run_dir: Path, schedules: np.ndarray, start_label: str, res_s: int, intervals: int,
                  where: str) -> np.ndarray:
    """Target (kW, feed-in > 0) that flattens the feeder: the other loads' deviation from their mean, shifted to the
    devices' mean power. The other loads are the forecast run's substation load plus what the devices fed in there
    (option 0, the uncontrolled devices)."""
    from vppfed.formats.metrics import load_if_present

    m = load_if_present(run_dir, "substation") if run_dir.is_dir() else None
    if m is None:
        raise UserError(f"{where}.forecast_run: {run_dir}: no substation metrics (run the case with "
                        f"--set cohda.negotiate=false first)")
    if m.start_time != start_label:
        raise UserError(f"{where}.forecast_run: {run_dir} starts at {m.start_time!r}, the case at {start_label!r}")
    load_kw = m.column("real_power_avg")[:, 0] / 1000.0
    k = np.ceil(m.times / res_s).astype(int) - 1        # a sample at t averages (t - interval, t]
    feeder = np.full(intervals, np.nan)
    for i in range(intervals):
        sel = (k == i) & np.isfinite(load_kw)
        if sel.any():
            feeder[i] = load_kw[sel].mean()
    if np.isnan(feeder).any():
        raise UserError(f"{where}.forecast_run: {run_dir} covers {int((~np.isnan(feeder)).sum())} of the "
                        f"{intervals} plan intervals")
    other = feeder + schedules[:, 0].sum(axis=0)
    return other - other.mean() + float(schedules.mean(axis=(1, 2)).sum())


def _devices(sec: CohdaSection, ctx: CaseContext, feeder: Any, res_s: int, intervals: int, where: str):
    """Specs of the selected devices from the feeder's GLM (ratings, initial states, EV stays at home)."""
    from vppfed.configs.vpp_devices import _number, read_glm_objects
    from vppfed.federates.cohda.devices import BatterySpec, EvSpec, home_windows

    objs = read_glm_objects(ctx.directory / feeder.device_glm)
    inv = feeder.inventory
    specs: list[tuple[str, Any, str]] = []  # (kind, spec, written object)
    if "battery_inverters" in sec.devices:
        w = f"{where}.devices.battery_inverters"
        if not inv.battery_inverters:
            raise UserError(f"{w}: {feeder.lacks('battery inverters', 'battery_fraction')}")
        bat_of = {o["parent"]: n for n, o in objs.items() if o["class"] == "battery" and "parent" in o}
        for name in inv.battery_inverters:
            o, b = objs[name], objs[bat_of[name]]
            soc0 = _number(b, "state_of_charge", w)
            if not sec.soc_min <= soc0 <= sec.soc_max:
                raise UserError(f"{w}: {b['name']} starts at state of charge {soc0}, outside [soc_min, soc_max] = "
                                f"[{sec.soc_min}, {sec.soc_max}]")
            power = min(_number(o, "max_charge_rate", w), _number(o, "max_discharge_rate", w)) / 1000.0
            eff = _number(o, "inverter_efficiency", w) * math.sqrt(_number(b, "round_trip_efficiency", w))
            specs.append(("battery", BatterySpec(name, _number(b, "battery_capacity", w) / 1000.0, power, soc0,
                                                 sec.soc_min, sec.soc_max, eff), name))
    if "ev_chargers" in sec.devices:
        w = f"{where}.devices.ev_chargers"
        if not inv.ev_chargers:
            raise UserError(f"{w}: {feeder.lacks('EV chargers', 'ev_fraction')}")
        start = ctx.settings.start_datetime
        for name in inv.ev_chargers:
            o = objs[name]
            mi_per_kwh = _number(o, "mileage_efficiency", w)
            size = _number(o, "mileage_classification", w) / mi_per_kwh
            used = min(size, sec.ev_trip_factor * _number(o, "travel_distance", w) / mi_per_kwh)
            need = used / _number(o, "charging_efficiency", w)
            windows = home_windows(int(_number(o, "arrival_at_home", w)), _number(o, "duration_at_home", w), start,
                                   intervals, res_s)
            specs.append(("ev", EvSpec(name, _number(o, "maximum_charge_rate", w) / 1000.0, tuple(windows),
                                       tuple(need for _ in windows)), name))
    return specs


def build(ctx: CaseContext, raw: dict[str, Any]) -> None:
    """Generate the devices' schedules and the instance, wire the plan federate to the feeder's devices."""
    from vppfed.federates.cohda.devices import (BATTERY, DeviceEntry, PlanSetup, battery_schedules, ev_schedules,
                                                flat_target)
    from vppfed.federates.cohda.instance import Instance
    from vppfed.federates.cohda.overlay import small_world
    from vppfed.federates.feeder.clock import GldClock

    where = ctx.where(SECTION)
    sec = parse_dataclass(CohdaSection, raw, where)
    s = ctx.settings
    feeder = ctx.handles.get("feeder")
    if feeder is None:
        raise UserError(f"{where}: needs a feeder: section (the agents are the feeder's devices)")
    step = int(feeder.helics.period)
    if sec.interval_s % step:
        raise UserError(f"{where}.interval_s: {sec.interval_s} s must be a multiple of the feeder's step ({step} s)")
    intervals = int(round(s.stop_seconds / sec.interval_s))
    if intervals < 1 or abs(intervals * sec.interval_s - s.stop_seconds) > 1e-6:
        raise UserError(f"{where}.interval_s: case.hours = {s.hours:g} h is not a whole number of "
                        f"{sec.interval_s} s intervals")
    dt_h = sec.interval_s / 3600.0
    specs = _devices(sec, ctx, feeder, sec.interval_s, intervals, where)
    rng = np.random.default_rng(ctx.seed_for("cohda.schedules"))
    rows = []
    for kind, spec, _ in specs:
        if kind == BATTERY:
            rows.append(battery_schedules(spec, intervals, dt_h, sec.schedules, rng))
        else:
            rows.append(ev_schedules(spec, intervals, dt_h, sec.schedules, rng))
    schedules = np.round(np.stack(rows), 6)
    label = GldClock(start=s.start, timezone=s.timezone).start_label()
    if sec.target == "file":
        target = read_target_file(ctx.resolve_input(sec.target_file), intervals, where)
    elif sec.target == "feeder":
        target = feeder_target(ctx.resolve_input(sec.forecast_run), schedules, label, sec.interval_s, intervals,
                               where)
    else:
        target = flat_target(schedules, sec.level_kw)
    n = len(specs)
    edges = small_world(n, sec.k, sec.phi, ctx.seed_for("cohda.overlay"))
    Instance(schedules, target, edges, None, np.zeros(n, dtype=np.int64)).save(ctx.directory / INSTANCE_FILE)

    entries, pubs, subs = [], [], []
    for kind, spec, obj in specs:
        if kind == BATTERY:
            prop, wscale, read_prop, rtype, rscale = "P_Out", 1000.0, "VA_Out", "complex", 0.001
        else:
            prop, wscale, read_prop, rtype, rscale = "maximum_charge_rate", -1000.0, "actual_charge_rate", "double", \
                -0.001
        key = ctx.key(obj, prop)
        pubs.append({"global": False, "key": key, "type": "double"})
        feeder.subscribe(f"{FEDERATE}/{key}", obj, prop, "double")
        target_name = feeder.publish(obj, read_prop, rtype)
        subs.append({"key": target_name, "type": rtype})
        entries.append(DeviceEntry(spec.name, kind, obj, key, "double", wscale, target_name, rtype, rscale,
                                   {k: v for k, v in vars(spec).items() if k != "name"}))
    setup = PlanSetup(start=s.start, start_label=label,
                      res_s=sec.interval_s, intervals=intervals, lead_s=0, sample_s=step,
                      seed=ctx.seed_for("cohda.negotiation"), improve=sec.improve, devices=entries,
                      negotiate=sec.negotiate)
    ctx.write_json(DEVICES_FILE, setup.to_json())
    config = {"name": FEDERATE, "period": 1, "log_level": "warning", "terminate_on_error": True,
              "uninterruptible": True, "publications": pubs, "subscriptions": subs}
    args = ["python", "-m", "vppfed.federates.cohda", "--role", "plan", "--config", ctx.config_name(FEDERATE),
            "--instance", INSTANCE_FILE, "--devices", DEVICES_FILE, "--metrics-root", s.root,
            "--hours", f"{s.hours:g}"]
    ctx.add_federate(FEDERATE, " ".join(shlex.quote(a) for a in args), config)
