"""The ``battery:`` section builder: wiring through the feeder, the manager JSON, and errors that name the field."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vppfed.configs.battery_forecast import forecast_weather, midnight_aligned, period_means, smooth
from vppfed.formats.battery import read_reference_csv, write_reference_csv
from vppfed.configs.case import build_case
from vppfed.configs.sections.battery import glm_objects
from vppfed.errors import UserError
from vppfed.federates.battery.adapter import read_manager_file

CASE_YAML = Path(__file__).resolve().parents[1] / "cases" / "peak-shaving" / "case.yaml"


def description(**battery) -> dict:
    """A small peak-shaving case: 6 houses, one battery, threshold rule (no build-time GridLAB-D run)."""
    section = {"policy": "threshold", "charge_below_kw": 5.0, "discharge_above_kw": 12.0, "period_s": 300}
    section.update(battery)
    return {
        "case": {"name": "bt", "root": "BT", "hours": 2, "period_s": 60, "seed": 3},
        "feeder": {"houses": 6, "pv_fraction": 0.5, "battery_fraction": 0.2,
                   "spec": {"battery_capacity_wh": 20000.0, "battery_power_w": 8000.0, "battery_soc": 0.6}},
        "battery": section,
    }


def build(tmp_path: Path, desc: dict, name: str = "case"):
    return build_case(desc, tmp_path / name, source="case.yaml")


def test_section_wires_the_manager_to_the_feeders_battery(tmp_path):
    built = build(tmp_path, description())
    folder = built.directory
    inventory = json.loads((folder / "BT_inventory.json").read_text())
    inverter, battery = inventory["battery_inverters"][0], inventory["batteries"][0]
    feeder = json.loads((folder / "BT_gridlabd.json").read_text())
    pubs = {p["key"]: p["info"] for p in feeder["publications"]}
    subs = {s["key"]: s["info"] for s in feeder["subscriptions"]}
    # THEN the feeder publishes the load, the SOC and the inverter output, and writes the command into P_Out
    assert pubs["distribution_load"] == {"object": "network_node", "property": "distribution_load"}
    assert pubs[f"{battery}/state_of_charge"] == {"object": battery, "property": "state_of_charge"}
    assert pubs[f"{inverter}/VA_Out"] == {"object": inverter, "property": "VA_Out"}
    assert subs["battery/p_out"] == {"object": inverter, "property": "P_Out"}
    helics = json.loads((folder / "BT_battery.json").read_text())
    assert helics["wait_for_current_time_update"] is True and helics["period"] == 60
    assert [s["key"] for s in helics["subscriptions"]] == [
        "gld_7/distribution_load", f"gld_7/{battery}/state_of_charge", f"gld_7/{inverter}/VA_Out"]
    assert helics["publications"][0]["key"] == "p_out"
    # AND the manager JSON matches the GLM battery (20 kWh at 480 V, 8 kW, inverter 0.97 x sqrt(0.86))
    setup = read_manager_file(folder / "BT_battery_manager.json")
    cfg = setup.battery
    assert cfg.capacity_ah * cfg.nominal_voltage_v == pytest.approx(20000.0)
    assert cfg.max_charge_w == cfg.max_discharge_w == 8000.0
    assert cfg.conversion_efficiency == pytest.approx(0.97 * math.sqrt(0.86))
    assert cfg.soc_initial == pytest.approx(0.6)
    assert (cfg.charge_below_w, cfg.discharge_above_w, cfg.period_s) == (5000.0, 12000.0, 300.0)
    assert cfg.load_includes_battery and setup.uid == battery and setup.state_file == "battery_state.sqlite"
    runner = json.loads((folder / "runner.json").read_text())
    exec_line = {f["name"]: f["exec"] for f in runner["federates"]}["battery"]
    assert "--manager BT_battery_manager.json" in exec_line and "--metrics-root BT" in exec_line


def test_same_description_gives_the_same_bytes(tmp_path):
    a = build(tmp_path, description(), "a").directory
    b = build(tmp_path, description(), "b").directory
    for name in ("BT_battery.json", "BT_battery_manager.json", "BT_gridlabd.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_a_meter_can_be_sensed_instead_of_the_substation(tmp_path):
    desc = description()
    probe = build(tmp_path, desc, "probe").directory
    inventory = json.loads((probe / "BT_inventory.json").read_text())
    house = inventory["device_house"][inventory["battery_inverters"][0]]
    own_meter = inventory["house_meter"][house]
    other = next(m for m in inventory["billing_meters"] if m != own_meter)
    for meter, includes in ((own_meter, True), (other, False)):
        desc["battery"]["sense"] = meter
        folder = build(tmp_path, desc, meter).directory
        setup = read_manager_file(folder / "BT_battery_manager.json")
        assert setup.load_key == f"gld_7/{meter}/measured_real_power"
        assert setup.battery.load_includes_battery is includes


@pytest.mark.parametrize("battery, feeder_spec, message", [
    ({"charge_below_kw": 20.0, "discharge_above_kw": 10.0}, {},
     "case.yaml: battery.charge_below_kw: must not exceed discharge_above_kw (10 kW), got 20"),
    ({"capacity_kwh": 0.0}, {}, "case.yaml: battery.capacity_kwh: must be > 0 kWh, got 0"),
    ({}, {"battery_capacity_wh": 0.0},
     "case.yaml: feeder.spec.battery_capacity_wh: must be > 0 Wh for the battery manager, got 0"),
    ({"coulombic_efficiency": -0.5}, {}, "case.yaml: battery.coulombic_efficiency: must be in (0, 1], got -0.5"),
    ({"conversion_efficiency": 1.2}, {}, "case.yaml: battery.conversion_efficiency: must be in (0, 1], got 1.2"),
    ({"soc_low": 0.9, "soc_high": 0.8}, {}, "case.yaml: battery.soc_low: must be below soc_high (0.8), got 0.9"),
    ({"discharge_above_kw": None}, {}, "case.yaml: battery.discharge_above_kw: required for policy 'threshold'"),
    ({"period_s": 90}, {}, "case.yaml: battery.period_s: must be a multiple of the feeder step (60 s), got 90"),
    ({"sense": "nowhere"}, {}, "case.yaml: battery.sense: must be 'substation' or a billing meter"),
    ({"inverter": "ibat_nobody"}, {}, "case.yaml: battery.inverter: 'ibat_nobody' is not a battery inverter"),
    ({"typo_field": 1}, {}, "case.yaml: battery.typo_field: unknown field"),
])
def test_bad_input_names_the_field(tmp_path, battery, feeder_spec, message):
    desc = description(**battery)
    desc["feeder"]["spec"].update(feeder_spec)
    with pytest.raises(UserError) as err:
        build(tmp_path, desc)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "case").exists()  # nothing half-built left behind


def test_a_feeder_without_battery_is_a_clear_error(tmp_path):
    desc = description()
    desc["feeder"]["battery_fraction"] = 0.0
    with pytest.raises(UserError, match=r"^case.yaml: feeder.battery_fraction: the generated feeder has no battery "
                                        r"\(round\(battery_fraction x 6 houses\) = 0\); use at least 0.083"):
        build(tmp_path, desc)


def test_previous_day_schedule_needs_no_build_time_run(tmp_path):
    folder = build(tmp_path, description(policy="schedule", forecast="previous_day")).directory
    cfg = read_manager_file(folder / "BT_battery_manager.json").battery
    assert cfg.policy == "schedule" and cfg.forecast_w == []
    assert not (folder / "battery_reference.csv").exists()


def test_builtin_case_parses_and_asks_for_one_battery_sized_for_the_evening():
    from vppfed.configs.case import parse_case
    from vppfed.io import load_yaml

    raw = load_yaml(CASE_YAML)
    settings = parse_case(raw, "case.yaml")
    assert settings.name == "peak-shaving" and settings.hours >= 24
    assert round(raw["feeder"]["battery_fraction"] * raw["feeder"]["houses"]) == 1
    assert raw["battery"]["policy"] in ("threshold", "schedule")
    assert raw["feeder"]["spec"]["battery_capacity_wh"] >= 2 * raw["feeder"]["spec"]["battery_power_w"]


def test_glm_reader_finds_nested_objects():
    text = """object inverter {
  name ibat_1;
  rated_power 5000.0;
  object battery {
    name bat_1;
    battery_capacity 13500.0;  // Wh
  };
}
"""
    objects = glm_objects(text)
    assert objects["ibat_1"] == {"class": "inverter", "name": "ibat_1", "rated_power": "5000.0"}
    assert objects["bat_1"]["battery_capacity"] == "13500.0" and objects["bat_1"]["class"] == "battery"


# ------------------------------------------------------------------------------------------- forecast helpers
def test_period_means_and_midnight_alignment():
    values = np.arange(1.0, 13.0)  # one value per minute, the first at t = 60 s
    assert period_means(values, 60.0, 300.0).tolist() == [3.0, 8.0]  # the trailing partial period is dropped
    with pytest.raises(ValueError, match="multiple"):
        period_means(values, 60.0, 90.0)
    # a case starting at 23:50 with 5-min periods: 286 periods of padding, two forecast values, then the tail
    day = midnight_aligned(np.array([10.0, 20.0, 30.0, 40.0]), "2013-07-01 23:50:00", 300.0)
    assert len(day) == 2 * 288
    assert day[285] == 10.0 and day[286:290] == [10.0, 20.0, 30.0, 40.0] and day[290:] == [10.0] * (576 - 290)
    with pytest.raises(ValueError, match="multiple of the control period"):
        midnight_aligned(np.ones(3), "2013-07-01 00:02:00", 300.0)


def test_smoothing_keeps_the_level_at_the_edges():
    values = np.array([0.0, 0.0, 10.0, 0.0, 0.0])
    assert smooth(values, 1).tolist() == values.tolist()
    assert smooth(values, 5).sum() == pytest.approx(10.0)
    assert smooth(np.full(6, 7.0), 4).tolist() == [7.0] * 6


def test_forecast_weather_is_seeded_and_changes_only_temperature(tmp_path):
    src = tmp_path / "weather.dat"
    rows = ["datetime,temperature,humidity,solar_direct,solar_diffuse,pressure,wind_speed"]
    rows += [f"2013-07-01 {h:02d}:{m:02d}:00,{80 + h:.2f},0.3000,10.000,1.000,925.0,5.00"
             for h in range(24) for m in (0, 30)]
    src.write_text("\n".join(rows) + "\n")
    a = forecast_weather(src, tmp_path / "a.dat", error_f=2.0, seed=5).read_text()
    b = forecast_weather(src, tmp_path / "b.dat", error_f=2.0, seed=5).read_text()
    c = forecast_weather(src, tmp_path / "c.dat", error_f=2.0, seed=6).read_text()
    assert a == b and a != c
    exact = forecast_weather(src, tmp_path / "d.dat", error_f=0.0, seed=5).read_text()
    assert exact == src.read_text()
    got = np.array([[float(x) for x in ln.split(",")[1:]] for ln in a.splitlines()[1:]])
    ref = np.array([[float(x) for x in ln.split(",")[1:]] for ln in rows[1:]])
    assert np.array_equal(got[:, 1:], ref[:, 1:])
    error = got[:, 0] - ref[:, 0]
    assert 0.3 < np.std(error) < 5.0 and np.corrcoef(error[:-1], error[1:])[0, 1] > 0.5  # autocorrelated


def test_reference_csv_round_trip(tmp_path):
    path = write_reference_csv(tmp_path / "r.csv", 300.0, np.array([1.0, 2.5]), None)
    ref = read_reference_csv(path)
    assert ref.seconds.tolist() == [300.0, 600.0] and ref.forecast_w.tolist() == [1.0, 2.5]
    assert ref.baseline_w is None


def test_the_manager_samples_at_the_feeder_step_not_the_case_period(tmp_path):
    desc = description()
    desc["case"]["period_s"] = 15
    desc["feeder"]["step_s"] = 60
    folder = build(tmp_path, desc).directory
    assert json.loads((folder / "BT_battery.json").read_text())["period"] == 60
    assert json.loads((folder / "BT_gridlabd.json").read_text())["period"] == 60
    desc["battery"]["period_s"] = 30  # a multiple of case.period_s, but not of the feeder step
    with pytest.raises(UserError, match=r"battery.period_s: must be a multiple of the feeder step \(60 s\), got 30"):
        build(tmp_path, desc, "bad")


# ------------------------------------------------------------------------------------------------- figures
def synthetic_run(folder: Path, with_baseline: bool) -> None:
    """A battery metrics file (1-min samples, 2 h) and, optionally, a reference CSV with a baseline 10 kW higher."""
    from vppfed.federates.battery.adapter import METRIC_COLUMNS
    from vppfed.federates.metrics import MetricsWriter

    names = [n for n, _ in METRIC_COLUMNS]
    writer = MetricsWriter(folder, "battery", "BT", METRIC_COLUMNS, "2013-07-01 16:00:00")
    for k in range(1, 121):
        net = 50000.0 + 20000.0 * (k > 60)
        row = dict.fromkeys(names, 0.0)
        row.update(soc=0.8 - k * 0.001, soc_estimate=0.8 - k * 0.001 + 0.01, power=5000.0 * (k > 60),
                   command=5000.0 * (k > 60), state=1 if k > 60 else 0, net_load=net,
                   gross_load=net + 5000.0 * (k > 60), target=60000.0)
        writer.write(60.0 * k, {"bat_1": row})
    writer.close()
    if with_baseline:
        seconds = 60.0 * np.arange(1, 121)
        write_reference_csv(folder / "battery_reference.csv", 60.0, np.full(120, 55000.0),
                            50000.0 + 20000.0 * (seconds > 3600) + 10000.0)


def test_figures_and_summary_use_the_baseline_run_when_there_is_one(tmp_path):
    from vppfed.summaries.battery import summarize
    from vppfed.postprocess.battery_plots import load_curves, plot_run
    from vppfed.formats.metrics import load_if_present

    synthetic_run(tmp_path, with_baseline=False)
    curves = load_curves(load_if_present(tmp_path, "battery"), tmp_path)
    assert curves.without_label == "without battery (sensed + battery output)"
    assert len(curves.hours) == 24 and curves.with_battery.max() == pytest.approx(70.0)  # 5-min means, kW
    assert curves.without_battery.max() == pytest.approx(75.0)
    assert summarize(tmp_path).startswith("battery: feeder 5-min peak 75.0 -> 70.0 kW (-6.7 %)")
    synthetic_run(tmp_path, with_baseline=True)
    curves = load_curves(load_if_present(tmp_path, "battery"), tmp_path)
    assert curves.without_label == "without battery (baseline run)" and curves.without_battery.max() == 80.0
    assert curves.forecast is not None and np.allclose(curves.forecast, 55.0)
    line = summarize(tmp_path)
    assert "5-min peak 80.0 -> 70.0 kW (-12.5 %)" in line and "vs baseline run" in line
    assert "SOC estimate within 1.0 points" in line
    paths = plot_run(tmp_path, tmp_path / "figures")
    assert sorted(p.name for p in paths) == sorted(f"battery_{n}.{e}" for n in ("load", "soc", "states")
                                                   for e in ("png", "pdf"))
    assert summarize(tmp_path / "figures") is None  # a folder without battery metrics


def test_interval_means_and_state_spans():
    from vppfed.postprocess.battery_plots import _state_spans, interval_means

    t, v = interval_means(np.arange(60.0, 660.0, 60.0), np.arange(1.0, 11.0), 300.0)
    assert t.tolist() == [300.0, 600.0] and v.tolist() == [3.0, 8.0]
    t, v = interval_means(np.array([300.0, 600.0]), np.array([1.0, 2.0]), 300.0)
    assert v.tolist() == [1.0, 2.0]  # already coarse: unchanged
    spans = _state_spans(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0, 1, 1, -1]))
    assert spans == [(0.0, 1.0, 0), (1.0, 2.0, 1), (3.0, 1.0, -1)]


def test_soc_and_state_figures_show_every_battery_of_a_multi_battery_run(tmp_path, monkeypatch):
    from vppfed.federates.battery.adapter import METRIC_COLUMNS
    from vppfed.federates.metrics import MetricsWriter
    from vppfed.postprocess import battery_plots
    from vppfed.formats.metrics import load_if_present

    # GIVEN three batteries whose SOC and states differ (battery k sells from minute 20k on)
    names = [n for n, _ in METRIC_COLUMNS]
    writer = MetricsWriter(tmp_path, "battery", "BT", METRIC_COLUMNS, "2013-07-01 16:00:00")
    for k in range(1, 61):
        rows = {}
        for b in range(3):
            selling = k > 20 * b
            row = dict.fromkeys(names, 0.0)
            row.update(soc=0.9 - 0.1 * b - 0.001 * k, soc_estimate=0.9 - 0.1 * b - 0.001 * k + 0.005 * b,
                       power=4000.0 * selling, state=1 if selling else 0, net_load=50000.0, gross_load=50000.0)
            rows[f"bat_{b + 1}"] = row
        writer.write(60.0 * k, rows)
    writer.close()
    figures = {}
    monkeypatch.setattr(battery_plots, "save", lambda fig, out, name: figures.setdefault(name, fig) and [])
    m = load_if_present(tmp_path, "battery")
    battery_plots.soc(m, tmp_path)
    battery_plots.state_timeline(m, tmp_path)
    # THEN the SOC figure has a measured and an estimated line per battery, each named in the legend
    soc_ax = figures["battery_soc"].axes[0]
    labels = [t.get_text() for t in soc_ax.get_legend().get_texts()]
    assert {"bat_1", "bat_2", "bat_3"} <= set(labels) and any("max gap 1.0 pts" in t for t in labels)
    assert len([ln for ln in soc_ax.lines if len(ln.get_xdata())]) == 6
    # ... and the state band has one row per battery, the power panel the total (12 kW when all sell)
    band, power_ax = figures["battery_states"].axes
    assert [t.get_text() for t in band.get_yticklabels()] == ["bat_3", "bat_2", "bat_1"]
    rows = {round(path.get_extents().y0, 2) for coll in band.collections for path in coll.get_paths()}
    assert rows == {0.08, 1.08, 2.08}
    total = next(ln for ln in power_ax.lines if "all 3" in ln.get_label())
    assert np.nanmax(total.get_ydata()) == pytest.approx(12.0)
