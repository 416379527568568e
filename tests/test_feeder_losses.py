"""Feeder losses as GridLAB-D's metrics collector defines them, on a feeder written here: a triplex meter nested in
another billing meter, an unmetered three-phase load, a regulator and a switched capacitor.

The reference is GridLAB-D itself: the same GLM run in batch with a ``metrics_collector`` on the swing bus (and on
the capacitor and regulator) and a ``metrics_collector_writer``, which the PyPI build's tape module has.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vppfed.federates.feeder.inventory import FeederInventory
from vppfed.configs.feeder_glm import FeederSpec, generate_feeder
from vppfed.federates.feeder.meter_nesting import upstream_billing_meters
from vppfed.configs.vpp_devices import read_glm_objects
from vppfed.federates.feeder.core import FeederConfig, FeederCore, build_metrics, make_writers, object_class_map
from vppfed.federates.feeder.gld_losses import LOSS_CLASSES, link_losses
from vppfed.federates.feeder.gld_metrics import BILLING_METER_COLUMNS, SUBSTATION_COLUMNS
from vppfed.federates.feeder.session import GridlabdSession
from vppfed.federates.metrics import MetricsWriter

#: loads [W] of the test feeder: the outer meter's own load, the nested meter's, a sibling meter's, the unmetered
#: three-phase load (20 kW per phase)
OUTER_W, INNER_W, OTHER_W, UNMETERED_W = 3000.0, 5000.0, 4000.0, 60000.0

_LIBRARY = [
    ("overhead_line_conductor", {"name": "cond_ph", "geometric_mean_radius": "0.0244 ft",
                                 "resistance": "0.306 Ohm/mile", "diameter": "0.721 in"}),
    ("overhead_line_conductor", {"name": "cond_n", "geometric_mean_radius": "0.00814 ft",
                                 "resistance": "0.592 Ohm/mile", "diameter": "0.563 in"}),
    ("line_spacing", {"name": "spacing", "distance_AB": "2.5 ft", "distance_BC": "4.5 ft", "distance_AC": "7.0 ft",
                      "distance_AN": "5.66 ft", "distance_BN": "4.27 ft", "distance_CN": "5.0 ft"}),
    ("line_configuration", {"name": "olcfg", "conductor_A": "cond_ph", "conductor_B": "cond_ph",
                            "conductor_C": "cond_ph", "conductor_N": "cond_n", "spacing": "spacing"}),
    ("triplex_line_conductor", {"name": "tcond", "resistance": "0.97 Ohm/mile", "geometric_mean_radius": "0.0111 ft"}),
    ("triplex_line_configuration", {"name": "tlcfg", "conductor_1": "tcond", "conductor_2": "tcond",
                                    "conductor_N": "tcond", "insulation_thickness": "0.08 in", "diameter": "0.368 in"}),
    ("transformer_configuration", {"name": "ctcfg", "connect_type": "SINGLE_PHASE_CENTER_TAPPED",
                                   "install_type": "POLETOP", "primary_voltage": "7200 V", "secondary_voltage": "120 V",
                                   "power_rating": "50 kVA", "powerA_rating": "50 kVA", "impedance": "0.006+0.0136j",
                                   "impedance1": "0.012+0.0204j", "impedance2": "0.012+0.0204j",
                                   "shunt_impedance": "1728000+691200j"}),
    # regulates n2 to 7500 V: it taps during the first minutes (operation counts to compare)
    ("regulator_configuration", {"name": "regcfg", "connect_type": "WYE_WYE", "band_center": "7500",
                                 "band_width": "120", "time_delay": "30", "raise_taps": "16", "lower_taps": "16",
                                 "regulation": "0.10", "Control": "OUTPUT_VOLTAGE", "control_level": "INDIVIDUAL",
                                 "Type": "B", "tap_pos_A": "0", "tap_pos_B": "0", "tap_pos_C": "0"}),
]

_NETWORK = [
    ("substation", {"name": "head", "bustype": "SWING", "phases": "ABCN", "nominal_voltage": "7200",
                    "positive_sequence_voltage": "7200", "base_power": "1 MVA"}),
    ("overhead_line", {"name": "ol1", "phases": "ABCN", "from": "head", "to": "n1", "length": "2000 ft",
                       "configuration": "olcfg"}),
    ("node", {"name": "n1", "phases": "ABCN", "nominal_voltage": "7200"}),
    ("regulator", {"name": "reg1", "phases": "ABC", "from": "n1", "to": "n2", "configuration": "regcfg"}),
    ("node", {"name": "n2", "phases": "ABCN", "nominal_voltage": "7200"}),
    # closes on low voltage before the regulator has raised it: three switchings
    ("capacitor", {"name": "cap1", "parent": "n2", "phases": "ABCN", "phases_connected": "ABCN",
                   "nominal_voltage": "7200", "capacitor_A": "0.1 MVAr", "capacitor_B": "0.1 MVAr",
                   "capacitor_C": "0.1 MVAr", "switchA": "OPEN", "switchB": "OPEN", "switchC": "OPEN",
                   "control": "VOLT", "voltage_set_low": "7300", "voltage_set_high": "7700", "pt_phase": "ABC",
                   "control_level": "INDIVIDUAL", "time_delay": "60", "dwell_time": "60"}),
    ("load", {"name": "comm_load", "parent": "n2", "phases": "ABCN", "nominal_voltage": "7200",
              "constant_power_A": "20000+5000j", "constant_power_B": "20000+5000j",
              "constant_power_C": "20000+5000j"}),
    ("transformer", {"name": "xf1", "phases": "AS", "from": "n2", "to": "tn1", "configuration": "ctcfg"}),
    ("triplex_node", {"name": "tn1", "phases": "AS", "nominal_voltage": "120"}),
    ("triplex_line", {"name": "tl1", "phases": "AS", "from": "tn1", "to": "tm_outer", "length": "100 ft",
                      "configuration": "tlcfg"}),
    ("triplex_meter", {"name": "tm_outer", "phases": "AS", "nominal_voltage": "120", "bill_mode": "UNIFORM",
                       "price": "0.11", "monthly_fee": "0"}),
    ("triplex_load", {"name": "ld_outer", "parent": "tm_outer", "phases": "AS", "nominal_voltage": "120",
                      "constant_power_12": "3000+500j"}),
    ("triplex_meter", {"name": "tm_inner", "parent": "tm_outer", "phases": "AS", "nominal_voltage": "120",
                       "bill_mode": "UNIFORM", "price": "0.11", "monthly_fee": "0"}),
    ("triplex_load", {"name": "ld_inner", "parent": "tm_inner", "phases": "AS", "nominal_voltage": "120",
                      "constant_power_12": "5000+1000j"}),
    ("triplex_line", {"name": "tl2", "phases": "AS", "from": "tn1", "to": "tm_other", "length": "150 ft",
                      "configuration": "tlcfg"}),
    ("triplex_meter", {"name": "tm_other", "phases": "AS", "nominal_voltage": "120", "bill_mode": "UNIFORM",
                       "price": "0.11", "monthly_fee": "0"}),
    ("triplex_load", {"name": "ld_other", "parent": "tm_other", "phases": "AS", "nominal_voltage": "120",
                      "constant_power_12": "4000+800j"}),
    ("recorder", {"name": "heartbeat", "parent": "head", "property": "voltage_A", "interval": "60",
                  "file": "/dev/null"}),
]

#: GridLAB-D's own metrics for the batch reference (file names <class>_NEST_metrics.json)
_COLLECTORS = [
    ("metrics_collector", {"parent": "head", "interval": "300"}),
    ("metrics_collector", {"parent": "cap1", "interval": "300"}),
    ("metrics_collector", {"parent": "reg1", "interval": "300"}),
    ("metrics_collector", {"parent": "tm_outer", "interval": "300"}),
    ("metrics_collector", {"parent": "tm_inner", "interval": "300"}),
    ("metrics_collector_writer", {"interval": "300", "filename": "NEST_metrics.json"}),
]


def _glm(objects) -> str:
    """Block-syntax GLM (one property per line, the form read_glm_objects parses), one hour at 60 s."""
    out = ["#set relax_naming_rules=1", "#set minimum_timestep=60",
           "clock {\n  timezone PST+8PDT;\n  starttime '2013-07-01 00:00:00';\n  stoptime '2013-07-01 01:00:00';\n}",
           "module powerflow {\n  solver_method NR;\n  NR_iteration_limit 50;\n}", "module tape;"]
    for cls, props in objects:
        out.append(f"object {cls} {{\n" + "".join(f"  {k} {v};\n" for k, v in props.items()) + "}")
    return "\n".join(out) + "\n"


def _inventory(glm: Path) -> FeederInventory:
    """What discovery knows of the test feeder: head, billing meters, devices and links by class, nesting."""
    objects = read_glm_objects(glm)
    meters = [n for n, o in objects.items() if o["class"] == "triplex_meter"]
    inv = FeederInventory(substation="head", billing_meters=meters, capacitors=["cap1"], regulators=["reg1"])
    for name, obj in objects.items():
        if obj["class"] in LOSS_CLASSES:
            inv.links.setdefault(obj["class"], []).append(name)
    inv.meter_upstream = upstream_billing_meters(objects, meters, "head")
    return inv


def _rows(path: Path) -> dict[int, dict]:
    doc = json.loads(path.read_text())
    return {int(k): v for k, v in doc.items() if k not in ("StartTime", "Metadata")}


def _col(columns, name: str) -> int:
    return [n for n, _ in columns].index(name)


@pytest.mark.slow
def test_losses_are_the_links_power_losses_as_gridlabd_collects_them(tmp_path):
    # GIVEN the feeder run by GridLAB-D in batch with its own metrics collectors (the reference) ...
    ref = tmp_path / "batch"
    ref.mkdir()
    (ref / "nest.glm").write_text(_glm(_LIBRARY + _NETWORK + _COLLECTORS))
    subprocess.run([sys.executable, "-c", "import gridlabd,sys; g=gridlabd.GridLabD(); "
                    "assert g.load_glm(sys.argv[1])==0; assert g.run()==0; g.finalize()", "nest.glm"],
                   cwd=ref, check=True, timeout=300)
    gld_sub = _rows(ref / "substation_NEST_metrics.json")
    gld_meter = _rows(ref / "billing_meter_NEST_metrics.json")
    gld_cap = _rows(ref / "capacitor_NEST_metrics.json")
    gld_reg = _rows(ref / "regulator_NEST_metrics.json")
    # ... and the same feeder (no collectors) stepped every 60 s by the feeder core with our metrics
    run = tmp_path / "run"
    run.mkdir()
    glm = run / "nest.glm"
    glm.write_text(_glm(_LIBRARY + _NETWORK))
    inv = _inventory(glm)
    assert inv.meter_upstream == {"tm_inner": "tm_outer"}
    session = GridlabdSession(glm)
    session.open()
    metrics = build_metrics(inv)
    writers = make_writers(lambda p, c: MetricsWriter(run, p, "NEST", c, session.clock.start_label()), metrics)
    core = FeederCore(session, FeederConfig("gld_1", 60, [], []), object_class=object_class_map(inv.by_class()),
                      metrics=metrics, writers=writers, sample_every_s=60)
    try:
        core.start()
        for t in range(60, 3601, 60):
            core.step(t)
        direct = sum((link_losses(session.get_class(cls, "power_losses")) for cls in LOSS_CLASSES), 0j)
    finally:
        core.finish()
    ours = {p: _rows(run / f"{p}_NEST_metrics.json")
            for p in ("substation", "billing_meter", "house", "inverter", "capacitor", "regulator")}
    # WHEN the settled intervals are compared: GridLAB-D's writer labels a row one interval late (its first row is
    # uninitialised memory) and averages trapezoids from the interval's start; the taps have settled by 900 s
    settled = range(1200, 3601, 300)
    loss = [ours["substation"][t]["head"][_col(SUBSTATION_COLUMNS, "real_power_losses_avg")] for t in settled]
    qloss = [ours["substation"][t]["head"][_col(SUBSTATION_COLUMNS, "reactive_power_losses_avg")] for t in settled]
    head = [ours["substation"][t]["head"][_col(SUBSTATION_COLUMNS, "real_power_avg")] for t in settled]
    gld_index = {k: v["index"] for k, v in json.loads((ref / "substation_NEST_metrics.json").read_text())
                 ["Metadata"].items()}
    gld_loss = [gld_sub[t]["head"][gld_index["real_power_losses_avg"]] for t in settled]
    gld_qloss = [gld_sub[t]["head"][gld_index["reactive_power_losses_avg"]] for t in settled]
    # THEN the losses are GridLAB-D's swing-bus collector's (the links' own power_losses), about 163 W ...
    assert loss == pytest.approx(gld_loss, rel=1e-5)
    assert qloss == pytest.approx(gld_qloss, rel=1e-5)
    assert loss[-1] == pytest.approx(direct.real, rel=1e-6)
    assert 100 < loss[-1] < 300
    # ... not "head minus billing meters", which holds the 60 kW unmetered load
    # (the meters that are not nested in another billing meter carry everything metered, each load once)
    avg = {m: row[_col(BILLING_METER_COLUMNS, "real_power_avg")] for m, row in ours["billing_meter"][3600].items()}
    top_sum = sum(v for m, v in avg.items() if m not in inv.meter_upstream)
    assert head[-1] - top_sum == pytest.approx(UNMETERED_W + loss[-1], abs=2.0)
    # billing-meter rows are what GridLAB-D measures (its own collector's): the outer meter measures its nested one
    assert avg == pytest.approx({"tm_outer": OUTER_W + INNER_W, "tm_inner": INNER_W, "tm_other": OTHER_W}, rel=1e-6)
    assert gld_meter[3600]["tm_outer"][2] == pytest.approx(avg["tm_outer"], rel=1e-6)
    assert top_sum == pytest.approx(OUTER_W + INNER_W + OTHER_W, rel=1e-6)
    # capacitor and regulator operation counts are GridLAB-D's; the absent classes have empty rows at every time
    for t in settled:
        assert ours["capacitor"][t] == gld_cap[t] and ours["regulator"][t] == gld_reg[t]
    assert gld_cap[3600]["cap1"][0] > 0 and gld_reg[3600]["reg1"][0] > 0
    assert all(ours["house"][t] == {} and ours["inverter"][t] == {} for t in range(300, 3601, 300))
    assert sorted(ours["capacitor"]) == list(range(300, 3601, 300))


def test_generated_feeder_inventory_lists_every_link_of_its_glm():
    # GIVEN a generated TE30-style feeder (with batteries and water heaters)
    gen = generate_feeder(FeederSpec(houses=5, battery_fraction=0.4, water_heater_fraction=0.4))
    # WHEN its GLM's link objects are listed by class
    in_glm: dict[str, list[str]] = {}
    cls = None
    for line in gen.glm.splitlines():
        words = line.split()
        if words[:1] == ["object"]:
            cls = words[1].split(":")[0]
        elif words[:1] == ["name"] and cls in LOSS_CLASSES:
            in_glm.setdefault(cls, []).append(words[1].rstrip(";"))
    # THEN the inventory's links are exactly those, so the losses are read from classes the model has
    assert {k: sorted(v) for k, v in gen.inventory.links.items()} == {k: sorted(v) for k, v in in_glm.items()}
    assert set(gen.inventory.links) == {"overhead_line", "transformer", "triplex_line"}
    metrics = build_metrics(gen.inventory)
    assert [c for c, p in metrics.reads() if p == "power_losses"] == ["overhead_line", "triplex_line", "transformer"]


def test_nearest_upstream_billing_meter_follows_parents_and_links_in_either_direction():
    # GIVEN a head, a line written *to* the head, a node, meter a on it; b under a through a triplex line and a
    # triplex node; c the child of b; d on its own branch; e on an island the head does not reach
    objects = {
        "head": {"class": "substation"},
        "l1": {"class": "overhead_line", "from": "n1", "to": "head"},
        "n1": {"class": "node"},
        "x1": {"class": "transformer", "from": "n1", "to": "a"},
        "a": {"class": "triplex_meter"},
        "l2": {"class": "triplex_line", "from": "a", "to": "tn"},
        "tn": {"class": "triplex_node"},
        "l3": {"class": "triplex_line", "from": "tn", "to": "b"},
        "b": {"class": "triplex_meter"},
        "c": {"class": "triplex_meter", "parent": "b"},
        "h": {"class": "house", "parent": "c"},
        "x2": {"class": "transformer", "from": "n1", "to": "d"},
        "d": {"class": "meter"},
        "l4": {"class": "overhead_line", "from": "i1", "to": "e"},
        "e": {"class": "triplex_meter"},
    }
    # WHEN the nesting is computed for the billing meters
    nested = upstream_billing_meters(objects, ["a", "b", "c", "d", "e"], "head")
    # THEN each nested meter maps to its nearest billing meter towards the head; top meters and islands are absent
    assert nested == {"b": "a", "c": "b"}
    assert upstream_billing_meters(objects, ["a"], "nowhere") == {}


def test_inventory_without_links_reads_every_loss_class_and_regulators_join_known_links():
    old = FeederInventory(regulators=["reg1"])          # an inventory file written before ``links`` existed
    reads = [c for c, p in build_metrics(old).reads() if p == "power_losses"]
    assert reads == list(LOSS_CLASSES)
    known = FeederInventory(regulators=["reg1"], links={"overhead_line": ["ol1"]})
    assert [c for c, p in build_metrics(known).reads() if p == "power_losses"] == ["overhead_line", "regulator"]
