"""ercot8 feeder load shape (issue 15 item 4): residential schedules, the generator's residential model and C&I blocks,
the night/peak analysis of a run, and (slow) a real GridLAB-D feeder whose night/peak follows its zone's."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from vppfed.configs.feeder_glm import FeederSpec, generate_feeder
from vppfed.configs.residential_loads import (END_USES, OCCUPANCY_PATTERNS, WATER_DRAW_PROFILES, hourly_schedule_text,
                                              normalised, occupancy_schedule_text, occupancy_values,
                                              residential_schedules_text)
from vppfed.errors import UserError
from vppfed.io import parse_dataclass
from vppfed.postprocess.ercot_plots import day_profile, load_shape_table, night_peak_ratio

_ROW = re.compile(r"^\s*(\*|\d+-\d+) (\d+) \* \* (1-5|6,0) ([0-9.]+);$")


def _schedule_rows(text: str, name: str) -> list[tuple[str, int, str, float]]:
    block = text[text.index(f"schedule {name} {{"):]
    block = block[:block.index("\n}")]
    rows = []
    for line in block.splitlines()[1:]:
        m = _ROW.match(line)
        assert m, f"{name}: unreadable row {line!r}"
        rows.append((m.group(1), int(m.group(2)), m.group(3), float(m.group(4))))
    return rows


def test_end_use_shapes_have_mean_one_so_base_power_is_the_mean_power():
    for use in END_USES:
        for shape in (use.weekday, use.weekend):
            assert normalised(shape).mean() == pytest.approx(1.0)
        assert 0.0 <= use.heatgain_fraction <= 1.0 and use.z + use.i + use.p == pytest.approx(1.0)
    with pytest.raises(ValueError):
        normalised([1.0] * 23)


def test_hourly_schedule_has_a_weekday_and_a_weekend_row_per_hour():
    rows = _schedule_rows(hourly_schedule_text("x", np.arange(24.0), np.arange(24.0) * 2), "x")
    assert [(r[1], r[2]) for r in rows] == [(h, "1-5") for h in range(24)] + [(h, "6,0") for h in range(24)]
    assert rows[5][3] == 5.0 and rows[24 + 5][3] == 10.0


def test_hot_water_profiles_draw_60_gallons_a_day_for_the_reference_household():
    text = residential_schedules_text()
    for k in range(len(WATER_DRAW_PROFILES)):
        rows = _schedule_rows(text, f"res_hotwater_{k}")
        for days in ("1-5", "6,0"):
            gpm = [r[3] for r in rows if r[2] == days]
            assert sum(gpm) * 60 == pytest.approx(60.0, abs=0.05)   # gal/min over 60 min per hour


@pytest.mark.parametrize("k", range(len(OCCUPANCY_PATTERNS)))
def test_occupancy_schedule_covers_every_minute_once_with_the_pattern_level(k):
    pattern = OCCUPANCY_PATTERNS[k]
    rows = _schedule_rows(occupancy_schedule_text("occ", pattern), "occ")
    for days, weekend in (("1-5", False), ("6,0", True)):
        level = occupancy_values(pattern, weekend)
        seen = np.full(24 * 60, -1)
        for minutes, hour, d, value in rows:
            if d != days:
                continue
            lo, hi = (0, 59) if minutes == "*" else map(int, minutes.split("-"))
            span = slice(hour * 60 + lo, hour * 60 + hi + 1)
            assert (seen[span] == -1).all(), "a minute is covered twice"
            seen[span] = value
        assert (seen == level).all()
    # asleep at 3 h; on weekdays away at noon unless someone is home all day; never away at weekends
    weekday, weekend = occupancy_values(pattern), occupancy_values(pattern, True)
    assert weekday[3 * 60] == 0 and weekend[3 * 60] == 0
    assert weekday[12 * 60] == (1 if pattern[1] is None else 2)
    assert weekend.max() == 1


def _house_block(glm: str, house: str) -> str:
    start = glm.index(f"name {house};")
    return glm[start:glm.index("\n}", start)]


def test_residential_model_keeps_the_houses_and_adds_end_uses_and_scheduled_setpoints():
    base = dict(houses=9, seed=4, water_heater_fraction=0.5, ev_fraction=0.2, battery_fraction=0.2)
    te30 = generate_feeder(FeederSpec(**base))
    res = generate_feeder(FeederSpec(load_model="residential", **base))
    glm = res.glm
    # same envelopes and device owners: the residential draws come after all others
    for key in ("floor_area", "Rroof", "airchange_per_hour", "cooling_COP"):
        assert re.findall(rf"\n  {key} (\S+);", te30.glm) == re.findall(rf"\n  {key} (\S+);", glm)
    assert res.inventory.to_json() == te30.inventory.to_json()
    assert "plug_shape" not in glm and "res_plugs" not in te30.glm
    schedules = set(re.findall(r"^schedule (\w+) \{", glm, flags=re.MULTILINE))
    for house in res.inventory.houses:
        block = _house_block(glm, house)
        # one unnamed ZIPload per end use, as TESP writes them (named objects cost GridLAB-D quadratic load time)
        for use in END_USES:
            zip_load = re.search(rf"object ZIPload {{ // {use.name}\n((?:    .*\n)+)  }};", block)
            assert zip_load and f"base_power res_{use.name}*" in zip_load.group(1)
            assert "name " not in zip_load.group(1)
        m = re.search(r"cooling_setpoint (res_occupancy_\d)\*([0-9.]+)\+([0-9.]+);", block)
        assert m and m.group(1) in schedules
        night, heat = float(m.group(3)), float(re.search(r"heating_setpoint ([0-9.]+);", block).group(1))
        assert heat < night - 2.0 and 60.0 <= night <= 85.0
    for sched in re.findall(r"water_demand (\w+)\*", glm):
        assert sched in schedules
    assert generate_feeder(FeederSpec(load_model="residential", **base)).glm == glm


def test_commercial_and_industrial_blocks_are_sized_per_house():
    glm = generate_feeder(FeederSpec(houses=6, commercial_kw_per_house=1.5, industrial_kw_per_house=3.0)).glm
    # per phase: kW per house x houses / 3 phases, in VA
    assert "base_power_A commercial_shape*3000.0;" in glm and "base_power_C industrial_shape*6000.0;" in glm
    assert "schedule industrial_shape {" in glm
    plain = generate_feeder(FeederSpec(houses=6)).glm
    assert "industrial" not in plain and "commercial" not in plain


@pytest.mark.parametrize("field,value,message", [("load_model", "tesp", "load_model"),
                                                  ("industrial_kw_per_house", -1.0, "industrial_kw_per_house")])
def test_bad_load_options_name_the_field(field, value, message):
    with pytest.raises(UserError, match=message):
        parse_dataclass(FeederSpec, {field: value}, "feeder.spec")


def test_day_profile_takes_the_last_complete_local_day_and_the_ratio_its_night_over_peak():
    times = np.arange(300, 48 * 3600 + 1, 300)
    hour = ((times - 150) / 3600.0) % 24
    day2 = times > 24 * 3600
    values = np.where(day2, 50.0 + 50.0 * (hour >= 12), 1.0)      # day 1 flat (warm-up), day 2 a step
    profile = day_profile(times, values)
    assert profile is not None and profile[3] == 50.0 and profile[15] == 100.0
    assert night_peak_ratio(profile) == pytest.approx(0.5)
    # a run starting at 06:00 local: its only complete local day is day 1 (local hours 0-23 of the next midnight)
    shifted = day_profile(times, np.where(hour >= 0, 1.0, 0.0) * np.arange(times.size), start_hour=6.0)
    assert shifted is not None and shifted[0] < shifted[23]
    assert day_profile(times[:100], values[:100]) is None


def _shape_run(tmp_path: Path) -> Path:
    """A 48 h ercot8 run folder with buses 2 and 7: substation load 100 kW from 14 to 18 h, 30 resp. 60 kW else."""
    from vppfed.configs.bulk_ercot8 import Ercot8Params, write_ercot8_model
    from vppfed.federates.metrics import MetricsWriter

    write_ercot8_model(Ercot8Params(hours=48, feeder_buses=[2, 7]), tmp_path)
    for b, night in ((2, 30.0), (7, 60.0)):
        folder = tmp_path / f"Bus{b}"
        folder.mkdir()
        sub = MetricsWriter(folder, "substation", f"Bus{b}", [("real_power_avg", "W")], "2013-07-01 00:00:00 CDT")
        for t in range(300, 48 * 3600 + 1, 300):
            h = ((t - 150) / 3600.0) % 24
            sub.write(t, {"network_node": [1000.0 * (100.0 if 14 <= h < 18 else night)]})
        sub.close()
    return tmp_path


def test_load_shape_table_compares_each_feeder_with_its_zone_column(tmp_path):
    rows = {r["bus"]: r for r in load_shape_table(_shape_run(tmp_path))}
    assert rows[2]["feeder_ratio"] == pytest.approx(0.3) and rows[7]["feeder_ratio"] == pytest.approx(0.6)
    # the zones' own shapes (configs/bulk_ercot8.py ZONES: 0.58 and 0.65 at their trough)
    assert 0.55 < rows[2]["zone_ratio"] < 0.62 and 0.62 < rows[7]["zone_ratio"] < 0.70
    assert rows[2]["feeder_peak_kw"] == pytest.approx(100.0) and 14 <= rows[2]["feeder_peak_hour"] < 18


@pytest.mark.slow  # draws a PNG and a PDF
def test_vppfed_plot_draws_the_feeder_shape_figure_of_a_48_h_run(tmp_path):
    from vppfed.postprocess.ercot_plots import plot_run

    run = _shape_run(tmp_path)
    (run / "model_dict.json").write_text(json.dumps({"generators": {}}))
    written = [p for p in plot_run(run, run / "figs") if p.stem == "ercot_feeder_shape"]
    assert {p.suffix for p in written} == {".png", ".pdf"} and all(p.stat().st_size > 1000 for p in written)


def test_ercot8_case_switches_the_residential_model_on_for_every_feeder(tmp_path):
    import yaml

    case = yaml.safe_load((Path(__file__).parents[1] / "cases" / "ercot8" / "case.yaml").read_text())
    assert case["feeder"]["spec"]["load_model"] == "residential"
    for bus in case["feeders"]["buses"]:
        assert bus["feeder"]["spec"]["industrial_kw_per_house"] >= 0
        assert bus.get("peak_kw_per_house", case["feeders"]["peak_kw_per_house"]) > 0


def test_a_market_bus_gets_fixed_setpoints_that_its_hvac_bidders_can_write(tmp_path):
    # GridLAB-D re-applies a schedule transform at every step (measured: a written 79 F stayed 73.4 F), so a bus
    # with a market gets fixed setpoints and the bidders' schedule; the other buses keep the occupancy schedules
    from vppfed.cases import case_yaml
    from vppfed.configs.case import build_case
    from vppfed.io import load_yaml

    raw = load_yaml(case_yaml("ercot8"))
    raw["feeders"]["buses"][1]["market"] = True  # bus 3
    built = build_case(raw, tmp_path / "c", {"case.hours": 1, "feeder.houses": 3, "bulk.buses": 2},
                       source="ercot8.yaml")
    with_market = (built.directory / "Bus3" / "Bus3.glm").read_text()
    without = (built.directory / "Bus2" / "Bus2.glm").read_text()
    assert re.findall(r"cooling_setpoint ([0-9.]+);", with_market) and "cooling_setpoint res_" not in with_market
    assert len(re.findall(r"cooling_setpoint res_occupancy_\d\*", without)) == 3
    assert "res_plugs" in with_market and "industrial_shape" in with_market


@pytest.mark.slow  # one 10-house GridLAB-D feeder for 48 simulated hours without HELICS: about 20-60 s here
def test_a_real_ercot8_feeder_has_its_zones_night_to_peak_ratio(tmp_path):
    """Bus 7 (Far West) as ercot8 builds it, run by GridLAB-D: its second day's night/peak is within 10 points
    of the zone's (the te30 load model is far below: the issue measured 8 %)."""
    import yaml

    from vppfed.configs.bulk_ercot8 import ZONES, _shape
    from vppfed.configs.feeder_glm import write_feeder
    from vppfed.configs.feeder_helics import FeederHelicsConfig
    from vppfed.configs.weather import WeatherSpec, write_weather
    from vppfed.federates.feeder.core import FeederCore, load_gridlabd_config
    from vppfed.federates.feeder.session import GridlabdSession
    from vppfed.formats.weather import read_weather

    case = yaml.safe_load((Path(__file__).parents[1] / "cases" / "ercot8" / "case.yaml").read_text())
    bus = next(b for b in case["feeders"]["buses"] if b["bus"] == 7)
    region = case["feeders"]["regions"][bus["region"]]
    template = case["feeder"]
    step = 300
    spec = FeederSpec(houses=template["houses"], seed=7, period_s=step, minimum_timestep_s=60,
                      stop="2013-07-03 00:00:00", timezone="CST+6CDT", latitude_deg=region["latitude_deg"],
                      longitude_deg=region["longitude_deg"], transmission_kv=345.0,
                      **{k: template[k] for k in ("pv_fraction", "water_heater_fraction", "battery_fraction",
                                                  "ev_fraction")},
                      **template["spec"], **bus["feeder"]["spec"])
    res = write_feeder(spec, tmp_path, "f")
    write_weather(WeatherSpec(hours=48, timezone="CST+6CDT", seed=7, **region), tmp_path / "weather.dat")
    hc = FeederHelicsConfig("gld_7", step)
    hc.publish(res.inventory.substation, "distribution_load", "complex", key="distribution_load")
    session = GridlabdSession(tmp_path / "f.glm")
    session.open()
    core = FeederCore(session, load_gridlabd_config(hc.document()), only_changed=False,
                      weather=read_weather(tmp_path / "weather.dat", session.clock.start, session.clock.timezone))
    core.start()
    times, kw = [], []
    try:
        for k in range(1, 48 * 3600 // step + 1):
            value = core.step(k * step)["distribution_load"]
            times.append(k * step)
            kw.append(complex(str(value).replace(" VA", "").replace("i", "j")).real / 1000.0)
    finally:
        core.finish()
    profile = day_profile(np.array(times), np.array(kw))
    zone = _shape(np.arange(0, 86400, 300) / 3600.0, ZONES[7][2], ZONES[7][3]).reshape(24, 12).mean(axis=1)
    assert profile is not None
    assert abs(night_peak_ratio(profile) - night_peak_ratio(zone)) <= 0.10, json.dumps(list(np.round(profile, 1)))
