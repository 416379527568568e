"""Shared fixtures of the test suite: where the reference data lives, and what happens when it does not.

The reference data (the BBB exports of the agile papers, ...) is never copied into the project: it lives in
``shared/data`` beside the checkout (``../shared/data`` from the repository root), or wherever
``$VPPFED_SHARED_DATA`` points. A user who clones the project without it gets skips that say what is missing,
not failures; CI sets ``VPPFED_REQUIRE_SHARED_DATA=1`` (in ``.ci/run``) so that missing data fails there instead of
being skipped in silence.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from vppfed.envvars import ENV_SHARED_DATA  # the reference-data folder (the one vppfed.configs.case reads)

#: Environment flag (set by CI) that turns a missing reference file from a skip into a failure.
ENV_REQUIRE_SHARED_DATA = "VPPFED_REQUIRE_SHARED_DATA"
#: Default reference-data folder: ``shared/data`` beside the checkout.
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_root() -> Path:
    """The reference-data folder: ``$VPPFED_SHARED_DATA`` if set, else ``../shared/data`` beside the checkout."""
    env = os.environ.get(ENV_SHARED_DATA)
    return Path(env) if env else DEFAULT_SHARED_DATA


def require_shared(*relative: str) -> Path:
    """Return the reference-data folder after checking that every ``relative`` file exists in it.

    Missing files skip the calling test with a reason naming them, or fail it when CI set
    ``VPPFED_REQUIRE_SHARED_DATA`` (so a CI run never passes by skipping what it should check).
    """
    root = shared_data_root()
    missing = [name for name in relative if not (root / name).exists()]
    if missing:
        reason = (f"reference data missing: {', '.join(missing)} not in {root} (set {ENV_SHARED_DATA} or put "
                  f"shared/data beside the checkout)")
        if os.environ.get(ENV_REQUIRE_SHARED_DATA, "") not in ("", "0"):
            pytest.fail(f"{reason}; {ENV_REQUIRE_SHARED_DATA} is set", pytrace=False)
        pytest.skip(reason)
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference-data folder (skip, or fail under CI's flag, when it does not exist)."""
    return require_shared(".")


@pytest.fixture(scope="session")
def bbb() -> Path:
    """The BBB exports of the agile papers (``<shared data>/bbb``): both scenarios' parameters and signals and the
    scenario 1 combined output of the MATLAB reference."""
    return require_shared("bbb/scenario1_params.csv", "bbb/scenario1_vpp.csv", "bbb/scenario1_combined_output.csv",
                          "bbb/scenario2_params.csv", "bbb/scenario2_vpp.csv") / "bbb"


# ------------------------------------------------------------------ unit tests apart from integration tests
#: Programs whose start makes a test an integration test (a real co-simulation: broker, GridLAB-D, HELICS apps).
INTEGRATION_PROGRAMS = frozenset({"helics_broker", "helics_app", "helics_player", "helics_recorder", "gridlabd"})
#: Markers that allow a test to start them (declared in pyproject.toml).
INTEGRATION_MARKERS = ("slow", "integration")


@pytest.fixture(autouse=True)
def _unit_tests_start_no_cosimulation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail an unmarked test the moment it starts a HELICS broker or GridLAB-D.

    ``pytest -m "not slow and not integration"`` is the fast unit run; it stays fast only if every test that starts a
    real co-simulation says so. Every process the code under test starts goes through ``subprocess.Popen`` (the
    launcher, the federates, ``gridlabd``), so a guard there catches an unmarked one wherever it hides.
    """
    if any(request.node.get_closest_marker(name) for name in INTEGRATION_MARKERS):
        return
    import subprocess

    base = subprocess.Popen
    nodeid = request.node.nodeid

    class GuardedPopen(base):  # type: ignore[misc, valid-type]
        def __init__(self, args, *more, **kwargs):
            argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
            program = Path(os.fsdecode(argv[0]).split()[0]).name if argv else ""
            if program in INTEGRATION_PROGRAMS:
                pytest.fail(f"{nodeid} starts {program} (a real co-simulation) but is not marked "
                            f"@pytest.mark.integration or @pytest.mark.slow", pytrace=False)
            super().__init__(args, *more, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", GuardedPopen)
