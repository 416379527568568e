"""Our 9-bus TE30-style model: same parameters give the same bytes, and prices behave like TESP's TE30
(tesp-contract §9: day-1 LMP ≈0.015-0.03 $/kWh, outage peak ≈0.3-0.42 $/kWh, peaker only in the outage)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vppfed.configs.bulk_model import Te30BulkParams, background_load, write_bulk_model
from vppfed.federates.bulk.core import BulkGrid
from vppfed.formats.ppcase import load_pp_case


def feeder_kw(t: float) -> float:
    """A TE30-like feeder: 100 kW at night, 330 kW at 14:00."""
    h = (t / 3600.0) % 24
    return 100.0 + (230.0 * math.sin(math.pi * (h - 7) / 14) if 7 <= h <= 21 else 0.0)


def test_same_parameters_give_the_same_files(tmp_path):
    a = write_bulk_model(Te30BulkParams(), tmp_path / "a")
    b = write_bulk_model(Te30BulkParams(), tmp_path / "b")
    for name in ("te30_pp.json", "te30_background_load.csv"):
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()
    noisy = background_load(Te30BulkParams(noise_pct=2.0, seed=3))
    assert np.array_equal(noisy, background_load(Te30BulkParams(noise_pct=2.0, seed=3)))
    assert not np.array_equal(noisy, background_load(Te30BulkParams(noise_pct=2.0, seed=4)))


def test_background_has_288_five_minute_rows_with_the_stated_daily_range():
    rows = background_load(Te30BulkParams())
    assert rows.shape == (288, 3)
    total = rows.sum(axis=1)
    assert total.min() == pytest.approx(280.0, abs=0.01) and total.max() == pytest.approx(430.0, abs=0.01)
    assert 2 <= np.argmin(total) * 5 / 60 <= 4 and 14 <= np.argmax(total) * 5 / 60 <= 16


@pytest.mark.slow
def test_48h_prices_look_like_tesp_te30(tmp_path):
    # GIVEN the model with a 100-330 kW feeder scaled by 250 and unit 3 out from 30 h to 43 h
    grid = BulkGrid(load_pp_case(write_bulk_model(Te30BulkParams(), tmp_path)))
    grid.start()
    lmp, peaker = [], []
    for k in range(1, 48 * 12 + 1):  # one step per 5 min is enough for prices (OPF every 300 s at T − 15 s)
        t = 300.0 * k - 15.0
        grid.set_feeder_load(7, complex(feeder_kw(t) * 1e3, 0.3 * feeder_kw(t) * 1e3))
        grid.step(t)
        lmp.append(grid.lmp_kwh(7))
        peaker.append(grid.dispatch[3])
    lmp, peaker = np.array(lmp), np.array(peaker)
    hours = (300.0 * np.arange(1, 48 * 12 + 1) - 15.0) / 3600.0
    day1 = hours < 24
    outage = (hours >= 30) & (hours < 43)
    # THEN day 1 stays in TESP's band, the outage peak is of order 0.3-0.4 $/kWh, the peaker runs only then
    assert 0.014 < lmp[day1].min() and lmp[day1].max() < 0.031
    assert 0.30 < lmp[outage].max() < 0.42
    assert peaker[~outage].max() < 1e-6 and 50 < peaker[outage].max() < 70
