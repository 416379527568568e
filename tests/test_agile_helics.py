"""The agile VPP federates over real HELICS (lead's launcher): same results as the in-process network simulation."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vppfed.configs.case import build_case
from vppfed.federates.agile.link import LinkConfig
from vppfed.federates.agile.netsim import run_network
from vppfed.federates.agile.portfolio import read_params_csv
from vppfed.federates.agile.signal import read_signal_csv
from vppfed.federates.agile.simulate import simulate
from vppfed.launcher import Launcher

CASES = Path(__file__).resolve().parents[1] / "cases"
BBB = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbb"


def host_powers(run: Path, names: tuple[str, ...], steps: int, step_s: int) -> np.ndarray:
    """Per-unit P [kW] from every vpphost metrics file, as a steps x units array in params order."""
    col = {n: i for i, n in enumerate(names)}
    out = np.full((steps, len(names)), np.nan)
    for path in run.glob("vpphost*_metrics.json"):
        doc = json.loads(path.read_text())
        for t, rows in doc.items():
            if t in ("StartTime", "Metadata"):
                continue
            k = int(t) // step_s
            if 1 <= k <= steps:
                for unit, (p, _e) in rows.items():
                    out[k - 1, col[unit]] = p
    return out


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["agile-phase1", "agile-phase3"])
def test_helics_run_equals_the_in_process_network(tmp_path, phase):
    if not (BBB / "scenario2_params.csv").exists():
        pytest.fail(f"reference data missing: expected {BBB}/scenario2_params.csv (../shared/data/bbb)")
    built = build_case(CASES / phase / "case.yaml", tmp_path / phase, overrides={"case.hours": 0.5})
    summary = Launcher(built.runner, timeout=120).run()
    assert summary.ok
    p = read_params_csv(built.directory / "vpp_params.csv")
    sig = read_signal_csv(built.directory / "vpp_signal.csv")
    steps = 30
    got = host_powers(built.directory, p.names, steps, 60)
    raw = json.loads((built.directory / "runner.json").read_text())
    agg_exec = next(f["exec"] for f in raw["federates"] if f["name"] == "vpp_aggregator").split()
    seed = int(agg_exec[agg_exec.index("--seed") + 1])
    if phase == "agile-phase1":
        expected = simulate(p, sig[:steps], rules="strict", record_units=True).power
    else:
        expected = run_network(p, sig[:steps], hosts=3, seed=seed, uplink=LinkConfig(0.3, 1, 1),
                                downlink=LinkConfig(0.3, 0, 1)).power
    assert np.array_equal(got, expected)
