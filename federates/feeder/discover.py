"""Find the objects a feeder federate reads in any loaded model (ours or a TESP GLM).

The generator writes ``<root>_inventory.json`` with parent links; for a model without one, the objects are found by
class. The bindings expose no ``parent`` property, so a discovered inventory has no device -> house links (water-heater
columns of the house metrics stay 0) and lists every inverter under ``pv_inverters``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from vppfed.configs.feeder_glm import FeederInventory
from vppfed.federates.feeder.session import GridlabdError, GridlabdSession

log = logging.getLogger(__name__)

__all__ = ["discover_inventory", "load_inventory"]


def discover_inventory(session: GridlabdSession) -> FeederInventory:
    """An inventory of the loaded model by class (see the module docstring for what it lacks)."""
    inv = FeederInventory()
    subs = session.names("substation")
    if not subs:
        raise GridlabdError(f"{session.glm.name}: the model has no 'substation' object (the SWING bus the feeder "
                            "federate publishes distribution_load from)")
    inv.substation = subs[0]
    inv.houses = session.names("house")
    inv.billing_meters = session.names("triplex_meter")
    inv.pv_inverters = session.names("inverter")
    inv.solar_panels = session.names("solar")
    inv.batteries = session.names("battery")
    inv.ev_chargers = session.names("evcharger_det")
    inv.water_heaters = []   # no house link known: left out of the house metrics
    return inv


def load_inventory(path: str | Path | None, session: GridlabdSession) -> FeederInventory:
    """The generator's inventory file if ``path`` exists, else :func:`discover_inventory`."""
    if path is not None and Path(path).is_file():
        try:
            return FeederInventory.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (TypeError, json.JSONDecodeError) as exc:
            raise GridlabdError(f"{path}: not a feeder inventory ({exc})") from None
    log.info("no inventory file%s: discovering objects by class", f" at {path}" if path else "")
    return discover_inventory(session)
