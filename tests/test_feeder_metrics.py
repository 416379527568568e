"""GridLAB-D-style metrics aggregation over a metrics interval (TESP columns)."""
import pytest

from vppfed.federates.feeder.gld_metrics import (BILLING_METER_COLUMNS, HOUSE_COLUMNS, INVERTER_COLUMNS,
                                                 SUBSTATION_COLUMNS, FeederMetrics)


def col(columns, name):
    return [n for n, _ in columns].index(name)


class FakeFeeder:
    """Raw GridLAB-D strings for two houses/meters, one water heater, one inverter, stepping through a script."""

    def __init__(self):
        self.k = 0
        self.air = [[75.0, 70.0], [77.0, 71.0], [76.0, 72.0]]
        self.p = [[1000.0, 2000.0], [3000.0, 2000.0], [2000.0, 2000.0]]
        self.v1 = [[120.0, 113.0], [120.0, 109.0], [120.0, 115.0]]
        self.sub = [4000 + 1000j, 6000 + 1500j, 5000 + 1200j]

    def read(self, cls, prop):
        k = self.k
        h, m = ["h0", "h1"], ["m0", "m1"]
        if cls == "house":
            values = {"total_load": ["+1.5 kW", "+2 kW"], "hvac_load": ["+1 kW", "+0 kW"],
                      "air_temperature": [f"+{a} degF" for a in self.air[k]],
                      "cooling_setpoint": ["+74 degF", "+70 degF"], "heating_setpoint": ["+60 degF", "+60 degF"],
                      "system_mode": ["COOL", "OFF"]}[prop]
            return dict(zip(h, values))
        if cls == "waterheater":
            return {"wh1": {"actual_load": "+4.5 kW", "tank_setpoint": "+120 degF", "water_demand": "+0.2 gpm",
                            "temperature": f"+{118 + k} degF"}[prop]}
        if cls == "triplex_meter":
            if prop == "measured_real_power":
                return {n: f"+{v} W" for n, v in zip(m, self.p[k])}
            if prop == "measured_reactive_power":
                return {n: "+100 VAr" for n in m}
            if prop in ("measured_voltage_1", "measured_voltage_2"):
                return {n: f"+{v}+0d V" for n, v in zip(m, self.v1[k])}
            if prop == "voltage_12":
                return {n: f"+{2 * v}+0d V" for n, v in zip(m, self.v1[k])}
            if prop == "price":
                return {n: "+0.1 $/kWh" for n in m}
        if cls == "inverter":
            return {"inv0": f"+{500 * (k + 1)}-50j VA"}
        if cls == "substation":
            s = self.sub[k]
            return {"network_node": f"+{s.real}+{s.imag}j VA"}
        raise KeyError((cls, prop))


def test_one_interval_gives_min_max_avg_energy_bill_and_violations():
    # GIVEN three 100 s samples of a two-house feeder
    fake = FakeFeeder()
    m = FeederMetrics(houses=["h0", "h1"], meters=["m0", "m1"], inverters=["inv0"], water_heaters=["wh1"],
                      water_heater_house={"wh1": "h1"}, substation="network_node")
    for k, t in enumerate((100, 200, 300)):
        fake.k = k
        m.sample(t, fake.read)
    # WHEN the interval is flushed
    rows = m.flush()
    h0, h1 = rows["house"]["h0"], rows["house"]["h1"]
    assert len(h0) == len(HOUSE_COLUMNS)
    assert h0[col(HOUSE_COLUMNS, "air_temperature_min")] == 75.0
    assert h0[col(HOUSE_COLUMNS, "air_temperature_max")] == 77.0
    assert h0[col(HOUSE_COLUMNS, "air_temperature_avg")] == pytest.approx(76.0)
    assert h0[col(HOUSE_COLUMNS, "air_temperature_deviation_cooling")] == pytest.approx(2.0)
    assert h0[col(HOUSE_COLUMNS, "total_load_avg")] == 1.5  # kW, the unit GridLAB-D gives
    assert h0[col(HOUSE_COLUMNS, "system_mode")] == 3  # COOL
    assert h0[col(HOUSE_COLUMNS, "waterheater_load_avg")] == 0.0  # no water heater in h0
    assert h1[col(HOUSE_COLUMNS, "waterheater_load_avg")] == 4.5
    assert h1[col(HOUSE_COLUMNS, "waterheater_temp_max")] == 120.0
    m0, m1 = rows["billing_meter"]["m0"], rows["billing_meter"]["m1"]
    assert len(m0) == len(BILLING_METER_COLUMNS) == 28
    # energy: (1000 + 3000 + 2000) W * 100 s / 3600 = 166.67 Wh; bill at 0.1 $/kWh
    assert m0[col(BILLING_METER_COLUMNS, "real_energy")] == pytest.approx(6000 * 100 / 3600)
    assert m0[col(BILLING_METER_COLUMNS, "bill")] == pytest.approx(0.1 * 6000 * 100 / 3.6e6)
    assert m0[col(BILLING_METER_COLUMNS, "voltage12_avg")] == pytest.approx(240.0)
    # m1: 113 V (below A), 109 V (below A and B), 115 V (ok) -> 200 s below A in one entry, 100 s below B
    assert m1[col(BILLING_METER_COLUMNS, "below_RangeA_Duration")] == 200
    assert m1[col(BILLING_METER_COLUMNS, "below_RangeA_Count")] == 1
    assert m1[col(BILLING_METER_COLUMNS, "below_RangeB_Duration")] == 100
    assert m1[col(BILLING_METER_COLUMNS, "above_RangeA_Duration")] == 0
    inv = rows["inverter"]["inv0"]
    assert len(inv) == len(INVERTER_COLUMNS)
    assert inv[:3] == [500.0, 1500.0, 1000.0] and inv[3] == -50.0
    sub = rows["substation"]["network_node"]
    assert len(sub) == len(SUBSTATION_COLUMNS) == 18
    assert sub[col(SUBSTATION_COLUMNS, "real_power_median")] == 5000.0
    assert sub[col(SUBSTATION_COLUMNS, "real_energy")] == pytest.approx(15000 * 100 / 3600)
    # losses = substation minus meters: (4000-3000), (6000-5000), (5000-4000)
    assert sub[col(SUBSTATION_COLUMNS, "real_power_losses_avg")] == pytest.approx(1000.0)
    # THEN the next flush without samples is empty, and violation counts carry over intervals
    assert m.flush() == {}


def test_violation_that_continues_into_next_interval_is_not_counted_twice():
    fake = FakeFeeder()
    m = FeederMetrics(houses=[], meters=["m0", "m1"], inverters=[])
    fake.k = 1
    m.sample(100, fake.read)
    first = m.flush()["billing_meter"]["m1"][col(BILLING_METER_COLUMNS, "below_RangeB_Count")]
    m.sample(200, fake.read)
    second = m.flush()["billing_meter"]["m1"][col(BILLING_METER_COLUMNS, "below_RangeB_Count")]
    assert (first, second) == (1, 0)
    assert m.reads() == [("triplex_meter", p) for p in ("measured_real_power", "measured_reactive_power",
                         "measured_voltage_1", "measured_voltage_2", "voltage_12", "price")] + \
        [("substation", "distribution_load")]
