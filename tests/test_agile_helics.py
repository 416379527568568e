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
from vppfed.postprocess.agile_run import load_agile_run

CASES = Path(__file__).resolve().parents[1] / "cases"
BBB = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbb"


def host_powers(run: Path, names: tuple[str, ...], steps: int) -> np.ndarray:
    """Per-unit P [kW] from the unit hosts' metrics, as a steps x units array in params order."""
    got = load_agile_run(run)
    assert got is not None and got.units == list(names) and got.steps == steps
    return got.unit["P"]


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
    steps = 50  # 0.5 h of 36 s steps
    got = host_powers(built.directory, p.names, steps)
    raw = json.loads((built.directory / "runner.json").read_text())
    agg_exec = next(f["exec"] for f in raw["federates"] if f["name"] == "vpp_aggregator").split()
    seed = int(agg_exec[agg_exec.index("--seed") + 1])
    if phase == "agile-phase1":
        expected = simulate(p, sig[:steps], rules="strict", record_units=True).power
    else:
        expected = run_network(p, sig[:steps], hosts=3, seed=seed, uplink=LinkConfig(0.3, 1, 1),
                                downlink=LinkConfig(0.3, 0, 1)).power
    assert np.array_equal(got, expected)
