"""Our 8-bus 345 kV ERCOT-style bulk model in TESP's ``_pp.json`` layout (issue 8), with a daily load shape per bus
and a wind profile.

Eight zones (1 North, 2 Dallas-Fort Worth, 3 Houston, 4 South/San Antonio, 5 Central/Austin, 6 West, 7 Far West,
8 Coast/Valley) joined by twelve 345 kV corridors of 2-6 parallel circuits each (0.03 + j0.33 ohm/km, 5 uS/km and
1200 MVA per circuit; a zone-to-zone equivalent of many lines). Nineteen units: 2 nuclear, 5 coal, 6 gas combined-cycle, 3 gas turbines, 3 wind farms. Costs (quadratic,
$/h with P in MW) follow the merit order nuclear (≈6 $/MWh) < coal (18-24) < combined cycle (28-35) < turbines (65-90,
steep), wind at ≈0; they are round illustrative numbers, not market data.

Loads: summer peak per zone (MW, total ≈58 GW) times a daily shape with a zone-specific peak hour (15-17 h) and
night/peak ratio (0.55-0.65), every 5 min, looped; a fraction ``feeder_share`` of each zone's load is represented by the
simulated feeder at that bus (DSO scale = share × zone peak / feeder peak), the rest is background load in the CSV.
Wind: hourly available power per farm, a diurnal shape (high at night, low mid-afternoon, as West Texas wind) with
seeded noise, in ``PmaxProfiles`` (our extension; TESP ignores unknown keys).

Beyond 8 buses (issue 15, toward TESP's 200-bus case, where ~600 feeders sit on 200 buses of one synthetic grid):
``substations`` adds load buses 9, 10, ... each joined to its zone's bus by a short radial 345 kV line
(:data:`SUBSTATION_KM`, enough parallel circuits for its share). A zone with ``m`` buses (its own plus its
substations) splits its load evenly over them, so each bus's feeder stands for the same ``feeder_share`` of a smaller
load and the grid's total load and generation stay those of the 8-bus model. One feeder per bus keeps the bulk
federate's wiring (a feeder named by its bus number) unchanged. Without substations the model is the 8-bus one, byte
for byte.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vppfed.io import atomic_write_text

__all__ = ["Ercot8Params", "build_ercot8_dict", "ercot8_background", "write_ercot8_model", "substation_buses"]

_ZBASE = 345.0 ** 2 / 100.0
# zone: (name, peak MW, peak hour, night/peak ratio)
ZONES = {1: ("North", 3600, 16.0, 0.60), 2: ("DFW", 18000, 16.5, 0.58), 3: ("Houston", 16200, 15.5, 0.62),
         4: ("South", 8100, 16.0, 0.60), 5: ("Central", 5400, 16.5, 0.55), 6: ("West", 2300, 15.0, 0.65),
         7: ("FarWest", 1400, 15.0, 0.65), 8: ("Coast", 2700, 16.0, 0.62)}
# (from, to, km, circuits)
CORRIDORS = [(1, 2, 120, 4), (2, 3, 380, 6), (2, 5, 300, 4), (3, 5, 250, 4), (3, 8, 220, 3), (4, 5, 130, 4),
             (4, 8, 230, 3), (5, 6, 350, 3), (6, 7, 280, 3), (1, 6, 330, 2), (2, 4, 420, 3), (3, 4, 310, 4)]
#: length of the radial line from a zone's bus to one of its substation buses (km)
SUBSTATION_KM = 40
# (bus, fuel, Pmax, Pmin, c2, c1)
UNITS = [(2, "nuclear", 2400, 1800, 0.0001, 6.0), (3, "nuclear", 2700, 2000, 0.0001, 6.5),
         (1, "coal", 2500, 800, 0.001, 18.0), (2, "coal", 3000, 900, 0.001, 19.0), (4, "coal", 3500, 1000, 0.0012, 20.0),
         (5, "coal", 2500, 700, 0.0012, 22.0), (8, "coal", 2000, 600, 0.0015, 24.0),
         (2, "gas_cc", 7000, 0, 0.0008, 28.0), (3, "gas_cc", 9000, 0, 0.0007, 29.0), (4, "gas_cc", 5000, 0, 0.0009, 30.0),
         (5, "gas_cc", 4000, 0, 0.001, 31.0), (3, "gas_cc", 6000, 0, 0.0009, 32.0), (8, "gas_cc", 3500, 0, 0.0012, 35.0),
         (2, "gas_ct", 3000, 0, 0.01, 65.0), (3, "gas_ct", 3000, 0, 0.01, 70.0), (6, "gas_ct", 1200, 0, 0.03, 90.0),
         (6, "wind", 6000, 0, 0.0, 0.5), (7, "wind", 5000, 0, 0.0, 0.5), (1, "wind", 2500, 0, 0.0, 0.5)]


@dataclass
class Ercot8Params:
    """Parameters of the 8-bus model.

    feeder_buses : buses that host a simulated feeder (DSO rows); default all eight.
    feeder_share : fraction of each zone's load represented by its scaled feeder.
    feeder_peak_kw : expected peak of one simulated feeder (sets its scale).
    scale : if > 0, use this DSO scale for every feeder instead of the share rule.
    load_factor : multiplies every zone peak.
    bus_load_factor : per-bus multiplier of that zone's peak on top of ``load_factor`` (a multi-feeder case gives each
        bus its own); missing buses use 1.
    bus_feeder_peak_kw : per-bus expected peak of that bus's simulated feeder (kW), for feeders of different sizes;
        missing buses use ``feeder_peak_kw``.
    wind_seed : seed of the wind noise; ``wind_noise`` its relative size.
    substations : extra load buses (number >= 9) -> the zone bus (1-8) they hang from (see the module docstring;
        :func:`substation_buses` numbers them); empty = the 8-bus model.
    """

    start_time: str = "2013-07-01 00:00:00"
    hours: float = 72.0
    period_s: int = 300
    dt_s: int = 15
    feeder_buses: list[int] = field(default_factory=lambda: list(range(1, 9)))
    feeder_share: float = 0.05
    feeder_peak_kw: float = 300.0
    scale: float = 0.0
    load_factor: float = 1.0
    wind_seed: int = 0
    wind_noise: float = 0.15
    interval_s: int = 300
    opf_dc: bool = True
    units_out: list[list[float]] = field(default_factory=list)  # [[gen_row, t_out_s, t_in_s], ...]
    bus_load_factor: dict[int, float] = field(default_factory=dict)
    bus_feeder_peak_kw: dict[int, float] = field(default_factory=dict)
    substations: dict[int, int] = field(default_factory=dict)

    @property
    def buses(self) -> list[int]:
        """Every bus of the model: the 8 zone buses, then the substation buses in number order."""
        return list(ZONES) + sorted(self.substations)

    def zone_of(self, bus: int) -> int:
        """The zone bus (1-8) of ``bus``."""
        return self.substations.get(bus, bus)

    def validate(self) -> None:
        bad_sub = sorted(b for b, z in self.substations.items() if b in ZONES or z not in ZONES)
        if bad_sub:
            raise ValueError(f"substations: bus {bad_sub[0]} must be numbered above 8 and hang from a zone bus 1-8")
        known = set(self.buses)
        span = "buses 1-8" if not self.substations else f"buses 1-8 and substations {sorted(self.substations)}"
        bad = sorted(set(self.feeder_buses) - known)
        if bad:
            raise ValueError(f"feeder_buses: unknown bus(es) {bad} ({span})")
        if not 0 <= self.feeder_share < 1:
            raise ValueError("feeder_share: must be in [0, 1)")
        if any(not 0 <= int(u[0]) < len(UNITS) or u[2] < u[1] for u in self.units_out):
            raise ValueError(f"outage: generator rows are 0..{len(UNITS) - 1} and t_in must not precede t_out")
        if self.feeder_peak_kw <= 0 or self.load_factor <= 0 or self.scale < 0:
            raise ValueError("feeder_peak_kw, load_factor: must be > 0; scale: must be >= 0")
        for name in ("bus_load_factor", "bus_feeder_peak_kw"):
            values = getattr(self, name)
            bad = sorted(set(values) - known)
            if bad:
                raise ValueError(f"{name}: unknown bus(es) {bad} ({span})")
            if any(v <= 0 for v in values.values()):
                raise ValueError(f"{name}: values must be > 0")

    def zone_peak_mw(self, bus: int) -> float:
        """Summer peak at ``bus`` (MW) after ``load_factor`` and ``bus_load_factor``: its zone's peak, split evenly
        over the zone's buses when the zone has substations."""
        zone = self.zone_of(bus)
        peak = ZONES[zone][1] * self.load_factor * self.bus_load_factor.get(bus, 1.0)
        if not self.substations:
            return peak
        return peak / (1 + sum(1 for z in self.substations.values() if z == zone))

    def feeder_scale(self, bus: int) -> float:
        """DSO scale of the feeder at ``bus``: ``scale`` if set, else share × zone peak / feeder peak."""
        peak_kw = self.bus_feeder_peak_kw.get(bus, self.feeder_peak_kw)
        return self.scale or self.feeder_share * self.zone_peak_mw(bus) * 1000.0 / peak_kw


def substation_buses(count: int, zone_order: list[int]) -> dict[int, int]:
    """``count`` substation buses numbered 9, 10, ... -> their zone bus, dealt round-robin over ``zone_order`` (a
    case lists its largest zones first, so with 8 more buses every zone gets one, with 24 more every zone three)."""
    if count < 0:
        raise ValueError("substations: count must be >= 0")
    bad = [z for z in zone_order if z not in ZONES]
    if bad or not zone_order:
        raise ValueError(f"substations: zone buses must be among 1-8 (got {zone_order})")
    return {9 + k: zone_order[k % len(zone_order)] for k in range(count)}


def _shape(hours: np.ndarray, peak_hour: float, ratio: float) -> np.ndarray:
    phase = 2 * math.pi * (hours - peak_hour) / 24.0
    raw = 0.5 + 0.5 * np.cos(phase) + 0.08 * np.sin(2 * phase)
    raw = (raw - raw.min()) / (raw.max() - raw.min())
    return ratio + (1.0 - ratio) * raw


def ercot8_background(p: Ercot8Params) -> np.ndarray:
    """One day of background load per bus (MW; 86400/interval rows × 8 columns): zone load minus the feeder share."""
    hours = np.arange(0, 86400, p.interval_s) / 3600.0
    cols = []
    for b in p.buses:
        _, _, hour, ratio = ZONES[p.zone_of(b)]
        share = p.feeder_share if b in p.feeder_buses else 0.0
        cols.append(p.zone_peak_mw(b) * (1 - share) * _shape(hours, hour, ratio))
    return np.round(np.column_stack(cols), 3)


def _wind(p: Ercot8Params) -> list[list[float]]:
    rng = np.random.default_rng(p.wind_seed)
    hours = np.arange(int(math.ceil(p.hours)))
    out = []
    for bus, fuel, pmax, *_ in UNITS:
        if fuel != "wind":
            continue
        diurnal = 0.45 + 0.25 * np.cos(2 * math.pi * (hours - 3) / 24.0)
        walk = np.cumsum(rng.normal(0, p.wind_noise / 3, hours.size))
        cf = np.clip(diurnal + p.wind_noise * np.tanh(walk), 0.03, 0.95)
        out.append(list(np.round(cf * pmax, 1)))
    return out


def build_ercot8_dict(p: Ercot8Params, csv_name: str | None) -> dict[str, Any]:
    """The ``_pp.json`` mapping of the 8-bus model."""
    p.validate()
    bus = []
    for b, (_, _, _, ratio) in ZONES.items():
        mean = p.zone_peak_mw(b) * (1 + ratio) / 2
        bus.append([b, 3 if b == 3 else 2, round(mean, 1), round(0.3 * mean, 1), 0, 0, 1, 1.0, 0, 345.0, b, 1.1, 0.9])
    for b in sorted(p.substations):  # load (PQ) buses in their zone
        ratio = ZONES[p.zone_of(b)][3]
        mean = p.zone_peak_mw(b) * (1 + ratio) / 2
        bus.append([b, 1, round(mean, 1), round(0.3 * mean, 1), 0, 0, 1, 1.0, 0, 345.0, p.zone_of(b), 1.1, 0.9])
    gen, gencost, fuel = [], [], []
    for b, f, pmax, pmin, c2, c1 in UNITS:
        gen.append([b, pmin, 0, 0.5 * pmax, -0.3 * pmax, 1.02, 100, 1, pmax, pmin] + [0] * 11)
        gencost.append([2, 0, 0, 3, c2, c1, 0])
        fuel.append([f])
    branch = []
    for f, t, km, n in CORRIDORS:
        r, x, bsh = 0.03 * km / _ZBASE / n, 0.33 * km / _ZBASE / n, 5e-6 * km * _ZBASE * n
        branch.append([f, t, round(r, 6), round(x, 6), round(bsh, 5), 1200 * n, 1200 * n, 1200 * n, 0, 0, 1, -360, 360])
    for b in sorted(p.substations):  # radial line from the zone bus, circuits for 1.5x the bus's peak
        km, n = SUBSTATION_KM, max(2, math.ceil(1.5 * p.zone_peak_mw(b) / 1200))
        r, x, bsh = 0.03 * km / _ZBASE / n, 0.33 * km / _ZBASE / n, 5e-6 * km * _ZBASE * n
        branch.append([p.zone_of(b), b, round(r, 6), round(x, 6), round(bsh, 5), 1200 * n, 1200 * n, 1200 * n, 0, 0,
                       1, -360, 360])
    dso = []
    for b in p.feeder_buses:
        peak = p.zone_peak_mw(b)
        pinit = p.feeder_share * peak * 0.6
        dso.append([b, f"SUBSTATION{b}", round(p.feeder_scale(b), 3), round(peak, 1),
                    round(0.3 * peak, 1), 1.0, 0.0, round(pinit, 1), round(0.3 * pinit, 1)])
    wind_rows = [i for i, u in enumerate(UNITS) if u[1] == "wind"]
    doc: dict[str, Any] = {
        "version": "2", "baseMVA": 100.0, "bus": bus, "gen": gen, "branch": branch, "areas": [[1, 3]],
        "gencost": gencost, "genfuel": fuel, "DSO": dso, "UnitsOut": [[int(u[0]), int(u[1]), int(u[2])] for u in p.units_out], "BranchesOut": [],
        "zones": [[b, z[0]] for b, z in ZONES.items()] + [[b, f"{ZONES[p.zone_of(b)][0]}-{b}"]
                                                           for b in sorted(p.substations)], "swing_bus": 3,
        "PmaxProfiles": [[i, 3600, prof] for i, prof in zip(wind_rows, _wind(p))],
        "StartTime": p.start_time, "Tmax": int(round(p.hours * 3600)), "Period": p.period_s, "dt": p.dt_s,
        "opf_dc": 1 if p.opf_dc else 0, "pf_dc": 0,
    }
    if csv_name:
        doc.update({"CSVFile": csv_name, "CSVBuses": p.buses, "CSVInterval": p.interval_s})
    return doc


def write_ercot8_model(p: Ercot8Params, directory: str | Path, name: str = "ercot8") -> Path:
    """Write ``<name>_pp.json`` and ``<name>_background_load.csv`` (8 MW columns, no header); returns the JSON path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_name = f"{name}_background_load.csv"
    rows = ercot8_background(p)
    csv_text = "".join(",".join(f"{v:.3f}" for v in row) + "\n" for row in rows)
    doc = build_ercot8_dict(p, csv_name)
    for fname, text in ((csv_name, csv_text), (f"{name}_pp.json", json.dumps(doc, indent=1) + "\n")):
        atomic_write_text(directory / fname, text)
    return directory / f"{name}_pp.json"
