"""The 8-bus ERCOT-style model: its layout, wind profiles honoured by the OPF, a feasible and converged peak hour."""
from __future__ import annotations

import numpy as np
import pytest

from vppfed.configs.bulk_ercot8 import Ercot8Params, write_ercot8_model
from vppfed.configs.case import build_case
from vppfed.federates.bulk.core import BulkGrid
from vppfed.formats.ppcase import load_pp_case


def test_model_layout_and_determinism(tmp_path):
    a = write_ercot8_model(Ercot8Params(), tmp_path / "a")
    b = write_ercot8_model(Ercot8Params(), tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    case = load_pp_case(a)
    assert case.bus.shape[0] == 8 and case.gen.shape[0] == 19 and set(case.genfuel) == {
        "nuclear", "coal", "gas_cc", "gas_ct", "wind"}
    assert [d.bus for d in case.dso] == list(range(1, 9)) and case.background.mw.shape == (288, 8)
    assert len(case.pmax_profiles) == 3 and all(len(p.mw) == 72 for p in case.pmax_profiles)
    other = load_pp_case(write_ercot8_model(Ercot8Params(wind_seed=1), tmp_path / "c"))
    assert other.pmax_profiles[0].mw != case.pmax_profiles[0].mw


def test_wind_follows_its_profile_and_the_peak_hour_solves(tmp_path):
    case = load_pp_case(write_ercot8_model(Ercot8Params(), tmp_path))
    grid = BulkGrid(case)
    for d in case.dso:
        grid.set_feeder_load(d.bus, complex(250e3, 80e3))
    for t in (3 * 3600 - 15.0, 16 * 3600 - 15.0):  # night and the afternoon peak
        grid.step(t)
        assert grid.converged
        for prof in case.pmax_profiles:
            assert grid.dispatch[prof.index] <= prof.at(t) + 1e-6
        assert 20.0 < grid.lmp.min() and grid.lmp.max() < 200.0
    # the peak needs more than the cheap units: gas turbines or the last combined cycles set the price
    assert grid.lmp.max() > 40.0
    assert np.all(np.abs(grid.v) > 0.9)


def test_bulk_section_builds_an_ercot8_case(tmp_path):
    built = build_case({"case": {"name": "e8", "hours": 1}, "bulk": {"model": "ercot8", "bus": 3,
                                                                      "outage_gen": None}}, tmp_path / "case")
    case = load_pp_case(built.directory / "ercot8_pp.json")
    assert [d.bus for d in case.dso] == [3] and case.dso[0].scale == pytest.approx(250.0)


def test_section_outage_reaches_the_ercot8_model(tmp_path):
    built = build_case({"case": {"name": "e8", "hours": 1}, "bulk": {"model": "ercot8", "bus": 2, "outage_gen": 0,
                                                                      "outage_start_h": 1, "outage_end_h": 2}},
                       tmp_path / "case")
    case = load_pp_case(built.directory / "ercot8_pp.json")
    assert [(o.index, o.t_out, o.t_in) for o in case.units_out] == [(0, 3600.0, 7200.0)]


def _ercot_night(tmp_path, **opts):
    from vppfed.federates.bulk.core import BulkOptions

    case = load_pp_case(write_ercot8_model(Ercot8Params(), tmp_path))
    grid = BulkGrid(case, BulkOptions(**opts))
    for d in case.dso:
        grid.set_feeder_load(d.bus, complex(250e3, 80e3))
    grid.start()
    # the load grows by 1 % at every bus between two OPFs (the OPF at 285 s sees 300 s of drift coming)
    for d in case.dso:
        grid.set_feeder_load(d.bus, complex(250e3 * 1.01, 80e3))
    grid.step(60.0)
    return case, grid


def test_the_slack_unit_stays_within_its_limits_when_losses_and_drift_are_shared(tmp_path):
    from pypower.idx_gen import PMAX, PMIN

    # GIVEN the ERCOT grid at midnight, ~700 MW of losses and a load that moved since the OPF
    case, tesp = _ercot_night(tmp_path / "a", slack_sharing=False, loss_compensation=False)
    _, ours = _ercot_night(tmp_path / "b")
    n = ours.n_real_gen
    slack = int(np.flatnonzero(case.bus[:, 1] == 3)[0])
    slack_row = int(np.flatnonzero(case.gen[:, 0] == case.bus[slack, 0])[0])
    # THEN TESP's way (all on the slack unit) drives the slack far above its Pmax ...
    assert tesp.pg_pf[slack_row] > case.gen[slack_row, PMAX] + 300
    # ... while shared over the units by rating, every unit stays within [Pmin, Pmax] (wind within its profile)
    pmin, pmax = ours._limits(60.0)
    on = case.gen[:, 7] > 0
    assert np.all(ours.pg_pf[:n][on] <= pmax[:n][on] + 0.05) and np.all(ours.pg_pf[:n][on] >= pmin[:n][on] - 0.05)
    # ... the slack unit produces what its shared dispatch says, and generation covers load plus losses exactly
    assert ours.pg_pf[slack_row] == pytest.approx(ours.pf_dispatch[slack_row], abs=0.05)
    assert ours.pg_pf[:n].sum() == pytest.approx(ours.bus_pd.sum() + ours.ploss, abs=1e-3)
    # ... and with loss compensation the OPF already dispatched the losses it saw at its last solve
    assert ours.opf_loss > 300
    assert ours.dispatch[:n].sum() - tesp.dispatch[:n].sum() == pytest.approx(ours.opf_loss, abs=0.5)
