"""The metrics writer keeps TESP's layout valid after every sample; the reader reads ours, cut files and .h5."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vppfed.federates.metrics import MetricsWriter
from vppfed.formats.metrics import metrics_path, recover
from vppfed.formats.metrics import find_metrics, read_metrics

COLUMNS = [("LMP_P", "USD/kwh"), ("Vmag", "pu"), ("temp", "°F")]


def test_file_is_valid_tesp_json_after_every_sample(tmp_path):
    w = MetricsWriter(tmp_path, "bus", "TE_ChallengeH", COLUMNS, "2013-07-01 00:00:00")
    for k in range(3):
        w.write(300 * k, {"7": [0.02 * k, 1.0, 70.0 + k]})
        doc = json.loads(w.path.read_text())  # valid at every point, before close
        assert set(doc) == {"StartTime", "Metadata"} | {str(300 * i) for i in range(k + 1)}
    w.close()
    doc = json.loads(metrics_path(tmp_path, "bus", "TE_ChallengeH").read_text())
    assert doc["Metadata"]["Vmag"] == {"index": 1, "units": "pu"}
    assert doc["Metadata"]["temp"]["units"] == "°F"
    assert doc["600"]["7"] == [0.04, 1.0, 72.0]


def test_named_columns_nan_and_unknown_columns(tmp_path):
    with MetricsWriter(tmp_path, "x", "r", COLUMNS, "s") as w:
        w.write(0, {"a": {"Vmag": 1.01}, "b": [float("nan"), 2, 3]})
        with pytest.raises(KeyError, match="unknown column"):
            w.write(300, {"a": {"nope": 1}})
        with pytest.raises(ValueError, match="2 values for 3 columns"):
            w.write(300, {"a": [1, 2]})
    doc = json.loads(w.path.read_text())
    assert doc["0"] == {"a": [None, 1.01, None], "b": [None, 2, 3]}


def test_a_cut_file_keeps_every_complete_sample(tmp_path):
    w = MetricsWriter(tmp_path, "house", "r", COLUMNS, "s")
    for k in range(4):
        w.write(300 * k, {"h1": [k, k, k]})
    w.close()
    text = w.path.read_text()
    cut = text[: text.index('"900"') + 12]  # killed in the middle of the last sample
    w.path.write_text(cut)
    doc = recover(w.path)
    assert sorted(int(k) for k in doc if k not in ("StartTime", "Metadata")) == [0, 300, 600]
    m = read_metrics(w.path)
    assert list(m.times) == [0, 300, 600]


def test_resume_keeps_samples_up_to_the_resume_time(tmp_path):
    w = MetricsWriter(tmp_path, "battery", "r", COLUMNS, "s")
    for k in range(4):
        w.write(300 * k, {"b": [k, k, k]})
    w.close()
    w2 = MetricsWriter(tmp_path, "battery", "r", COLUMNS, "s", resume_after=300)
    assert w2.samples_written == 2
    w2.write(600, {"b": [9, 9, 9]})
    w2.close()
    m = read_metrics(w2.path)
    assert list(m.times) == [0, 300, 600]
    assert m.column("LMP_P")[:, 0].tolist() == [0, 1, 9]


def test_reader_gives_arrays_by_column_and_h5_copy_matches(tmp_path):
    with MetricsWriter(tmp_path, "billing_meter", "TE_ChallengeH", COLUMNS, "2013-07-01 00:00:00 PDT",
                       h5=True) as w:
        w.write(300, {"m2": [1, 2, 3], "m10": [4, 5, 6]})
        w.write(600, {"m2": [7, 8, 9]})
    path = find_metrics(tmp_path, "billing_meter")
    m = read_metrics(path)
    assert (m.prefix, m.root) == ("billing_meter", "TE_ChallengeH")
    assert m.uids == ["m2", "m10"]  # natural order
    assert np.isnan(m.column("Vmag")[1, 1])
    h5 = read_metrics(path.with_suffix(".h5"))
    assert h5.uids == m.uids and h5.columns == m.columns
    np.testing.assert_array_equal(np.nan_to_num(h5.values, nan=-1), np.nan_to_num(m.values, nan=-1))
