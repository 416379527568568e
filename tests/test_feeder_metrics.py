"""GridLAB-D-style metrics aggregation over a metrics interval (TESP columns)."""
import pytest

import numpy as np

from vppfed.federates.feeder.core import make_writers
from vppfed.federates.feeder.gld_losses import LOSS_CLASSES, link_losses, loss_classes
from vppfed.federates.feeder.gld_metrics import (BILLING_METER_COLUMNS, HOUSE_COLUMNS, INVERTER_COLUMNS,
                                                 SUBSTATION_COLUMNS, FeederMetrics)


def col(columns, name):
    return [n for n, _ in columns].index(name)


def _polar(z: complex) -> str:
    """GridLAB-D's polar text for a complex value ('+35.0658+63.2539d VA')."""
    return f"{abs(z):+.6f}{np.degrees(np.angle(z)):+.6f}d VA"


class FakeFeeder:
    """Raw GridLAB-D strings for two houses/meters, one water heater, one inverter, stepping through a script."""

    def __init__(self):
        self.k = 0
        self.air = [[75.0, 70.0], [77.0, 71.0], [76.0, 72.0]]
        self.p = [[1000.0, 2000.0], [3000.0, 2000.0], [2000.0, 2000.0]]
        self.v1 = [[120.0, 113.0], [120.0, 109.0], [120.0, 115.0]]
        self.sub = [4000 + 1000j, 6000 + 1500j, 5000 + 1200j]
        # links' own losses per sample (VA, polar text as the bindings answer): 100, 130, 110 W in all
        self.ol_loss = [60.0, 80.0, 70.0]
        self.tl_loss = [[20.0, 20.0], [25.0, 25.0], [20.0, 20.0]]
        self.asked: list[tuple[str, str]] = []

    def read(self, cls, prop):
        k = self.k
        self.asked.append((cls, prop))
        if prop == "power_losses":
            # 10 VAr reactive on each link; a class without objects answers with nothing, as GridLAB-D does
            if cls == "overhead_line":
                return {"ol1": _polar(complex(self.ol_loss[k], 10.0))}
            if cls == "triplex_line":
                return {f"tl{i}": _polar(complex(v, 10.0)) for i, v in enumerate(self.tl_loss[k])}
            if cls in LOSS_CLASSES:
                return {}
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
    # losses = the links' own power_losses (100, 130, 110 W), not the substation minus the meters (1000 W)
    assert sub[col(SUBSTATION_COLUMNS, "real_power_losses_avg")] == pytest.approx(340.0 / 3)
    assert sub[col(SUBSTATION_COLUMNS, "real_power_losses_max")] == pytest.approx(130.0)
    assert sub[col(SUBSTATION_COLUMNS, "real_power_losses_median")] == pytest.approx(110.0)
    assert sub[col(SUBSTATION_COLUMNS, "reactive_power_losses_avg")] == pytest.approx(30.0)
    assert "capacitor" not in rows and "regulator" not in rows  # no such objects: no rows (files get empty ones)
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
        [("substation", "distribution_load")] + [(cls, "power_losses") for cls in LOSS_CLASSES]


def test_losses_read_only_the_link_classes_the_inventory_has_and_count_negative_real_parts_as_positive():
    # GIVEN an inventory with overhead and triplex lines only
    fake = FakeFeeder()
    m = FeederMetrics(houses=[], meters=[], inverters=[],
                      links={"triplex_line": ["tl0", "tl1"], "overhead_line": ["ol1"], "fuse": []})
    # WHEN sampled
    m.sample(100, fake.read)
    # THEN only those two classes were asked for power_losses, in GridLAB-D's class order
    assert [c for c, p in fake.asked if p == "power_losses"] == ["overhead_line", "triplex_line"]
    assert loss_classes(None) == loss_classes({}) == list(LOSS_CLASSES)
    # and a link whose real loss reads negative (a transformer's at light load can) adds its magnitude
    assert link_losses({"a": "+10+0d VA", "b": "-5.0+3.0j VA"}) == pytest.approx(15 + 3j)


def test_a_meter_with_a_nested_meter_keeps_what_gridlabd_measures_at_it():
    # GIVEN m0 measures 1000 W, and m1 (4000 W as GridLAB-D measures it) holds the nested m0
    fake = FakeFeeder()
    fake.p = [[1000.0, 4000.0]]
    m = FeederMetrics(houses=[], meters=["m0", "m1"], inverters=[], meter_upstream={"m0": "m1", "x": "m1"})
    # WHEN sampled and flushed
    m.sample(300, fake.read)
    rows = m.flush()["billing_meter"]
    # THEN both rows are GridLAB-D's (as its own metrics collector writes them); the nesting is kept for readers
    p_avg, energy = col(BILLING_METER_COLUMNS, "real_power_avg"), col(BILLING_METER_COLUMNS, "real_energy")
    assert (rows["m0"][p_avg], rows["m1"][p_avg]) == (1000.0, 4000.0)
    assert rows["m1"][energy] == pytest.approx(4000.0 * 300 / 3600)
    assert m.meter_upstream == {"m0": "m1"}


def test_capacitor_and_regulator_count_is_the_largest_cumulative_phase_sum_in_the_interval():
    # GIVEN cumulative switch counts read at three samples (GridLAB-D's counters never decrease)
    counts = {"capacitor": [(0, 0, 0), (1, 1, 1), (1, 1, 2)], "regulator": [(2, 0, 1), (4, 3, 1), (4, 3, 1)]}
    k = {"i": 0}

    def read(cls, prop):
        if cls in counts and prop != "power_losses":
            phase = "ABC".index(prop.split("_")[1])
            name = "cap1" if cls == "capacitor" else "reg1"
            return {name: f"{counts[cls][k['i']][phase]:.1f}"}
        if cls == "substation":
            return {"network_node": "+1000+0j VA"}
        return {}

    m = FeederMetrics(houses=[], meters=[], inverters=[], capacitors=["cap1"], regulators=["reg1"], links={})
    for i, t in enumerate((100, 200, 300)):
        k["i"] = i
        m.sample(t, read)
    rows = m.flush()
    # THEN one column, the largest sum over phases (metrics_collector's rule)
    assert rows["capacitor"] == {"cap1": [4.0]}
    assert rows["regulator"] == {"reg1": [8.0]}
    assert ("capacitor", "cap_B_switch_count") in m.reads() and ("regulator", "power_losses") in m.reads()


def test_polyphase_meter_uses_gridlabd_meter_definitions():
    # GIVEN a three-phase billing meter at 7200 V nominal reading 7560 V (1.05 pu) on A and B, 7200 V on C
    vln = {"A": 7560.0, "B": 7560.0, "C": 7200.0}
    vll = {"AB": 13094.0, "BC": 12780.0, "CA": 12780.0}

    def read(cls, prop):
        if cls == "meter":
            values = {"measured_real_power": "+30000 W", "measured_reactive_power": "+5000 VAr", "price": "0.05",
                      "nominal_voltage": "7200 V"}
            if prop in values:
                return {"cm": values[prop]}
            return {"cm": f"+{(vln | vll)[prop.split('_')[1]]}+0d V"}
        if cls == "substation":
            return {"network_node": "+31000+0j VA"}
        return {}

    m = FeederMetrics(houses=[], meters=["cm"], inverters=[], meter_class={"cm": "meter"}, links={})
    m.sample(300, read)
    row = m.flush()["billing_meter"]["cm"]
    # THEN voltage = mean |V_LN|, voltage12 = sum |V_LL| / phases, unbalance = largest deviation / mean,
    # and the ranges apply on the 120 V base (7440 V mean -> 124 V: inside Range A)
    mean_ll = sum(vll.values()) / 3
    assert row[col(BILLING_METER_COLUMNS, "voltage_avg")] == pytest.approx(sum(vln.values()) / 3)
    assert row[col(BILLING_METER_COLUMNS, "voltage12_avg")] == pytest.approx(mean_ll)
    assert row[col(BILLING_METER_COLUMNS, "voltage_unbalance_avg")] == pytest.approx((13094.0 - mean_ll) / mean_ll)
    assert row[col(BILLING_METER_COLUMNS, "above_RangeA_Duration")] == 0
    assert row[col(BILLING_METER_COLUMNS, "real_power_avg")] == 30000.0


def test_billing_meter_of_another_class_or_missing_from_the_model_is_a_clear_error():
    with pytest.raises(ValueError, match="'house' are not supported"):
        FeederMetrics(houses=[], meters=["m0"], inverters=[], meter_class={"m0": "house"})
    m = FeederMetrics(houses=[], meters=["m0", "ghost"], inverters=[])
    with pytest.raises(KeyError, match="no triplex_meter.measured_real_power for ghost"):
        m.sample(100, FakeFeeder().read)


def test_every_tesp_gridlabd_file_gets_a_writer_even_without_objects():
    # process_gld opens all six files; a feeder without inverters, capacitors or regulators still writes them
    made = []
    writers = make_writers(lambda prefix, cols: made.append((prefix, cols)) or prefix,
                           FeederMetrics(houses=[], meters=[], inverters=[]))
    assert sorted(writers) == ["billing_meter", "capacitor", "house", "inverter", "regulator", "substation"]
    assert dict(made)["capacitor"] == [("operation_count", "")]
