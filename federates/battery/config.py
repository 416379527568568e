"""Configuration of the battery manager: one dataclass whose ``validate()`` names the offending field.

This dataclass is the one home of the battery defaults: the ``battery:`` YAML section
(:class:`vppfed.configs.sections.battery.BatterySection`) takes the default of every field they share from here
(``tests/test_section_defaults.py`` checks it).

Built from YAML/JSON with :func:`vppfed.io.parse_dataclass`, which calls :meth:`BatteryConfig.validate`
and turns its ``ValueError("field: reason")`` into a ``UserError`` such as
``case.yaml: battery.soc_low: must be below soc_high (0.9), got 0.95``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from vppfed.io import require

Policy = Literal["threshold", "schedule", "market"]
MarketFollow = Literal["price", "award"]


@dataclass
class BatteryConfig:
    """Everything the manager needs to know about its battery string and its operating rules.

    Conventions: current > 0 charges the battery; power > 0 discharges into the grid (the GridLAB-D ``P_Out`` sign).

    Attributes
    ----------
    capacity_ah : float
        Nominal capacity C_nom [Ah]; SOC = Ah / C_nom.
    nominal_voltage_v : float
        DC string voltage [V] used to turn inverter power into string current (I = -P / V_nom).
    coulombic_efficiency : float
        Initial charge efficiency eta_c in (0, 1]; re-estimated between rests at the same state. 1.0 by default:
        in the generated feeders the battery's losses are in the conversion efficiency.
    conversion_efficiency : float
        AC-to-DC efficiency of the inverter path, each way, (0, 1]: charging ``P`` W at the grid puts
        ``P * eff / V_nom`` A into the string, discharging ``P`` W takes ``P / (eff V_nom)`` A out of it.
    soc_initial : float
        SOC [pu] when no state is resumed.
    max_charge_w, max_discharge_w : float
        Inverter limits [W] (positive numbers).
    soc_low, soc_high : float
        SELL stops at or below ``soc_low``; CHARGE stops at or above ``soc_high`` [pu].
    soc_hysteresis : float
        A stopped direction restarts only ``soc_hysteresis`` away from its stop threshold [pu].
    v_empty, v_full : float
        Voltage limits [V]: a breach stops the current at once and recalibrates SOC to 0 / 1 at the next rest.
    ocv_table : list of [soc, volts]
        Open-circuit voltage table used to recalibrate the SOC at rest (SOC strictly increasing, volts non-decreasing);
        empty means recalibrate only at the voltage limits.
    rest_current_a : float
        |I| below this [A] counts as resting.
    rest_min_s : float
        Minimum rest [s]: both the shortest REST state and the rest needed before a recalibration.
    idle_rest_s : float
        CHARGE / SELL end in REST once the policy has wanted 0 W for this long [s]; 0 = never (stay ready).
    eta_same_state_tol : float
        Two rests count as "the same state" when their recalibrated SOCs differ by at most this [pu].
    eta_min_ah_in : float
        Efficiency is re-estimated only when at least this charge [Ah] went in between the two rests.
    charge_window_h, sell_window_h : list of two floats
        ``[start, end)`` hours of day when CHARGE / SELL may start or continue (wrapping midnight when start > end);
        an empty list means always.
    policy : {"threshold", "schedule", "market"}
        How the wanted power is chosen: the load-threshold rule, a day-ahead LP schedule, or market bids.
    charge_below_w, discharge_above_w : float
        Threshold rule [W]: charge while the sensed load is below the first, discharge above the second.
    reconcile_gain : float
        0 keeps the pure coulomb count between rests; 1 replaces it every step by the measured SOC [pu/step].
    reconcile_warn : float
        An estimate that differs from the measured SOC by more than this [pu] is logged as a warning.
    period_s : float
        Control period [s]: the energy limits of one command are computed over this time.
    load_includes_battery : bool
        True when the sensed load is measured upstream of the battery (a substation or feeder-head meter), so the
        battery's own output is added back to get the load the rule and the forecast should see.
    ack_tolerance_w : float
        A command counts as acknowledged when the delivered power is within this [W] of it.
    forecast_w : list of float
        ``schedule`` policy: load forecast of whole days back to back, one value per ``period_s`` from the midnight
        before the first step [W] (negative = reverse flow from PV); a day it does not cover uses yesterday's measured
        load (on the first day without a forecast the threshold rule runs). ``charge_below_w`` still tops the battery
        up while the load is below it.
    price_forecast : list of float
        ``market`` policy: 24 hourly price forecasts [$/kWh].
    degradation_cost, profit_margin, slider : float
        ``market`` policy bid shape [$/kWh], [pu], [-] (market-and-bidding reference §6).
    market_follow : {"price", "award"}
        ``market`` policy: ``price`` follows the cleared price on this hour's bid from the day-ahead schedule of
        ``price_forecast`` (DSO+T's ``from_P_to_Q_battery``); ``award`` takes part in the double auction: one bid per
        market period from a rolling schedule on learnt price statistics, then the awarded quantity
        (:mod:`~vppfed.federates.battery.bidding`); ``price_forecast`` is then only the prior of the statistics.
    market_period_s : float
        Market interval [s]; clearings at multiples of it (``award`` mode).
    bid_lead_s : float
        A bid must reach the market this long before the clearing [s] (TESP: 3 federate steps = 45 s).
    price_stdev : float
        Prior standard deviation of the clearing price [$/kWh] (the market's ``init_stdev``).
    price_level_memory : int
        Prices the level of the price forecast averages over (0 = no level: the hourly profile alone).
    price_level_decay : float
        Per hour ahead the level's weight in the forecast is multiplied by this, in [0, 1] (1 = whole horizon).
    horizon_h : int
        Hours of the rolling arbitrage schedule behind each bid.
    spread_sigmas : float
        The price band that sets the bid's slope is at least this many standard deviations of recent prices.
    bid_blocks : int
        Blocks per sloped segment of the bid.
    """

    capacity_ah: float
    nominal_voltage_v: float
    max_charge_w: float
    max_discharge_w: float
    coulombic_efficiency: float = 1.0
    conversion_efficiency: float = 1.0
    soc_initial: float = 0.5
    soc_low: float = 0.2
    soc_high: float = 0.95
    soc_hysteresis: float = 0.05
    v_empty: float = 0.0
    v_full: float = float("inf")
    ocv_table: list[list[float]] = field(default_factory=list)
    rest_current_a: float = 0.5
    rest_min_s: float = 600.0
    idle_rest_s: float = 3600.0
    eta_same_state_tol: float = 0.02
    eta_min_ah_in: float = 1.0
    charge_window_h: list[float] = field(default_factory=list)
    sell_window_h: list[float] = field(default_factory=list)
    policy: Policy = "threshold"
    charge_below_w: float = 0.0
    discharge_above_w: float = float("inf")
    reconcile_gain: float = 0.0
    reconcile_warn: float = 0.1
    period_s: float = 300.0
    load_includes_battery: bool = True
    ack_tolerance_w: float = 50.0
    forecast_w: list[float] = field(default_factory=list)
    price_forecast: list[float] = field(default_factory=list)
    degradation_cost: float = 0.0015
    profit_margin: float = 1.0
    slider: float = 0.5
    market_follow: MarketFollow = "price"
    market_period_s: float = 300.0
    bid_lead_s: float = 45.0
    price_stdev: float = 0.01
    price_level_memory: int = 12
    price_level_decay: float = 1.0
    horizon_h: int = 24
    spread_sigmas: float = 2.0
    bid_blocks: int = 4

    def validate(self) -> None:
        """Check ranges and orders; raise ``ValueError("field: reason")`` naming the first bad field."""
        require(self.capacity_ah > 0, "capacity_ah", f"must be > 0 Ah, got {self.capacity_ah}")
        require(self.nominal_voltage_v > 0, "nominal_voltage_v", f"must be > 0 V, got {self.nominal_voltage_v}")
        require(0 < self.coulombic_efficiency <= 1, "coulombic_efficiency",
                f"must be in (0, 1], got {self.coulombic_efficiency}")
        require(0 < self.conversion_efficiency <= 1, "conversion_efficiency",
                f"must be in (0, 1], got {self.conversion_efficiency}")
        require(self.max_charge_w > 0, "max_charge_w", f"must be > 0 W, got {self.max_charge_w}")
        require(self.max_discharge_w > 0, "max_discharge_w", f"must be > 0 W, got {self.max_discharge_w}")
        for name in ("soc_initial", "soc_low", "soc_high"):
            value = getattr(self, name)
            require(0 <= value <= 1, name, f"must be in [0, 1], got {value}")
        require(self.soc_low < self.soc_high, "soc_low",
                f"must be below soc_high ({self.soc_high}), got {self.soc_low}")
        require(0 <= self.soc_hysteresis < self.soc_high - self.soc_low, "soc_hysteresis",
                f"must be in [0, soc_high - soc_low) = [0, {self.soc_high - self.soc_low:g}), got {self.soc_hysteresis}")
        require(self.v_empty < self.v_full, "v_empty", f"must be below v_full ({self.v_full}), got {self.v_empty}")
        if self.ocv_table:
            for i, row in enumerate(self.ocv_table):
                require(len(row) == 2, f"ocv_table[{i}]", f"must be [soc, volts], got {row}")
                require(0 <= row[0] <= 1, f"ocv_table[{i}]", f"soc must be in [0, 1], got {row[0]}")
            require(len(self.ocv_table) >= 2, "ocv_table", "needs at least two [soc, volts] rows")
            socs = [r[0] for r in self.ocv_table]
            volts = [r[1] for r in self.ocv_table]
            require(all(b > a for a, b in zip(socs, socs[1:])), "ocv_table", "soc column must be strictly increasing")
            require(all(b >= a for a, b in zip(volts, volts[1:])), "ocv_table",
                    "volts column must not decrease as soc increases")
        require(self.rest_current_a >= 0, "rest_current_a", f"must be >= 0 A, got {self.rest_current_a}")
        require(self.rest_min_s >= 0, "rest_min_s", f"must be >= 0 s, got {self.rest_min_s}")
        require(self.idle_rest_s >= 0, "idle_rest_s", f"must be >= 0 s, got {self.idle_rest_s}")
        require(self.eta_same_state_tol >= 0, "eta_same_state_tol", f"must be >= 0, got {self.eta_same_state_tol}")
        require(self.eta_min_ah_in > 0, "eta_min_ah_in", f"must be > 0 Ah, got {self.eta_min_ah_in}")
        for name in ("charge_window_h", "sell_window_h"):
            window = getattr(self, name)
            require(len(window) in (0, 2), name, f"must be [] or [start_hour, end_hour], got {window}")
            require(all(0 <= h <= 24 for h in window), name, f"hours must be in [0, 24], got {window}")
        require(self.charge_below_w <= self.discharge_above_w, "charge_below_w",
                f"must not exceed discharge_above_w ({self.discharge_above_w} W), got {self.charge_below_w}")
        require(0 <= self.reconcile_gain <= 1, "reconcile_gain", f"must be in [0, 1], got {self.reconcile_gain}")
        require(self.reconcile_warn > 0, "reconcile_warn", f"must be > 0, got {self.reconcile_warn}")
        require(self.period_s > 0, "period_s", f"must be > 0 s, got {self.period_s}")
        require(self.ack_tolerance_w >= 0, "ack_tolerance_w", f"must be >= 0 W, got {self.ack_tolerance_w}")
        require(all(math.isfinite(v) for v in self.forecast_w), "forecast_w", "loads must be finite numbers [W]")
        if self.policy == "market":
            require(len(self.price_forecast) == 24, "price_forecast",
                    f"market policy needs 24 hourly prices, got {len(self.price_forecast)}")
        require(self.degradation_cost >= 0, "degradation_cost", f"must be >= 0, got {self.degradation_cost}")
        require(self.profit_margin >= 0, "profit_margin", f"must be >= 0, got {self.profit_margin}")
        require(self.slider >= 0, "slider", f"must be >= 0, got {self.slider}")
        if self.policy == "market" and self.market_follow == "award":
            self._validate_auction()

    def _validate_auction(self) -> None:
        """Checks of the double-auction mode (``policy: market``, ``market_follow: award``)."""
        market = self.market_period_s
        require(market > 0, "market_period_s", f"must be > 0 s, got {market}")
        ratio = market / self.period_s
        require(ratio >= 1 - 1e-9 and abs(ratio - round(ratio)) < 1e-9, "period_s",
                f"must divide market_period_s ({market:g} s) so an award lasts whole control periods, "
                f"got {self.period_s:g}")
        require(0 < self.bid_lead_s < market, "bid_lead_s", f"must be in (0, {market:g}) s, got {self.bid_lead_s}")
        require(self.slider > 0, "slider", "must be > 0 for auction bids (slider 0 is a vertical bid, which has no "
                "blocks)")
        require(self.price_stdev > 0, "price_stdev", f"must be > 0 $/kWh, got {self.price_stdev}")
        require(self.price_level_memory >= 0, "price_level_memory", f"must be >= 0, got {self.price_level_memory}")
        require(0 <= self.price_level_decay <= 1, "price_level_decay",
                f"must be in [0, 1], got {self.price_level_decay}")
        require(self.horizon_h >= 1, "horizon_h", f"must be >= 1 h, got {self.horizon_h}")
        require(self.spread_sigmas >= 0, "spread_sigmas", f"must be >= 0, got {self.spread_sigmas}")
        require(self.bid_blocks >= 1, "bid_blocks", f"must be >= 1, got {self.bid_blocks}")

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (JSON-serialisable except infinities, which JSON writes as ``Infinity``)."""
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Short hash of the configuration; a resumed state must have been written under the same one."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def in_window(hour: float, window: list[float]) -> bool:
    """True when ``hour`` (0-24) lies in ``[start, end)``; wraps midnight when start > end; ``[]`` is always open."""
    if not window:
        return True
    start, end = window
    hour = hour % 24.0
    if start == end:
        return True
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end
