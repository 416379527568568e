"""Units that are GridLAB-D devices of the feeder federate: what a unit host reads and writes, and how it turns
those readings into the unit model's state (no HELICS here; the host federate hands values in and publishes out).

Sign convention of the unit model: power P > 0 is drawn from the grid [kW], energy E [kWh].

``battery_inverter`` -> bucket
    Writes the inverter's ``P_Out`` = -1000 P [W] (GridLAB-D: + = discharge into the grid). Reads the battery's
    ``state_of_charge`` [pu] (E = soc * capacity, measured every step, so the model's lossless integration never
    drifts) and the inverter's ``VA_Out`` (delivered P = -Re(VA_Out) / 1000). The battery loses energy both ways
    (inverter and round-trip efficiency): charging cannot pass Emax, and the host gives back at most
    ``efficiency * (E - Emin) / Ts`` so that the real energy stays above Emin.
``ev_charger`` -> battery (a deadline load)
    Writes the ``evcharger_det``'s ``maximum_charge_rate`` = 1000 P [W]; it charges at that rate while the car is at
    home. Reads ``vehicle_location`` (available only at ``HOME``), ``battery_capacity`` (the energy stored, kWh) and
    ``actual_charge_rate`` [W]. Measured with gridlabd 6.0.0: the charger updates ``battery_SOC`` and
    ``battery_capacity`` only at its own state changes (arrival, departure), not while the rate is changed from
    outside (SOC stayed at 61.74 % for 1.3 h of charging at 3-7.2 kW). So the energy is synchronised when the car
    arrives home and then integrated by the host from the measured charge rate. The unit's energy is counted on the
    grid side: E = stored / charging_efficiency, so that E(k+1) = E(k) + Ts * P holds exactly.
``water_heater`` -> bakery (an uninterruptible batch)
    Writes ``re_override``: ``OV_ON`` while its batch runs, ``OV_NORMAL`` otherwise, so the tank's own thermostat
    keeps it warm before and after. The batch is a *boost*: Trun steps at the element's full power, once, by Tend
    (GridLAB-D's ``OV_ON`` heats at ``heating_element_capacity`` whatever the tank temperature, measured: 120 to
    188 degF in 2.5 h, so Trun must stay short; ``OV_OFF`` lets a tank with evening draws fall to the 60 degF inlet
    temperature within an hour, which is why the heater is not held off while it waits). Reads ``actual_load`` [kW];
    only the load while the batch runs is the VPP's, the thermostat's own load is the feeder's base load.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET
from vppfed.federates.agile.unit_host import Measurement

BATTERY_INVERTER, EV_CHARGER, WATER_HEATER = "battery_inverter", "ev_charger", "water_heater"
DEVICE_KIND = {BATTERY_INVERTER: BUCKET, EV_CHARGER: BATTERY, WATER_HEATER: BAKERY}
DEVICE_LABELS = {BATTERY_INVERTER: "battery inverters", EV_CHARGER: "EV chargers", WATER_HEATER: "water heaters"}

#: what a device reads: role -> (which object: "device" or "state", GridLAB-D property, HELICS type)
READS: dict[str, dict[str, tuple[str, str, str]]] = {
    BATTERY_INVERTER: {"soc": ("state", "state_of_charge", "double"), "power": ("device", "VA_Out", "complex")},
    EV_CHARGER: {"location": ("device", "vehicle_location", "string"),
                 "stored": ("device", "battery_capacity", "double"),
                 "power": ("device", "actual_charge_rate", "double")},
    WATER_HEATER: {"power": ("device", "actual_load", "double")},
}
#: what a device writes: (GridLAB-D property of the device object, HELICS type)
WRITES: dict[str, tuple[str, str]] = {
    BATTERY_INVERTER: ("P_Out", "double"),
    EV_CHARGER: ("maximum_charge_rate", "double"),
    WATER_HEATER: ("re_override", "string"),
}
HOME = "HOME"
ON_THRESHOLD_KW = 1e-3
"""A water heater's batch counts as on above 1 W: a bakery's last step can carry a round-off remainder of ~1e-9 kW
(its energy is summed in steps of ``Ts * Pmax``) that must not switch a 4.5 kW element on for another step."""


@dataclass(frozen=True)
class Device:
    """One unit bound to a GridLAB-D device.

    Attributes
    ----------
    unit : str
        Unit name in the params CSV (``Bkt-3``).
    device : str
        ``battery_inverter``, ``ev_charger`` or ``water_heater``.
    obj : str
        The GridLAB-D object written (inverter, evcharger_det, waterheater).
    write_key : str
        Local HELICS publication key of the host for the setpoint (the feeder subscribes to ``<host>/<key>``).
    reads : dict
        Role -> HELICS target published by the feeder (``gld_7/bat_F1_house_B3/state_of_charge``).
    capacity_kwh : float
        Battery capacity (battery inverter) [kWh]; 0 otherwise.
    efficiency : float
        Battery inverter: share of stored energy that reaches the grid on discharge; EV: charging efficiency.
    """

    unit: str
    device: str
    obj: str
    write_key: str
    reads: dict[str, str] = field(default_factory=dict)
    capacity_kwh: float = 0.0
    efficiency: float = 1.0

    @property
    def kind(self) -> int:
        return DEVICE_KIND[self.device]


def write_devices_json(devices: Sequence[Device], path: str | Path) -> None:
    """The device map of a case (one entry per unit, params-CSV order)."""
    Path(path).write_text(json.dumps({"devices": [asdict(d) for d in devices]}, indent=1) + "\n", encoding="utf-8")


def read_devices_json(path: str | Path) -> list[Device]:
    """Read :func:`write_devices_json`'s file; raises ValueError naming the entry on an unknown device type."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for i, entry in enumerate(data["devices"]):
        if entry.get("device") not in DEVICE_KIND:
            raise ValueError(f"{path}: devices[{i}]: unknown device {entry.get('device')!r}")
        out.append(Device(**entry))
    return out


class DeviceBank:
    """The devices of one unit host: latest readings in, unit state out, setpoints out.

    Parameters
    ----------
    devices : sequence of Device
        In the host's unit order.
    Ts : float
        Step length [h].
    """

    def __init__(self, devices: Sequence[Device], Ts: float) -> None:
        self.devices = list(devices)
        self.Ts = float(Ts)
        n = len(self.devices)
        kinds = np.array([d.device for d in self.devices])
        self.is_bkt = kinds == BATTERY_INVERTER
        self.is_ev = kinds == EV_CHARGER
        self.is_wh = kinds == WATER_HEATER
        self.capacity = np.array([d.capacity_kwh for d in self.devices], dtype=np.float64)
        self.efficiency = np.array([d.efficiency for d in self.devices], dtype=np.float64)
        self._route = {t: (i, role) for i, d in enumerate(self.devices) for role, t in d.reads.items()}
        self.readings: list[dict[str, Any]] = [{} for _ in range(n)]
        self.ev_E = np.full(n, np.nan)
        self.ev_home = np.zeros(n, dtype=bool)
        self.commanded = np.zeros(n)
        self._sent: dict[str, Any] = {}

    def targets(self) -> list[tuple[str, str]]:
        """Every (HELICS target, type) this bank reads."""
        out = []
        for d in self.devices:
            for role, target in d.reads.items():
                out.append((target, READS[d.device][role][2]))
        return out

    def initial_availability(self) -> np.ndarray:
        """Before any reading: an EV is taken as away (it must be seen at home first), the rest as available."""
        return ~self.is_ev

    def discharge_efficiency(self) -> np.ndarray:
        """Per unit, for :class:`~.unit_host.UnitHost`: the battery inverters' efficiency, 1 elsewhere."""
        return np.where(self.is_bkt, self.efficiency, 1.0)

    def receive(self, target: str, value: Any) -> None:
        """Store the newest value published on ``target`` (the feeder publishes only changes)."""
        hit = self._route.get(target)
        if hit is None:
            raise KeyError(f"no device reads '{target}'")
        i, role = hit
        self.readings[i][role] = value

    def measure(self) -> Measurement:
        """Unit energies, availability and the power delivered during the previous step from the latest readings."""
        n = len(self.devices)
        E = np.full(n, np.nan)
        P_meas = np.full(n, np.nan)
        avail = np.ones(n, dtype=bool)
        for i, r in enumerate(self.readings):
            if self.is_bkt[i]:
                if "soc" in r:
                    E[i] = float(r["soc"]) * self.capacity[i]
                if "power" in r:
                    P_meas[i] = -complex(r["power"]).real / 1000.0
            elif self.is_ev[i]:
                home = str(r.get("location", "")).strip().upper() == HOME
                rate = float(r["power"]) / 1000.0 if "power" in r else 0.0
                P_meas[i] = rate if self.ev_home[i] else 0.0
                if home and not self.ev_home[i] and "stored" in r:
                    self.ev_E[i] = float(r["stored"]) / self.efficiency[i]   # arrival: the charger's own SOC is fresh
                elif home and self.ev_home[i] and math.isfinite(self.ev_E[i]):
                    self.ev_E[i] = self.ev_E[i] + self.Ts * rate
                self.ev_home[i] = home and math.isfinite(self.ev_E[i])
                E[i] = self.ev_E[i]
                avail[i] = self.ev_home[i]
            else:
                load = float(r["power"]) if "power" in r else np.nan
                P_meas[i] = load if self.commanded[i] >= ON_THRESHOLD_KW else 0.0
        return Measurement(E=E, available=avail, P_meas=P_meas)

    def setpoint_values(self, P: np.ndarray) -> list[tuple[str, Any]]:
        """(publication key, value) for every device, for unit powers ``P`` [kW]."""
        out: list[tuple[str, Any]] = []
        for d, p in zip(self.devices, np.asarray(P, dtype=np.float64)):
            if d.device == BATTERY_INVERTER:
                value: Any = float(-1000.0 * p) + 0.0
            elif d.device == EV_CHARGER:
                value = float(1000.0 * max(p, 0.0))
            else:
                value = "OV_ON" if p >= ON_THRESHOLD_KW else "OV_NORMAL"
            out.append((d.write_key, value))
        return out

    def setpoints(self, P: np.ndarray, force: bool = False) -> list[tuple[str, Any]]:
        """Setpoints that changed since last sent (all with ``force``); remembers ``P`` as this step's command."""
        self.commanded = np.asarray(P, dtype=np.float64).copy()
        out = []
        for key, value in self.setpoint_values(P):
            if force or self._sent.get(key) != value:
                out.append((key, value))
                self._sent[key] = value
        return out
