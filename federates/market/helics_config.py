"""HELICS JSON of the substation market federate, in the layout of TESP's ``TE_Challenge_substation.json``.

Pure function of the agent dictionary, so the case builder and the tests make the same file.
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
        Publish meter ``bill_mode``/``price``/``monthly_fee`` per billing meter.
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
    for ctl, row in (agent_dict.get("controllers") or {}).items():
        house, meter = row["houseName"], row["meterName"]
        subs += [{"key": f"{gld}/{house}{separator}air_temperature", "type": "double"},
                 {"key": f"{gld}/{house}{separator}hvac_load", "type": "double"},
                 {"key": f"{gld}/{house}{separator}power_state", "type": "string"}]
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
