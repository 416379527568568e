"""Agile commands (agile vv, compare, scenario, plot), the scenario configurator and the figures."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from vppfed.cli import main
from vppfed.configs.agile_scenario import build_portfolio, build_signal, load_scenario
from vppfed.errors import UserError
from vppfed.federates.agile.portfolio import BAKERY, BATTERY, BUCKET, read_params_csv
from vppfed.federates.agile.signal import random_signal, read_signal_csv


SCENARIO = """\
seed: 7
units:
  - {type: bucket,  count: 3, Pmax: {uniform: [0.7, 1.5]}, Pmin: -1.0, Emax: {uniform: [4.0, 6.0]}}
  - {type: battery, count: 4, Pmax: {uniform: [0.6, 1.0]}, Emax: {normal: [5.0, 1.0], min: 4.0, max: 6.0}, Tend: 30}
  - {type: bakery,  count: 4, Pmax: {choice: [0.5, 1.0]}, Trun: {randint: [2, 4]}, Tend: {randint: [20, 30]}}
  - {type: battery, count: 2, Pmax: 1.0, Emax: 3.0, Tend: 10}
signal: {steps: 30}
"""


def test_vv_then_compare_matches_scenario1_under_2015a(bbb, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert main(["agile", "vv", "--params", str(bbb / "scenario1_params.csv"),
                 "--signal", str(bbb / "scenario1_vpp.csv"), "--rules", "2015a", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0] == "Timestep,Residual,Pbak,Pbat,PBkt,VppOut,Delivered"
    assert main(["agile", "compare", str(out), str(bbb / "scenario1_combined_output.csv"), "--abs-tol", "1e-5"]) == 0
    text = capsys.readouterr().out
    assert "MATCH within 1e-05 over 100 rows" in text and "sum|S|: 0.000000" in text
    assert "not in the reference, not compared: Delivered" in text


def test_vv_writes_the_signal_in_vppout_and_signal_minus_delivered_in_residual(bbb, tmp_path, capsys):
    """GIVEN the 105-unit reference run WHEN vv writes it THEN the columns mean what the export's columns mean."""
    out = tmp_path / "out.csv"
    assert main(["agile", "vv", "--params", str(bbb / "scenario2_params.csv"),
                 "--signal", str(bbb / "scenario2_vpp.csv"), "--rules", "2015b", "--out", str(out)]) == 0
    assert "sum|S| = 31.398688 kW·step" in capsys.readouterr().out
    rows = [line.split(",") for line in out.read_text().splitlines()]
    cols = {name: np.array([float(r[i]) for r in rows[1:]]) for i, name in enumerate(rows[0])}
    np.testing.assert_array_equal(cols["VppOut"], read_signal_csv(bbb / "scenario2_vpp.csv"))
    np.testing.assert_allclose(cols["Residual"], cols["VppOut"] - cols["Delivered"], atol=2e-6)
    np.testing.assert_allclose(cols["Delivered"], cols["Pbak"] + cols["Pbat"] + cols["PBkt"], atol=3e-6)
    assert np.abs(cols["Residual"]).sum() == pytest.approx(31.398688, abs=1e-4)
    # the published export's step 15: signal 0, Residual -4.670793, Pbak 9.670793, PBkt -5.0, VppOut 0.0
    step15 = {name: cols[name][14] for name in cols}
    assert step15["VppOut"] == 0.0 and step15["PBkt"] == -5.0
    assert step15["Residual"] == pytest.approx(-4.670793, abs=1e-5)
    assert step15["Pbak"] == pytest.approx(9.670793, abs=1e-5)


def test_compare_ignores_output_columns_the_reference_lacks_but_needs_every_reference_column(tmp_path, capsys):
    ref, out, short = tmp_path / "ref.csv", tmp_path / "out.csv", tmp_path / "short.csv"
    ref.write_text("Timestep,Residual,VppOut\n1,-1.0,0.0\n")
    out.write_text("Timestep,Residual,VppOut,Delivered\n1,-1.0,0.0,1.0\n")
    short.write_text("Timestep,Residual\n1,-1.0\n")
    assert main(["agile", "compare", str(out), str(ref)]) == 0
    assert main(["agile", "compare", str(short), str(ref)]) == 2
    assert f"{short}: no column VppOut" in capsys.readouterr().err


def test_compare_exits_nonzero_on_mismatch_and_prints_per_column_diffs(bbb, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert main(["agile", "vv", "--params", str(bbb / "scenario1_params.csv"),
                 "--signal", str(bbb / "scenario1_vpp.csv"), "--rules", "strict", "--out", str(out)]) == 0
    assert main(["agile", "compare", str(out), str(bbb / "scenario1_combined_output.csv")]) == 1
    text = capsys.readouterr().out
    assert "Pbak      max|diff| = 8.380e-01  MISMATCH" in text and "MISMATCH within" in text


def test_compare_of_bad_csv_is_a_user_error_naming_line_and_column(tmp_path, capsys):
    good = tmp_path / "a.csv"
    bad = tmp_path / "b.csv"
    good.write_text("Timestep,Residual\n1,0.0\n2,0.0\n")
    bad.write_text("Timestep,Residual\n1,0.0\n2,zero\n")
    assert main(["agile", "compare", str(good), str(bad)]) == 2
    assert f"{bad}: line 3, column 'Residual': expected a number, got 'zero'" in capsys.readouterr().err


def test_compare_tolerance_is_two_sided(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("Timestep,Residual\n1,0.00001\n2,0\n")
    b.write_text("Timestep,Residual\n1,0\n2,0.00001\n")
    assert main(["agile", "compare", str(a), str(b), "--abs-tol", "1e-5"]) == 0
    assert main(["agile", "compare", str(a), str(b), "--abs-tol", "9e-6"]) == 1


def test_vv_with_missing_params_file_is_a_user_error(tmp_path, capsys):
    assert main(["agile", "vv", "--params", str(tmp_path / "none.csv"), "--signal", str(tmp_path / "s.csv"),
                 "--out", str(tmp_path / "o.csv")]) == 2
    assert "none.csv: file not found" in capsys.readouterr().err


def test_scenario_yaml_gives_the_same_bytes_for_the_same_seed(tmp_path):
    (tmp_path / "s.yaml").write_text(SCENARIO)
    assert main(["agile", "scenario", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "a")]) == 0
    assert main(["agile", "scenario", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "b")]) == 0
    for name in ("params.csv", "vpp.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    (tmp_path / "s2.yaml").write_text(SCENARIO.replace("seed: 7", "seed: 8"))
    assert main(["agile", "scenario", str(tmp_path / "s2.yaml"), "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "a" / "params.csv").read_bytes() != (tmp_path / "c" / "params.csv").read_bytes()


def test_scenario_draws_within_the_distributions_and_reads_back_identically(tmp_path):
    (tmp_path / "s.yaml").write_text(SCENARIO)
    scenario = load_scenario(tmp_path / "s.yaml")
    p = build_portfolio(scenario)
    assert main(["agile", "scenario", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o")]) == 0
    back = read_params_csv(tmp_path / "o" / "params.csv")
    assert back.names == p.names
    for field in dataclasses.fields(p):     # every column reads back as drawn (the CSV loses no digit)
        if field.name != "names":
            assert np.array_equal(getattr(back, field.name), getattr(p, field.name)), field.name
    assert len(p.names) == 3 + 4 + 4 + 2
    assert p.names[:3] == ("Bkt-1", "Bkt-2", "Bkt-3") and p.names[-2:] == ("Bat-5", "Bat-6")
    assert np.all(p.Emin[p.kind == BUCKET] == -p.Emax[p.kind == BUCKET])
    bat = p.kind == BATTERY
    assert np.all((p.Emax[bat][:4] >= 4.0) & (p.Emax[bat][:4] <= 6.0))
    bak = p.kind == BAKERY
    assert set(p.Pmax[bak]) <= {0.5, 1.0} and set(p.Trun[bak]) <= {2.0, 3.0, 4.0}
    np.testing.assert_allclose(p.Emax[bak], p.Pmax[bak] * p.Trun[bak], atol=1e-6)
    assert np.array_equal(read_signal_csv(tmp_path / "o" / "vpp.csv"), build_signal(scenario))


@pytest.mark.parametrize("bad, message", [
    ("units: []\nseed: 1\n", "units: needs at least one group"),
    ("seed: 1\nunits:\n  - {type: bakery, count: 1, Pmax: 1, Tend: 5}\n", "units[0].Trun: required for a bakery"),
    ("seed: 1\nunits:\n  - {type: bucket, count: 1, Pmax: {uniform: [2, 1]}, Emax: 3}\n", "units[0].Pmax"),
    ("seed: 1\nunits:\n  - {type: tank, count: 1, Pmax: 1}\n", "units[0].type: must be one of"),
    ("seed: 1\nunits:\n  - {type: battery, count: 1, Pmax: 1, Emax: 2, Tend: 5, colour: red}\n", "colour: unknown"),
])
def test_bad_scenario_yaml_names_the_field(tmp_path, bad, message):
    (tmp_path / "s.yaml").write_text(bad)
    with pytest.raises(UserError, match=None) as err:
        load_scenario(tmp_path / "s.yaml")
    assert message in str(err.value) and "s.yaml" in str(err.value)


def test_phase2_signal_is_seeded_and_has_the_requested_frequencies():
    a, b = random_signal(20_000, 5), random_signal(20_000, 5)
    assert np.array_equal(a, b) and not np.array_equal(a, random_signal(20_000, 6))
    assert set(np.unique(a)) == {0.0, 5.0, 10.0}
    freq = [np.mean(a == v) for v in (0.0, 5.0, 10.0)]
    assert freq == pytest.approx([0.3, 0.3, 0.4], abs=0.015)


@pytest.mark.integration
def test_agile_plot_writes_png_and_pdf_figures(bbb, tmp_path):
    out, units = tmp_path / "out.csv", tmp_path / "units.csv"
    assert main(["agile", "vv", "--params", str(bbb / "scenario1_params.csv"),
                 "--signal", str(bbb / "scenario1_vpp.csv"), "--rules", "2015a", "--out", str(out),
                 "--units-out", str(units)]) == 0
    assert main(["agile", "plot", str(out), "--units", str(units), "--out", str(tmp_path / "fig")]) == 0
    for name in ("agile_tracking", "agile_type_stack", "agile_unit_energy"):
        for ext in ("png", "pdf"):
            assert (tmp_path / "fig" / f"{name}.{ext}").stat().st_size > 1000


# ------------------------------------------------------------------------ built-in cases without reference data
@pytest.mark.parametrize("phase", ["agile-phase1", "agile-phase2", "agile-phase3"])
def test_phase_cases_build_without_reference_data_and_repeat_byte_for_byte(tmp_path, monkeypatch, phase):
    """GIVEN no reference data anywhere (as after a plain pip install) WHEN a phase case is built twice in another
    folder THEN it draws its 105 units (and phase 1 its signal) the same way both times."""
    from vppfed.configs.case import build_case

    monkeypatch.setenv("VPPFED_SHARED_DATA", str(tmp_path))   # a folder without bbb/: any shared: path would fail
    monkeypatch.chdir(tmp_path)
    cases = Path(__file__).resolve().parents[1] / "cases"
    a = build_case(cases / phase / "case.yaml", tmp_path / "a").directory
    b = build_case(cases / phase / "case.yaml", tmp_path / "b").directory
    for name in ("vpp_params.csv", "vpp_signal.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    p = read_params_csv(a / "vpp_params.csv")
    assert (p.count(BUCKET), p.count(BATTERY), p.count(BAKERY)) == (5, 50, 50)
    signal = read_signal_csv(a / "vpp_signal.csv")
    assert len(signal) == 100
    if phase == "agile-phase1":
        assert signal[:30].tolist() == [10.0] * 15 + [0.0] * 15 and signal[-10:].tolist() == [10.0] * 10
    else:
        assert set(signal.tolist()) <= {0.0, 5.0, 10.0}


def test_reference_run_names_the_files(bbb, tmp_path):
    """GIVEN the reference exports WHEN --set vpp.params/vpp.signal name them THEN the case runs exactly them."""
    from vppfed.configs.case import build_case

    cases = Path(__file__).resolve().parents[1] / "cases"
    built = build_case(cases / "agile-phase1" / "case.yaml", tmp_path / "ref",
                       overrides={"vpp.params": str(bbb / "scenario2_params.csv"),
                                  "vpp.signal": str(bbb / "scenario2_vpp.csv")})
    ref = read_params_csv(bbb / "scenario2_params.csv")
    got = read_params_csv(built.directory / "vpp_params.csv")
    assert got.names == ref.names and np.array_equal(got.Pmax, ref.Pmax) and np.array_equal(got.Emax, ref.Emax)
    assert np.array_equal(read_signal_csv(built.directory / "vpp_signal.csv"),
                          read_signal_csv(bbb / "scenario2_vpp.csv"))


def test_scenario_signal_pattern_holds_each_value(tmp_path):
    (tmp_path / "s.yaml").write_text("seed: 1\nunits:\n  - {type: battery, count: 1, Pmax: 1.0, Emax: 2.0, Tend: 5}\n"
                                     "signal: {steps: 7, pattern: [3, 0, -1], hold: 2}\n")
    assert build_signal(load_scenario(tmp_path / "s.yaml")).tolist() == [3, 3, 0, 0, -1, -1, 3]
