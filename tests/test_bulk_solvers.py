"""Our fast solvers give pypower's answers: Newton power flow vs ``runpf``, HiGHS DC OPF vs ``rundcopf``.

Tolerances: voltages 1e-6 pu and angles 1e-5 deg (both solvers stop at a 1e-8 pu mismatch, from different start
points), slack Pg/Qg 1e-4 MW/MVAr; DC OPF dispatch 1e-3 MW and LMPs 1e-3 $/MWh (pypower's PIPS stops at its default
1e-6 relative tolerances, HiGHS is exact to ~1e-9).
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
from pypower.api import case9, case30, case118, ppoption, rundcopf, runopf, runpf
from pypower.ext2int import ext2int
from pypower.idx_brch import RATE_A
from pypower.idx_bus import LAM_P, PD, VA, VM
from pypower.idx_gen import PG, QG

from vppfed.configs.bulk_model import Te30BulkParams, build_pp_dict
from vppfed.federates.bulk.core import BulkGrid
from vppfed.federates.bulk.dcopf import DcOpfResult, DcOpfSolver
from vppfed.federates.bulk.powerflow import Network, bus_types, initial_voltage, make_sbus, solve_ac, \
    update_generators
from vppfed.formats.ppcase import case_from_dict

OPT = ppoption(VERBOSE=0, OUT_ALL=0)


def our_pf(ppc, dense=None, v_prev=None):
    i = ext2int(copy.deepcopy(ppc))
    net = Network.build(i["baseMVA"], i["bus"], i["branch"], dense=dense)
    ref, pv, pq = bus_types(i["bus"], i["gen"])
    v0 = initial_voltage(i["bus"], i["gen"], v_prev)
    v, ok, it = solve_ac(net, make_sbus(i["baseMVA"], i["bus"], i["gen"]), v0, ref, pv, pq)
    gen = i["gen"].copy()
    update_generators(i["baseMVA"], i["bus"], gen, net, v, ref)
    out = np.empty_like(gen)  # ext2int sorts generators by bus: back to the case's order
    out[i["order"]["gen"]["e2i"]] = gen
    return v, ok, it, out


@pytest.mark.parametrize("factory,dense", [(case9, None), (case30, None), (case118, None), (case118, False)])
def test_newton_power_flow_matches_runpf(factory, dense):
    # GIVEN a standard case WHEN solved by our Newton (dense or sparse) and by pypower's runpf THEN same state
    ppc = factory()
    ref = runpf(copy.deepcopy(ppc), OPT)[0]
    v, ok, _, gen = our_pf(ppc, dense=dense)
    assert ok and ref["success"]
    np.testing.assert_allclose(np.abs(v), ref["bus"][:, VM], atol=1e-6)
    np.testing.assert_allclose(np.angle(v, deg=True), ref["bus"][:, VA], atol=1e-5)
    np.testing.assert_allclose(gen[:, PG], ref["gen"][:, PG], atol=1e-4)
    np.testing.assert_allclose(gen[:, QG], ref["gen"][:, QG], atol=1e-4)


def test_warm_start_converges_in_fewer_iterations_to_the_same_answer():
    # GIVEN a solved case9 WHEN the load changes by 1 % and we restart from the previous voltages
    ppc = case9()
    v_cold, _, it_cold, _ = our_pf(ppc)
    ppc2 = case9()
    ppc2["bus"][:, PD] *= 1.01
    v_warm, ok, it_warm, _ = our_pf(ppc2, v_prev=v_cold)
    ref = runpf(ppc2, OPT)[0]
    # THEN it converges in fewer iterations than a flat start, to runpf's answer
    assert ok and it_warm < it_cold
    np.testing.assert_allclose(np.abs(v_warm), ref["bus"][:, VM], atol=1e-6)


def dcopf_both(ppc):
    ref = rundcopf(copy.deepcopy(ppc), OPT)
    i = ext2int(copy.deepcopy(ppc))
    net = Network.build(i["baseMVA"], i["bus"], i["branch"])
    r, _, _ = bus_types(i["bus"], i["gen"])
    ours = DcOpfSolver().solve(i["baseMVA"], i["bus"], i["gen"], i["gencost"], i["branch"], net, r)
    pg = np.empty_like(ours.pg)
    pg[i["order"]["gen"]["e2i"]] = ours.pg
    ours.pg = pg
    return ref, ours


@pytest.mark.parametrize("congested", [False, True])
def test_highs_dc_opf_matches_rundcopf_on_case9(congested):
    # GIVEN case9 (quadratic costs), optionally with line 6-7 (37.8 MW unconstrained) limited to 25 MW
    ppc = case9()
    if congested:
        ppc["branch"][4, RATE_A] = 25.0
    ref, ours = dcopf_both(ppc)
    assert ref["success"] and ours.success
    np.testing.assert_allclose(ours.pg, ref["gen"][:, PG], atol=1e-3)
    np.testing.assert_allclose(ours.lmp, ref["bus"][:, LAM_P], atol=1e-3)
    # THEN with the limit the LMPs differ between buses (the test exercises congestion)
    assert (np.ptp(ours.lmp) > 1.0) == congested


def test_highs_dc_opf_matches_rundcopf_with_a_dispatchable_load_and_piecewise_cost():
    # GIVEN our te30 grid with a dispatchable load at bus 7 and unit 4 costed piecewise-linearly
    doc = build_pp_dict(Te30BulkParams(), None)
    ppc = {k: np.array(doc[k], dtype=float) for k in ("bus", "gen", "branch", "gencost", "areas")}
    ppc.update(version="2", baseMVA=100.0)
    load = np.zeros((1, ppc["gen"].shape[1]))
    load[0, [0, 5, 6, 7, 8, 9]] = [7, 1.0, 100, 1, 0, -40]  # bus 7, Vg, mBase, status, Pmax 0, Pmin -40
    ppc["gen"] = np.vstack([ppc["gen"], load])
    pwl = np.zeros((ppc["gencost"].shape[0] + 1, 10))
    pwl[:-1, :7] = ppc["gencost"]
    pwl[3] = [1, 0, 0, 3, 0, 0, 50, 10000, 100, 30000]  # unit 4: 200 $/MWh, then 400 $/MWh above 50 MW
    pwl[4, :7] = [2, 0, 0, 3, 8.0, 500.0, 0]  # load: benefit 500·q − 8·q² (bids 500 $/MWh falling)
    ppc["gencost"] = pwl
    keep = [0, 1, 3, 4]  # unit 3 removed (out), so the peaker runs
    ppc["gen"], ppc["gencost"] = ppc["gen"][keep], ppc["gencost"][keep]
    ppc["bus"][:, PD] *= 1.45  # 515 MW: past units 1+2 and past the peaker's first segment
    ref, ours = dcopf_both(ppc)
    assert ref["success"] and ours.success
    assert ours.pg[2] > 50.0 and -40.0 < ours.pg[3] < 0.0
    np.testing.assert_allclose(ours.pg, ref["gen"][:, PG], atol=1e-3)
    np.testing.assert_allclose(ours.lmp, ref["bus"][:, LAM_P], atol=1e-3)


def test_bulk_grid_power_flow_equals_runpf_on_the_same_state():
    # GIVEN the te30 grid after an OPF with a 250 kW feeder scaled by 250
    case = case_from_dict(build_pp_dict(Te30BulkParams(), None))
    grid = BulkGrid(case)
    grid.set_feeder_load(7, complex(250e3, 80e3))
    grid.start()
    # WHEN the same loads and dispatch go through pypower's runpf
    ppc = case.ppc()
    ppc["bus"][:, PD] = grid.bus_pd
    ppc["bus"][:, 3] = grid.bus_qd
    ppc["gen"][:, PG] = grid.pf_dispatch[:grid.n_real_gen]
    ref = runpf(ppc, OPT)[0]
    # THEN voltages and the slack output agree
    np.testing.assert_allclose(np.abs(grid.v), ref["bus"][:, VM], atol=1e-6)
    np.testing.assert_allclose(grid.pg_pf[:grid.n_real_gen], ref["gen"][:, PG], atol=1e-4)
    assert grid.ploss == pytest.approx(ref["gen"][:, PG].sum() - ref["bus"][:, PD].sum(), abs=1e-4)


def test_ac_opf_mode_and_the_dc_fallback_give_pypowers_answers(monkeypatch):
    # GIVEN the te30 grid with opf_dc off WHEN started THEN dispatch and LMPs are runopf's on the same loads
    doc = build_pp_dict(Te30BulkParams(opf_dc=False), None)
    grid = BulkGrid(case_from_dict(doc))
    grid.start()
    ppc = case_from_dict(doc).ppc()
    ref = runopf(ppc, OPT)
    np.testing.assert_allclose(grid.dispatch[:4], ref["gen"][:, PG], atol=1e-6)
    np.testing.assert_allclose(grid.lmp, ref["bus"][:, LAM_P], atol=1e-6)
    # AND when HiGHS reports a failure, the DC OPF falls back to rundcopf with the same result as HiGHS
    dc = BulkGrid(case_from_dict(build_pp_dict(Te30BulkParams(), None)))
    dc.start()
    fails = BulkGrid(case_from_dict(build_pp_dict(Te30BulkParams(), None)))
    monkeypatch.setattr(DcOpfSolver, "solve", lambda self, *a: DcOpfResult(False, None, None, None, 0.0, "forced"))
    fails.start()
    np.testing.assert_allclose(fails.dispatch, dc.dispatch, atol=1e-3)
    np.testing.assert_allclose(fails.lmp, dc.lmp, atol=1e-3)
