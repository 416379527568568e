"""The one reader of background-load CSVs (``CSVFile``) for our ``_pp.json`` and TESP's case JSON alike.

Before, each reader had its own rules (ours dropped empty cells and skipped a header, TESP's had neither): the cases
each of them handled are checked here on the shared reader, and both JSON readers are checked to call it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_bulk_tesp_json import tesp_doc, write_case
from vppfed.configs.bulk_model import Te30BulkParams, build_pp_dict
from vppfed.errors import UserError
from vppfed.federates.bulk.tesp_case import load_tesp_case
from vppfed.formats.ppcase import load_pp_case, read_load_csv


def _csv(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "NonGLDLoad.txt"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("data", [b"1,2,3\r4,5,6\r", b"1,2,3\n4,5,6\n", b"1,2,3\r\n4,5,6", b"\n 1, 2 ,3\n\n4,5,6\n\n"])
def test_any_line_ending_blank_lines_and_spaces_give_the_same_table(tmp_path, data):
    np.testing.assert_array_equal(read_load_csv(_csv(tmp_path, data), "x_pp.json"), [[1, 2, 3], [4, 5, 6]])


def test_a_header_line_is_skipped_only_at_the_top(tmp_path):
    # GIVEN our old reader's case: a header of names above the MW rows (CR line ends)
    table = read_load_csv(_csv(tmp_path, b"b5,b7,b9\r10,20,30\r11,21,31\r"), "x_pp.json")
    np.testing.assert_array_equal(table, [[10, 20, 30], [11, 21, 31]])
    # THEN a line of names further down is an error, not a second header
    with pytest.raises(UserError, match=r"NonGLDLoad.txt: line 2: expected comma-separated MW values .*x_pp.json"):
        read_load_csv(_csv(tmp_path, b"10,20,30\rb5,b7,b9\r"), "x_pp.json")


@pytest.mark.parametrize("data,column", [(b"1,2,3\r4,,6\r", 2), (b"1,2,3,\r4,5,6,\r", 4), (b",2,3\r", 1)])
def test_an_empty_cell_is_an_error_wherever_it_is(tmp_path, data, column):
    # our old reader dropped empty cells (a middle one moved the next values onto the wrong bus); now every reader
    # stops with the line and column
    with pytest.raises(UserError, match=rf"NonGLDLoad.txt: line \d: empty cell in column {column} "
                                        r"\(field 'CSVFile' of x_pp.json\)") as err:
        read_load_csv(_csv(tmp_path, data), "x_pp.json")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("data,match", [
    (b"1,2,3\r5,x,7", r"line 2: expected comma-separated MW values"),   # TESP reader's old cases ...
    (b"1,2,3\r5,6", r"line 2: 2 columns, the first row has 3"),
    (b"1,2,3\r5,nan,7", r"line 2: values must be finite"),
    (b"1,inf,3", r"line 1: values must be finite"),
    (b"\r\n\r", r"no rows"),
    (b"b5,b7,b9\r", r"no rows"),
    (b"\xff\xfe1,2", r"not a text file"),
])
def test_bad_files_are_one_line_naming_the_csv_and_the_field(tmp_path, data, match):
    with pytest.raises(UserError, match=match) as err:
        read_load_csv(_csv(tmp_path, data), "x_pp.json")
    message = str(err.value)
    assert "\n" not in message and "NonGLDLoad.txt" in message and "field 'CSVFile' of x_pp.json" in message


def test_a_missing_file_names_the_json_and_the_field(tmp_path):
    with pytest.raises(UserError, match=r"x_pp.json: field 'CSVFile': cannot read .*missing.txt"):
        read_load_csv(tmp_path / "missing.txt", "x_pp.json")


def test_both_case_readers_use_it(tmp_path):
    # GIVEN the same CSV with an empty cell beside our _pp.json and beside a TESP case JSON
    bad = b"10,20,30\r11,,31\r"
    doc = build_pp_dict(Te30BulkParams(), None)
    doc["CSVFile"] = "NonGLDLoad.txt"
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "c_pp.json").write_text(json.dumps(doc))
    _csv(tmp_path / "ours", bad)
    tesp = write_case(tmp_path / "tesp", tesp_doc(), bad.decode())
    # THEN both stop with the same line
    for load, path in ((load_pp_case, tmp_path / "ours" / "c_pp.json"), (load_tesp_case, tesp)):
        with pytest.raises(UserError, match=r"NonGLDLoad.txt: line 2: empty cell in column 2 \(field 'CSVFile' of .*"
                                            r"_pp.json\)"):
            load(path)
    # ... and both accept a header (our reader's rule, now TESP's too)
    write_case(tmp_path / "tesp", tesp_doc(), "b7,b3,b8\r" + "\r".join(["40,55,30"] * 3))
    assert load_tesp_case(tesp).background.mw.shape == (3, 3)
