"""GridLAB-D-style metrics for houses, billing meters, inverters, capacitors, regulators and the substation.

GridLAB-D's ``metrics_collector`` samples its parent at each step and writes min/max/avg (and for the feeder the
median) over every metrics interval. The pip build cannot write those files through HELICS runs the way TESP does, so
this module does the same arithmetic on values the feeder federate already read, and hands one row per object to the
project's :class:`~vppfed.federates.metrics.MetricsWriter` (files ``house_<root>_metrics.json``,
``billing_meter_<root>_metrics.json``, ``inverter_<root>_metrics.json``, ``capacitor_<root>_metrics.json``,
``regulator_<root>_metrics.json``, ``substation_<root>_metrics.json``). TESP's ``process_gld`` opens all six, so every
file is written even when the feeder has no such objects, with an empty row set at each time (``"300": {}``; GridLAB-D's
own writer puts ``null`` there, which the TESP readers accept too).

Row times: a row at ``t`` holds the samples after the previous row, up to and including ``t``. GridLAB-D's
``metrics_collector_writer`` (PyPI 6.0.0, measured on the generated TE30 feeder) labels each row one interval late: its
row at 3600 s holds the collector's interval ending at 3300 s; and its averages are trapezoids that also take the
sample at the interval's start. Steady values therefore agree exactly; a value that changes inside an interval shows
in our row at ``t`` and in GridLAB-D's at ``t + interval``, averaged slightly differently.

Column names are TESP's (metrics_collector_writer.cpp); TESP readers look columns up by name, so the house file
carries both the setpoint columns of newer GridLAB-D builds and the deviation columns older readers ask for.
Definitions used here (they are ours where GridLAB-D's are not documented):

- energies integrate each sample times the time since the previous sample (sample-and-hold over the step);
- ``bill`` = sum over samples of price [$/kWh] x energy of the step [kWh] (the meter's ``price``; the monthly fee is
  not prorated);
- ANSI C84.1 ranges on the 120 V base: Range A 114-126 V, Range B 110-127 V (doubled for ``voltage12``); durations
  add the step length while a sample violates, counts add one per entry into a violation;
- ``voltage_unbalance`` = (|V1| - |V2|) / (|V12| / 2);
- a ``meter`` (not triplex) billing meter uses GridLAB-D's definitions for that class: ``voltage`` = mean of the
  non-zero |Va|, |Vb|, |Vc|, ``voltage12`` = (|Vab| + |Vbc| + |Vca|) / number of phases, ``voltage_unbalance`` =
  largest deviation of a line-to-line voltage from that mean / the mean; the ranges apply to ``voltage`` scaled to the
  120 V base by its ``nominal_voltage``;
- a billing meter's row is what GridLAB-D measures at it, as GridLAB-D's own collector writes it: a meter with
  meters nested below it (inventory ``meter_upstream``, e.g. TE_Challenge's flat-rate meters over its real-time
  ones) measures them too, so a sum over billing meters counts nested meters twice; the losses below do not use
  that sum;
- capacitor and regulator ``operation_count`` = the largest value over the interval of GridLAB-D's cumulative
  ``cap_{A,B,C}_switch_count`` / ``tap_{A,B,C}_change_count`` summed over the phases (metrics_collector's rule);
- substation losses = the sum of the links' own ``power_losses`` (:mod:`~vppfed.federates.feeder.gld_losses`, the
  swing-bus metrics_collector's definition), min/max/avg/median over the samples.

Sampling every co-simulation step costs one worker round trip per (class, property); ``sample_every_s`` lets a
15 s federate sample every 60 s instead (see the benchmark figures).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from vppfed.federates.feeder.gld_losses import LOSS_PROPERTY, link_losses, loss_classes
from vppfed.formats.gld_strings import parse_complex_many, parse_float

__all__ = ["HOUSE_COLUMNS", "BILLING_METER_COLUMNS", "INVERTER_COLUMNS", "SUBSTATION_COLUMNS", "CAPACITOR_COLUMNS",
           "REGULATOR_COLUMNS", "SYSTEM_MODE_CODES", "FeederMetrics", "REQUIRED_READS"]


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
#: GridLAB-D's capacitor and regulator files: one column, no unit (metrics_collector_writer.cpp)
CAPACITOR_COLUMNS: list[tuple[str, str]] = [("operation_count", "")]
REGULATOR_COLUMNS: list[tuple[str, str]] = [("operation_count", "")]

#: GridLAB-D house ``system_mode`` enumeration values (house_e.h)
SYSTEM_MODE_CODES = {"UNKNOWN": 0, "HEAT": 1, "OFF": 2, "COOL": 3, "AUX": 4}

#: (class, property) pairs one metrics sample needs
REQUIRED_READS: dict[str, list[str]] = {
    "house": ["total_load", "hvac_load", "air_temperature", "cooling_setpoint", "heating_setpoint", "system_mode"],
    "waterheater": ["actual_load", "tank_setpoint", "water_demand", "temperature"],
    "triplex_meter": ["measured_real_power", "measured_reactive_power", "measured_voltage_1", "measured_voltage_2",
                      "voltage_12", "price"],
    "meter": ["measured_real_power", "measured_reactive_power", "voltage_A", "voltage_B", "voltage_C", "voltage_AB",
              "voltage_BC", "voltage_CA", "price", "nominal_voltage"],
    "inverter": ["VA_Out"],
    "capacitor": ["cap_A_switch_count", "cap_B_switch_count", "cap_C_switch_count"],
    "regulator": ["tap_A_change_count", "tap_B_change_count", "tap_C_change_count"],
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
    texts = [raw[n] for n in names]
    try:   # rectangular texts: the builtin (keeps a "-0j" part's sign, as these files always had it)
        return np.array([complex(t.partition(" ")[0]) for t in texts], dtype=complex)
    except (ValueError, AttributeError):
        return np.array(parse_complex_many(texts), dtype=complex)


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
        Name of the feeder head; its power is read as ``("substation", "distribution_load")`` (a SWING-node head's
        federate answers that read with the head's computed power).
    capacitors, regulators : sequences of str
        Objects of GridLAB-D's ``capacitor`` and ``regulator`` classes (rows of their operation counts).
    links : mapping, optional
        GridLAB-D class -> link names (inventory ``links``): which classes to read ``power_losses`` from
        (:func:`~vppfed.federates.feeder.gld_losses.loss_classes`; empty or None reads every loss class).
    meter_class : mapping, optional
        Billing meter -> GridLAB-D class when it is not ``triplex_meter`` (e.g. ``meter``).
    meter_upstream : mapping, optional
        Nested billing meter -> the nearest billing meter upstream of it. Kept for readers that sum meters (the rows
        themselves are GridLAB-D's, see the module docstring); unknown names are ignored.
    """

    def __init__(self, houses: Sequence[str], meters: Sequence[str], inverters: Sequence[str],
                 water_heaters: Sequence[str] = (), water_heater_house: Mapping[str, str] | None = None,
                 substation: str = "network_node", *, capacitors: Sequence[str] = (), regulators: Sequence[str] = (),
                 links: Mapping[str, Sequence[str]] | None = None, meter_class: Mapping[str, str] | None = None,
                 meter_upstream: Mapping[str, str] | None = None) -> None:
        self.houses = list(houses)
        self.meters = list(meters)
        self.inverters = list(inverters)
        self.water_heaters = list(water_heaters)
        self.wh_house = dict(water_heater_house or {})
        self.substation = substation
        self.capacitors = list(capacitors)
        self.regulators = list(regulators)
        self.loss_classes = loss_classes(links)
        classes = dict(meter_class or {})
        # billing meters by GridLAB-D class, each group with its positions in ``self.meters``
        self._meter_groups: dict[str, tuple[list[str], np.ndarray]] = {}
        for cls in dict.fromkeys(classes.get(m, "triplex_meter") for m in self.meters):
            if cls not in _METER_READERS:
                raise ValueError(f"billing meters of class '{cls}' are not supported (triplex_meter or meter)")
            pos = [i for i, m in enumerate(self.meters) if classes.get(m, "triplex_meter") == cls]
            self._meter_groups[cls] = ([self.meters[i] for i in pos], np.array(pos, dtype=int))
        known = set(self.meters)
        self.meter_upstream = {c: u for c, u in sorted((meter_upstream or {}).items())
                               if c in known and u in known and c != u}
        self._series = _Series()
        self._dt: list[float] = []
        self._last_t: float | None = None
        # violation state carried across intervals for entry counts
        n = len(self.meters)
        self._prev_flags = {k: np.zeros(n, dtype=bool) for k in ("aA", "bA", "aB", "bB", "b10")}

    def reads(self) -> list[tuple[str, str]]:
        """The (class, property) pairs :meth:`sample` needs (skips classes without objects)."""
        have = {"house": self.houses, "waterheater": self.water_heaters, "inverter": self.inverters,
                "capacitor": self.capacitors, "regulator": self.regulators, "substation": [self.substation]}
        have.update({cls: names for cls, (names, _) in self._meter_groups.items()})
        out = [(cls, prop) for cls, props in REQUIRED_READS.items() if have.get(cls) for prop in props]
        return out + [(cls, LOSS_PROPERTY) for cls in self.loss_classes]

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
            n = len(self.meters)
            cols = {k: np.zeros(n) for k in ("p", "q", "v1", "v12", "unb", "price", "v120")}
            for cls, (names, pos) in self._meter_groups.items():
                for key, values in _METER_READERS[cls](read, names).items():
                    cols[key][pos] = values
            s.add("m_p", cols["p"])
            s.add("m_q", cols["q"])
            s.add("m_v1", cols["v1"])
            s.add("m_v120", cols["v120"])
            s.add("m_v12", cols["v12"])
            s.add("m_unb", cols["unb"])
            s.add("m_price", cols["price"])
        if self.inverters:
            va = _complexes(read("inverter", "VA_Out"), self.inverters)
            s.add("i_p", va.real)
            s.add("i_q", va.imag)
        for cls, names, key in (("capacitor", self.capacitors, "cap_ops"), ("regulator", self.regulators, "reg_ops")):
            if names:
                s.add(key, sum(_floats(read(cls, prop), names) for prop in REQUIRED_READS[cls]))
        sub = _complexes(read("substation", "distribution_load"), [self.substation])
        s.add("s_p", sub.real)
        s.add("s_q", sub.imag)
        loss = sum((link_losses(read(cls, LOSS_PROPERTY)) for cls in self.loss_classes), 0j)
        s.add("l_p", np.array([loss.real]))
        s.add("l_q", np.array([loss.imag]))

    # --------------------------------------------------------------------- rows
    def flush(self) -> dict[str, dict[str, list[float]]]:
        """Rows of the interval since the last flush: ``{prefix: {uid: [values in column order]}}``; then reset.

        Returns an empty dict if no sample was taken. Prefixes without objects (no capacitors ...) are absent.
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
            v120 = s.stack("m_v120")
            price = s.stack("m_price")
            energy_p = (p * dt).sum(axis=0) / 3600.0
            energy_q = (q * dt).sum(axis=0) / 3600.0
            bill = (price * p * dt).sum(axis=0) / 3.6e6
            flags = {"aA": v120 > _RANGE_A[1], "bA": v120 < _RANGE_A[0], "aB": v120 > _RANGE_B[1],
                     "bB": v120 < _RANGE_B[0], "b10": v120 < 0.9 * _V_NOMINAL}
            dur = {k: (f * dt).sum(axis=0) for k, f in flags.items()}
            cnt = {}
            for k, f in flags.items():
                prev = np.vstack([self._prev_flags[k][None, :], f[:-1]])
                cnt[k] = (f & ~prev).sum(axis=0).astype(float)
                self._prev_flags[k] = f[-1].copy()
            cols = (mma("m_p") + mma("m_q") + [energy_p, energy_q, bill] + mma("m_v12")
                    + [dur["aA"], dur["bA"], dur["aB"], dur["bB"]]
                    + mma("m_v1") + mma("m_unb")
                    + [cnt["aA"], cnt["bA"], cnt["aB"], cnt["bB"], dur["b10"], cnt["b10"]])
            table = np.vstack(cols)
            out["billing_meter"] = {m: table[:, i].tolist() for i, m in enumerate(self.meters)}
        if self.inverters:
            table = np.vstack(mma("i_p") + mma("i_q"))
            out["inverter"] = {v: table[:, i].tolist() for i, v in enumerate(self.inverters)}
        for prefix, names, key in (("capacitor", self.capacitors, "cap_ops"),
                                   ("regulator", self.regulators, "reg_ops")):
            if names:
                counts = s.stack(key).max(axis=0)
                out[prefix] = {name: [float(counts[i])] for i, name in enumerate(names)}
        sp, sq = s.stack("s_p")[:, 0], s.stack("s_q")[:, 0]
        lp, lq = s.stack("l_p")[:, 0], s.stack("l_q")[:, 0]

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
                "capacitor": CAPACITOR_COLUMNS, "regulator": REGULATOR_COLUMNS, "substation": SUBSTATION_COLUMNS}


def _batch(read: Callable[[str, str], Mapping[str, str]], cls: str, prop: str,
           names: Sequence[str]) -> Mapping[str, str]:
    """``read(cls, prop)``, failing with the objects it did not answer for (a billing meter of another class...)."""
    raw = read(cls, prop)
    missing = [n for n in names if n not in raw]
    if missing:
        raise KeyError(f"no {cls}.{prop} for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                       f"(not {cls} objects of the model?)")
    return raw


def _triplex_meter_values(read: Callable[[str, str], Mapping[str, str]], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Powers [W, VAr], |V1| and |V12| [V], unbalance and price of triplex meters (this module's definitions)."""
    g = {p: _batch(read, "triplex_meter", p, names) for p in REQUIRED_READS["triplex_meter"]}
    v1 = np.abs(_complexes(g["measured_voltage_1"], names))
    v2 = np.abs(_complexes(g["measured_voltage_2"], names))
    v12 = np.abs(_complexes(g["voltage_12"], names))
    return {"p": _floats(g["measured_real_power"], names), "q": _floats(g["measured_reactive_power"], names),
            "v1": v1, "v120": v1, "v12": v12, "unb": (v1 - v2) / np.where(v12 > 0, v12 / 2.0, 1.0),
            "price": _floats(g["price"], names)}


def _meter_values(read: Callable[[str, str], Mapping[str, str]], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The same quantities for (poly-phase) ``meter`` objects, with GridLAB-D's definitions for that class."""
    g = {p: _batch(read, "meter", p, names) for p in REQUIRED_READS["meter"]}
    vln = np.vstack([np.abs(_complexes(g[f"voltage_{ph}"], names)) for ph in "ABC"])
    vll = np.vstack([np.abs(_complexes(g[f"voltage_{ph}"], names)) for ph in ("AB", "BC", "CA")])
    phases = np.maximum((vln > 0).sum(axis=0), 1)
    v_avg = vln.sum(axis=0) / phases
    vll_avg = vll.sum(axis=0) / phases
    deviation = np.where(vll > 0, np.abs(vll - vll_avg), 0.0).max(axis=0)
    nominal = _floats(g["nominal_voltage"], names)
    return {"p": _floats(g["measured_real_power"], names), "q": _floats(g["measured_reactive_power"], names),
            "v1": v_avg, "v120": v_avg * _V_NOMINAL / np.where(nominal > 0, nominal, _V_NOMINAL), "v12": vll_avg,
            "unb": deviation / np.where(vll_avg > 0, vll_avg, 1.0), "price": _floats(g["price"], names)}


#: billing meter class -> reader of its quantities
_METER_READERS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "triplex_meter": _triplex_meter_values,
    "meter": _meter_values,
}
