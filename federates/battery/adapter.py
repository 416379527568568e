"""HELICS adapter of the battery manager (the only module of this package that imports helics, via the runtime).

One federate manages one battery or several (the ``units`` layout of :mod:`.wiring`): each has its own manager,
state file, ``P_Out`` publication and metrics row; they share the sensed load. The HELICS ``period`` is the
*sampling* period (the feeder's step, so no feeder value is missed); the managers' ``period_s`` (a multiple of it) is
the *control* period. Per granted time ``t``:

1. read the feeder values that changed: the sensed load (substation ``distribution_load`` or a meter's
   ``measured_real_power``; the real part of a complex VA is used), each battery's ``state_of_charge`` and its
   inverter's ``VA_Out`` (the power really delivered, > 0 discharge), and add the load and the delivered power to
   the sums of the current control period (sample-and-hold means: the feeder's HVAC cycling makes single samples
   swing by tens of kW, while the control period's mean is the demand a utility meters); take the market's award
   messages waiting at each battery's endpoint;
2. at a control time (``t`` a multiple of ``period_s``): derive the string voltage from the reported SOC with
   GridLAB-D's own LI_ION open-circuit line (:mod:`.plant`; an IR-compensated voltage sensor, because GridLAB-D
   publishes no battery voltage), step each pure :class:`~vppfed.federates.battery.manager.BatteryManager` with the
   period's mean load and mean delivered power (which saves its whole state in SQLite in the same step), publish its
   command as the inverter's ``P_Out`` [W, > 0 discharge], send the market bid it returned (auction mode) and write
   one metrics row per battery (``battery_<root>_metrics.json``).

Auction mode (``policy: market``, ``market_follow: award``; :mod:`.bidding`): a bid for the clearing at ``T`` leaves
the battery's endpoint at the last control step at or before ``T - bid_lead_s`` (JSON ``{"bidder", "sell", "buy"}``
to ``market_target``); the market (``sub_<bus>``) clears at ``T`` and replies to that endpoint; the federate waits for
the current time update, so at its own grant of ``T`` the award is there and the command of ``[T, T + period)``
follows it (``sold_kw - bought_kw``), within the state machine's guards and the SOC headroom.

Resume (``--resume`` or ``VPPFED_RESUME=1``): the federation restarts at t = 0, so this federate *replays* the
commands and bids it saved for every control step up to the resume point (the feeder and the market see exactly the
inputs of the killed run) and continues live after it. The resume point is the last step both saved in the state
files and written to the metrics file (a kill between the two would otherwise lose that step's metrics row); the state
file keeps every step's command and bid, so an earlier one can be loaded. A missing or damaged state file stops the
federate with a clear error naming it; it never silently starts afresh.

``python -m vppfed.federates.battery --config X.json --manager M.json [--resume]``: :func:`build_parser` is the
command line (the case builder writes it into the runner JSON), :class:`BatteryOptions` its typed form.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

from vppfed.errors import UserError
from vppfed.federates.battery.bidding import Award, MarketBid
from vppfed.federates.battery.manager import BatteryManager, StepInput, StepOutput
from vppfed.federates.battery.persistence import StateStore
from vppfed.federates.battery.plant import li_ion_ocv
from vppfed.federates.battery.wiring import ManagerFile, UnitFile, read_manager_file
from vppfed.federates.metrics import MetricsWriter
from vppfed.formats.metrics import metrics_path, recover
from vppfed.federates.runtime import (FederateBase, FederateOptions, base_argument_parser, run_federate,
                                      stop_seconds)

LOG = logging.getLogger(__name__)

METRIC_COLUMNS = [
    ("soc", "pu"),             # SOC reported by GridLAB-D's battery
    ("soc_estimate", "pu"),    # the manager's coulomb-counted estimate
    ("power", "W"),            # mean power delivered by the inverter over the period (VA_Out), > 0 discharge
    ("command", "W"),          # P_Out sent, > 0 discharge
    ("state", "-"),            # -1 CHARGE, 0 REST, +1 SELL
    ("net_load", "W"),         # sensed feeder load, mean over the period
    ("gross_load", "W"),       # sensed load with the batteries' output added back (load without the batteries)
    ("eta_c", "pu"),           # current coulombic efficiency estimate
    ("voltage", "V"),          # string voltage derived from the reported SOC
    ("target", "W"),           # feeder load the battery discharges down to (LP target or discharge threshold)
    # auction mode (null otherwise); bid_* only on the step the bid is sent (for the next clearing)
    ("bid_sell", "W"),         # discharge offered: sum of the sell blocks
    ("bid_sell_price", "USD/kWh"),  # cheapest sell block: the price from which the battery sells
    ("bid_buy", "W"),          # charge bid: sum of the buy blocks
    ("bid_buy_price", "USD/kWh"),   # dearest buy block: the price up to which the battery buys
    ("bid_schedule", "W"),     # the rolling schedule the bid is centred on, -Q_t (> 0 discharge)
    ("bid_forecast_price", "USD/kWh"),  # the price forecast of the bid's interval, f_t
    ("award", "W"),            # awarded set point in force, sold - bought (> 0 discharge); null = none
    ("clear_price", "USD/kWh"),  # latest clearing price (what delivered energy is settled at)
    ("revenue", "USD"),        # cumulative: delivered energy x clearing price in force (> 0 earned)
]

#: Full states kept in the state file (commands are kept for every step): enough to step back to the last metrics row.
KEEP_STATES = 64

__all__ = ["BatteryFederate", "ManagerFile", "METRIC_COLUMNS", "UnitFile", "last_metrics_time", "read_manager_file"]


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


@dataclass
class _Unit:
    """Run-time state of one managed battery inside the federate."""

    setup: UnitFile
    state_path: Path
    manager: BatteryManager | None = None
    store: StateStore | None = None
    replay: dict[float, float] = field(default_factory=dict)
    replay_bids: dict[float, dict[str, Any]] = field(default_factory=dict)
    soc: float | None = None
    output_w: float | None = None
    power_sum: float = 0.0
    award: Award | None = None  # received, not yet handed to the manager

    @property
    def bids(self) -> bool:
        cfg = self.setup.battery
        return cfg.policy == "market" and cfg.market_follow == "award" and bool(self.setup.endpoint)


@dataclass(frozen=True)
class BatteryOptions(FederateOptions):
    """What the battery federate is started with (the typed form of :func:`build_parser`'s options).

    ``config`` and ``stop_s`` come from :class:`~vppfed.federates.runtime.FederateOptions`.

    Attributes
    ----------
    manager : Path
        Manager JSON: the battery config and the feeder wiring (:func:`~.wiring.read_manager_file`).
    metrics_root : str or None
        Root of ``battery_<root>_metrics.json``; None writes no metrics.
    metrics_dir : Path
        Folder of the metrics file.
    resume : bool
        Continue from the saved state (also set by ``VPPFED_RESUME=1``).
    """

    manager: Path
    metrics_root: str | None = None
    metrics_dir: Path = Path(".")
    resume: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "BatteryOptions":
        """The options of a parsed :func:`build_parser` command line."""
        return cls(config=Path(args.config), stop_s=stop_seconds(args), manager=Path(args.manager),
                   metrics_root=args.metrics_root or None, metrics_dir=Path(args.metrics_dir or "."),
                   resume=bool(args.resume))


class BatteryFederate(FederateBase):
    """The battery manager(s) on the shared runtime (see the module docstring)."""

    def __init__(self, options: BatteryOptions) -> None:
        super().__init__(options.config, options.stop_s)
        self.options = options
        self.setup: ManagerFile = read_manager_file(options.manager)
        self.start = datetime.strptime(self.setup.start, "%Y-%m-%d %H:%M:%S")
        unit_files = self.setup.unit_list()
        for unit in unit_files:
            control = unit.battery.period_s
            if control < self.period - 1e-9 or not _is_multiple(control, self.period):
                raise UserError(f"{options.manager.name}: battery.period_s ({control:g} s) of {unit.uid} must be a "
                                f"multiple of the HELICS period of {self.config_path.name} ({self.period:g} s)")
        periods = {u.battery.period_s for u in unit_files}
        if len(periods) > 1:
            raise UserError(f"{options.manager.name}: units: all batteries need the same period_s, got "
                            f"{sorted(periods)}")
        self.control_s = periods.pop()
        self.units: list[_Unit] = []
        for unit in unit_files:
            default = f"{self.name}_state.sqlite" if len(unit_files) == 1 else f"{self.name}_{unit.uid}_state.sqlite"
            self.units.append(_Unit(unit, Path(unit.state_file or default).resolve()))
        self.metrics: MetricsWriter | None = None
        self.resume_t: float | None = None
        self.load_w = 0.0
        self._load_sum = 0.0
        self._samples = 0

    # ------------------------------------------------------------------ hooks
    def _metrics_file(self) -> Path | None:
        if not self.options.metrics_root:
            return None
        return metrics_path(self.options.metrics_dir, "battery", self.options.metrics_root)

    def _open_for_resume(self) -> None:
        metrics_file = self._metrics_file()
        limit = last_metrics_time(metrics_file) if metrics_file is not None else None
        for unit in self.units:
            cfg = unit.setup.battery
            unit.store = StateStore.open_existing(unit.state_path, cfg.fingerprint(), keep_steps=KEEP_STATES)
        if metrics_file is not None and limit is None:
            # killed before the first metrics row: no step was completed, so the run starts from its initial state
            LOG.warning("%s: %s has no sample yet; resuming from the initial state", self.name, metrics_file)
            for unit in self.units:
                unit.manager = BatteryManager(unit.setup.battery, unit.store)
            self.resume_t = None
            return
        times = set()
        for unit in self.units:
            assert unit.store is not None
            unit.manager = BatteryManager.resume(unit.setup.battery, unit.store, at_or_before_s=limit)
            times.add(unit.manager.t_s)
            resume_t = unit.manager.t_s if unit.manager.t_s is not None else -1.0
            unit.replay = {t: c for t, c in unit.store.commands().items() if t <= resume_t}
            unit.replay_bids = {t: m for t, m in unit.store.outbox().items() if t <= resume_t}
        if len(times) != 1:
            raise UserError(f"{self.name}: the batteries' state files end at different steps ({sorted(times)}); "
                            "they were not written by one run")
        self.resume_t = times.pop()
        LOG.info("%s: resuming after t = %s s (%d saved steps replayed)", self.name, self.resume_t,
                 len(self.units[0].replay))

    def on_start(self) -> None:
        if self.resume or self.options.resume:
            self._open_for_resume()
        else:
            for unit in self.units:
                cfg = unit.setup.battery
                unit.store = StateStore.create(unit.state_path, cfg.fingerprint(), keep_steps=KEEP_STATES)
                unit.manager = BatteryManager(cfg, unit.store)
        if self.options.metrics_root:
            self.metrics = MetricsWriter(self.options.metrics_dir, "battery", self.options.metrics_root,
                                         METRIC_COLUMNS, self.setup.start,
                                         resume_after=None if self.resume_t is None else int(self.resume_t))
        for unit in self.units:
            self.publish(unit.setup.command_key, float(unit.replay.get(0.0, 0.0)))

    def _read_inputs(self) -> None:
        load = self.updated(self.setup.load_key, "complex")
        if load is not None:
            self.load_w = load.real
        for unit in self.units:
            if unit.setup.soc_key:
                soc = self.updated(unit.setup.soc_key, "double")
                if soc is not None:
                    unit.soc = soc
            if unit.setup.power_key:
                power = self.updated(unit.setup.power_key, "complex")
                if power is not None:
                    unit.output_w = power.real

    def _receive_awards(self, unit: _Unit) -> None:
        """Keep the latest award waiting at the unit's endpoint (its time is the clearing time)."""
        if not unit.setup.endpoint:
            return
        for source, payload, sent_at in self.receive(unit.setup.endpoint):
            try:
                unit.award = Award.from_message(payload, float(sent_at))
            except ValueError as exc:
                LOG.warning("%s: %s: dropped a message from %s: %s", self.name, unit.setup.uid, source, exc)

    def _voltage(self, unit: _Unit) -> float | None:
        if unit.soc is None:
            return None
        return li_ion_ocv(unit.soc, unit.setup.battery.nominal_voltage_v)

    def _send_bid(self, unit: _Unit, bid: MarketBid) -> None:
        if not (unit.bids and self.setup.market_target):
            return
        if bid.empty:
            LOG.info("%s: %s has nothing to offer for the clearing at %.0f s (no bid sent)", self.name, unit.setup.uid,
                     bid.clear_at_s)
            return
        self.send(unit.setup.endpoint, self.setup.market_target, bid.message(unit.setup.uid))

    def on_step(self, t: float) -> None:
        self._read_inputs()
        self._load_sum += self.load_w
        self._samples += 1
        for unit in self.units:
            unit.power_sum += unit.output_w or 0.0
            self._receive_awards(unit)
        if not _is_multiple(t, self.control_s):
            return
        load_w = self._load_sum / self._samples
        delivered = [None if u.output_w is None else u.power_sum / self._samples for u in self.units]
        for unit in self.units:
            unit.power_sum = 0.0
        self._load_sum, self._samples = 0.0, 0
        if self.resume_t is not None and t <= self.resume_t:
            self._replay(t)
            return
        now = self.start + timedelta(seconds=t)
        hour = now.hour + now.minute / 60.0 + now.second / 3600.0
        rows: dict[str, list[Any]] = {}
        outputs: list[StepOutput] = []
        for i, unit in enumerate(self.units):
            assert unit.manager is not None
            cfg = unit.setup.battery
            # the load without the *other* batteries too: each manager adds its own output back itself
            others = sum(d for j, d in enumerate(delivered) if j != i and d is not None)
            unit_load = load_w + (others if cfg.load_includes_battery else 0.0)
            voltage = self._voltage(unit)
            out = unit.manager.step(StepInput(t_s=t, hour=hour, load_w=unit_load, measured_soc=unit.soc,
                                              delivered_w=delivered[i], voltage_v=voltage, output_w=unit.output_w,
                                              award=unit.award))
            unit.award = None
            self.publish(unit.setup.command_key, out.command_w)
            if out.market_bid is not None:
                self._send_bid(unit, out.market_bid)
            outputs.append(out)
            rows[unit.setup.uid] = self._row(unit, out, load_w, delivered[i], voltage)
        if self.metrics is not None:
            self.metrics.write(t, rows)

    def _replay(self, t: float) -> None:
        """Publish the saved command and resend the saved bid of step ``t`` (before the resume point)."""
        for unit in self.units:
            if t not in unit.replay:
                raise UserError(f"{unit.store.path if unit.store else 'state'}: no saved command for t = {t:g} s; "
                                "the resumed case must use the same period as the killed one")
            unit.award = None  # the killed run took it into account already
            self.publish(unit.setup.command_key, unit.replay[t])
            if t in unit.replay_bids:
                self._send_bid(unit, MarketBid.from_dict(unit.replay_bids[t]))

    def _row(self, unit: _Unit, out: StepOutput, load_w: float, delivered_w: float | None,
             voltage: float | None) -> list[Any]:
        market_mode = unit.setup.battery.policy == "market"
        bid = out.market_bid
        bid_cols: list[Any] = [None] * 6
        if bid is not None:
            bid_cols = [1000.0 * bid.sell_kw, bid.sell_price, 1000.0 * bid.buy_kw, bid.buy_price, -1000.0 * bid.q_t,
                        bid.f_t]
        award = None if out.award is None else 1000.0 * out.award.setpoint_kw
        return [unit.soc, out.soc_estimate, delivered_w, out.command_w, out.state.code, load_w, out.gross_load_w,
                out.eta_c, voltage, self._target_w(unit)] + bid_cols + [
                award, out.clear_price if market_mode else None, out.revenue_usd if market_mode else None]

    def _target_w(self, unit: _Unit) -> float | None:
        """The load level the battery discharges down to in this step (None when it has none)."""
        assert unit.manager is not None
        cfg = unit.setup.battery
        if cfg.policy == "schedule" and unit.manager.schedule_peak_w is not None:
            return unit.manager.schedule_peak_w
        if cfg.policy in ("threshold", "schedule") and cfg.discharge_above_w < 1e12:
            return cfg.discharge_above_w
        return None

    def on_finish(self, failed: bool) -> None:
        if self.metrics is not None:
            self.metrics.close()
        for unit in self.units:
            if unit.store is not None:
                unit.store.close()
            if unit.manager is not None:
                machine = unit.manager.machine
                revenue = (f", revenue {unit.manager.revenue_usd:.4f} USD"
                           if unit.setup.battery.policy == "market" else "")
                LOG.info("%s: %s: %d steps, %d transitions, SOC estimate %.3f, eta_c %.4f%s%s", self.name,
                         unit.setup.uid, unit.manager.step_index, len(machine.transitions), unit.manager.soc,
                         unit.manager.counter.eta_c, revenue, " (failed)" if failed else "")


def build_parser() -> argparse.ArgumentParser:
    """The battery federate's command line (the case builder writes it into the runner JSON)."""
    parser = base_argument_parser("Battery manager federate: coulomb counting, CHARGE/REST/SELL, peak shaving, "
                                  "state saved every step (resume with --resume)")
    parser.add_argument("--manager", required=True, help="manager JSON: the battery config and the feeder wiring")
    parser.add_argument("--metrics-dir", default=None, help="folder of battery_<root>_metrics.json (default: .)")
    parser.prog = "python -m vppfed.federates.battery"
    return parser


def build_federate(args: argparse.Namespace) -> BatteryFederate:
    """The battery federate of a parsed :func:`build_parser` command line."""
    return BatteryFederate(BatteryOptions.from_args(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vppfed.federates.battery``: parse ``argv``, build the federate and run it."""
    return run_federate(build_federate, build_parser(), argv)
