"""Our own bulk-grid models in TESP's ``<case>_pp.json`` layout: a 9-bus, 4-unit TE30-style grid (and, in
:mod:`vppfed.configs.bulk_ercot8`, an 8-bus ERCOT-style one).

The 9-bus grid
--------------
Topology: three generator buses (1 slack, 2, 3) behind 230 kV step-up transformers (x = 0.06 pu) feeding a ring of six
230 kV buses 4-5-6-7-8-9-4; background load at buses 5, 7 and 9, the simulated feeder at bus 7 (scaled by 250), a
peaking unit at bus 9. Line data are per kilometre of a typical 230 kV overhead line (0.05 + j0.49 ohm/km, 3.4 uS/km)
times a route length; ratings are generous so that prices are set by energy, not congestion.

How the costs were chosen (all quadratic, cost = c2·P² + c1·P + c0, $/h with P in MW; marginal cost c1 + 2·c2·P):

=====  =====  ========  ======  =====  ==================================================================
unit   bus    Pmax MW   c2      c1     role
=====  =====  ========  ======  =====  ==================================================================
1      1      250       0.004   8      base load: marginal cost ≤ 10 $/MWh, so always at its maximum
2      2      200       0.06    16     mid-merit: 16 → 40 $/MWh over its range; sets day peaks
3      3      150       0.01    14     cheap mid-merit: 14 → 17 $/MWh; sets night prices; out 30-43 h
4      9      100       2.0     150    peaker: 150 $/MWh at zero, ≈390 $/MWh at 60 MW
=====  =====  ========  ======  =====  ==================================================================

With the background load swinging 280 → 430 MW (minimum 03:00, maximum 15:00) plus a 100-330 kW feeder scaled by 250
(25-82 MW), the total is ≈305-510 MW. With all units, units 1 and 3 carry the night and unit 2 the day peak: the LMP
runs ≈15 $/MWh at night to ≈29 $/MWh at the day peak, i.e. 0.015-0.03 $/kWh as in TESP's TE30 day 1. With unit 3 out
(30-43 h) units 1 and 2 give 450 MW: the peaker starts once the load passes that (late morning of day 2) and at a
≈510 MW peak runs ≈60 MW, where its marginal cost is ≈390 $/MWh: an outage peak of 0.3-0.4 $/kWh, lower when a
market's responsive load backs off. These are design targets, not fits: the numbers above are what the DC OPF gives for
the loads stated; ``tests/test_bulk_model.py`` checks the day-1 band and the outage peak.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vppfed.io import atomic_write_text

__all__ = ["Te30BulkParams", "background_load", "build_pp_dict", "write_bulk_model"]

_ZBASE_230 = 230.0 ** 2 / 100.0  # ohm, 100 MVA base
_R_KM, _X_KM, _B_KM = 0.05, 0.49, 3.4e-6  # ohm/km, ohm/km, S/km


def _line(f: int, t: int, km: float, rating: float) -> list[float]:
    r = _R_KM * km / _ZBASE_230
    x = _X_KM * km / _ZBASE_230
    b = _B_KM * km * _ZBASE_230
    return [f, t, round(r, 6), round(x, 6), round(b, 6), rating, rating, rating, 0, 0, 1, -360, 360]


def _xfmr(f: int, t: int, x: float, rating: float) -> list[float]:
    return [f, t, 0.0, x, 0.0, rating, rating, rating, 0, 0, 1, -360, 360]


def _gen(bus: int, pmax: float, pmin: float, vg: float, qlim: float) -> list[float]:
    return [bus, pmin, 0, qlim, -qlim, vg, 100, 1, pmax, pmin] + [0] * 11


@dataclass
class Te30BulkParams:
    """Parameters of the 9-bus TE30-style bulk model.

    feeder_bus : bus of the simulated feeder (a load bus: 5, 7 or 9).
    scale : TESP ``ampFactor``: the feeder's load is multiplied by this.
    outage_gen : 0-based generator row taken out from ``outage_start_h`` to ``outage_end_h`` (hours from start);
        ``None`` for no outage.
    hours, period_s, dt_s : horizon ``Tmax``, OPF period and power-flow step.
    background_min_mw, background_max_mw : total background load at its daily minimum/maximum (MW).
    background_min_hour : hour of the daily minimum; the maximum comes 12 h later.
    background_share : fraction of the background load at buses 5, 7, 9.
    noise_pct, seed : optional seeded multiplicative noise on the background rows (percent, default none).
    opf_dc : DC OPF (as TESP's TE30) instead of AC.
    """

    feeder_bus: int = 7
    scale: float = 250.0
    outage_gen: int | None = 2
    outage_start_h: float = 30.0
    outage_end_h: float = 43.0
    start_time: str = "2013-07-01 00:00:00"
    hours: float = 48.0
    period_s: int = 300
    dt_s: int = 15
    background_min_mw: float = 280.0
    background_max_mw: float = 430.0
    background_min_hour: float = 3.0
    background_share: tuple[float, float, float] = (0.30, 0.32, 0.38)
    interval_s: int = 300
    noise_pct: float = 0.0
    seed: int = 0
    opf_dc: bool = True
    gen_costs: list[list[float]] = field(default_factory=lambda: [[0.004, 8.0, 0.0], [0.06, 16.0, 0.0],
                                                                  [0.01, 14.0, 0.0], [2.0, 150.0, 0.0]])

    def validate(self) -> None:
        """Raise ValueError on impossible values (callers turn it into a UserError naming their file)."""
        if self.feeder_bus not in (5, 7, 9):
            raise ValueError(f"feeder_bus must be a load bus (5, 7 or 9), got {self.feeder_bus}")
        if self.scale <= 0:
            raise ValueError("scale must be > 0")
        if self.outage_gen is not None and not 0 <= self.outage_gen <= 3:
            raise ValueError("outage_gen must be a generator row 0..3 or null")
        if self.outage_end_h < self.outage_start_h:
            raise ValueError("outage_end_h must not be before outage_start_h")
        if not 0 < self.background_min_mw <= self.background_max_mw:
            raise ValueError("background_min_mw must be > 0 and <= background_max_mw")
        if len(self.background_share) != 3 or abs(sum(self.background_share) - 1.0) > 1e-9:
            raise ValueError("background_share needs three fractions that sum to 1")
        if self.period_s <= 0 or self.dt_s <= 0 or self.period_s % self.dt_s:
            raise ValueError("period_s and dt_s must be > 0 with period_s a multiple of dt_s")
        if 86400 % self.interval_s:
            raise ValueError("interval_s must divide a day")
        if len(self.gen_costs) != 4 or any(len(c) != 3 or c[0] < 0 for c in self.gen_costs):
            raise ValueError("gen_costs needs four [c2 >= 0, c1, c0] rows")


def background_load(p: Te30BulkParams) -> np.ndarray:
    """One day of background load, MW at buses 5, 7, 9 (rows every ``interval_s``; shape (86400/interval, 3)).

    Daily shape: a raised cosine with its minimum at ``background_min_hour`` and maximum 12 h later, plus a small
    second harmonic so mornings rise faster than evenings fall; deterministic unless ``noise_pct`` > 0 (seeded).
    """
    hours = np.arange(0, 86400, p.interval_s) / 3600.0
    phase = 2 * math.pi * (hours - p.background_min_hour) / 24.0
    shape = 0.5 - 0.5 * np.cos(phase) + 0.06 * np.sin(2 * phase)
    shape = (shape - shape.min()) / (shape.max() - shape.min())
    total = p.background_min_mw + (p.background_max_mw - p.background_min_mw) * shape
    if p.noise_pct > 0:
        rng = np.random.default_rng(p.seed)
        total = total * (1 + p.noise_pct / 100.0 * rng.standard_normal(total.shape))
    return np.round(np.outer(total, np.asarray(p.background_share)), 4)


def build_pp_dict(p: Te30BulkParams, csv_name: str | None) -> dict[str, Any]:
    """The ``_pp.json`` mapping (MATPOWER version 2 arrays + TESP co-simulation keys)."""
    p.validate()
    share = p.background_share
    mean_bg = 0.5 * (p.background_min_mw + p.background_max_mw)
    pd = {5: mean_bg * share[0], 7: mean_bg * share[1], 9: mean_bg * share[2]}
    qd_ratio = {5: 0.33, 7: 0.35, 9: 0.40}
    bus = []
    for b in range(1, 10):
        btype = 3 if b == 1 else (2 if b in (2, 3, 9) else 1)
        load = pd.get(b, 0.0)
        bus.append([b, btype, round(load, 3), round(load * qd_ratio.get(b, 0.0), 3), 0, 0, 1, 1.0, 0, 230.0, 1,
                    1.1, 0.9])
    gen = [_gen(1, 250, 10, 1.04, 200), _gen(2, 200, 10, 1.025, 150), _gen(3, 150, 10, 1.025, 150),
           _gen(9, 100, 0, 1.0, 80)]
    gencost = [[2, 0, 0, 3] + list(c) for c in p.gen_costs]
    branch = [_xfmr(1, 4, 0.06, 400), _xfmr(2, 8, 0.06, 300), _xfmr(3, 6, 0.06, 300),
              _line(4, 5, 100, 350), _line(5, 6, 150, 300), _line(6, 7, 110, 300), _line(7, 8, 80, 350),
              _line(8, 9, 160, 300), _line(9, 4, 90, 350)]
    units_out = []
    if p.outage_gen is not None and p.outage_end_h > p.outage_start_h:
        units_out = [[p.outage_gen, int(round(p.outage_start_h * 3600)), int(round(p.outage_end_h * 3600))]]
    doc: dict[str, Any] = {
        "version": "2", "baseMVA": 100.0, "bus": bus, "gen": gen, "branch": branch, "areas": [[1, 1]],
        "gencost": gencost, "genfuel": [["coal"], ["gas"], ["gas"], ["gas_peaker"]],
        "DSO": [[p.feeder_bus, f"SUBSTATION{p.feeder_bus}", p.scale]],
        "UnitsOut": units_out, "BranchesOut": [],
        "StartTime": p.start_time, "Tmax": int(round(p.hours * 3600)), "Period": p.period_s, "dt": p.dt_s,
        "opf_dc": 1 if p.opf_dc else 0, "pf_dc": 0,
    }
    if csv_name:
        doc.update({"CSVFile": csv_name, "CSVBuses": [5, 7, 9], "CSVInterval": p.interval_s})
    return doc


def write_bulk_model(p: Te30BulkParams, directory: str | Path, name: str = "te30") -> Path:
    """Write ``<name>_pp.json`` and its background-load CSV ``<name>_background_load.csv`` into ``directory``.

    The CSV has no header and one row per ``interval_s`` (MW at buses 5, 7, 9), so TESP's reader can load it too.
    Writes each file to a temporary name first and renames, so nothing is half-written. Returns the JSON path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_name = f"{name}_background_load.csv"
    rows = background_load(p)
    csv_text = "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in rows)
    doc = build_pp_dict(p, csv_name)
    for fname, text in ((csv_name, csv_text), (f"{name}_pp.json", json.dumps(doc, indent=1) + "\n")):
        atomic_write_text(directory / fname, text)
    return directory / f"{name}_pp.json"
