"""Neighbourhood inputs: PySSMic folder layout, XML files, errors with file and line, the seeded generator."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from vppfed.configs.neighbourhood_input import NeighbourhoodSpec, generate_neighbourhood, load_spec
from vppfed.federates.neighbourhood.inputs import (
    load_neighbourhood, read_consumer_events, read_cumulative, read_jobs_xml, read_neighbourhood_xml,
    read_producer_events)
from vppfed.errors import UserError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _pyssmic_folder(root: Path) -> Path:
    folder = root / "test"
    _write(folder / "consumer_event.csv",
           "1460271600;1460282400;1460311200;[57]:[219]:[3];98.csv\n"
           "1460246602;1460246602;1460246622;[57]:[222]:[3];57_back_3.csv\n")
    _write(folder / "producer_event.csv", "1460246400;pv_producer[57]:[220];57_220_1.csv\n")
    _write(folder / "loads" / "98.csv", "0 0\n60 0\n120 11\n180 51\n")
    _write(folder / "loads" / "57_back_3.csv", "0 0\n20 3\n")
    _write(folder / "predictions" / "57_220_1.csv", "1460246400 0\n1460264400 769.9681\n")
    return folder


def test_reads_the_reference_example_lines(tmp_path):
    folder = _pyssmic_folder(tmp_path)
    (event, back) = read_consumer_events(folder / "consumer_event.csv")
    assert (event.reg_time, event.est, event.lst) == (1460271600, 1460282400, 1460311200)
    assert (event.job_id, event.house, event.device, event.load_file) == ("[57]:[219]:[3]", "57", "219", "98.csv")
    (producer,) = read_producer_events(folder / "producer_event.csv")
    assert (producer.producer_id, producer.house, producer.device) == ("pv_producer[57]:[220]", "57", "220")
    load = read_cumulative(folder / "loads" / "98.csv")
    assert load.times_s.tolist() == [0, 60, 120, 180] and load.energy_wh == 51.0


def test_load_neighbourhood_shifts_times_to_the_earliest_event(tmp_path):
    nb = load_neighbourhood(_pyssmic_folder(tmp_path))
    assert nb.t0_unix == 1460246400
    job = nb.jobs[0]
    assert (job.reg_time_s, job.est_s, job.lst_s) == (25200, 36000, 64800)
    assert nb.jobs[1].background and not job.background
    assert nb.producer_events[0].prediction.times_s.tolist() == [0, 18000]


@pytest.mark.parametrize("name, text, message", [
    ("consumer_event.csv", "1;2;3;[1]:[2]:[1];a.csv\n1;2;[1]:[2]:[1];a.csv\n", "line 2: expected 5 fields"),
    ("consumer_event.csv", "1;x;3;[1]:[2]:[1];a.csv\n", "line 1: est: expected a number"),
    ("consumer_event.csv", "1;2;3;57:219:3;a.csv\n", "line 1: job id must look like"),
    ("consumer_event.csv", "1;5;3;[1]:[2]:[1];a.csv\n", "line 1: latest start 3 is before earliest start 5"),
    ("producer_event.csv", "\n1;pv_producer57;a.csv\n", "line 2: producer id must look like"),
    ("loads.csv", "0 0\n60 1\n30 2\n", "line 3: time 30 is before the previous time 60"),
    ("consumer_event.csv", "1;2;3;[1];a.csv\n", r"line 1: job id must look like \[house\]:\[device\]:\[n\] or"),
    ("loads.csv", "0 0\n60;1\n", "line 2: expected 2 space-separated numbers"),
])
def test_malformed_lines_name_file_and_line(tmp_path, name, text, message):
    path = _write(tmp_path / name, text)
    reader = {"consumer_event.csv": read_consumer_events, "producer_event.csv": read_producer_events,
              "loads.csv": read_cumulative}[name]
    with pytest.raises(UserError, match=message) as err:
        reader(path)
    assert str(path) in str(err.value)


def _own_forms_folder(root: Path) -> Path:
    """Every id and file form PySSMic's reader takes, written by us (no PySSMic file copied)."""
    folder = root / "forms"
    _write(folder / "consumer_event.csv",
           "1000;1000;4600;[1]:kettle;kettle.csv\n"            # [house]:device (PySSMic's best_case form)
           "1000;2000;9000;[1]:[31]:[1];w.csv\n"                # [house]:[device]:[n]
           "5000;5000;8600;[1]:kettle;kettle.csv\n"            # the same id again, another job
           "1000;2000;9000;[1]:[31]:[1];w.csv\n"                # a repeated line: a third job of that id... twice
           "1200;1200;1220;[2]:[40]:[2];2_back_2.csv;\n")      # background load, trailing ';'
    _write(folder / "producer_event.csv", "0;pv_producer[1]:[30];1_30_1.csv\n0;pv_producer[2]:roof;2_roof_1.csv\n")
    _write(folder / "loads" / "kettle.csv", "0 0\n60 0\n60 0\n120 20\n180 30\n")   # a repeated row
    _write(folder / "loads" / "w.csv", "0 0\n600 100\n600 150\n1200 400\n")       # a repeated time, new value
    _write(folder / "loads" / "2_back_2.csv", "0 0\n20 1\n")
    for name, wh in (("1_30_1.csv", 1000.0), ("2_roof_1.csv", 2000.0)):
        _write(folder / "predictions" / name, "".join(f"{3600 * h} {wh * h}\n" for h in range(5)) + "14400 4000\n")
    return folder


def test_reads_every_id_and_file_form_pyssmic_reads_and_keeps_every_job(tmp_path):
    nb = load_neighbourhood(_own_forms_folder(tmp_path))
    assert [(j.job_id, j.house, j.device, j.key) for j in nb.jobs] == [
        ("[1]:kettle", "1", "kettle", "[1]:kettle"),
        ("[1]:[31]:[1]", "1", "31", "[1]:[31]:[1]"),
        ("[1]:kettle", "1", "kettle", "[1]:kettle#2"),
        ("[1]:[31]:[1]", "1", "31", "[1]:[31]:[1]#2"),
        ("[2]:[40]:[2]", "2", "40", "[2]:[40]:[2]")]
    assert [(e.producer_id, e.house, e.device) for e in nb.producer_events] == [
        ("pv_producer[1]:[30]", "1", "30"), ("pv_producer[2]:roof", "2", "roof")]
    kettle, washer = nb.jobs[0].profile, nb.jobs[1].profile
    assert kettle.times_s.tolist() == [0, 60, 120, 180] and kettle.energy_wh == 30.0
    # a repeated time keeps the last cumulative value there: the file's total energy is kept
    assert washer.times_s.tolist() == [0, 600, 1200] and washer.cumulative_wh.tolist() == [0, 150, 400]
    assert nb.jobs[4].background and nb.house_ids() == ["1", "2"]


def test_missing_load_file_names_the_event_line(tmp_path):
    folder = _pyssmic_folder(tmp_path)
    (folder / "loads" / "98.csv").unlink()
    with pytest.raises(UserError, match=r"consumer_event.csv: line 1: load file .*98.csv not found"):
        load_neighbourhood(folder)


def test_jobs_xml_becomes_consumer_events(tmp_path):
    path = _write(tmp_path / "jobs.xml", """<neighborhood id="3" executionId="1">
    <house id="8">
        <user id="1">
            <device><id>33</id><est>1231231232</est><lst>1231236232</lst>
                <creation_time>1231231000</creation_time><profile>83</profile></device>
            <device><id>33</id><est>1231231232</est><lst>1231236232</lst>
                <creation_time>1231231000</creation_time><profile>84</profile></device>
        </user>
    </house>
</neighborhood>""")
    first, second = read_jobs_xml(path)
    assert (first.job_id, first.load_file, first.reg_time) == ("[8]:[33]:[1]", "83.csv", 1231231000)
    assert second.job_id == "[8]:[33]:[2]"


def test_xml_errors_carry_line_numbers(tmp_path):
    broken = _write(tmp_path / "n.xml", "<neighborhood>\n<house id='1'>\n</neighborhood>\n")
    with pytest.raises(UserError, match=r"n.xml: line 3, column \d+: invalid XML"):
        read_neighbourhood_xml(broken)
    missing = _write(tmp_path / "m.xml", "<neighborhood>\n<house id='1'><user id='1'>\n"
                                         "<device><id>1</id><name>pv</name><template>1</template></device>\n"
                                         "</user></house></neighborhood>\n")
    with pytest.raises(UserError, match=r"m.xml: line 3: <device> needs a non-empty <type>"):
        read_neighbourhood_xml(missing)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_generator_same_seed_same_bytes_and_readable(tmp_path):
    spec = NeighbourhoodSpec(name="g", seed=4, houses=5)
    a = generate_neighbourhood(spec, tmp_path / "a")
    b = generate_neighbourhood(spec, tmp_path / "b")
    c = generate_neighbourhood(NeighbourhoodSpec(name="g", seed=5, houses=5), tmp_path / "c")
    assert _digest(a) == _digest(b) != _digest(c)
    nb = load_neighbourhood(a)
    assert len(nb.jobs) > 0 and len(nb.producer_events) % 4 == 0
    assert set(nb.houses) == {str(57 + i) for i in range(5)}
    for job in nb.jobs:
        assert job.reg_time_s <= job.est_s <= job.lst_s
    # the four prediction files of a producer merge into one curve rising through the day, flat at night
    from vppfed.federates.neighbourhood.profiles import merge_prediction
    pid = nb.producer_events[0].producer_id
    merged = None
    for ev in nb.producer_events:
        if ev.producer_id == pid:
            merged = merge_prediction(merged, ev.prediction)
    assert np.all(np.diff(merged.cumulative_wh) >= 0)
    assert merged.at(5 * 3600.0) == 0.0 and merged.at(24 * 3600.0) > 0.0


def test_spec_yaml_errors_name_the_field(tmp_path):
    path = _write(tmp_path / "nb.yaml", "houses: 0\n")
    with pytest.raises(UserError, match=r"nb.yaml.houses: must be >= 1"):
        load_spec(path)
    path = _write(tmp_path / "nb2.yaml", "houses: 3\npv_shares: 0.5\n")
    with pytest.raises(UserError, match=r"nb2.yaml.pv_shares: unknown field"):
        load_spec(path)
