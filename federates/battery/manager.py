"""The battery manager: one :meth:`BatteryManager.step` per control period, whole state persisted after each.

Per step, in this order (the order matters for the resume test: a resumed step must do exactly what the original did):

1. count the charge that flowed since the last step (the delivered power, or the last command when the inverter
   reports nothing) and recalibrate at a long enough rest (:mod:`.coulomb`);
2. reconcile the estimate with the SOC the battery reports (log the gap; blend by ``reconcile_gain``);
3. ask the policy for a wanted power (threshold rule, day-ahead LP schedule, the cleared price on our bid, or the
   quantity the double auction awarded our blocks);
4. let the state machine decide the state (guards, minimum rest, windows, voltage limits) and clip the power to it
   and to the energy left over one period;
5. in the auction mode, when a bid is due, build it for the next clearing from the state of charge this command
   leads to (:mod:`.bidding`);
6. save the whole state in one transaction (:mod:`.persistence`) and return the command (and the bid to send).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vppfed.errors import UserError
from vppfed.federates.battery import market, peak_shaving
from vppfed.federates.battery.bidding import Award, MarketBid, PriceStatistics, bid_clearing_time, energy_limits, \
    plan_bid
from vppfed.federates.battery.config import BatteryConfig
from vppfed.federates.battery.coulomb import CoulombCounter, RecalibrationEvent
from vppfed.federates.battery.persistence import StateStore
from vppfed.federates.battery.state_machine import BatteryState, Observation, StateMachine, Transition

LOG = logging.getLogger(__name__)

STATE_FORMAT = "vppfed.battery.manager/2"


@dataclass
class StepInput:
    """Measurements for one step.

    Attributes
    ----------
    t_s : float
        Simulation time [s] (strictly increasing between steps).
    hour : float
        Local hour of day [h] for the time windows and the day-ahead schedule.
    load_w : float
        Sensed feeder load [W] (real power).
    measured_soc : float or None
        SOC reported by the battery [pu].
    delivered_w : float or None
        Mean power the inverter actually delivered since the last step [W, > 0 discharge] (what the charge count
        integrates); None -> assume the last command.
    output_w : float or None
        Inverter output at the end of the period [W, > 0 discharge], for acknowledging the last command; None -> use
        ``delivered_w`` (a period mean lags a change of command by the feeder's first step, so it is a poor ack).
    voltage_v : float or None
        String voltage [V]; None disables the voltage guards and recalibration.
    cleared_price : float or None
        Cleared market price for this interval [$/kWh] (market policy, ``market_follow: price``).
    award : Award or None
        The auction's reply to our last bid, received at this step's clearing (``market_follow: award``); it holds
        for one market period.
    """

    t_s: float
    hour: float
    load_w: float
    measured_soc: float | None = None
    delivered_w: float | None = None
    voltage_v: float | None = None
    cleared_price: float | None = None
    output_w: float | None = None
    award: Award | None = None


@dataclass
class StepOutput:
    """What the manager decided on one step (everything the metrics and the adapter need)."""

    t_s: float
    command_w: float  # inverter P_Out [W], > 0 discharge
    state: BatteryState
    soc_estimate: float
    eta_c: float
    wanted_w: float
    gross_load_w: float
    acked: bool | None
    recalibration: RecalibrationEvent | None = None
    transitions: list[Transition] = field(default_factory=list)
    bid: list[list[float]] | None = None
    #: auction mode: the bid to send now (for the clearing at ``market_bid.clear_at_s``), or None
    market_bid: MarketBid | None = None
    #: auction mode: the award in force for this step's command (None: none / expired)
    award: Award | None = None
    #: the latest clearing price [$/kWh] (what energy is settled at), None before the first
    clear_price: float | None = None
    #: cumulative market revenue [USD]: delivered energy x the clearing price in force (> 0 earned)
    revenue_usd: float = 0.0


def string_current(p_out_w: float, nominal_voltage_v: float, conversion_efficiency: float) -> float:
    """String current [A, > 0 charging] for an inverter output ``p_out_w`` [W, > 0 discharging]."""
    if p_out_w >= 0:
        return -p_out_w / (conversion_efficiency * nominal_voltage_v)
    return -p_out_w * conversion_efficiency / nominal_voltage_v


class BatteryManager:
    """Pure core of the battery federate (no HELICS): state, policy and persistence.

    Parameters
    ----------
    config : BatteryConfig
        Validated configuration.
    store : StateStore, optional
        Where each step's state is saved; None keeps it in memory only (unit tests).
    """

    def __init__(self, config: BatteryConfig, store: StateStore | None = None) -> None:
        self.config = config
        self.store = store
        self.counter = CoulombCounter.from_soc(
            config.capacity_ah, config.coulombic_efficiency, config.soc_initial,
            rest_current_a=config.rest_current_a, rest_min_s=config.rest_min_s, v_empty=config.v_empty,
            v_full=config.v_full, ocv_table=[list(r) for r in config.ocv_table],
            eta_same_state_tol=config.eta_same_state_tol, eta_min_ah_in=config.eta_min_ah_in)
        self.machine = StateMachine(config)
        self.step_index = 0
        self.t_s: float | None = None
        self.last_hour: float | None = None
        self.last_command_w = 0.0
        self.last_command_acked: bool | None = None
        self.day_index = -1  # days planned so far - 1: selects the day of a multi-day forecast
        self.day_loads: list[float] = []  # gross load of the current day, one value per step
        self.yesterday: list[float] = []
        self.schedule_peak_w: float | None = None
        self.schedule_charge_w: list[float] = []
        self.market_q_kw: list[float] = []
        self.prices: PriceStatistics | None = None
        if config.policy == "market" and config.market_follow == "award":
            self.prices = PriceStatistics.from_prior(config.price_forecast, config.price_stdev,
                                                     level_memory=config.price_level_memory,
                                                     level_decay=config.price_level_decay)
        self.award: Award | None = None
        self.clear_price: float | None = None
        self.revenue_usd = 0.0
        self.last_bid: MarketBid | None = None

    # ------------------------------------------------------------------ energy helpers
    @property
    def energy_capacity_wh(self) -> float:
        """Nominal energy [Wh] = C_nom [Ah] x V_nom [V]."""
        return self.config.capacity_ah * self.config.nominal_voltage_v

    @property
    def soc(self) -> float:
        """Estimated SOC [pu]."""
        return self.counter.soc

    def _headroom_w(self, state: BatteryState) -> float:
        """Largest power [W] that keeps the SOC inside [soc_low, soc_high] over one period."""
        cfg = self.config
        period_h = cfg.period_s / 3600.0
        eff = cfg.conversion_efficiency
        if state is BatteryState.CHARGE:
            return max(cfg.soc_high - self.soc, 0.0) * self.energy_capacity_wh / (self.counter.eta_c * eff * period_h)
        if state is BatteryState.SELL:
            return max(self.soc - cfg.soc_low, 0.0) * self.energy_capacity_wh * eff / period_h
        return 0.0

    # ------------------------------------------------------------------ policies
    def _new_day(self, hour: float) -> bool:
        return self.last_hour is None or hour % 24.0 < self.last_hour

    def day_forecast(self, day: int) -> list[float]:
        """Load forecast [W] of day ``day`` (0 = the first day planned) from midnight, one value per period.

        ``forecast_w`` holds whole days back to back; a day it does not cover falls back to yesterday's measured load
        (a persistence forecast), which is empty on the first day.
        """
        cfg = self.config
        steps = int(round(86400.0 / cfg.period_s))
        if len(cfg.forecast_w) >= (day + 1) * steps:
            return list(cfg.forecast_w[day * steps:(day + 1) * steps])
        return list(self.yesterday)

    def _step_of_day(self, hour: float) -> int:
        """Index of the control period starting at local ``hour`` in the day's forecast / schedule."""
        return int(round((hour % 24.0) * 3600.0 / self.config.period_s)) % int(round(86400.0 / self.config.period_s))

    def _plan_schedule(self, from_k: int) -> None:
        """Solve the peak-shaving LP over the rest of the day (periods ``from_k`` to midnight) from the current SOC.

        Periods before ``from_k`` get no planned charge. The *peak window* runs from the first to the last period whose
        forecast exceeds the target T*: the LP would charge in the forecast's dips inside it, but a real load swings
        around its forecast by more than those dips, and each swing would turn SELL into a rest of ``rest_min_s``
        just when the battery is needed; inside the window the manager only discharges.
        """
        cfg = self.config
        forecast = self.day_forecast(self.day_index)
        steps = int(round(86400.0 / cfg.period_s))
        if len(forecast) < steps:
            self.schedule_peak_w, self.schedule_charge_w = None, []
            LOG.info("no full-day load forecast yet (%d of %d values): threshold rule today", len(forecast), steps)
            return
        e_cap_kwh = self.energy_capacity_wh / 1000.0
        e0 = min(max(self.soc, cfg.soc_low), cfg.soc_high) * e_cap_kwh
        rest = np.asarray(forecast[from_k:steps]) / 1000.0
        sched = peak_shaving.optimal_schedule(
            rest, cfg.period_s / 3600.0, e0=e0, e_min=cfg.soc_low * e_cap_kwh, e_max=cfg.soc_high * e_cap_kwh,
            p_ch=cfg.max_charge_w / 1000.0, p_dis=cfg.max_discharge_w / 1000.0,
            eta_c=self.counter.eta_c * cfg.conversion_efficiency, eta_d=cfg.conversion_efficiency)
        self.schedule_peak_w = sched.peak * 1000.0
        charge = [0.0] * from_k + [float(c) * 1000.0 for c in sched.charge]
        above = [from_k + i for i, v in enumerate(rest) if v > sched.peak + 1e-6]
        if above:
            charge[above[0]:above[-1] + 1] = [0.0] * (above[-1] + 1 - above[0])
        self.schedule_charge_w = charge
        window = (f", peak window {above[0] * cfg.period_s / 3600:.2f}-{(above[-1] + 1) * cfg.period_s / 3600:.2f} h"
                  if above else "")
        LOG.info("day %d ahead schedule from %.2f h: forecast peak %.1f kW, SOC %.3f -> target %.1f kW%s",
                 self.day_index, from_k * cfg.period_s / 3600, float(rest.max()), self.soc, sched.peak, window)

    def _plan_day(self, hour: float) -> None:
        """Day-ahead planning at midnight (or at the first step): the LP schedule or the market schedule."""
        cfg = self.config
        self.day_index += 1
        e_cap_kwh = self.energy_capacity_wh / 1000.0
        e0 = min(max(self.soc, cfg.soc_low), cfg.soc_high) * e_cap_kwh
        if cfg.policy == "schedule":
            self._plan_schedule(self._step_of_day(hour))
        elif cfg.policy == "market" and cfg.market_follow == "price":
            q = market.arbitrage_schedule(
                cfg.price_forecast, 1.0, e0=e0, e_min=cfg.soc_low * e_cap_kwh, e_max=cfg.soc_high * e_cap_kwh,
                p_ch=cfg.max_charge_w / 1000.0, p_dis=cfg.max_discharge_w / 1000.0,
                eta_c=self.counter.eta_c * cfg.conversion_efficiency, eta_d=cfg.conversion_efficiency,
                deg=cfg.degradation_cost)
            self.market_q_kw = [float(v) for v in q]

    def _threshold_w(self, gross_w: float, charge_below_w: float, discharge_above_w: float) -> float:
        cfg = self.config
        e_cap = self.energy_capacity_wh
        return peak_shaving.threshold_power(
            gross_w, self.soc * e_cap, cfg.period_s / 3600.0, e_min=cfg.soc_low * e_cap, e_max=cfg.soc_high * e_cap,
            p_ch=cfg.max_charge_w, p_dis=cfg.max_discharge_w, charge_below=charge_below_w,
            discharge_above=discharge_above_w, eta_c=self.counter.eta_c * cfg.conversion_efficiency,
            eta_d=cfg.conversion_efficiency)

    def current_bid(self, hour: float) -> market.BatteryBid:
        """This hour's four-point bid, clipped to what the SOC allows over one period (market policy)."""
        cfg = self.config
        h = int(hour) % 24
        prices = cfg.price_forecast
        bid = market.four_point_bid(
            self.market_q_kw[h], prices[h], max(prices), min(prices), rc=cfg.max_charge_w / 1000.0,
            rd=cfg.max_discharge_w / 1000.0, deg=cfg.degradation_cost, profit_margin=cfg.profit_margin,
            slider=cfg.slider)
        q_lo, q_hi = market.quantity_limits(self.soc, self.energy_capacity_wh / 1000.0, cfg.period_s / 3600.0,
                                            rc=cfg.max_charge_w / 1000.0, rd=cfg.max_discharge_w / 1000.0,
                                            soc_min=cfg.soc_low, soc_max=cfg.soc_high)
        return bid.clipped(q_lo, q_hi)

    def _wanted_w(self, inp: StepInput, gross_w: float) -> tuple[float, list[list[float]] | None]:
        cfg = self.config
        if cfg.policy == "market" and cfg.market_follow == "award":
            return (0.0 if self.award is None else 1000.0 * self.award.setpoint_kw), None
        if cfg.policy == "market":
            bid = self.current_bid(inp.hour)
            points = bid.points
            if inp.cleared_price is None:
                return -1000.0 * float(points[1][0]), points.tolist()
            return 1000.0 * market.setpoint_from_price(points, inp.cleared_price), points.tolist()
        if cfg.policy == "schedule" and self.schedule_peak_w is not None:
            k = self._step_of_day(inp.hour) % len(self.schedule_charge_w)
            if gross_w > self.schedule_peak_w:
                return self._threshold_w(gross_w, -math.inf, self.schedule_peak_w), None
            # the planned charge, or more while the load is below charge_below_w (the forecast may be short), but
            # never so much that charging makes a new peak above the day's target when the forecast was too low
            opportunistic = -self._threshold_w(gross_w, cfg.charge_below_w, math.inf)
            charge = min(max(self.schedule_charge_w[k], opportunistic), max(self.schedule_peak_w - gross_w, 0.0))
            return -charge, None
        return self._threshold_w(gross_w, cfg.charge_below_w, cfg.discharge_above_w), None

    # ------------------------------------------------------------------ the step
    def step(self, inp: StepInput) -> StepOutput:
        """Advance the manager to ``inp.t_s`` and return the inverter command for the coming period."""
        cfg = self.config
        if self.t_s is not None and inp.t_s <= self.t_s:
            raise ValueError(f"battery manager time must increase: got t = {inp.t_s} after {self.t_s}")
        dt = 0.0 if self.t_s is None else inp.t_s - self.t_s
        flowed_w = self.last_command_w if inp.delivered_w is None else inp.delivered_w
        output_w = inp.output_w if inp.output_w is not None else inp.delivered_w
        if output_w is not None and self.t_s is not None:
            self.last_command_acked = abs(output_w - self.last_command_w) <= cfg.ack_tolerance_w
            if not self.last_command_acked:
                LOG.info("t=%.0f s: command %.0f W not followed (inverter at %.0f W)", inp.t_s, self.last_command_w,
                         output_w)
        current_a = string_current(flowed_w, cfg.nominal_voltage_v, cfg.conversion_efficiency)
        recal = self.counter.update(current_a, dt, inp.voltage_v)
        if inp.measured_soc is not None:
            gap = inp.measured_soc - self.soc
            if abs(gap) > cfg.reconcile_warn:
                LOG.warning("t=%.0f s: SOC estimate %.3f differs from the battery's %.3f", inp.t_s, self.soc,
                            inp.measured_soc)
            if cfg.reconcile_gain > 0:
                self.counter.reconcile(inp.measured_soc, cfg.reconcile_gain)
        gross_w = inp.load_w + (flowed_w if cfg.load_includes_battery else 0.0)
        if self.clear_price is not None:  # settle the period just ended at the price that was in force
            self.revenue_usd += self.clear_price * flowed_w / 1000.0 * dt / 3600.0
        self._take_award(inp)
        if self._new_day(inp.hour):
            if self.last_hour is not None:
                self.yesterday, self.day_loads = self.day_loads, []
            self._plan_day(inp.hour)

        self.day_loads.append(gross_w)
        wanted_w, bid = self._wanted_w(inp, gross_w)
        n_before = len(self.machine.transitions)
        state = self.machine.step(Observation(inp.t_s, inp.hour, self.soc, inp.voltage_v, wanted_w))
        command = self.machine.clip(wanted_w)
        limit = self._headroom_w(state)
        command = float(min(max(command, -limit), limit))
        self.last_command_w = command
        market_bid = self._due_bid(inp, command)
        self.t_s = inp.t_s
        self.last_hour = inp.hour % 24.0
        self.step_index += 1
        if self.store is not None:
            self.store.save(self.step_index, inp.t_s, self.state_dict(),
                            outbox=None if market_bid is None else market_bid.to_dict())
        return StepOutput(inp.t_s, command, state, self.soc, self.counter.eta_c, wanted_w, gross_w,
                          self.last_command_acked, recal, self.machine.transitions[n_before:], bid, market_bid,
                          self.award, self.clear_price, self.revenue_usd)

    # ------------------------------------------------------------------ auction mode
    def _take_award(self, inp: StepInput) -> None:
        """Take a new award (learn its price) and drop one that has run out (its market period is over)."""
        cfg = self.config
        if inp.award is not None:
            self.award = inp.award
            self.clear_price = inp.award.price
            if self.prices is not None and inp.award.priced:
                self.prices.observe(inp.hour, inp.award.price)
        elif inp.cleared_price is not None:
            self.clear_price = inp.cleared_price
        if self.award is not None and inp.t_s >= self.award.clear_at_s + cfg.market_period_s - 1e-9:
            LOG.info("t=%.0f s: award of the clearing at %.0f s ran out and no new one arrived", inp.t_s,
                     self.award.clear_at_s)
            self.award = None

    def _due_bid(self, inp: StepInput, command_w: float) -> MarketBid | None:
        """The bid to send at this step (auction mode), for the state of charge ``command_w`` leads to."""
        cfg = self.config
        if self.prices is None:
            return None
        clear_at = bid_clearing_time(inp.t_s, cfg.period_s, cfg.market_period_s, cfg.bid_lead_s)
        if clear_at is None:
            return None
        e_cap = self.energy_capacity_wh / 1000.0
        eta_ch = self.counter.eta_c * cfg.conversion_efficiency
        eta_dis = cfg.conversion_efficiency
        ahead_h = (clear_at - inp.t_s) / 3600.0
        stored = command_w / 1000.0 * ahead_h  # > 0 discharge at the terminals
        e_then = self.soc * e_cap - (stored / eta_dis if stored >= 0 else stored * eta_ch)
        e_min, e_max = cfg.soc_low * e_cap, cfg.soc_high * e_cap
        rc, rd = cfg.max_charge_w / 1000.0, cfg.max_discharge_w / 1000.0
        q_lo, q_hi = energy_limits(e_then, e_min, e_max, cfg.market_period_s / 3600.0, rc_kw=rc, rd_kw=rd,
                                   eta_charge=eta_ch, eta_discharge=eta_dis)
        hour_then = inp.hour + ahead_h
        soc_then = e_then / e_cap
        if not self.machine.could_run(BatteryState.CHARGE, hour_then, soc_then, inp.voltage_v):
            q_hi = 0.0
        if not self.machine.could_run(BatteryState.SELL, hour_then, soc_then, inp.voltage_v):
            q_lo = 0.0
        bid = plan_bid(self.prices, clear_at_s=clear_at, hour=hour_then, e0_kwh=e_then, e_min_kwh=e_min,
                       e_max_kwh=e_max, rc_kw=rc, rd_kw=rd, q_lo=q_lo, q_hi=q_hi, eta_charge=eta_ch,
                       eta_discharge=eta_dis, deg=cfg.degradation_cost, profit_margin=cfg.profit_margin,
                       slider=cfg.slider, horizon_h=cfg.horizon_h, spread_sigmas=cfg.spread_sigmas,
                       n_blocks=cfg.bid_blocks)
        self.last_bid = bid
        return bid

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """The whole manager state as plain JSON-able data (what is saved every step)."""
        return {
            "format": STATE_FORMAT,
            "step": self.step_index,
            "t_s": self.t_s,
            "last_hour": self.last_hour,
            "last_command_w": self.last_command_w,
            "last_command_acked": self.last_command_acked,
            "day_index": self.day_index,
            "counter": self.counter.to_dict(),
            "machine": self.machine.to_dict(),
            "day_loads": list(self.day_loads),
            "yesterday": list(self.yesterday),
            "schedule_peak_w": self.schedule_peak_w,
            "schedule_charge_w": list(self.schedule_charge_w),
            "market_q_kw": list(self.market_q_kw),
            "prices": None if self.prices is None else self.prices.to_dict(),
            "award": None if self.award is None else self.award.to_dict(),
            "clear_price": self.clear_price,
            "revenue_usd": self.revenue_usd,
            "last_bid": None if self.last_bid is None else self.last_bid.to_dict(),
        }

    def load_state(self, data: dict[str, Any], where: str = "battery state") -> None:
        """Restore from :meth:`state_dict` output; anything missing or malformed is a UserError naming ``where``."""
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise UserError(f"{where}: not a battery manager state (format {got!r}, expected {STATE_FORMAT!r})")
        try:
            counter = CoulombCounter.from_dict(dict(data["counter"]))
            machine = StateMachine.from_dict(self.config, data["machine"])
            step_index = int(data["step"])
            t_s = None if data["t_s"] is None else float(data["t_s"])
            last_hour = None if data["last_hour"] is None else float(data["last_hour"])
            last_command_w = float(data["last_command_w"])
            acked = data["last_command_acked"]
            day_index = int(data["day_index"])
            day_loads = [float(v) for v in data["day_loads"]]
            yesterday = [float(v) for v in data["yesterday"]]
            peak = None if data["schedule_peak_w"] is None else float(data["schedule_peak_w"])
            charge = [float(v) for v in data["schedule_charge_w"]]
            market_q = [float(v) for v in data["market_q_kw"]]
            # auction-mode keys (absent in states written before it existed)
            prices = PriceStatistics.from_dict(data["prices"]) if data.get("prices") is not None else self.prices
            award = Award.from_dict(data["award"]) if data.get("award") is not None else None
            clear_price = None if data.get("clear_price") is None else float(data["clear_price"])
            revenue = float(data.get("revenue_usd", 0.0))
            last_bid = MarketBid.from_dict(data["last_bid"]) if data.get("last_bid") is not None else None
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{where}: battery manager state is incomplete or malformed ({exc!r})") from None
        if not (0.0 <= counter.soc <= 1.0) or not (0.0 < counter.eta_c <= 1.0):
            raise UserError(f"{where}: battery manager state out of range (soc {counter.soc}, eta_c {counter.eta_c})")
        self.counter, self.machine, self.step_index, self.t_s = counter, machine, step_index, t_s
        self.last_hour, self.last_command_w, self.last_command_acked = last_hour, last_command_w, acked
        self.day_loads, self.yesterday, self.day_index = day_loads, yesterday, day_index
        self.schedule_peak_w, self.schedule_charge_w, self.market_q_kw = peak, charge, market_q
        self.prices, self.award, self.clear_price, self.revenue_usd = prices, award, clear_price, revenue
        self.last_bid = last_bid

    @classmethod
    def resume(cls, config: BatteryConfig, store: StateStore,
               at_or_before_s: float | None = None) -> "BatteryManager":
        """A manager restored from the last saved step (or the last one at or before ``at_or_before_s``)."""
        step, t_s, data = store.load(at_or_before_s)
        manager = cls(config, store)
        manager.load_state(data, where=f"{store.path} step {step}")
        LOG.info("resumed battery manager at step %d, t = %.0f s, state %s, SOC %.4f", step, t_s,
                 manager.machine.state.value, manager.soc)
        return manager
