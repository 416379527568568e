"""Our weather federate (``feeder.weather: federate``): TESP's publication schedule and keys, and the same feeder as
the feeder reading weather.dat itself."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vppfed.cases import case_yaml
from vppfed.configs.case import build_case
from vppfed.federates.weather.config import tesp_weather_config, weather_helics_config
from vppfed.federates.weather.adapter import publish_schedule
from vppfed.launcher import Launcher

#: every key TESP 1.3.7's startWeatherAgent reads from WEATHER_CONFIG (it silently stops reading at a missing one)
TESP_WEATHER_KEYS = {"name", "broker", "time_stop", "StartTime", "time_delta", "publishInterval", "Forecast",
                     "AddErrorToForecast", "ForecastLength", "PublishTimeAhead", "forecastPeriod", "parameters"}


def test_rows_are_published_ahead_of_their_time_and_the_first_at_zero():
    rows = np.array([-300.0, 0.0, 300.0, 600.0, 900.0])
    assert publish_schedule(rows, 600.0, 3.0) == [(0.0, 1), (297.0, 2), (597.0, 3)]
    # a start between rows: the row before the start holds at t=0
    assert publish_schedule(np.array([-120.0, 180.0]), 600.0, 3.0) == [(0.0, 0), (177.0, 1)]


def test_configs_carry_tesp_keys():
    doc = tesp_weather_config("localWeather", "2013-07-01 00:00:00", 7200)
    assert set(doc) >= TESP_WEATHER_KEYS and doc["time_stop"] == "120m"
    pubs = {p["key"] for p in weather_helics_config("localWeather")["publications"]}
    assert "localWeather/#temperature" in pubs and "localWeather/#solar_direct" in pubs


def test_weather_federate_mode_writes_the_federate_and_tesp_config(tmp_path):
    built = build_case(case_yaml("te30"), tmp_path / "c", {"case.hours": 1, "feeder.weather": "federate"})
    runner = json.loads(built.runner.read_text())
    entries = {f["name"]: f for f in runner["federates"]}
    assert entries["localWeather"]["env"] == {"WEATHER_CONFIG": "TE30_weather.json"}
    assert "--weather" not in entries["gld_7"]["exec"]
    assert (built.directory / "weather.dat").exists() and (built.directory / "TE30_weather.json").exists()
    gld = json.loads((built.directory / "TE30_gridlabd.json").read_text())
    assert "localWeather/#temperature" in {s["key"] for s in gld["subscriptions"]}


@pytest.mark.slow
def test_weather_federate_gives_the_feeder_what_the_file_gives_it(tmp_path):
    overrides = {"case.hours": 1, "case.start": "2013-07-01 10:00:00"}
    folders = {}
    for mode in ("file", "federate"):
        built = build_case(case_yaml("te30"), tmp_path / mode, {**overrides, "feeder.weather": mode})
        assert Launcher(built.runner, timeout=900).run().ok
        folders[mode] = built.directory
    for prefix in ("house", "inverter"):
        a, b = (json.loads((folders[m] / f"{prefix}_TE30_metrics.json").read_text()) for m in ("file", "federate"))
        assert a.keys() == b.keys()
        for t in a:
            if t not in ("Metadata", "StartTime"):
                np.testing.assert_allclose(np.array([b[t][k] for k in sorted(b[t])], dtype=float),
                                           np.array([a[t][k] for k in sorted(a[t])], dtype=float),
                                           rtol=1e-9, atol=1e-9, err_msg=f"{prefix} at t={t}")
    inv = json.loads((folders["federate"] / "inverter_TE30_metrics.json").read_text())
    assert sum(v[2] for v in inv["3600"].values()) > 30_000, "PV produced: the irradiance arrived"
