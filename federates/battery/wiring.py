"""The ``--manager`` JSON of the battery federate: the batteries it manages and how they are wired (no HELICS here).

Two layouts. The single-battery one (``battery``, ``soc_key``, ``power_key``, ``command_key``, ``state_file``,
``uid`` at the top level) is what the peak-shaving case writes. The ``units`` layout lists several batteries managed
by one federate: each unit has its own :class:`~vppfed.federates.battery.manager.BatteryManager`, state file,
command publication, metrics row and, in the auction mode, its own endpoint, so the market's award (which does not
name the bidder) comes back to the unit that bid. Every unit shares the sensed load.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from vppfed.io import load_json, parse_dataclass, require
from vppfed.federates.battery.config import BatteryConfig


@dataclass
class UnitFile:
    """One battery of the federate.

    Attributes
    ----------
    battery : BatteryConfig
        The manager's configuration.
    soc_key, power_key : str
        Targets of the battery's ``state_of_charge`` [pu] and the inverter's ``VA_Out`` [VA]; "" = not wired.
    command_key : str
        Local key of the publication the feeder writes into the inverter's ``P_Out``.
    state_file : str
        SQLite state file, relative to the working directory ("" = ``<federate>_<uid>_state.sqlite``).
    uid : str
        Row name in the metrics file and bidder name in the market (the battery object's name).
    endpoint : str
        Local endpoint this battery bids from and gets its award at ("" = it does not bid).
    """

    battery: BatteryConfig
    soc_key: str = ""
    power_key: str = ""
    command_key: str = "p_out"
    state_file: str = ""
    uid: str = "battery"
    endpoint: str = ""


@dataclass
class ManagerFile:
    """The ``--manager`` JSON: the battery configuration(s) plus how this federate is wired to the feeder.

    Attributes
    ----------
    load_key : str
        Subscription target of the sensed load (complex VA or double W). With several units it must be measured
        upstream of all of them (the substation): each unit then sees the load without every battery.
    battery, soc_key, power_key, command_key, state_file, uid
        Single-battery layout (see :class:`UnitFile`; ``state_file`` "" = ``<federate>_state.sqlite``).
    units : list of UnitFile
        Several batteries (instead of ``battery``).
    start : str
        Local start time ``YYYY-mm-dd HH:MM:SS`` (for the time windows, the day-ahead plan, the price profile).
    market_target : str
        Global endpoint of the auction (``sub_7/market``); "" = no market (bids are not sent, nothing is awarded).
    """

    load_key: str
    battery: BatteryConfig | None = None
    soc_key: str = ""
    power_key: str = ""
    command_key: str = "p_out"
    start: str = "2013-07-01 00:00:00"
    state_file: str = ""
    uid: str = "battery"
    units: list[UnitFile] = field(default_factory=list)
    market_target: str = ""

    def validate(self) -> None:
        require(bool(self.load_key), "load_key", "must name the subscription of the sensed load")
        try:
            datetime.strptime(self.start, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"start: expected 'YYYY-mm-dd HH:MM:SS', got {self.start!r}") from None
        require((self.battery is None) != (not self.units), "units",
                "give either 'battery' (one battery) or 'units' (a list), not both and not neither")
        for name in ("uid", "command_key", "state_file", "endpoint"):
            values = [getattr(u, name) for u in self.units if getattr(u, name)]
            dupes = sorted({v for v in values if values.count(v) > 1})
            require(not dupes, f"units.{name}", f"must differ between units, '{dupes[0]}' repeats" if dupes else "")

    def unit_list(self) -> list[UnitFile]:
        """The batteries of this federate (the single-battery layout as one unit)."""
        if self.units:
            return list(self.units)
        assert self.battery is not None
        return [UnitFile(self.battery, self.soc_key, self.power_key, self.command_key, self.state_file, self.uid)]


def read_manager_file(path: str | Path) -> ManagerFile:
    """Load and validate a ``--manager`` JSON; errors name the file and the field."""
    return parse_dataclass(ManagerFile, load_json(path), Path(path).name)


__all__ = ["ManagerFile", "UnitFile", "read_manager_file"]
