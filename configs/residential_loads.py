"""TESP-style residential end uses for the feeder generator's ``load_model: residential`` (issue 15 item 4).

Why: the default (``te30``) house of :mod:`vppfed.configs.feeder_glm` is a cooling machine with one small plug load,
fixed thermostat setpoints and a heavy hot-water draw. In a Texas July night almost nothing of it runs, so ercot8's
feeders had a night/peak ratio near 8-15 % where the ERCOT zones have 55-65 %. TESP's feeder generator gives every house
end-use ZIP loads driven by daily schedules (``appliance_schedules.glm``), thermostat setpoints that follow an occupancy
schedule (``cooling<k>*<offset>+<base>`` from ``water_and_setpoint_schedule_v5.glm``, night setpoints from the RECS
thermostat-setting histogram) and water heaters whose draw follows one of several household profiles. This module holds
the same kinds of data, with values of our own (rounded, shaped after the Building America House Simulation Protocols
end-use profiles, NREL/TP-550-49246, and RECS 2015 annual end-use consumption of West South Central homes), and the
pure functions that turn them into GLM ``schedule`` blocks and per-house draws. GridLAB-D does the physics: the ZIP
loads' heat gains warm the house, the air conditioner answers the setpoint schedule, the water heater the draw.

Schedules are hourly (weekday and weekend rows, cron weekday fields ``1-5`` and ``6,0``); the occupancy schedules of
the thermostat have minute edges. End-use shapes are normalised to a daily mean of 1, so ``base_power`` =
``<shape>*<mean kW>`` gives an end use whose daily energy is ``24 * mean kW``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EndUse", "END_USES", "WATER_DRAW_PROFILES", "OCCUPANCY_PATTERNS", "NIGHT_COOLING_BINS",
           "ResidentialDraws", "draw_residential", "hourly_schedule_text", "occupancy_values",
           "occupancy_schedule_text", "residential_schedules_text", "normalised"]

#: Floor area (ft²) at which an end use has its ``mean_kw``; a house's end uses scale with sqrt(floor / this).
REFERENCE_FLOOR_FT2 = 2000.0


@dataclass(frozen=True)
class EndUse:
    """One ZIP end use: daily shapes (24 hourly values each, any scale: normalised on use), mean power of a
    reference house, ZIP fractions and the share of its power that ends up as heat inside the house."""

    name: str
    mean_kw: float
    weekday: tuple[float, ...]
    weekend: tuple[float, ...]
    heatgain_fraction: float
    z: float
    i: float
    p: float
    pf: float


#: Summer end uses of a reference house. Mean powers sum to about 0.78 kW (≈6,800 kWh/yr without cooling and water
#: heating, the RECS 2015 West South Central order of magnitude; "plugs" holds electronics, ceiling fans, pool pumps
#: and other small loads, "refrigeration" a second refrigerator or freezer in many homes). Lighting and electronics
#: peak in the evening, the refrigerator follows kitchen temperature and door openings, cooking has breakfast, lunch
#: and dinner, laundry and dishwashing the late morning and the evening. A dryer vents outside: little of it stays
#: as heat.
END_USES: tuple[EndUse, ...] = (
    EndUse("lights", 0.10,
           (0.38, 0.34, 0.32, 0.32, 0.32, 0.36, 0.45, 0.50, 0.42, 0.36, 0.34, 0.34,
            0.34, 0.34, 0.36, 0.40, 0.48, 0.60, 0.75, 0.90, 1.00, 0.98, 0.80, 0.55),
           (0.42, 0.37, 0.34, 0.32, 0.32, 0.33, 0.37, 0.44, 0.48, 0.46, 0.44, 0.42,
            0.41, 0.41, 0.42, 0.45, 0.52, 0.62, 0.76, 0.90, 1.00, 0.98, 0.84, 0.60),
           heatgain_fraction=0.9, z=0.6, i=0.3, p=0.1, pf=0.95),
    EndUse("plugs", 0.40,
           (0.62, 0.58, 0.56, 0.55, 0.55, 0.58, 0.68, 0.78, 0.78, 0.74, 0.72, 0.72,
            0.72, 0.73, 0.75, 0.80, 0.88, 0.98, 1.00, 1.00, 1.00, 0.96, 0.86, 0.72),
           (0.66, 0.60, 0.57, 0.55, 0.55, 0.56, 0.60, 0.68, 0.78, 0.84, 0.86, 0.87,
            0.88, 0.88, 0.88, 0.90, 0.94, 0.99, 1.00, 1.00, 1.00, 0.97, 0.88, 0.76),
           heatgain_fraction=0.9, z=0.1, i=0.1, p=0.8, pf=0.95),
    EndUse("refrigeration", 0.14,
           (0.88, 0.86, 0.84, 0.83, 0.83, 0.85, 0.90, 0.95, 0.98, 0.99, 1.00, 1.02,
            1.04, 1.06, 1.08, 1.10, 1.12, 1.14, 1.14, 1.12, 1.08, 1.03, 0.97, 0.92),
           (0.88, 0.86, 0.84, 0.83, 0.83, 0.84, 0.87, 0.92, 0.97, 1.00, 1.03, 1.05,
            1.06, 1.07, 1.08, 1.10, 1.12, 1.14, 1.14, 1.12, 1.08, 1.03, 0.97, 0.92),
           heatgain_fraction=1.0, z=0.0, i=0.0, p=1.0, pf=0.90),
    EndUse("cooking", 0.04,
           (0.10, 0.05, 0.05, 0.05, 0.10, 0.30, 0.90, 1.30, 1.10, 0.80, 0.80, 1.10,
            1.40, 1.00, 0.80, 1.00, 2.00, 3.20, 3.30, 2.20, 1.20, 0.70, 0.40, 0.20),
           (0.10, 0.05, 0.05, 0.05, 0.05, 0.10, 0.40, 0.90, 1.40, 1.60, 1.40, 1.40,
            1.60, 1.20, 0.90, 1.00, 1.80, 2.90, 3.10, 2.20, 1.20, 0.70, 0.40, 0.20),
           heatgain_fraction=0.6, z=1.0, i=0.0, p=0.0, pf=1.00),
    EndUse("laundry", 0.09,
           (0.30, 0.20, 0.10, 0.10, 0.10, 0.20, 0.50, 1.00, 1.40, 1.60, 1.60, 1.50,
            1.40, 1.30, 1.20, 1.20, 1.30, 1.40, 1.50, 1.60, 1.60, 1.30, 0.90, 0.50),
           (0.30, 0.20, 0.10, 0.10, 0.10, 0.10, 0.30, 0.70, 1.30, 1.80, 2.00, 2.00,
            1.90, 1.70, 1.50, 1.40, 1.30, 1.30, 1.30, 1.30, 1.20, 1.00, 0.70, 0.40),
           heatgain_fraction=0.3, z=0.5, i=0.0, p=0.5, pf=0.95),
)

#: Hot-water draw profiles, share of the day's draw per hour (normalised on use): an early riser household (shower
#: peak 6 h), a later one (7-8 h) and an evening-bath household. ``water_demand`` = profile (gpm for 60 gal/day)
#: times the household's daily gallons / 60.
WATER_DRAW_PROFILES: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = (
    ((0.4, 0.2, 0.1, 0.1, 0.4, 2.2, 4.5, 3.6, 2.0, 1.3, 1.0, 0.9,
      0.9, 0.8, 0.8, 0.9, 1.2, 1.7, 2.0, 2.0, 1.8, 1.5, 1.1, 0.7),
     (0.5, 0.3, 0.1, 0.1, 0.2, 0.5, 1.5, 2.8, 3.2, 2.8, 2.2, 1.7,
      1.4, 1.2, 1.0, 1.0, 1.2, 1.6, 1.9, 1.9, 1.7, 1.4, 1.1, 0.8)),
    ((0.5, 0.3, 0.2, 0.1, 0.2, 0.8, 2.4, 3.8, 3.2, 1.8, 1.2, 1.0,
      1.0, 0.9, 0.9, 1.0, 1.3, 1.8, 2.1, 2.1, 1.9, 1.6, 1.2, 0.8),
     (0.6, 0.3, 0.2, 0.1, 0.1, 0.3, 0.9, 2.0, 3.0, 3.2, 2.6, 2.0,
      1.6, 1.3, 1.1, 1.1, 1.3, 1.7, 2.0, 2.0, 1.8, 1.5, 1.2, 0.9)),
    ((0.7, 0.3, 0.2, 0.1, 0.2, 0.6, 1.6, 2.0, 1.6, 1.2, 1.0, 1.0,
      1.0, 0.9, 0.9, 1.1, 1.5, 2.2, 2.8, 3.2, 3.2, 2.6, 1.8, 1.1),
     (0.8, 0.4, 0.2, 0.1, 0.1, 0.3, 0.8, 1.5, 2.0, 2.1, 1.8, 1.6,
      1.4, 1.3, 1.2, 1.3, 1.6, 2.1, 2.6, 2.9, 2.9, 2.4, 1.7, 1.1)),
)

#: Weekday occupancy of the thermostat schedules (minutes after midnight): wake, leave, back, sleep; ``None`` for
#: leave/back = someone home all day. Schedule value 0 asleep, 1 home and awake, 2 away (TESP's coolingN layout),
#: so ``cooling_setpoint`` = value * offset + night setpoint. Weekends: wake an hour later, nobody away.
OCCUPANCY_PATTERNS: tuple[tuple[int, int | None, int | None, int], ...] = (
    (5 * 60 + 30, 7 * 60, 17 * 60 + 30, 22 * 60),
    (6 * 60 + 30, 8 * 60, 18 * 60, 23 * 60),
    (6 * 60, 7 * 60 + 30, 16 * 60, 22 * 60 + 30),
    (7 * 60, None, None, 23 * 60),
)
#: Shares of the occupancy patterns among houses.
OCCUPANCY_SHARES = (0.30, 0.25, 0.20, 0.25)

#: Night cooling setpoints (°F): (share, low, high) bins, shaped after RECS 2015's summer thermostat settings of
#: homes with central air conditioning (most between 70 and 76 °F at night).
NIGHT_COOLING_BINS: tuple[tuple[float, float, float], ...] = (
    (0.10, 66.0, 69.0), (0.22, 70.0, 71.5), (0.30, 72.0, 73.5), (0.24, 74.0, 75.5), (0.11, 76.0, 78.0),
    (0.03, 79.0, 82.0))
#: Largest offset per occupancy level (°F): home-awake = night + offset, away = night + 2 offset.
MAX_SETPOINT_OFFSET_F = 2.0
#: Interior thermal mass per floor area, lb/ft² (uniform).
MASS_PER_FLOOR = (2.5, 4.0)
#: Household hot water per day (gal), drawn uniformly.
HOT_WATER_GAL_PER_DAY = (35.0, 85.0)


def normalised(values: tuple[float, ...] | list[float]) -> np.ndarray:
    """``values`` scaled to a mean of 1 (a shape whose ``base_power`` multiplier is the mean power)."""
    arr = np.asarray(values, dtype=float)
    if arr.shape != (24,) or arr.min() < 0 or arr.sum() <= 0:
        raise ValueError("a daily shape needs 24 non-negative hourly values with a positive sum")
    return arr / arr.mean()


def hourly_schedule_text(name: str, weekday: np.ndarray, weekend: np.ndarray, digits: int = 4) -> str:
    """A GLM ``schedule`` with one value per hour, weekday rows (Mon-Fri) then weekend rows (Sat, Sun)."""
    rows = [f"  * {h} * * 1-5 {v:.{digits}f};" for h, v in enumerate(weekday)]
    rows += [f"  * {h} * * 6,0 {v:.{digits}f};" for h, v in enumerate(weekend)]
    return "schedule " + name + " {\n" + "\n".join(rows) + "\n}"


def occupancy_values(pattern: tuple[int, int | None, int | None, int], weekend: bool = False) -> np.ndarray:
    """Thermostat level (0 asleep, 1 home awake, 2 away) per minute of a day, 1440 values."""
    wake, leave, back, sleep = pattern
    if weekend:
        wake, leave, back, sleep = wake + 60, None, None, min(sleep + 30, 24 * 60 - 1)
    level = np.zeros(24 * 60, dtype=int)
    level[wake:sleep] = 1
    if leave is not None and back is not None:
        level[leave:back] = 2
    return level


def _minute_rows(level: np.ndarray, weekdays: str) -> list[str]:
    """Cron rows of a per-minute level: whole hours as ``* h``, an hour with an edge as minute ranges."""
    rows = []
    for h in range(24):
        hour = level[h * 60:(h + 1) * 60]
        if (hour == hour[0]).all():
            rows.append(f"  * {h} * * {weekdays} {int(hour[0])};")
            continue
        start = 0
        for m in range(1, 61):
            if m == 60 or hour[m] != hour[start]:
                rows.append(f"  {start}-{m - 1} {h} * * {weekdays} {int(hour[start])};")
                start = m
    return rows


def occupancy_schedule_text(name: str, pattern: tuple[int, int | None, int | None, int]) -> str:
    """GLM ``schedule`` of one occupancy pattern (weekday and weekend)."""
    rows = _minute_rows(occupancy_values(pattern), "1-5") + _minute_rows(occupancy_values(pattern, True), "6,0")
    return "schedule " + name + " {\n" + "\n".join(rows) + "\n}"


def residential_schedules_text() -> str:
    """Every schedule block the residential houses refer to: ``res_<end use>``, ``res_hotwater_<k>`` (gpm for
    60 gal/day) and ``res_occupancy_<k>``."""
    blocks = [hourly_schedule_text(f"res_{u.name}", normalised(u.weekday), normalised(u.weekend)) for u in END_USES]
    for k, (weekday, weekend) in enumerate(WATER_DRAW_PROFILES):
        # share of the day per hour × 60 gal / 60 min = gpm of a 60 gal/day household
        blocks.append(hourly_schedule_text(f"res_hotwater_{k}", normalised(weekday) / 24.0,
                                           normalised(weekend) / 24.0, digits=5))
    for k, pattern in enumerate(OCCUPANCY_PATTERNS):
        blocks.append(occupancy_schedule_text(f"res_occupancy_{k}", pattern))
    return "\n".join(blocks)


@dataclass
class ResidentialDraws:
    """Per-house draws of the residential model (arrays of length ``houses``)."""

    end_use_scale: np.ndarray     # multiplies every end use's mean power
    occupancy: np.ndarray         # index into OCCUPANCY_PATTERNS
    night_cooling_f: np.ndarray   # night cooling setpoint, °F
    setpoint_offset_f: np.ndarray # °F per occupancy level
    hot_water_profile: np.ndarray # index into WATER_DRAW_PROFILES
    hot_water_gal: np.ndarray     # household gallons per day
    tank_setpoint_f: np.ndarray
    element_kw: np.ndarray
    wh_deadband_f: np.ndarray
    tank_ua: np.ndarray
    mass_per_floor: np.ndarray    # total_thermal_mass_per_floor_area, lb/ft² (furniture, partitions)


def draw_residential(rng: np.random.Generator, floor_ft2: np.ndarray) -> ResidentialDraws:
    """Draw the residential parameters of every house from ``rng`` in a fixed order (same seed, same houses)."""
    n = len(floor_ft2)
    size = np.sqrt(np.asarray(floor_ft2, dtype=float) / REFERENCE_FLOOR_FT2)
    end_use_scale = size * rng.uniform(0.75, 1.25, size=n)
    occupancy = rng.choice(len(OCCUPANCY_PATTERNS), size=n, p=np.asarray(OCCUPANCY_SHARES) / sum(OCCUPANCY_SHARES))
    shares = np.array([b[0] for b in NIGHT_COOLING_BINS])
    which = rng.choice(len(NIGHT_COOLING_BINS), size=n, p=shares / shares.sum())
    u = rng.random(n)
    lows = np.array([b[1] for b in NIGHT_COOLING_BINS])[which]
    highs = np.array([b[2] for b in NIGHT_COOLING_BINS])[which]
    night = lows + u * (highs - lows)
    offset = rng.uniform(0.0, MAX_SETPOINT_OFFSET_F, size=n)
    profile = rng.integers(0, len(WATER_DRAW_PROFILES), size=n)
    gallons = rng.uniform(*HOT_WATER_GAL_PER_DAY, size=n)
    # TESP's feeder generator: tank setpoint 110-126 °F, element 3.5-5.5 kW, deadband 4-8 °F, UA 2-4 BTU/h·°F
    tank_set = rng.uniform(110.0, 126.0, size=n)
    element = 3.0 + 0.5 * rng.integers(1, 6, size=n)
    deadband = rng.uniform(4.0, 8.0, size=n)
    ua = rng.uniform(2.0, 4.0, size=n)
    # TESP: 2.5-4 lb/ft² of interior mass (GridLAB-D's default is 2): it stores the day's heat into the evening
    mass = rng.uniform(MASS_PER_FLOOR[0], MASS_PER_FLOOR[1], size=n)
    return ResidentialDraws(end_use_scale, occupancy, night, offset, profile, gallons, tank_set, element, deadband, ua,
                            mass)
