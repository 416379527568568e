"""``bulk.tesp_json``: a TESP PYPOWER case JSON read as TESP's ``tso_pypower_loop`` reads it, used as given.

The JSON here is ours, written in TESP's layout (a 5-bus grid numbered 1, 2, 3, 7, 8; a dispatchable-load ``gen`` row
at the DSO bus; a CR-ended non-GridLAB-D load CSV whose first column is the DSO bus; outages of a unit and a branch).
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml

from vppfed.configs.case import build_case
from vppfed.errors import UserError
from vppfed.federates.bulk.core import BulkGrid, BulkOptions
from vppfed.federates.bulk.tesp_case import load_tesp_case

DT, PERIOD = 15, 300
#: non-GridLAB-D load, MW: columns bus 7 (the DSO bus), bus 3, bus 8, one row per Period, looped
CSV_ROWS = [[70.0, 50.0, 30.0], [75.0, 55.0, 35.0], [80.0, 60.0, 40.0], [72.0, 52.0, 32.0]]
UNIT_OUT = (0, 600, 1200)  # the cheap unit at bus 1 is out for 600 s <= t <= 1200 s


def _bus(n: int, kind: int, pd: float, qd: float) -> list[float]:
    return [n, kind, pd, qd, 0, 0, 1, 1.0, 0, 230.0, 1, 1.1, 0.9]


def _gen(bus: int, pmax: float, pmin: float) -> list[float]:
    return [bus, 0, 0, 300 if pmax > 0 else 0, -300 if pmax > 0 else 0, 1.0, 100, 1, pmax, pmin] + [0] * 11


def _branch(f: int, t: int, r: float, x: float, b: float) -> list[float]:
    return [f, t, r, x, b, 300, 300, 300, 0, 0, 1, -360, 360]


def tesp_doc(csv_name: str | None = "NonGLDLoad.txt", scale: float = 250.0) -> dict:
    """A TESP-layout case: the last gen row is the DSO bus's dispatchable load, the DSO row carries TESP's
    unresponsive-load slot as a string, outages are 0-based rows."""
    doc = {
        "version": "2", "baseMVA": 100.0,
        "bus": [_bus(1, 3, 0, 0), _bus(2, 2, 0, 0), _bus(3, 1, 60, 20), _bus(7, 1, 80, 25), _bus(8, 1, 40, 10)],
        "gen": [_gen(1, 180, 10), _gen(2, 150, 0), _gen(8, 100, 0), _gen(7, 0, -50)],
        "branch": [_branch(1, 3, 0.01, 0.06, 0.02), _branch(3, 7, 0.012, 0.08, 0.03), _branch(7, 8, 0.01, 0.07, 0.02),
                   _branch(8, 2, 0.0, 0.06, 0.0), _branch(2, 3, 0.015, 0.09, 0.03)],
        "areas": [[1, 1]],
        "gencost": [[2, 100, 0, 3, 0.01, 10.0, 50], [2, 200, 0, 3, 0.05, 20.0, 80], [2, 300, 0, 3, 1.0, 80.0, 200],
                    [2, 0, 0, 3, 0, 0, 0]],
        "DSO": [[7, "SUBSTATION7", scale, "0.0"]],
        "UnitsOut": [list(UNIT_OUT)], "BranchesOut": [[4, 0, 300]],
        "StartTime": "2013-07-01 00:00:00", "Tmax": 7200, "Period": PERIOD, "dt": DT,
        "opf_dc": 1, "pf_dc": 0,
    }
    if csv_name:
        doc["CSVFile"] = csv_name
    return doc


def write_case(folder: Path, doc: dict | None = None, csv_text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grid_pp.json").write_text(json.dumps(doc or tesp_doc(), indent=1))
    if csv_text is None:
        csv_text = "\r".join(",".join(f"{v:g}" for v in row) for row in CSV_ROWS)  # TESP's CR line ends
    (folder / "NonGLDLoad.txt").write_bytes(csv_text.encode())
    return folder / "grid_pp.json"


def tesp_options() -> BulkOptions:
    """TESP's dispatch: the slack takes the imbalance, the DC OPF ignores losses, every solve done."""
    return BulkOptions(slack_sharing=False, loss_compensation=False, pf_tol_mw=0.0, opf_tol_mw=0.0)


# ------------------------------------------------------------------------------------------------ reading
def test_reader_takes_the_dispatchable_load_row_csv_order_and_inclusive_outage_windows(tmp_path):
    case = load_tesp_case(write_case(tmp_path))
    # GIVEN the dispatchable-load row at the DSO bus THEN it becomes the bus's market slot, not a unit
    assert case.gen.shape[0] == 3 and case.gencost.shape[0] == 3
    assert list(case.gen[:, 0]) == [1, 2, 8]
    assert [(d.bus, d.scale) for d in case.dso] == [(7, 250.0)]
    # THEN CSV column 0 is the DSO bus, the others the remaining loaded buses in bus order
    assert case.background.buses == [7, 3, 8]
    # THEN row k is in force from k·Period − dt (TESP reads row (t + dt) // Period), looped
    assert list(case.background.at(0)) == CSV_ROWS[0]
    assert list(case.background.at(PERIOD - DT - 1)) == CSV_ROWS[0]
    assert list(case.background.at(PERIOD - DT)) == CSV_ROWS[1]
    assert list(case.background.at(4 * PERIOD)) == CSV_ROWS[0]
    # THEN the outage includes both ends, as TESP tests row[1] <= t <= row[2]
    (out,) = case.units_out
    assert out.index == 0 and not out.active(UNIT_OUT[1] - 1) and out.active(UNIT_OUT[1])
    assert out.active(UNIT_OUT[2]) and not out.active(UNIT_OUT[2] + DT)
    assert case.branches_out[0].active(300) and not case.branches_out[0].active(315)
    assert (case.period, case.dt, case.tmax, case.opf_dc, case.pf_dc) == (300, 15, 7200, True, False)


def test_the_gen_metrics_keep_tesps_row_numbers(tmp_path):
    grid = BulkGrid(load_tesp_case(write_case(tmp_path)), tesp_options())
    grid.start()
    gens = grid.metrics("R")["gen"]
    assert list(gens) == ["1", "2", "3", "4"]  # row 4 is the dispatchable load, as in the file
    assert grid.model_dict()["generators"]["4"]["genfuel"] == "dispatchable_load"


def _pypower_reference(doc: dict, t: float, feeder_mw: float) -> tuple[float, np.ndarray]:
    """What TESP's loop solves at an OPF time: pypower's DC OPF on the file's arrays with the CSV row of
    (t + dt) // Period (column 0 at the DSO bus plus the feeder), the unit out in its window and the dispatchable
    load held at zero (no market). Returns (LMP at bus 7 in $/MWh, unit outputs in MW)."""
    from pypower.api import ppoption, rundcopf

    ppc = {k: np.array(doc[k], dtype=float) for k in ("bus", "gen", "branch", "gencost", "areas")}
    ppc.update(version="2", baseMVA=doc["baseMVA"])
    row = CSV_ROWS[int((t + DT) // PERIOD) % len(CSV_ROWS)]
    ppc["bus"][3, 2] = row[0] + feeder_mw
    ppc["bus"][2, 2], ppc["bus"][4, 2] = row[1], row[2]
    ppc["gen"][3, 9] = 0.0
    ppc["gencost"][3, 3:7] = [1, 999.0, 0, 0]
    idx, t_out, t_in = doc["UnitsOut"][0]
    ppc["gen"][idx, 7] = 0 if t_out <= t <= t_in else 1
    b_idx, b_out, b_in = doc["BranchesOut"][0]
    ppc["branch"][b_idx, 10] = 0 if b_out <= t <= b_in else 1
    r = rundcopf(ppc, ppoption(VERBOSE=0, OUT_ALL=0))
    assert r["success"]
    return float(r["bus"][3, 13]), r["gen"][:3, 1]


@pytest.mark.parametrize("t", [0.0, 885.0, 1785.0])  # before, inside and after the unit's outage
def test_lmp_and_dispatch_equal_pypowers_dc_opf_on_the_same_file(tmp_path, t):
    # GIVEN our TESP-layout file and a feeder drawing 200 kW (50 MW at the bus after the DSO scale of 250)
    doc = tesp_doc()
    grid = BulkGrid(load_tesp_case(write_case(tmp_path, doc)), tesp_options())
    grid.set_feeder_load(7, complex(200e3, 0.0))
    grid.start()
    # WHEN the grid is stepped to an OPF time (T − dt)
    for k in range(1, int(t // DT) + 1):
        grid.step(k * DT)
    # THEN the LMP and dispatch are pypower's DC OPF on the same data (TESP's own solver)
    lmp, pg = _pypower_reference(doc, t, 50.0)
    assert grid.lmp_kwh(7) == pytest.approx(0.001 * lmp, rel=1e-4)
    assert grid.dispatch[:3] == pytest.approx(pg, abs=0.05)
    if UNIT_OUT[1] <= t <= UNIT_OUT[2]:
        assert grid.dispatch[0] == 0.0 and grid.lmp_kwh(7) > 0.08  # the peaker sets the price
    else:
        assert grid.lmp_kwh(7) < 0.04


def test_reactive_load_of_csv_buses_stays_as_given(tmp_path):
    grid = BulkGrid(load_tesp_case(write_case(tmp_path)), tesp_options())
    grid.start()
    grid.step(float(PERIOD))  # row 1: bus 3 at 55 MW, Qd stays 20 MVAr (TESP changes only Pd)
    i3 = grid.index[3]
    assert grid.bus_pd[i3] == pytest.approx(55.0) and grid.bus_qd[i3] == pytest.approx(20.0)


# -------------------------------------------------------------------------------------------- bad input
def _broken(doc_change, csv_text=None):
    def make(folder: Path) -> Path:
        doc = tesp_doc()
        doc_change(doc)
        return write_case(folder, doc, csv_text)
    return make


@pytest.mark.parametrize("make,field", [
    (_broken(lambda d: d.pop("DSO")), "field 'DSO'"),
    (_broken(lambda d: d.update(UnitsOut=[[9, 0, 10]])), r"field 'UnitsOut\[0\]'"),
    (_broken(lambda d: d.update(UnitsOut=[[3, 0, 10]])), r"field 'UnitsOut\[0\]': row 3 is a DSO bus's dispatchable"),
    (_broken(lambda d: d.update(BranchesOut=[[0, 10]])), r"field 'BranchesOut\[0\]'"),
    (_broken(lambda d: d["gencost"].pop()), "field 'gencost'"),
    (_broken(lambda d: d.update(DSO=[[4, "SUBSTATION4", 250.0]])), r"field 'DSO\[0\]': unknown bus 4"),
    (_broken(lambda d: d.update(Period=100)), "field 'Period'"),
    (_broken(lambda d: d.update(CSVFile="missing.txt")), "field 'CSVFile'"),
    (_broken(lambda d: None, csv_text="1,2,3,4\r5,6,7,8"), "field 'CSVFile': 4 columns"),
    (_broken(lambda d: None, csv_text="1,2,3\r5,x,7"), r"NonGLDLoad.txt: line 2: .*field 'CSVFile'"),
    (_broken(lambda d: None, csv_text="1,2,3\r5,6"), r"NonGLDLoad.txt: line 2: 2 columns"),
])
def test_bad_input_is_one_line_naming_file_and_field(tmp_path, make, field):
    path = make(tmp_path)
    with pytest.raises(UserError, match=field) as err:
        load_tesp_case(path)
    message = str(err.value)
    assert "\n" not in message and ("grid_pp.json" in message or "NonGLDLoad.txt" in message)


def test_unreadable_files_are_one_line(tmp_path):
    (tmp_path / "bad_pp.json").write_text('{"bus": [1,')
    with pytest.raises(UserError, match=r"bad_pp.json: line 1, column \d+: invalid JSON"):
        load_tesp_case(tmp_path / "bad_pp.json")
    with pytest.raises(UserError, match="is a folder"):
        load_tesp_case(tmp_path)
    (tmp_path / "bin_pp.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="line 1: not UTF-8 text"):
        load_tesp_case(tmp_path / "bin_pp.json")


# ---------------------------------------------------------------------------------------------- section
def _case_yaml(folder: Path, **bulk) -> Path:
    write_case(folder)
    doc = {"case": {"name": "tj", "hours": 2}, "bulk": {"tesp_json": "grid_pp.json", **bulk}}
    (folder / "case.yaml").write_text(yaml.safe_dump(doc))
    return folder / "case.yaml"


def test_the_copy_carries_the_case_horizon_as_tmax_and_nothing_else_changes(tmp_path):
    # GIVEN a TESP JSON with Tmax 7200 s and a case of 1 h (TESP's tso_pypower_loop would run on alone to Tmax)
    src = tmp_path / "src"
    path = _case_yaml(src)
    doc = yaml.safe_load(path.read_text())
    doc["case"]["hours"] = 1
    path.write_text(yaml.safe_dump(doc))
    built = build_case(path, tmp_path / "out")
    # THEN the run folder's copy says Tmax 3600 and every other field is the file's
    given, copied = (json.loads((d / "grid_pp.json").read_text()) for d in (src, built.directory))
    assert copied.pop("Tmax") == 3600 and given.pop("Tmax") == 7200
    assert copied == given


def test_section_copies_the_json_and_csv_as_given_and_runs_the_tesp_reader(tmp_path):
    src = tmp_path / "src"
    built = build_case(_case_yaml(src), tmp_path / "out")
    d = built.directory
    # THEN both files are in the folder byte for byte (TESP's tso_pypower_loop can run on them)
    assert (d / "grid_pp.json").read_bytes() == (src / "grid_pp.json").read_bytes()
    assert (d / "NonGLDLoad.txt").read_bytes() == (src / "NonGLDLoad.txt").read_bytes()
    assert b"\r" in (d / "NonGLDLoad.txt").read_bytes()
    # THEN the bus is the DSO row's and the HELICS names are TESP's
    cfg = json.loads((d / "tj_pypower.json").read_text())
    assert cfg["name"] == "pypower"
    assert [p["key"] for p in cfg["publications"]] == ["three_phase_voltage_7", "LMP_7"]
    assert cfg["subscriptions"][0] == {"key": "gld_7/distribution_load", "type": "complex"}
    runner = json.loads(built.runner.read_text())
    args = shlex.split(next(f for f in runner["federates"] if f["name"] == "pypower")["exec"])
    assert args[args.index("--case") + 1] == "grid_pp.json" and args[args.index("--layout") + 1] == "tesp"
    from vppfed.federates.bulk.adapter import build_parser, load_case
    parsed = build_parser().parse_args(args[3:])
    assert load_case(d / parsed.case, parsed.layout).background.buses == [7, 3, 8]


@pytest.mark.parametrize("bulk,message", [
    ({"scale": 100}, r"bulk.scale: not with bulk.tesp_json"),
    ({"outage_gen": 1}, r"bulk.outage_gen: not with bulk.tesp_json"),
    ({"model": "te30"}, r"bulk.model: not with bulk.tesp_json"),
    ({"bus": 3}, r"bulk.bus: 3 is not a DSO bus of grid_pp.json"),
    ({"tesp_json": "nowhere_pp.json"}, r"nowhere_pp.json: file not found"),
])
def test_section_errors_name_the_field(tmp_path, bulk, message):
    with pytest.raises(UserError, match=message):
        build_case(_case_yaml(tmp_path / "src", **bulk), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_csv_outside_the_json_folder_is_refused(tmp_path):
    src = tmp_path / "src"
    write_case(src, tesp_doc(csv_name="../NonGLDLoad.txt"))
    (tmp_path / "NonGLDLoad.txt").write_text("1,2,3\n")
    (src / "case.yaml").write_text(yaml.safe_dump({"case": {"name": "tj", "hours": 1},
                                                   "bulk": {"tesp_json": "grid_pp.json"}}))
    with pytest.raises(UserError, match=r"field 'CSVFile': ../NonGLDLoad.txt points outside"):
        build_case(src / "case.yaml", tmp_path / "out")


# ------------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_generated_te30_feeder_on_a_tesp_json_runs_two_hours(tmp_path):
    from vppfed.cases import case_yaml
    from vppfed.cli import main
    from vppfed.formats.metrics import load_if_present

    # GIVEN the te30 case with its bulk section replaced by `tesp_json:` (our TESP-layout file, unit 1 out 600-1200 s)
    src = tmp_path / "src"
    write_case(src)
    doc = yaml.safe_load(Path(case_yaml("te30")).read_text())
    doc["bulk"] = {"tesp_json": "grid_pp.json"}
    doc["case"]["hours"] = 2
    (src / "case.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    # WHEN it runs
    out = tmp_path / "run"
    assert main(["run", str(src / "case.yaml"), "--out", str(out), "--no-progress"]) == 0
    # THEN pypower published TESP's metrics for bus 7, with the feeder's scaled load on top of the CSV column
    bus = load_if_present(out, "bus")
    assert bus is not None and bus.uids == ["7"]
    times = list(bus.times)
    lmp = bus.column("LMP_P")[:, 0]
    pd = bus.column("PD")[:, 0]
    csv7 = np.array([CSV_ROWS[int((t + DT) // PERIOD) % len(CSV_ROWS)][0] for t in times])
    feeder_mw = pd - csv7
    assert np.all((feeder_mw[1:] > 250 * 5e-3) & (feeder_mw[1:] < 250 * 0.5)), feeder_mw  # 5-500 kW feeder x 250
    # THEN the unit's outage shows in the LMP the feeder received, and the feeder ran on the bus voltage
    during = lmp[times.index(900)]
    assert during > 0.08 and lmp[times.index(1800)] < 0.04 and lmp[times.index(300)] < 0.04, lmp
    vmag = bus.column("Vmag")[:, 0]
    assert np.all((vmag > 0.9) & (vmag < 1.1))
    sub = load_if_present(out, "substation")
    assert sub is not None and sub.times[-1] == 7200
    gen = load_if_present(out, "gen")
    assert gen.uids == ["1", "2", "3", "4"]
    assert gen.column("Pgen")[times.index(900), 0] == pytest.approx(0.0, abs=1e-6)


def test_bus_defaults_to_the_feeders_bus_when_the_file_has_a_dso_row_for_it(tmp_path):
    # GIVEN a file with DSO rows at buses 3 and 7 and a feeder at bus 7 (first DSO row: bus 3)
    src = tmp_path / "src"
    doc = tesp_doc()
    doc["DSO"] = [[3, "SUBSTATION3", 100.0], [7, "SUBSTATION7", 250.0]]
    write_case(src, doc)
    (src / "case.yaml").write_text(yaml.safe_dump({"case": {"name": "tj", "hours": 1}, "feeder": {"bus": 7, "houses": 2},
                                                   "bulk": {"tesp_json": "grid_pp.json"}}))
    built = build_case(src / "case.yaml", tmp_path / "out")
    # THEN the grid publishes for bus 7 and the feeder subscribes that voltage
    cfg = json.loads((built.directory / "tj_pypower.json").read_text())
    assert [p["key"] for p in cfg["publications"]] == ["three_phase_voltage_7", "LMP_7"]
    gld = json.loads((built.directory / "tj_gridlabd.json").read_text())
    assert "pypower/three_phase_voltage_7" in {s["key"] for s in gld["subscriptions"]}
