"""``--transport helics``: run one negotiation as a real HELICS federation and collect its result.

Writes the instance, one config per federate and a runner JSON into a temporary folder and hands the runner to
``run_federation``, which the caller supplies: the command line passes
:func:`vppfed.commands.cohda.run_federation` (the project launcher: private broker port, process groups, teardown on
any failure or timeout). The launcher sits above the federates (it starts them), so this module takes it as an
argument instead of importing it.
"""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vppfed.errors import CosimError
from vppfed.federates.cohda.adapter import CONTROLLER_ENDPOINT, agent_host_config, helics_config
from vppfed.federates.cohda.instance import Instance

log = logging.getLogger(__name__)

#: Runs a runner JSON to the end within ``timeout`` seconds; raises (e.g. :class:`~vppfed.errors.CosimError`) when the
#: federation fails.
FederationRunner = Callable[[Path, float], None]


def write_federation(instance: Instance, folder: Path, federates: int = 2, seed: int = 0,
                     max_rounds: int = 100_000, stop_round: float | None = None, timeout: float = 600.0,
                     warm_start: bool = False, delay: float = 0.0, loss: float = 0.0, resend: int = 0) -> Path:
    """Write instance, configs and runner for ``federates`` agent hosts plus the controller; returns the runner.

    ``delay`` (s, i.e. rounds) delays every message an agent sends (HELICS delivery time = send time + delay).
    ``loss`` drops each agent-to-agent step message with that probability, seeded (``seed``, and the host). A lost
    step message takes its share of the termination weight with it, so the controller can never detect
    termination: ``loss`` needs ``stop_round`` (the anytime stop), and the result is the best candidate the agents
    hold then. Under loss every agent starts deciding at once (a lone first speaker whose messages are all lost
    would stall the negotiation). ``resend`` > 0: every agent re-sends its whole working memory every ``resend``
    rounds, which repairs what losses broke (it also needs ``stop_round``: re-sent messages may carry no weight).
    """
    if delay < 0 or not 0 <= loss < 1:
        raise ValueError(f"COHDA on HELICS: delay must be >= 0 and loss in [0, 1) (got delay={delay}, loss={loss})")
    if resend < 0:
        raise ValueError(f"COHDA on HELICS: resend must be >= 0 rounds (got {resend})")
    if (loss > 0 or resend > 0) and stop_round is None:
        raise ValueError("COHDA on HELICS: message loss or re-sending needs an anytime stop round (a lost message "
                         "loses termination weight, a re-sent one may carry none: termination cannot be detected)")
    folder.mkdir(parents=True, exist_ok=True)
    instance.save(folder / "instance.npz")
    n = instance.agents
    k = max(1, min(federates, n))
    bounds = np.linspace(0, n, k + 1).astype(int)
    feds = []
    for f in range(k):
        lo, hi = int(bounds[f]), int(bounds[f + 1]) - 1
        name = f"cohda_agents_{f}"
        (folder / f"{name}.json").write_text(json.dumps(agent_host_config(name, range(lo, hi + 1))))
        feds.append({"name": name, "directory": ".",
                     "exec": f"python -m vppfed.federates.cohda --role agents --config {name}.json "
                             f"--instance instance.npz --slots {lo}:{hi} --stop {max_rounds}"
                             + (f" --link-delay {delay:g}" if delay > 0 else "")
                             + (f" --resend-every {resend}" if resend > 0 else "")
                             + (f" --loss {loss:g} --seed {seed}" if loss > 0 else "")})
    (folder / "cohda_controller.json").write_text(json.dumps(helics_config("cohda_controller",
                                                                           [CONTROLLER_ENDPOINT])))
    extra = f" --stop-round {stop_round}" if stop_round is not None else ""
    extra += " --warm-start" if warm_start else ""
    # a single speaker whose first messages are all lost would leave the negotiation dead: under loss all start
    extra += " --starters all" if loss > 0 else ""
    extra += " --ignore-weights" if resend > 0 else ""
    feds.append({"name": "cohda_controller", "directory": ".",
                 "exec": f"python -m vppfed.federates.cohda --role controller --config cohda_controller.json "
                         f"--instance instance.npz --out cohda_result.json --seed {seed} --stop {max_rounds}{extra}"})
    runner = {"name": "cohda", "broker": True, "federates": feds,
              "vppfed": {"stop_seconds": max_rounds, "timeout": timeout}}
    path = folder / "runner.json"
    path.write_text(json.dumps(runner, indent=1))
    return path


def solve_helics(instance: Instance, run_federation: FederationRunner | None, seed: int = 0, federates: int = 2,
                 folder: str | Path | None = None, timeout: float = 600.0, stop_round: float | None = None,
                 warm_start: bool = False, delay: float = 0.0, loss: float = 0.0,
                 resend: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Write the federation and run it with ``run_federation``; returns the selection and the counts (summed over
    federates)."""
    with tempfile.TemporaryDirectory(prefix="cohda_helics_") as tmp:
        base = Path(folder) if folder is not None else Path(tmp)
        runner = write_federation(instance, base, federates, seed, stop_round=stop_round, timeout=timeout,
                                  warm_start=warm_start, delay=delay, loss=loss, resend=resend)
        if run_federation is None:
            raise ValueError("COHDA on HELICS needs a federation runner (run_federation=, e.g. "
                             "vppfed.commands.cohda.run_federation)")
        run_federation(runner, timeout)
        if not (base / "cohda_result.json").exists():
            raise CosimError(f"COHDA federation: {base / 'cohda_result.json'} was not written")
        result = json.loads((base / "cohda_result.json").read_text())
        counts = {"messages": 0, "bytes": 0, "control_messages": 0, "control_bytes": 0, "max_message_bytes": 0,
                  "delivered_messages": 0}
        for path in sorted(base.glob("*_cohda_stats.json")):
            part = json.loads(path.read_text())
            for key in counts:
                value = part.get(key, 0)
                counts[key] = max(counts[key], value) if key == "max_message_bytes" else counts[key] + value
        for key in ("control_messages", "control_bytes"):
            counts[key] += result[key]
        counts.update(catalogue_bytes=int(instance.schedules.nbytes) * len(list(base.glob("cohda_agents_*.json"))),
                      sim_time=float(result["rounds"]), terminated=bool(result["terminated"]))
        return np.asarray(result["selection"], dtype=np.int64), counts
