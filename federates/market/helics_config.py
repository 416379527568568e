"""HELICS JSON of the substation market federate, in the layout of TESP's ``TE_Challenge_substation.json``.

Pure function of the agent dictionary, so the case builder and the tests make the same file.

One file serves both implementations of ``sub_<bus>``: ours (``python -m vppfed.federates.market``, which binds what
it uses and ignores the rest) and TESP's ``tesp_support.api.substation.substation_loop``, which looks every interface
up by exact name right after creating the federate and raises on the first one missing. What TESP 1.3.7 looks up
(read from its source; 1.3.6 differs only where noted):

- inputs ``pypower/LMP_<bus>`` (``pypower`` hard-coded, the bus = all digits of the federate name),
  ``<GridLABD>/distribution_load``; per controller ``<GridLABD>/<house>/air_temperature``, ``/power_state``,
  ``/hvac_load``; per billing meter (first controller of the meter) ``<GridLABD>/<meter>/measured_voltage_1``
  (1.3.6: ``#`` instead of the ``/`` before the property, which ``separator`` gives);
- publications ``<name>/unresponsive_mw``, ``/responsive_max_mw``, ``/responsive_c2``, ``/responsive_c1``,
  ``/responsive_deg``, ``/clear_price``; per controller ``<name>/<ctl>/heating_setpoint``, ``/cooling_setpoint``,
  ``/thermostat_deadband``; per billing meter ``<name>/<ctl>/<meter>/bill_mode``, ``/price``, ``/monthly_fee``
  (``/`` in both releases).
"""
from __future__ import annotations

from typing import Any, Mapping

#: The five curve keys PYPOWER subscribes to, then the clearing price.
CURVE_KEYS = (("unresponsive_mw", "double"), ("responsive_max_mw", "double"), ("responsive_c2", "double"),
              ("responsive_c1", "double"), ("responsive_deg", "integer"))


def market_helics_config(name: str, agent_dict: Mapping[str, Any], *, bulk: str | None = "pypower",
                         gld: str | None = None, separator: str = "/", period: float = 15.0,
                         endpoint: bool = True, meters: bool = True) -> dict[str, Any]:
    """The federate's HELICS config.

    Parameters
    ----------
    name : str
        Federate name, ``sub_<bus>`` (the bus is all digits of the name, as TESP derives it).
    agent_dict : mapping
        TESP agent dictionary (controllers and ``GridLABD``).
    bulk : str or None
        Name of the bulk federate publishing ``LMP_<bus>`` (None: no LMP input).
    gld : str, optional
        Feeder federate name (default: the dictionary's ``GridLABD``).
    separator : str
        Object/property separator of the feeder's keys (``/`` or ``#``).
    period : float
        HELICS period (s).
    endpoint : bool
        Add the ``market`` endpoint for external bidders.
    meters : bool
        Publish meter ``bill_mode``/``price``/``monthly_fee`` per billing meter (TESP's substation needs them).
    """
    bus = "".join(ch for ch in name if ch.isdigit())
    if not bus:
        raise ValueError(f"federate name {name!r}: needs the bus number in it (sub_<bus>)")
    gld = gld or str(agent_dict.get("GridLABD", "gld_7"))
    pubs: list[dict[str, Any]] = [{"global": False, "key": k, "type": t} for k, t in CURVE_KEYS]
    pubs.append({"global": False, "key": "clear_price", "type": "double"})
    subs: list[dict[str, Any]] = []
    if bulk:
        subs.append({"key": f"{bulk}/LMP_{bus}", "type": "double"})
    subs.append({"key": f"{gld}/distribution_load", "type": "complex"})
    seen_meters: set[str] = set()
    seen_voltages: set[str] = set()
    for ctl, row in (agent_dict.get("controllers") or {}).items():
        house, meter = row["houseName"], row["meterName"]
        subs += [{"key": f"{gld}/{house}{separator}air_temperature", "type": "double"},
                 {"key": f"{gld}/{house}{separator}hvac_load", "type": "double"},
                 {"key": f"{gld}/{house}{separator}power_state", "type": "string"}]
        if meter and meter not in seen_voltages:
            # TESP's substation reads each billing meter's voltage (our market does not use it)
            seen_voltages.add(meter)
            subs.append({"key": f"{gld}/{meter}{separator}measured_voltage_1", "type": "complex"})
        pubs += [{"global": False, "key": f"{ctl}/{prop}", "type": "double"}
                 for prop in ("cooling_setpoint", "heating_setpoint", "thermostat_deadband")]
        if meters and meter not in seen_meters:
            seen_meters.add(meter)
            pubs += [{"global": False, "key": f"{ctl}/{meter}/bill_mode", "type": "string"},
                     {"global": False, "key": f"{ctl}/{meter}/price", "type": "double"},
                     {"global": False, "key": f"{ctl}/{meter}/monthly_fee", "type": "double"}]
    config: dict[str, Any] = {"name": name, "period": period, "log_level": "warning", "uninterruptible": True,
                              "terminate_on_error": True, "only_update_on_change": True,
                              "publications": pubs, "subscriptions": subs}
    if endpoint:
        config["endpoints"] = [{"name": "market", "global": False}]
    return config
