"""GridLAB-D-style metrics for houses, billing meters, inverters and the substation (TESP ``metrics_collector``).

GridLAB-D's ``metrics_collector`` samples its parent at each step and writes min/max/avg (and for the feeder the
median) over every metrics interval. The pip build cannot write those files through HELICS runs the way TESP does, so
this module does the same arithmetic on values the feeder federate already read, and hands one row per object to the
project's :class:`~vppfed.federates.metrics.MetricsWriter` (files ``house_<root>_metrics.json``,
``billing_meter_<root>_metrics.json``, ``inverter_<root>_metrics.json``, ``substation_<root>_metrics.json``).

Column names are TESP's (metrics_collector_writer.cpp); TESP readers look columns up by name, so the house file
carries both the setpoint columns of newer GridLAB-D builds and the deviation columns older readers ask for.
Definitions used here (they are ours where GridLAB-D's are not documented):

- energies integrate each sample times the time since the previous sample (sample-and-hold over the step);
- ``bill`` = sum over samples of price [$/kWh] x energy of the step [kWh] (the meter's ``price``; the monthly fee is
  not prorated);
- ANSI C84.1 ranges on the 120 V base: Range A 114-126 V, Range B 110-127 V (doubled for ``voltage12``); durations
  add the step length while a sample violates, counts add one per entry into a violation;
- ``voltage_unbalance`` = (|V1| - |V2|) / (|V12| / 2);
- substation losses = Re/Im of ``distribution_load`` minus the sum over billing meters.

Sampling every co-simulation step costs one worker round trip per (class, property); ``sample_every_s`` lets a
15 s federate sample every 60 s instead (see the benchmark figures).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from vppfed.federates.feeder.gld_strings import parse_complex, parse_float

__all__ = ["HOUSE_COLUMNS", "BILLING_METER_COLUMNS", "INVERTER_COLUMNS", "SUBSTATION_COLUMNS", "SYSTEM_MODE_CODES",
           "FeederMetrics", "REQUIRED_READS"]


def _mma(name: str, unit: str, median: bool = False) -> list[tuple[str, str]]:
    cols = [(f"{name}_min", unit), (f"{name}_max", unit), (f"{name}_avg", unit)]
    if median:
        cols.append((f"{name}_median", unit))
    return cols


BILLING_METER_COLUMNS: list[tuple[str, str]] = (
    _mma("real_power", "W") + _mma("reactive_power", "VAR")
    + [("real_energy", "Wh"), ("reactive_energy", "VARh"), ("bill", "USD")]
    + _mma("voltage12", "V")
    + [("above_RangeA_Duration", "s"), ("below_RangeA_Duration", "s"),
       ("above_RangeB_Duration", "s"), ("below_RangeB_Duration", "s")]
    + _mma("voltage", "V") + _mma("voltage_unbalance", "V")
    + [("above_RangeA_Count", ""), ("below_RangeA_Count", ""), ("above_RangeB_Count", ""), ("below_RangeB_Count", ""),
       ("below_10_percent_NormVol_Duration", "s"), ("below_10_percent_NormVol_Count", "")]
)
HOUSE_COLUMNS: list[tuple[str, str]] = (
    _mma("total_load", "kW") + _mma("hvac_load", "kW") + _mma("air_temperature", "degF")
    + [("air_temperature_setpoint_cooling", "degF"), ("air_temperature_setpoint_heating", "degF"),
       ("air_temperature_deviation_cooling", "degF"), ("air_temperature_deviation_heating", "degF"),
       ("system_mode", "")]
    + _mma("waterheater_load", "kW") + _mma("waterheater_setpoint", "degF") + _mma("waterheater_demand", "gpm")
    + _mma("waterheater_temp", "degF")
)
INVERTER_COLUMNS: list[tuple[str, str]] = _mma("real_power", "W") + _mma("reactive_power", "VAR")
SUBSTATION_COLUMNS: list[tuple[str, str]] = (
    _mma("real_power", "W", True) + _mma("reactive_power", "VAR", True)
    + [("real_energy", "Wh"), ("reactive_energy", "VARh")]
    + _mma("real_power_losses", "W", True) + _mma("reactive_power_losses", "VAR", True)
)

#: GridLAB-D house ``system_mode`` enumeration values (house_e.h)
SYSTEM_MODE_CODES = {"UNKNOWN": 0, "HEAT": 1, "OFF": 2, "COOL": 3, "AUX": 4}

#: (class, property) pairs one metrics sample needs
REQUIRED_READS: dict[str, list[str]] = {
    "house": ["total_load", "hvac_load", "air_temperature", "cooling_setpoint", "heating_setpoint", "system_mode"],
    "waterheater": ["actual_load", "tank_setpoint", "water_demand", "temperature"],
    "triplex_meter": ["measured_real_power", "measured_reactive_power", "measured_voltage_1", "measured_voltage_2",
                      "voltage_12", "price"],
    "inverter": ["VA_Out"],
    "substation": ["distribution_load"],
}

_V_NOMINAL = 120.0
_RANGE_A = (114.0, 126.0)
_RANGE_B = (110.0, 127.0)


def _floats(raw: Mapping[str, str], names: Sequence[str]) -> np.ndarray:
    # hundreds of values per sample: the builtin float on the text before the unit is ~20x cheaper than the
    # general parser, which stays the fallback for anything unusual (polar, brackets, odd units)
    try:
        return np.array([float(raw[n].partition(" ")[0]) for n in names], dtype=float)
    except (ValueError, AttributeError):
        return np.array([parse_float(raw[n]) for n in names], dtype=float)


def _complexes(raw: Mapping[str, str], names: Sequence[str]) -> np.ndarray:
    try:
        return np.array([complex(raw[n].partition(" ")[0]) for n in names], dtype=complex)
    except (ValueError, AttributeError):
        return np.array([parse_complex(raw[n]) for n in names], dtype=complex)


@dataclass
class _Series:
    """Samples of several quantities for a fixed list of objects within one metrics interval."""

    samples: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray) -> None:
        self.samples.setdefault(name, []).append(values)

    def stack(self, name: str) -> np.ndarray:
        return np.vstack(self.samples[name])

    def clear(self) -> None:
        self.samples.clear()

    def __bool__(self) -> bool:
        return bool(self.samples)


class FeederMetrics:
    """Collects samples of a feeder and emits one TESP row per object per metrics interval.

    Parameters
    ----------
    houses, water_heaters, meters, inverters : sequences of str
        Object names (from the feeder inventory).
    water_heater_house : mapping
        Water heater -> its house (the water-heater columns live in the house row, as in GridLAB-D).
    substation : str
        Name of the SWING substation object.
    """

    def __init__(self, houses: Sequence[str], meters: Sequence[str], inverters: Sequence[str],
                 water_heaters: Sequence[str] = (), water_heater_house: Mapping[str, str] | None = None,
                 substation: str = "network_node") -> None:
        self.houses = list(houses)
        self.meters = list(meters)
        self.inverters = list(inverters)
        self.water_heaters = list(water_heaters)
        self.wh_house = dict(water_heater_house or {})
        self.substation = substation
        self._series = _Series()
        self._dt: list[float] = []
        self._last_t: float | None = None
        # violation state carried across intervals for entry counts
        n = len(self.meters)
        self._prev_flags = {k: np.zeros(n, dtype=bool) for k in ("aA", "bA", "aB", "bB", "b10")}

    def reads(self) -> list[tuple[str, str]]:
        """The (class, property) pairs :meth:`sample` needs (skips classes without objects)."""
        have = {"house": self.houses, "waterheater": self.water_heaters, "triplex_meter": self.meters,
                "inverter": self.inverters, "substation": [self.substation]}
        return [(cls, prop) for cls, props in REQUIRED_READS.items() if have[cls] for prop in props]

    # ------------------------------------------------------------------ sampling
    def sample(self, t: float, read: Callable[[str, str], Mapping[str, str]]) -> None:
        """Take one sample at HELICS time ``t`` using ``read(cls, prop) -> {name: raw text}``.

        The step length since the previous sample (or since 0 for the first) weights energies and durations.
        """
        dt = float(t - (self._last_t if self._last_t is not None else 0.0))
        self._last_t = float(t)
        self._dt.append(dt)
        s = self._series
        if self.houses:
            g = {p: read("house", p) for p in REQUIRED_READS["house"]}
            s.add("total_load", _floats(g["total_load"], self.houses))
            s.add("hvac_load", _floats(g["hvac_load"], self.houses))
            air = _floats(g["air_temperature"], self.houses)
            cool = _floats(g["cooling_setpoint"], self.houses)
            heat = _floats(g["heating_setpoint"], self.houses)
            s.add("air_temperature", air)
            s.add("cooling_setpoint", cool)
            s.add("heating_setpoint", heat)
            s.add("dev_cool", air - cool)
            s.add("dev_heat", air - heat)
            s.add("system_mode", np.array([SYSTEM_MODE_CODES.get(g["system_mode"][h].strip(), 0)
                                           for h in self.houses], dtype=float))
        if self.water_heaters:
            g = {p: read("waterheater", p) for p in REQUIRED_READS["waterheater"]}
            s.add("wh_load", _floats(g["actual_load"], self.water_heaters))
            s.add("wh_setpoint", _floats(g["tank_setpoint"], self.water_heaters))
            s.add("wh_demand", _floats(g["water_demand"], self.water_heaters))
            s.add("wh_temp", _floats(g["temperature"], self.water_heaters))
        if self.meters:
            g = {p: read("triplex_meter", p) for p in REQUIRED_READS["triplex_meter"]}
            s.add("m_p", _floats(g["measured_real_power"], self.meters))
            s.add("m_q", _floats(g["measured_reactive_power"], self.meters))
            v1 = np.abs(_complexes(g["measured_voltage_1"], self.meters))
            v2 = np.abs(_complexes(g["measured_voltage_2"], self.meters))
            v12 = np.abs(_complexes(g["voltage_12"], self.meters))
            s.add("m_v1", v1)
            s.add("m_v12", v12)
            s.add("m_unb", (v1 - v2) / np.where(v12 > 0, v12 / 2.0, 1.0))
            s.add("m_price", _floats(g["price"], self.meters))
        if self.inverters:
            va = _complexes(read("inverter", "VA_Out"), self.inverters)
            s.add("i_p", va.real)
            s.add("i_q", va.imag)
        sub = _complexes(read("substation", "distribution_load"), [self.substation])
        s.add("s_p", sub.real)
        s.add("s_q", sub.imag)

    # --------------------------------------------------------------------- rows
    def flush(self) -> dict[str, dict[str, list[float]]]:
        """Rows of the interval since the last flush: ``{prefix: {uid: [values in column order]}}``; then reset.

        Returns an empty dict if no sample was taken.
        """
        if not self._series:
            return {}
        s = self._series
        dt = np.array(self._dt)[:, None]
        out: dict[str, dict[str, list[float]]] = {}

        def mma(name: str, median: bool = False) -> list[np.ndarray]:
            a = s.stack(name)
            res = [a.min(axis=0), a.max(axis=0), a.mean(axis=0)]
            if median:
                res.append(np.median(a, axis=0))
            return res

        if self.houses:
            nh = len(self.houses)
            cols = (mma("total_load") + mma("hvac_load") + mma("air_temperature")
                    + [s.stack("cooling_setpoint").mean(axis=0), s.stack("heating_setpoint").mean(axis=0),
                       s.stack("dev_cool").mean(axis=0), s.stack("dev_heat").mean(axis=0),
                       s.stack("system_mode")[-1]])
            wh = np.zeros((12, nh))
            if self.water_heaters:
                pos = {h: i for i, h in enumerate(self.houses)}
                idx = np.array([pos[self.wh_house[w]] for w in self.water_heaters])
                for k, name in enumerate(("wh_load", "wh_setpoint", "wh_demand", "wh_temp")):
                    for j, arr in enumerate(mma(name)):
                        wh[3 * k + j, idx] = arr
            table = np.vstack([np.vstack(cols), wh])
            out["house"] = {h: table[:, i].tolist() for i, h in enumerate(self.houses)}
        if self.meters:
            p, q = s.stack("m_p"), s.stack("m_q")
            v1, v12 = s.stack("m_v1"), s.stack("m_v12")
            price = s.stack("m_price")
            energy_p = (p * dt).sum(axis=0) / 3600.0
            energy_q = (q * dt).sum(axis=0) / 3600.0
            bill = (price * p * dt).sum(axis=0) / 3.6e6
            flags = {"aA": v1 > _RANGE_A[1], "bA": v1 < _RANGE_A[0], "aB": v1 > _RANGE_B[1], "bB": v1 < _RANGE_B[0],
                     "b10": v1 < 0.9 * _V_NOMINAL}
            dur = {k: (f * dt).sum(axis=0) for k, f in flags.items()}
            cnt = {}
            for k, f in flags.items():
                prev = np.vstack([self._prev_flags[k][None, :], f[:-1]])
                cnt[k] = (f & ~prev).sum(axis=0).astype(float)
                self._prev_flags[k] = f[-1].copy()
            v12_mma = [a for a in mma("m_v12")]
            cols = (mma("m_p") + mma("m_q") + [energy_p, energy_q, bill] + v12_mma
                    + [dur["aA"], dur["bA"], dur["aB"], dur["bB"]]
                    + mma("m_v1") + mma("m_unb")
                    + [cnt["aA"], cnt["bA"], cnt["aB"], cnt["bB"], dur["b10"], cnt["b10"]])
            table = np.vstack(cols)
            out["billing_meter"] = {m: table[:, i].tolist() for i, m in enumerate(self.meters)}
            meter_p, meter_q = p.sum(axis=1), q.sum(axis=1)
        else:
            meter_p = meter_q = np.zeros(len(self._dt))
        if self.inverters:
            table = np.vstack(mma("i_p") + mma("i_q"))
            out["inverter"] = {v: table[:, i].tolist() for i, v in enumerate(self.inverters)}
        sp, sq = s.stack("s_p")[:, 0], s.stack("s_q")[:, 0]
        lp, lq = sp - meter_p, sq - meter_q

        def mma1(a: np.ndarray) -> list[float]:
            return [float(a.min()), float(a.max()), float(a.mean()), float(np.median(a))]

        out["substation"] = {self.substation: mma1(sp) + mma1(sq)
                             + [float((sp * dt[:, 0]).sum() / 3600.0), float((sq * dt[:, 0]).sum() / 3600.0)]
                             + mma1(lp) + mma1(lq)}
        s.clear()
        self._dt = []
        return out

    @staticmethod
    def columns() -> dict[str, list[tuple[str, str]]]:
        """Metadata columns per TESP prefix."""
        return {"house": HOUSE_COLUMNS, "billing_meter": BILLING_METER_COLUMNS, "inverter": INVERTER_COLUMNS,
                "substation": SUBSTATION_COLUMNS}
