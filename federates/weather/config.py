"""Configuration files of the weather federate: its HELICS JSON and TESP's ``WEATHER_CONFIG`` JSON.

Pure functions, so the case builder and the tests make the same files. The two files let TESP's weather agent
(``tesp_support.weather.weather_agent.startWeatherAgent('weather.dat')`` with ``WEATHER_CONFIG=<root>_weather.json``)
replace ours in a case folder with no edit beyond the runner's command: both publish the same global keys
``<name>/#<param>`` (tesp-contract.md §3.4) at the same times (each 5-min row ``PublishTimeAhead`` early).
"""
from __future__ import annotations

from typing import Any, Iterable

from vppfed.formats.weather import WEATHER_COLUMNS

#: TESP's weather agent publishes each row this many seconds before its time, so a federate granted at the row's
#: time already has it (its ``PublishTimeAhead``: "3s" in TESP's te30)
PUBLISH_AHEAD_S = 3
#: Seconds between weather rows (TESP's ``publishInterval``; weather.dat has 5-min rows)
PUBLISH_INTERVAL_S = 300


def weather_helics_config(name: str, params: Iterable[str] = WEATHER_COLUMNS) -> dict[str, Any]:
    """HELICS JSON of our weather federate: global double publications ``<name>/#<param>``.

    TESP's agent registers them as strings and publishes doubles; the feeder subscribes doubles, so both work.
    """
    pubs = [{"global": True, "key": f"{name}/#{p}", "type": "double"} for p in params]
    return {"name": name, "period": 1, "log_level": "warning", "terminate_on_error": True,
            "publications": pubs}


def tesp_weather_config(name: str, start: str, stop_seconds: float) -> dict[str, Any]:
    """TESP's ``WEATHER_CONFIG`` JSON (the layout of te30's ``TE_Challenge_weather.json``) for the same case.

    Every key TESP 1.3.7's agent reads is present: it reads them in one ``try`` block and silently keeps going
    after the first missing one, then fails later on an unset name. ``Forecast`` is 0 (no ``#forecast`` values
    with random error; nothing of ours reads them). No ``broker_address``: the agent then finds the broker
    through ``HELICS_BROKER_PORT``, which the launcher sets.
    """
    minutes = int(round(stop_seconds / 60.0))
    return {"name": name, "StartTime": start, "time_stop": f"{minutes}m", "time_delta": "1s",
            "publishInterval": f"{PUBLISH_INTERVAL_S // 60}m", "Forecast": 0, "ForecastLength": "24h",
            "PublishTimeAhead": f"{PUBLISH_AHEAD_S}s", "AddErrorToForecast": 0, "broker": "HELICS",
            "forecastPeriod": 48, "parameters": {}}
