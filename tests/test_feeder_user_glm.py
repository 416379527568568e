"""``feeder.glm``: the user's own GridLAB-D model in a case (wrapper, discovery, skipped modules, SWING head).

Runs the real PyPI GridLAB-D on our IEEE 13-node feeder (tests/data/ieee13) and on small GLMs written here.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from vppfed.configs.case import build_case
from vppfed.configs.glm_discovery import prepare_user_feeder
from vppfed.configs.glm_wrapper import filter_modules, wrapper_text
from vppfed.errors import UserError
from vppfed.federates.feeder.core import FeederCore, FeederConfig, Point, SwingHead
from vppfed.federates.feeder.session import GridlabdSession, load_error_line
from vppfed.formats.gld_strings import parse_complex

IEEE13 = Path(__file__).parent / "data" / "ieee13"
CLOCK = "clock { timezone EST+5EDT; starttime '2013-07-01 00:00:00'; stoptime '2013-07-01 01:00:00'; }\n"

#: a SWING meter feeding a constant-power load through one line (the head power must equal the meter's power)
SMALL_FEEDER = CLOCK + """module powerflow { solver_method NR; }
object overhead_line_conductor { name cond; geometric_mean_radius 0.0244; resistance 0.306; }
object line_spacing { name spacing; distance_AB 2.5; distance_BC 4.5; distance_AC 7.0; distance_AN 5.656854;
  distance_BN 4.272002; distance_CN 5.0; }
object line_configuration { name lcfg; conductor_A cond; conductor_B cond; conductor_C cond; conductor_N cond;
  spacing spacing; }
object meter { name head; phases ABCN; bustype SWING; nominal_voltage 7200; }
object overhead_line { name line1; phases ABCN; from head; to n2; length 2000 ft; configuration lcfg; }
object node { name n2; phases ABCN; nominal_voltage 7200; }
object load { name load2; parent n2; phases ABCN; nominal_voltage 7200;
  constant_power_A 300000+100000j; constant_power_B 250000+80000j; constant_power_C 200000+50000j; }
"""


def _prepare(glm: Path, out: Path, **kw):
    args = dict(defines={}, env={}, timezone="EST+5EDT", start="2013-07-01 00:00:00", stop="2013-07-01 01:00:00",
                step_s=60, minimum_timestep_s=None, fed_name="gld_7", bulk_bus=7, where="case.yaml: feeder")
    args.update(kw)
    out.mkdir(parents=True, exist_ok=True)
    return prepare_user_feeder(glm, out, "mine", **args)


def _ieee13_defines() -> dict[str, str]:
    return {"IEEE13_DIR": str(IEEE13), "METRICS_FILE": "user_metrics.json"}


# --------------------------------------------------------------------------------------------- text (no GridLAB-D)
def test_filter_modules_keeps_line_numbers_and_points_includes_at_copies(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "inc.glm").write_text("// included\nmodule market {\n  x 1;\n}\nmodule powerflow;\n")
    main = user / "main.glm"
    main.write_text('clock { }\n#include "inc.glm"\nmodule tape;\n')
    out = tmp_path / "case"
    out.mkdir()
    result = filter_modules(main, out, "c_", variables={}, search=[out, user], have={"powerflow", "tape"})
    assert [(s.module, s.file.name, s.line) for s in result.skipped] == [("market", "inc.glm", 2)]
    assert result.include == "c_main.glm", "the main file includes a filtered file: it is copied too"
    inc_copy = (out / "c_inc.glm").read_text().splitlines()
    assert len(inc_copy) == 5 and inc_copy[1].startswith("//") and inc_copy[3].startswith("//")
    assert inc_copy[4] == "module powerflow;"
    assert (out / "c_main.glm").read_text().splitlines()[1] == '#include "c_inc.glm"'
    assert main.read_text() == 'clock { }\n#include "inc.glm"\nmodule tape;\n', "the user's file is never edited"


def test_nothing_to_skip_includes_the_users_file_itself(tmp_path):
    main = tmp_path / "m.glm"
    main.write_text("module powerflow;\n")
    result = filter_modules(main, tmp_path, "c_", variables={}, search=[tmp_path], have={"powerflow"})
    assert result.include == str(main) and not result.skipped and not list(tmp_path.glob("c_*"))


def test_wrapper_puts_the_clock_and_heartbeat_after_the_model():
    text = wrapper_text(model="/u/m.glm", source=Path("/u/m.glm"), env={"TESPDIR": "/t"}, defines={"X": "1"},
                        timezone="PST+8PDT", start="2013-07-01 00:00:00", stop="2013-07-01 02:00:00",
                        heartbeat=("cosim_heartbeat", "n1", 15))
    lines = text.splitlines()
    include = lines.index('#include "/u/m.glm"')
    assert lines.index("#setenv TESPDIR=/t") < include and lines.index("#define X=1") < include
    assert lines.index("clock {") > include
    assert any("object recorder { name cosim_heartbeat; parent n1; property voltage_A; interval 15;" in ln
               for ln in lines[include:])


def test_load_error_line_is_gridlabds_own_message():
    stderr = ("/tmp/x/bad.glm(5): expected ';' at end of property specification\n"
              "/tmp/x/bad.glm(3): load failed at or near 'object node ...'\n"
              "ERROR    [INIT] : unable to load '/tmp/x/bad.glm': No such file or directory\n")
    assert load_error_line(stderr) == "bad.glm(5): expected ';' at end of property specification"


def test_swing_head_scales_the_bulk_voltage_per_phase():
    head = SwingHead(name="n650", links=("reg650",), nominal_v=2401.7771, phases="ABC", voltage_base_v=132790.6)
    volts = head.phase_voltages(1.02 * 132790.6)
    assert abs(abs(volts["voltage_A"]) - 1.02 * 2401.7771) < 1e-6
    assert abs(math.degrees(__import__("cmath").phase(volts["voltage_B"])) + 120) < 1e-9
    assert set(SwingHead(name="h", links=(), nominal_v=1.0, phases="B", voltage_base_v=1.0).phase_voltages(1.0)) \
        == {"voltage_B"}


# ------------------------------------------------------------------------------------ with the real GridLAB-D
def test_ieee13_discovery_finds_devices_head_and_nesting(tmp_path):
    before = sorted((p.name, p.stat().st_mtime_ns) for p in IEEE13.iterdir())
    user = _prepare(IEEE13 / "ieee13.glm", tmp_path / "case", defines=_ieee13_defines())
    inv = user.inventory
    assert (inv.head_kind, inv.substation, inv.head_links) == ("swing", "n650", ["reg650"])
    assert inv.head_nominal_v == pytest.approx(2401.7771) and inv.head_phases == "ABC"
    assert sorted(inv.houses) == ["house_1", "house_2", "house_3", "house_4"]
    assert inv.house_meter["house_1"] == "res_meter_1"
    assert inv.meter_upstream["res_meter_1"] == "res_service"
    assert sorted(inv.pv_inverters) == ["pv_inv_1", "pv_inv_3"] and inv.battery_inverters == ["bat_inv_2"]
    assert inv.device_house["wh_2"] == "house_2" and inv.device_house["bat_2"] == "house_2"
    assert sorted(inv.capacitors) == ["cap611", "cap675"] and inv.regulators == ["reg650"]
    assert "underground_line" in inv.links and "reg650" in inv.links["regulator"]
    case = tmp_path / "case"
    wrapper = (case / "mine.glm").read_text()
    assert f'#include "{IEEE13 / "ieee13.glm"}"' in wrapper and "parent n650" in wrapper
    link = case / "ieee13_commercial_load.player"
    assert link.is_symlink() and link.resolve() == (IEEE13 / "ieee13_commercial_load.player").resolve()
    glm_dict = json.loads((case / "mine_glm_dict.json").read_text())
    assert glm_dict["houses"]["house_2"]["wh_gallons"] > 0
    assert glm_dict["inverters"]["bat_inv_2"]["resource"] == "battery"
    assert json.loads((case / "mine_inventory.json").read_text())["head_kind"] == "swing"
    assert sorted((p.name, p.stat().st_mtime_ns) for p in IEEE13.iterdir()) == before, "the user's folder is untouched"


def test_a_missing_module_without_objects_is_skipped_with_a_warning(tmp_path, caplog):
    user = tmp_path / "user"
    user.mkdir()
    (user / "m.glm").write_text(CLOCK + "module market;\n" + SMALL_FEEDER.replace(CLOCK, ""))
    with caplog.at_level(logging.WARNING):
        found = _prepare(user / "m.glm", tmp_path / "case")
    assert [(s.module, s.where()) for s in found.skipped] == [("market", "m.glm:2")]
    assert any("m.glm:2" in r.getMessage() and "'market'" in r.getMessage() for r in caplog.records)
    assert found.inventory.substation == "head"


def test_a_missing_module_whose_objects_are_used_is_one_error(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "m.glm").write_text(CLOCK + "module market;\nobject auction { name Market_1; period 300; }\n")
    with pytest.raises(UserError) as info:
        _prepare(user / "m.glm", tmp_path / "case")
    text = str(info.value)
    assert "\n" not in text and "m.glm(3)" in text and "'auction'" in text and "'market' (m.glm:2)" in text


def test_a_glm_that_does_not_parse_gives_gridlabds_line(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "bad.glm").write_text(CLOCK + "module powerflow;\nobject node {\n  name n1\n  phases ABCN;\n}\n")
    with pytest.raises(UserError) as info:
        _prepare(user / "bad.glm", tmp_path / "case")
    # GridLAB-D names the line where it noticed the missing ';' (the next property)
    assert str(info.value) == "case.yaml: feeder.glm: bad.glm(5): expected ';' at end of property specification"


def test_a_metrics_writer_on_vppfeds_own_metrics_names_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"metrics_collector_writer .* writes 'mine_metrics.json'"):
        _prepare(IEEE13 / "ieee13.glm", tmp_path / "case",
                 defines={"IEEE13_DIR": str(IEEE13), "METRICS_FILE": "mine_metrics.json"})


def test_generation_only_fields_with_glm_are_errors(tmp_path):
    (tmp_path / "m.glm").write_text(SMALL_FEEDER)
    raw = {"case": {"name": "mine", "hours": 1}, "feeder": {"glm": "m.glm", "bus": 7, "houses": 5},
           "bulk": {"model": "te30", "bus": 7}}
    yaml = tmp_path / "case.yaml"
    yaml.write_text(json.dumps(raw))
    with pytest.raises(UserError, match=r"case.yaml: feeder.houses: only shapes a generated feeder"):
        build_case(yaml, tmp_path / "out")


def test_three_line_case_wires_the_swing_head(tmp_path):
    (tmp_path / "m.glm").write_text(SMALL_FEEDER)
    yaml = tmp_path / "case.yaml"
    yaml.write_text("case: {name: mine, hours: 1}\nfeeder: {glm: m.glm, bus: 7}\nbulk: {model: te30, bus: 7}\n")
    built = build_case(yaml, tmp_path / "out")
    gld = json.loads((built.directory / "mine_gridlabd.json").read_text())
    pubs = {p["key"]: p["info"] for p in gld["publications"]}
    assert pubs["distribution_load"] == {"object": "head", "property": "distribution_load"}
    subs = {s["key"]: s["info"] for s in gld["subscriptions"]}
    assert subs["pypower/three_phase_voltage_7"] == {"object": "head", "property": "positive_sequence_voltage"}
    runner = json.loads(built.runner.read_text())
    cmd = next(f["exec"] for f in runner["federates"] if f["name"] == "gld_7")
    # te30 bus 7 is a 230 kV bus: 1 pu = 230 kV / sqrt(3) line-to-neutral
    assert f"--head-voltage-base {1000 * 230 / math.sqrt(3):.6g}" in cmd and f"--glpath {tmp_path}" in cmd


def test_swing_head_power_equals_the_swing_meters_power_and_voltage_is_applied(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "m.glm").write_text(SMALL_FEEDER)
    found = _prepare(user / "m.glm", tmp_path / "case")
    head = SwingHead.from_inventory(found.inventory, voltage_base_v=100_000.0)
    config = FeederConfig(name="gld_7", period=60, publications=[Point("distribution_load", "head",
                                                                       "distribution_load", "complex")],
                          subscriptions=[Point("pypower/three_phase_voltage_7", "head", "positive_sequence_voltage",
                                               "complex")])
    session = GridlabdSession(tmp_path / "case" / "mine.glm", env={"GLPATH": found.glpath})
    core = FeederCore(session, config, head=head, only_changed=False)
    try:
        core.start()
        core.set_input("pypower/three_phase_voltage_7", 98_000.0)
        out = core.step(60)
        measured = parse_complex(session.get("head", "measured_power"))
        assert out["distribution_load"] == pytest.approx(measured, rel=1e-9)
        assert out["distribution_load"].real == pytest.approx(750e3, rel=0.02)   # the load plus line losses
        assert abs(parse_complex(session.get("head", "voltage_A"))) == pytest.approx(0.98 * 7200, rel=1e-6)
    finally:
        core.finish()


@pytest.mark.slow
def test_ieee13_case_runs_end_to_end_with_the_te30_bulk_grid(tmp_path):
    from vppfed.cli import main
    from vppfed.formats.metrics import load_if_present

    yaml = tmp_path / "case.yaml"
    yaml.write_text(json.dumps({
        "case": {"name": "ieee13", "hours": 1},
        "feeder": {"glm": str(IEEE13 / "ieee13.glm"), "bus": 7, "defines": _ieee13_defines()},
        "bulk": {"model": "te30", "bus": 7}}))
    out = tmp_path / "run"
    assert main(["run", str(yaml), "--out", str(out), "--no-progress"]) == 0
    sub = load_if_present(out, "substation")
    assert sub is not None and sub.uids == ["n650"]
    kw = sub.column("real_power_avg")[:, 0] / 1000
    assert ((kw > 2000) & (kw < 6000)).all(), kw      # IEEE 13-node: about 3.6 MW
    bus = load_if_present(out, "bus")
    assert bus is not None
    # distribution_load crossed: bus 7's load rose from its background alone (t = 0, before the feeder's first
    # value) by the feeder's load times the DSO scale (the background drifts by well under half of that in an hour)
    scale = float(json.loads((out / "te30_pp.json").read_text())["DSO"][0][2])
    pd_mw = bus.column("PD")[:, 0]
    assert list(bus.times[:2]) == [0, 300] and list(sub.times[:1]) == [300]
    added = scale * kw / 1000
    assert ((pd_mw[1:len(kw) + 1] - pd_mw[0]) > 0.5 * added).all(), (pd_mw, added)
    house = load_if_present(out, "house")
    assert house is not None and len(house.uids) == 4
    own = json.loads((out / "substation_user_metrics.json").read_text())   # the model's metrics_collector_writer
    assert any(k not in ("Metadata", "StartTime") for k in own), "the model's own metrics hold rows"
    for name in ("ieee13_weather.csv", "ieee13_regulator_taps.csv", "ieee13_multi.csv"):
        assert (out / name).stat().st_size > 0 and not (out / name).is_symlink(), name
    assert not (IEEE13 / "ieee13_weather.csv").exists(), "recorders write into the run folder, not the model's"


def test_runtime_discovery_without_an_inventory_file_finds_the_swing_head(tmp_path):
    from vppfed.federates.feeder.discover import load_inventory

    (tmp_path / "m.glm").write_text(SMALL_FEEDER)
    with GridlabdSession(tmp_path / "m.glm", timezone="EST+5EDT") as session:
        inv = load_inventory(tmp_path / "absent_inventory.json", session)
    assert (inv.substation, inv.head_kind, inv.head_links) == ("head", "swing", ["line1"])
    assert not (tmp_path / "_checkpoint.json").exists(), "discovery leaves no checkpoint file in the run folder"


def _ieee13_case(tmp_path: Path, extra: dict) -> Path:
    yaml = tmp_path / "case.yaml"
    raw = {"case": {"name": "c13", "hours": 2, "start": "2013-07-01 16:00:00", "timezone": "EST+5EDT"},
           "feeder": {"glm": str(IEEE13 / "ieee13.glm"), "bus": 7, "defines": _ieee13_defines()},
           "bulk": {"model": "te30", "bus": 7}, **extra}
    yaml.write_text(json.dumps(raw))
    return yaml


def test_vpp_section_finds_the_users_battery_and_water_heater(tmp_path):
    yaml = _ieee13_case(tmp_path, {"vpp": {
        "devices": {"battery_inverters": {"soc_min": 0.2, "soc_max": 0.9},
                    "water_heaters": {"boost_min": 15, "deadline_h": [1, 2]}},
        "signal_input": {"target": "feeder", "type": "complex", "part": "real", "scale": -0.001, "offset": 3700.0},
        "hosts": 1, "step_s": 60}})
    built = build_case(yaml, tmp_path / "out")
    devices = (built.directory / "vpp_devices.json").read_text()
    assert "bat_inv_2" in devices and "wh_2" in devices
    gld = json.loads((built.directory / "c13_gridlabd.json").read_text())
    assert any(s["info"] == {"object": "bat_inv_2", "property": "P_Out"} for s in gld["subscriptions"])


def test_cohda_on_a_user_glm_names_the_devices_it_lacks(tmp_path):
    yaml = _ieee13_case(tmp_path, {"cohda": {"devices": ["battery_inverters", "ev_chargers"], "schedules": 4,
                                             "interval_s": 900, "target": "flat"}})
    with pytest.raises(UserError, match=r"cohda.devices.ev_chargers: ieee13.glm has no EV chargers"):
        build_case(yaml, tmp_path / "out")


def test_vpp_on_a_user_glm_names_the_devices_it_lacks(tmp_path):
    yaml = _ieee13_case(tmp_path, {"vpp": {"devices": {"ev_chargers": {}}, "hosts": 1, "step_s": 60,
                                           "signal_input": {"target": "feeder", "type": "complex", "part": "real"}}})
    with pytest.raises(UserError, match=r"vpp.devices.ev_chargers: ieee13.glm has no ev chargers"):
        build_case(yaml, tmp_path / "out")


def test_a_recorder_writing_onto_a_linked_input_is_refused(tmp_path):
    from vppfed.configs.glm_wrapper import link_inputs

    user = tmp_path / "user"
    user.mkdir()
    (user / "load.player").write_text("2013-07-01 00:00:00,1\n")
    case = tmp_path / "case"
    case.mkdir()
    objects = {"p1": {"class": "player", "file": "load.player"}, "r1": {"class": "recorder", "file": "load.player"}}
    with pytest.raises(UserError, match=r"recorder r1 writes 'load.player'"):
        link_inputs(objects, case, [user], "feeder.glm")
    assert (user / "load.player").read_text() == "2013-07-01 00:00:00,1\n"


def test_env_relative_to_the_yaml_and_a_given_weather_file(tmp_path):
    import shutil

    from vppfed.configs.weather import WeatherSpec, write_weather

    model = tmp_path / "model"
    shutil.copytree(IEEE13, model)
    write_weather(WeatherSpec(start="2013-07-01 00:00:00", hours=2, timezone="EST+5EDT", seed=3), tmp_path / "w.dat")
    yaml = tmp_path / "case.yaml"
    yaml.write_text(json.dumps({
        "case": {"name": "c13", "hours": 1, "timezone": "EST+5EDT"},
        "feeder": {"glm": "model/ieee13.glm", "bus": 7, "env": {"IEEE13_DIR": "model"},
                   "defines": {"METRICS_FILE": "user_metrics.json"}, "weather_file": "w.dat"},
        "bulk": {"model": "te30", "bus": 7}}))
    built = build_case(yaml, tmp_path / "out")
    assert f"#setenv IEEE13_DIR={model}" in (built.directory / "c13.glm").read_text()
    assert (built.directory / "weather.dat").read_text() == (tmp_path / "w.dat").read_text()
    runner = json.loads(built.runner.read_text())
    assert "--weather weather.dat" in next(f["exec"] for f in runner["federates"] if f["name"] == "gld_7")


def test_a_users_substation_head_gets_the_bulk_voltage_in_its_own_nominal_terms(tmp_path):
    """A substation at 7.2 kV under a 230 kV bulk bus: 1.02 pu must arrive as 1.02 x 7200 V, not as 135 kV."""
    from vppfed.federates.feeder.core import SubstationScale

    glm = SMALL_FEEDER.replace("object meter { name head; phases ABCN; bustype SWING; nominal_voltage 7200; }",
                               "object substation { name head; phases ABCN; bustype SWING; nominal_voltage 7200; "
                               "positive_sequence_voltage 7200; base_power 1 MVA; reference_phase PHASE_A; }")
    user = tmp_path / "user"
    user.mkdir()
    (user / "m.glm").write_text(glm)
    found = _prepare(user / "m.glm", tmp_path / "case")
    assert found.inventory.head_kind == "substation"
    base = 1000 * 230 / math.sqrt(3)
    scale = SubstationScale.from_inventory(found.inventory, base)
    config = FeederConfig(name="gld_7", period=60, publications=[], subscriptions=[
        Point("pypower/three_phase_voltage_7", "head", "positive_sequence_voltage", "complex")])
    session = GridlabdSession(tmp_path / "case" / "mine.glm", env={"GLPATH": found.glpath})
    core = FeederCore(session, config, substation_scale=scale)
    try:
        core.start()
        core.set_input("pypower/three_phase_voltage_7", complex(1.02 * base, 0))
        core.step(60)
        assert abs(parse_complex(session.get("head", "positive_sequence_voltage"))) == pytest.approx(1.02 * 7200)
        assert abs(parse_complex(session.get("head", "voltage_A"))) == pytest.approx(1.02 * 7200, rel=1e-3)
    finally:
        core.finish()


def test_a_relative_case_folder_with_a_filtered_copy_is_discovered(tmp_path, monkeypatch):
    """The filtered copy is found while discovering (the probe loads from a scratch folder) and at run time."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "m.glm").write_text(CLOCK + "module market;\n" + SMALL_FEEDER.replace(CLOCK, ""))
    monkeypatch.chdir(tmp_path)
    found = _prepare(Path("model/m.glm"), Path("case"))
    assert found.inventory.substation == "head"
    assert '#include "mine_user_m.glm"' in (tmp_path / "case" / "mine.glm").read_text()
    assert (tmp_path / "case" / "mine_user_m.glm").read_text().splitlines()[1].startswith("// vppfed: skipped")


def test_the_bulk_scale_follows_the_users_feeder_size(tmp_path):
    """SMALL_FEEDER draws about 750 kW: x 250 (the generated feeder's scale) would be 190 MW at te30 bus 7."""
    (tmp_path / "m.glm").write_text(SMALL_FEEDER)
    yaml = tmp_path / "case.yaml"
    yaml.write_text("case: {name: mine, hours: 1}\nfeeder: {glm: m.glm, bus: 7}\nbulk: {model: te30, bus: 7}\n")
    built = build_case(yaml, tmp_path / "out")
    dso = json.loads((built.directory / "te30_pp.json").read_text())["DSO"][0]
    assert 25000 / 800 < float(dso[2]) < 25000 / 700, dso
    yaml.write_text("case: {name: mine, hours: 1}\nfeeder: {glm: m.glm, bus: 7}\nbulk: {model: te30, bus: 7, "
                    "scale: 3}\n")
    built = build_case(yaml, tmp_path / "out")
    assert float(json.loads((built.directory / "te30_pp.json").read_text())["DSO"][0][2]) == 3


def test_a_model_written_for_another_time_zone_is_said(tmp_path, caplog):
    import logging
    from types import SimpleNamespace

    from vppfed.configs.sections.feeder import _warn_on_another_time_zone

    glm = tmp_path / "m.glm"
    glm.write_text("clock {\n  timezone EST+5EDT;\n  starttime '2013-07-01 00:00:00';\n}\n")
    ctx = SimpleNamespace(raw={"case": {"name": "x"}}, settings=SimpleNamespace(timezone="PST+8PDT"))
    with caplog.at_level(logging.WARNING):
        _warn_on_another_time_zone(ctx, glm, "case.yaml: feeder")
    assert "clock is in EST+5EDT; the case runs it in PST+8PDT" in caplog.text
    caplog.clear()
    ctx.raw["case"]["timezone"] = "PST+8PDT"   # the case chose its zone: nothing to say
    with caplog.at_level(logging.WARNING):
        _warn_on_another_time_zone(ctx, glm, "case.yaml: feeder")
    assert caplog.text == ""
