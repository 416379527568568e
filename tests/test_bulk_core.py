"""The bulk-grid core: outage timing, feeder scaling, LMP units, OPF schedule, skip tolerances, market curves,
cases other than the 9-bus one, and the _pp.json reader's errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pypower.api import case30

from vppfed.configs.bulk_model import Te30BulkParams, build_pp_dict
from vppfed.errors import UserError
from vppfed.federates.bulk.core import BulkGrid, BulkOptions, ResponsiveCurve
from vppfed.formats.ppcase import case_from_dict, load_pp_case


def te30_grid(**opts) -> BulkGrid:
    return BulkGrid(case_from_dict(build_pp_dict(Te30BulkParams(), None)), BulkOptions(**opts))


def pgen(grid: BulkGrid, row: int) -> float:
    return grid.metrics("r")["gen"][str(row + 1)][0]


def test_unit_out_exactly_from_t_out_until_t_in_and_redispatched_at_once():
    # GIVEN the te30 grid with unit 3 (row 2) out from 108000 s to 154800 s
    grid = te30_grid()
    grid.set_feeder_load(7, complex(200e3, 60e3))
    grid.start()
    grid.step(107985.0)
    assert pgen(grid, 2) > 0
    opf_before = grid.counters.opf_solved
    # WHEN time reaches t_out THEN the unit is off and an OPF ran at once (not at the next period)
    grid.step(108000.0)
    assert pgen(grid, 2) == 0.0
    assert grid.counters.opf_solved == opf_before + 1
    assert grid.dispatch[2] == 0.0
    grid.step(154785.0)
    assert pgen(grid, 2) == 0.0
    # AND it is back at t_in
    grid.step(154800.0)
    assert pgen(grid, 2) > 0


def test_feeder_load_is_scaled_by_the_dso_factor_and_voltage_is_line_to_neutral():
    # GIVEN a 200 kW + 50 kvar feeder at bus 7 scaled by 250
    grid = te30_grid()
    grid.start()
    pd0, qd0 = grid.bus_pd[grid.index[7]], grid.bus_qd[grid.index[7]]
    grid.set_feeder_load(7, complex(200e3, 50e3))
    grid.step(15.0)
    # THEN bus 7 carries 50 MW and 12.5 Mvar more
    assert grid.bus_pd[grid.index[7]] - pd0 == pytest.approx(50.0)
    assert grid.bus_qd[grid.index[7]] - qd0 == pytest.approx(12.5)
    vm = abs(grid.v[grid.index[7]])
    assert grid.voltage_ln(7) == pytest.approx(1000 * vm * 230.0 / math.sqrt(3))


def test_lmp_in_dollars_per_kwh_equals_the_marginal_units_cost():
    # GIVEN the day-1 peak (unit 2 marginal, between its limits)
    grid = te30_grid()
    grid.set_feeder_load(7, complex(300e3, 90e3))
    grid.step(15 * 3600 - 15.0)  # an OPF time near the background peak
    p2 = grid.dispatch[1]
    assert 10.0 < p2 < 200.0
    # THEN λ = c1 + 2 c2 P of unit 2, and the published LMP is 0.001 λ in $/kWh
    assert grid.lmp_kwh(7) == pytest.approx(0.001 * (16.0 + 2 * 0.06 * p2), rel=1e-6)


def test_opf_runs_dt_before_each_period_boundary():
    # GIVEN dt 15 s and Period 300 s WHEN stepping every 15 s with a changing load
    grid = te30_grid(opf_tol_mw=0.0)
    grid.start()
    opf_times = []
    for k in range(1, 61):
        t = 15.0 * k
        grid.set_feeder_load(7, complex(100e3 + 1e3 * k, 0))
        if grid.step(t).opf_solved:
            opf_times.append(t)
    # THEN the OPF ran at T − 15 s (TESP: LMP ready for the market clearing at T)
    assert opf_times == [285.0, 585.0, 885.0]


def test_power_flow_is_skipped_only_below_the_stated_tolerance():
    grid = te30_grid(pf_tol_mw=0.01)
    grid.set_feeder_load(7, complex(200e3, 0))
    grid.start()
    # WHEN the feeder moves by 20 W (5 kW at the bus, below 0.01 MW) THEN no solve, voltage kept
    grid.set_feeder_load(7, complex(200.02e3, 0))
    assert not grid.step(15.0).pf_solved
    v_skipped = grid.voltage_ln(7)
    # AND the exact answer differs by far less than a volt
    exact = te30_grid(pf_tol_mw=0.0)
    exact.set_feeder_load(7, complex(200e3, 0))
    exact.start()
    exact.set_feeder_load(7, complex(200.02e3, 0))
    assert exact.step(15.0).pf_solved
    assert abs(exact.voltage_ln(7) - v_skipped) < 1.0
    # WHEN it moves by 1 kW (0.25 MW at the bus) THEN it solves
    grid.set_feeder_load(7, complex(201e3, 0))
    assert grid.step(30.0).pf_solved


def test_opf_is_skipped_when_loads_and_bids_are_unchanged():
    grid = te30_grid()
    grid.set_feeder_load(7, complex(200e3, 0))
    grid.start()
    solved = grid.counters.opf_solved
    grid.step(285.0)  # same background row (00:00-00:05), same feeder: nothing to do
    assert grid.counters.opf_solved == solved
    grid.set_curve(7, ResponsiveCurve(0.15, 0.05, -2000.0, 100.0, 2))
    grid.step(585.0)
    assert grid.counters.opf_solved == solved + 1


def test_market_curve_enters_the_opf_as_a_dispatchable_load_scaled_to_the_bus():
    # GIVEN a feeder of 0.2 MW of which the market says 0.15 unresponsive, up to 0.05 responsive, bid 100 $/MWh
    grid = te30_grid()
    grid.set_feeder_load(7, complex(200e3, 0))
    grid.set_curve(7, ResponsiveCurve(unresponsive_mw=0.15, responsive_max_mw=0.05, c2=-2000.0, c1=100.0, deg=2))
    grid.start()
    row = grid.disp_row[7]
    lam = grid.lmp[grid.index[7]]
    # THEN the dispatchable load takes q where 100 − 2·(2000/250)·q = λ, within its 12.5 MW limit
    q = -grid.dispatch[row]
    assert q == pytest.approx((100.0 - lam) / (2 * 2000.0 / 250.0), rel=1e-5)
    assert 0 < q < 0.05 * 250
    # AND the power flow still uses the measured feeder load (dispatchable load not injected twice)
    assert grid.pg_pf[row] == 0.0
    # AND a linear bid (deg 1) below the LMP is not dispatched at all
    grid.set_curve(7, ResponsiveCurve(0.15, 0.05, 0.0, 5.0, 1))
    grid.step(285.0)
    assert grid.dispatch[row] == pytest.approx(0.0, abs=1e-6)


def test_a_positive_c2_is_treated_as_a_linear_bid(caplog):
    grid = te30_grid()
    grid.set_curve(7, ResponsiveCurve(0.15, 0.05, +500.0, 100.0, 2))
    grid.start()
    assert grid.dispatch[grid.disp_row[7]] == pytest.approx(-0.05 * 250, rel=1e-6)
    assert "non-convex" in caplog.text


def test_branch_outage_changes_the_flows_and_restores():
    doc = build_pp_dict(Te30BulkParams(outage_gen=None), None)
    doc["BranchesOut"] = [[5, 300, 600]]  # line 6-7
    grid = BulkGrid(case_from_dict(doc))
    grid.start()
    v_before = grid.voltage_ln(7)
    grid.step(300.0)
    v_out = grid.voltage_ln(7)
    grid.step(600.0)
    assert abs(v_out - v_before) > 100.0
    assert grid.voltage_ln(7) == pytest.approx(v_before, abs=1.0)


def test_not_hard_wired_to_nine_buses_two_feeders_on_case30():
    # GIVEN IEEE case30 with feeders at buses 7 and 30, generators with quadratic costs
    ppc = case30()
    doc = {k: np.asarray(v).tolist() for k, v in ppc.items() if k in ("bus", "gen", "branch", "gencost", "areas")}
    doc.update(baseMVA=ppc["baseMVA"], DSO=[[7, "SUBSTATION7", 100.0], [30, "SUBSTATION30", 50.0]])
    grid = BulkGrid(case_from_dict(doc))
    grid.set_feeder_load(7, complex(100e3, 0))
    grid.set_feeder_load(30, complex(100e3, 0))
    grid.start()
    m = grid.metrics("r")
    assert set(m["bus"]) == {"7", "30"}
    assert m["sys"]["r"][1] == 1
    assert grid.bus_pd[grid.index[30]] == pytest.approx(ppc["bus"][29, 2] + 5.0)
    assert all(0 < grid.lmp_kwh(b) < 1 for b in (7, 30))


def test_reader_names_the_bad_field(tmp_path):
    doc = build_pp_dict(Te30BulkParams(), None)
    doc["DSO"] = [[4242, "SUBSTATION", 250]]
    (tmp_path / "x_pp.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match=r"x_pp.json: field 'DSO\[0\]': unknown bus 4242"):
        load_pp_case(tmp_path / "x_pp.json")
    del doc["gencost"]
    with pytest.raises(UserError, match="field 'gencost' is missing"):
        case_from_dict(doc, "y_pp.json")
    with pytest.raises(UserError, match="file not found"):
        load_pp_case(tmp_path / "missing_pp.json")


def test_background_csv_with_cr_line_ends_and_header_is_looped(tmp_path):
    # GIVEN a TESP-style CSV (CR line ends) with a header, two rows of 300 s
    (tmp_path / "bg.txt").write_bytes(b"b5,b7,b9\r10,20,30\r11,21,31\r")
    doc = build_pp_dict(Te30BulkParams(), None)
    doc["CSVFile"] = "bg.txt"
    (tmp_path / "c_pp.json").write_text(json.dumps(doc))
    bg = load_pp_case(tmp_path / "c_pp.json").background
    assert bg.buses == [5, 7, 9]  # the buses with static load, in order
    np.testing.assert_array_equal(bg.at(299.0), [10, 20, 30])
    np.testing.assert_array_equal(bg.at(300.0), [11, 21, 31])
    np.testing.assert_array_equal(bg.at(600.0), [10, 20, 30])  # looped
