"""``vppfed import-tesp``: reading a TESP case folder (ours, written in TESP's layout) into a case YAML."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vppfed.cli import main
from vppfed.configs.tesp_import import read_tesp_folder, write_case_yaml
from vppfed.errors import UserError

MAIN_GLM = """\
// a feeder written for this test in the layout of TESP's examples
#set minimum_timestep=15
clock {
\ttimezone PST+8PDT;
\tstarttime '2013-07-01 00:00:00';
\tstoptime '2013-07-02 12:00:00';
}
module market;
module powerflow;
#include "${TESPDIR}/data/schedules/mine.glm"
#include "outputs_mine.glm"
object metrics_collector_writer { interval 300; filename ${METRICS_FILE}; }
"""
OUTPUTS_GLM = "// included: no clock\nobject recorder { parent n; property voltage_A; interval 60; file v.csv; }\n"
RUNH = """\
#!/bin/bash
# start a HELICS federation
(exec helics_broker -f 4 --loglevel=warning --name=mainbroker &> broker.log &)
#(exec gridlabd -D USE_HELICS -D METRICS_FILE=old.json Mine.glm &> gridlabd.log &)
(exec gridlabd -D USE_HELICS -D METRICS_FILE=MineH_metrics.json Mine.glm &> gridlabd.log &)
(exec python3 -c "import tesp_support.api.substation as tesp;tesp.substation_loop('Mine_agent_dict.json','MineH',helicsConfig='Mine_substation.json')" &> substation.log &)
(exec python3 -c "import tesp_support.api.tso_PYPOWER as tesp;tesp.tso_pypower_loop('mine_pp.json','MineH',helicsConfig='pypower.json')" &> pypower.log &)
"""
RUNH0 = RUNH.replace("helicsConfig='Mine_substation.json')", "helicsConfig='Mine_substation.json',flag='NoMarket')")


def _tesp_folder(root: Path, *, runners: bool = True, prepared: bool = False) -> Path:
    case = root / "examples" / "mine"
    case.mkdir(parents=True)
    (root / "data" / "schedules").mkdir(parents=True)
    (root / "data" / "schedules" / "mine.glm").write_text("// schedules\n", encoding="utf-8")
    (case / "Mine.glm").write_text(MAIN_GLM, encoding="utf-8")
    (case / "outputs_mine.glm").write_text(OUTPUTS_GLM, encoding="utf-8")
    (case / "mine_pp.json").write_text(json.dumps({"DSO": [[4, "SUBSTATION4", 100.0]], "dt": 15, "Period": 300}),
                                       encoding="utf-8")
    if runners:
        (case / "runh.sh").write_text(RUNH, encoding="utf-8")
        (case / "runh0.sh").write_text(RUNH0, encoding="utf-8")
    if prepared:
        (case / "Mine_agent_dict.json").write_text("{}", encoding="utf-8")
        (case / "Mine_glm_dict.json").write_text("{}", encoding="utf-8")
        (case / "weather.dat").write_text("datetime,temperature\n", encoding="utf-8")
    return case


def test_the_main_glm_clock_runner_defines_and_grid_are_found(tmp_path):
    # GIVEN a TESP-style folder whose GLM includes an outputs GLM and ${TESPDIR} schedules
    folder = _tesp_folder(tmp_path)
    # WHEN it is read with TESP's folder given
    case = read_tesp_folder(folder, tespdir=tmp_path)
    # THEN the included GLM is not taken for the feeder, the clock gives 36 h, USE_HELICS is dropped
    assert case.glm.name == "Mine.glm"
    assert case.hours == pytest.approx(36.0)
    assert case.timezone == "PST+8PDT"
    # the commented-out line is not read; the model's own writer gets a name beside the feeder's metrics
    assert case.defines == {"METRICS_FILE": "MineH_gld_metrics.json"}
    assert case.metrics_root == "MineH"
    assert case.market is True                                     # runh.sh starts the substation with a market
    assert (case.bus, case.period, case.market_period) == (4, 15, 300)
    assert case.pp_json.name == "mine_pp.json"


def test_the_yaml_points_at_the_files_where_they_are(tmp_path):
    folder = _tesp_folder(tmp_path, prepared=True)
    out = tmp_path / "work" / "mine.yaml"
    write_case_yaml(read_tesp_folder(folder, tespdir=tmp_path), out)
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    base = out.parent
    assert (base / doc["feeder"]["glm"]).resolve() == (folder / "Mine.glm").resolve()
    assert (base / doc["bulk"]["tesp_json"]).resolve() == (folder / "mine_pp.json").resolve()
    assert (base / doc["feeder"]["env"]["TESPDIR"]).resolve() == tmp_path.resolve()
    assert (base / doc["market"]["agent_dict"]).resolve() == (folder / "Mine_agent_dict.json").resolve()
    assert (base / doc["feeder"]["weather_file"]).resolve() == (folder / "weather.dat").resolve()
    assert doc["case"] == {"name": "mine", "root": "MineH", "start": "2013-07-01 00:00:00", "timezone": "PST+8PDT",
                           "hours": 36.0, "period_s": 15, "market_period_s": 300}
    assert doc["feeder"]["bus"] == doc["bulk"]["bus"] == 4
    # nothing was written into the TESP folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["Mine.glm", "outputs_mine.glm", "mine_pp.json", "runh.sh", "runh0.sh", "Mine_agent_dict.json",
         "Mine_glm_dict.json", "weather.dat"])


def test_a_folder_before_prepare_case_without_runners_still_imports(tmp_path):
    folder = _tesp_folder(tmp_path, runners=False)
    case = read_tesp_folder(folder, tespdir=tmp_path)
    # METRICS_FILE is used by the GLM but no runner defines it: a name is chosen and said
    assert case.defines == {"METRICS_FILE": "Mine_gld_metrics.json"}
    assert any("METRICS_FILE" in n for n in case.notes)
    assert case.market is False and case.agent_dict is None and case.weather_dat is None


@pytest.mark.parametrize("change, message", [
    (lambda f, r: None, "give TESP's folder with --tespdir"),
    (lambda f, r: (f / "Other.glm").write_text(MAIN_GLM, encoding="utf-8"), "several GLMs could be the feeder"),
    (lambda f, r: (f / "Mine.glm").write_text("module powerflow;\n", encoding="utf-8"), "no GLM with a clock"),
    (lambda f, r: (f / "Mine.glm").write_text(MAIN_GLM.replace("'2013-07-01 00:00:00'", "'July 1st'"),
                                              encoding="utf-8"), "is not 'YYYY-mm-dd HH:MM:SS'"),
])
def test_bad_folders_give_one_line_naming_what_is_wrong(tmp_path, change, message, monkeypatch):
    monkeypatch.delenv("TESPDIR", raising=False)
    folder = _tesp_folder(tmp_path)
    change(folder, tmp_path)
    with pytest.raises(UserError, match=message):
        read_tesp_folder(folder, tespdir=None if "tespdir" in message else tmp_path)


def test_the_command_writes_the_yaml_and_says_how_to_run_it(tmp_path, capsys):
    folder = _tesp_folder(tmp_path)
    out = tmp_path / "mine.yaml"
    assert main(["import-tesp", str(folder), "--tespdir", str(tmp_path), "--out", str(out), "--hours", "2"]) == 0
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["case"]["hours"] == 2
    assert "vppfed run" in capsys.readouterr().out
    # a missing folder is one line, exit code 2
    assert main(["import-tesp", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_an_hdf5_metrics_file_becomes_json_with_a_note(tmp_path):
    # GIVEN TESP's runner asks GridLAB-D for HDF5 metrics (runh.sh: METRICS_FILE=...h5), which the PyPI build lacks
    folder = _tesp_folder(tmp_path)
    runner = folder / "runh.sh"
    runner.write_text(runner.read_text().replace("MineH_metrics.json", "MineH_metrics.h5"))
    case = read_tesp_folder(folder, tespdir=tmp_path)
    # THEN the case asks for the JSON it can write, and says so
    assert case.defines == {"METRICS_FILE": "MineH_gld_metrics.json"}
    assert any("HDF5" in n and "MineH_metrics.h5" in n for n in case.notes)


RUNH_IEEE13 = """\
#!/bin/bash
(exec helics_broker -f 3 --loglevel=warning --name=mainbroker &> broker.log &)
(exec gridlabd -D USE_HELICS -D IEEE13_DIR=. -D METRICS_FILE=MineH_metrics.json ieee13.glm &> gridlabd.log &)
(exec python3 -c "import tesp_support.api.substation as tesp;tesp.substation_loop('Mine_agent_dict.json','MineH',helicsConfig='Mine_substation.json')" &> substation.log &)
(exec python3 -c "import tesp_support.api.tso_PYPOWER as tesp;tesp.tso_pypower_loop('grid_pp.json','MineH',helicsConfig='pypower.json')" &> pypower.log &)
"""


@pytest.mark.slow
def test_an_imported_tesp_folder_runs_with_its_feeder_grid_and_market(tmp_path):
    import shutil

    from test_bulk_tesp_json import tesp_doc, write_case

    from vppfed.formats.metrics import load_if_present

    # GIVEN a folder in the layout of a TESP example: our IEEE-13 feeder (with its own players, recorders and metrics
    # writer), a TESP PYPOWER JSON and a runner that starts GridLAB-D, TESP's substation and TESP's pypower
    folder = tmp_path / "examples" / "mine"
    shutil.copytree(Path(__file__).with_name("data") / "ieee13", folder)
    write_case(folder, tesp_doc(scale=10.0))   # 10 x IEEE-13's 3.6 MW fits the 5-bus grid (250 x does not converge)
    (folder / "runh.sh").write_text(RUNH_IEEE13, encoding="utf-8")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    # WHEN imported and run for one hour through the CLI
    yaml_path = tmp_path / "mine.yaml"
    assert main(["import-tesp", str(folder), "--out", str(yaml_path)]) == 0
    doc = yaml.safe_load(yaml_path.read_text())
    assert doc["feeder"]["glm"] == "examples/mine/ieee13.glm" and doc["bulk"]["tesp_json"] == "examples/mine/grid_pp.json"
    assert doc["market"]["enabled"] is True and doc["case"]["root"] == "MineH"
    out = tmp_path / "run"
    assert main(["run", str(yaml_path), "--hours", "1", "--out", str(out), "--no-progress", "--no-report"]) == 0
    # THEN the feeder's load reached the grid and the market, prices came back, the model's own outputs are there
    sub, bus, auction = (load_if_present(out, p) for p in ("substation", "bus", "auction"))
    assert sub is not None and bus is not None and auction is not None
    assert (sub.column("real_power_avg")[:, 0] > 1e6).all()          # IEEE 13: megawatts at the head
    assert (bus.column("LMP_P")[:, 0] > 0).all()
    assert (auction.column("clearing_price")[:, 0] > 0).all()
    own = json.loads((out / "substation_MineH_gld_metrics.json").read_text())   # GridLAB-D's writer, beside ours
    assert any(k not in ("Metadata", "StartTime") for k in own)
    # AND nothing in the TESP folder was written
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
