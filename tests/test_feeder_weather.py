"""Generated weather.dat: TESP layout, plausible clear-sky physics, determinism, read-back."""
import numpy as np
import pytest

from vppfed.configs.weather import WeatherSpec, weather_text, write_weather
from vppfed.formats.weather import read_weather


def test_layout_units_and_daily_shape(tmp_path):
    spec = WeatherSpec(hours=24)
    text = weather_text(spec)
    lines = text.splitlines()
    assert lines[0] == "datetime,temperature,humidity,solar_direct,solar_diffuse,pressure,wind_speed"
    assert len(lines) == 1 + 24 * 12 + 1 and lines[1].startswith("2013-07-01 00:00:00,")
    series = read_weather(write_weather(spec, tmp_path / "weather.dat"), spec.start, spec.timezone)
    temp, dni = series.values["temperature"], series.values["solar_direct"]
    hours = series.seconds / 3600
    assert temp.max() == pytest.approx(100.0, abs=0.1) and temp.min() == pytest.approx(74.0, abs=0.1)
    assert 14 <= hours[np.argmax(temp)] <= 16
    # sun: dark at midnight, about 80-95 W/ft^2 direct normal around local solar noon (12:28 PDT in Tucson)
    assert dni[0] == 0 and series.at(13.5 * 3600)["solar_direct"] == pytest.approx(88, abs=8)
    assert np.all(series.values["solar_diffuse"] <= dni + 1e-9)
    assert series.at(150)["temperature"] == pytest.approx((temp[0] + temp[1]) / 2)


def test_seeded_noise_is_reproducible_and_changes_with_seed():
    a = weather_text(WeatherSpec(hours=6, noise_temperature_f=1.0, noise_solar=0.2, seed=1))
    b = weather_text(WeatherSpec(hours=6, noise_temperature_f=1.0, noise_solar=0.2, seed=1))
    c = weather_text(WeatherSpec(hours=6, noise_temperature_f=1.0, noise_solar=0.2, seed=2))
    assert a == b and a != c


def test_bad_file_names_the_line(tmp_path):
    path = tmp_path / "w.dat"
    path.write_text("datetime,temperature\n2013-07-01 00:00:00,80\n2013-07-01 00:05:00,hot\n")
    with pytest.raises(ValueError, match="w.dat: line 3"):
        read_weather(path, "2013-07-01 00:00:00", "PST+8PDT")
