"""The ``neighbourhood:`` section: CoSSMic-style negotiation of PV energy for shiftable jobs, as HELICS federates.

YAML (every field optional)::

    neighbourhood:
      folder: ""               # neighbourhood folder in the PySSMic layout, relative to the case YAML
      generate: {houses: 8}    # ... or a generator description (NeighbourhoodSpec) when folder is ""
      optimizer: milp          # milp | L-BFGS-B | SLSQP | TNC | fifty_fifty  (vppfed run --optimizer)
      eps: 1.0e-4              # scipy: finite-difference step; tol: termination tolerance; niter/stepsize: hops
      tol: 100.0
      max_grid_share: 0.5      # accept a job adding at most this share of its energy as grid import
      penalty: 1.0             # weight of consumption above production in the objective
      slot_s: 300              # objective grid, s; step_s: spacing of start options, s
      step_s: 900
      grid_start: random       # start of jobs nobody accepted: random (seeded) | earliest
      hop_s: 60                # co-simulation seconds per message hop (the federates' fixed period)
      scores_file: ""          # producer scores to start from (a run's neighbourhood_scores.json); "" = fresh,
                               # or in a batch (vppfed run --runs N) the scores run_NN-1 ended with
      feeder: false            # true: run beside the case's feeder: (needs feeder.spec.job_loads: true)

Three federates join the case: ``nb_manager`` (endpoint ``nb/manager``), ``nb_consumers`` (one endpoint per
household) and ``nb_producers`` (one per PV producer); see :mod:`vppfed.federates.neighbourhood.protocol`. The
neighbourhood is copied (or generated) into ``neighbourhood/`` of the case folder; the run length is ``case.hours``
and the negotiation's randomness follows ``case.seed`` (``vppfed run --runs N`` gives seeds seed..seed+N-1). The
input folder is only read: the manager federate writes the final scores into its run folder
(``neighbourhood_scores.json``). A run starts from fresh scores, from ``scores_file`` when given, and in a batch
``run_NN`` starts from the scores ``run_NN-1`` ended with (as PySSMic carries scores from run to run), so the same
command twice gives the same runs.

With ``feeder: true`` the households sit on the feeder's houses in order (household i on house i) and
(:mod:`vppfed.federates.neighbourhood.feeder_link`):

- ``nb_consumers`` publishes ``job_power_<household>`` (kW, the mean power of the household's running contracted
  jobs over the feeder's next step) and the feeder writes it into ``<house>_jobs.base_power``;
- the feeder publishes each producer's PV inverter ``VA_Out``; ``nb_consumers`` integrates its real part (W) into
  the PV the feeder measured, and the run record reports the energy split with it as well as with the predictions
  (which still drive the negotiation);
- ``hop_s`` must equal the feeder's step; decisions take effect one hop later (``lead_s``), the time the consumers
  need to tell the feeder. A producer's house must have a PV inverter. The neighbourhood's time 0 (its first event)
  is the case start; a generated neighbourhood starts at the case start unless ``generate.start_unix`` is given.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vppfed.io import parse_dataclass, require
from vppfed.errors import UserError
from vppfed.federates.neighbourhood.simulation import RunSettings

if TYPE_CHECKING:  # annotations only: the case framework imports this module
    from vppfed.configs.case import CaseContext

SECTION = "neighbourhood"
ORDER = 60


@dataclass
class NeighbourhoodSection(RunSettings):
    """The ``neighbourhood:`` YAML section: the run settings plus where the neighbourhood comes from."""

    folder: str = ""
    generate: dict | None = None
    hop_s: int = 60
    scores_file: str = ""
    feeder: bool = False

    def validate(self) -> None:
        """Run-setting ranges plus the section's own fields."""
        super().validate()
        require(self.hop_s >= 1, "hop_s", "must be >= 1 s")
        require(not (self.folder and self.generate), "generate", "give either folder or generate, not both")

    def run_settings(self, length_s: float) -> RunSettings:
        """The :class:`RunSettings` part, with the case's length."""
        names = {f.name for f in fields(RunSettings)}
        values = {k: v for k, v in asdict(self).items() if k in names}
        values["length_s"] = length_s
        return RunSettings(**values)


def build(ctx: CaseContext, raw: dict[str, Any]) -> None:
    """Copy or generate the neighbourhood, write the setup and add the three federates."""
    from vppfed.configs.neighbourhood_input import NeighbourhoodSpec, generate_neighbourhood
    from vppfed.federates.neighbourhood.inputs import load_neighbourhood
    from vppfed.federates.neighbourhood.negotiation import SCORES_FILE
    from vppfed.federates.neighbourhood.protocol import (
        MANAGER, SETUP_FILE, consumer_endpoint, producer_endpoint)

    where = ctx.where(SECTION)
    sec = parse_dataclass(NeighbourhoodSection, raw, where)
    target = ctx.directory / "neighbourhood"
    if sec.folder:
        source = ctx.resolve_input(sec.folder)
        if not source.is_dir():
            raise UserError(f"{where}.folder: {source} is not a folder")
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(SCORES_FILE, "*.tmp"))
    else:
        generate = dict(sec.generate or {})
        if sec.feeder:
            generate.setdefault("start_unix", _case_start_unix(ctx))
        spec = parse_dataclass(NeighbourhoodSpec, generate, f"{where}.generate")
        generate_neighbourhood(spec, target)
    scores = _initial_scores(ctx, sec, where)
    nb = load_neighbourhood(target)
    settings = sec.run_settings(ctx.settings.stop_seconds)
    producers = sorted({e.producer_id for e in nb.producer_events})
    houses = nb.house_ids()
    setup = {"folder": "neighbourhood", "settings": asdict(settings), "seed": ctx.settings.seed,
             "initial_scores": scores, "optimizer": settings.optimizer, "length_s": settings.length_s,
             "houses": houses, "t0_unix": nb.t0_unix}
    extra: dict[str, dict] = {"nb_manager": {}, "nb_producers": {}, "nb_consumers": {}}
    if sec.feeder:
        setup["feeder"], extra["nb_consumers"] = _couple_to_feeder(ctx, sec, nb, where)
    ctx.write_json(SETUP_FILE, setup)
    endpoints = {
        "nb_manager": [MANAGER],
        "nb_consumers": [consumer_endpoint(h) for h in houses],
        "nb_producers": [producer_endpoint(p) for p in producers] or [],
    }
    start = f"{ctx.settings.start} {ctx.settings.timezone[:3]}"
    for name, role in (("nb_manager", "manager"), ("nb_producers", "producers"), ("nb_consumers", "consumers")):
        config = {"name": name, "period": sec.hop_s, "log_level": "warning", "terminate_on_error": True,
                  "uninterruptible": True,
                  "endpoints": [{"name": e, "global": True} for e in endpoints[name]], **extra[name]}
        args = ["python", "-m", "vppfed.federates.neighbourhood", "--role", role, "--config", ctx.config_name(name),
                "--setup", SETUP_FILE, "--stop", f"{ctx.settings.stop_seconds:g}", "--metrics-root",
                ctx.settings.root, "--start", start, "--metrics-interval", str(ctx.settings.metrics_interval_s)]
        ctx.add_federate(name, " ".join(shlex.quote(a) for a in args), config)


_STAGING = re.compile(r"^\.(?P<name>.+)\.staging-\d+$")
_BATCH_RUN = re.compile(r"^run_(?P<n>\d+)$")


def _initial_scores(ctx: Any, sec: NeighbourhoodSection, where: str) -> dict[str, float]:
    """The producer scores this run starts from (copied into the setup, so the run never reads them again).

    ``scores_file`` when given; else, for ``run_NN`` (NN > 0) of a ``vppfed run --runs N`` batch, the scores
    ``run_NN-1`` ended with; else none (fresh). Nothing outside the case folder is ever written.
    """
    from vppfed.federates.neighbourhood.protocol import SCORES_PART
    from vppfed.federates.neighbourhood.runs import load_scores

    if sec.scores_file:
        return dict(load_scores(ctx.resolve_input(sec.scores_file)).scores)
    directory = Path(ctx.directory)
    staged = _STAGING.match(directory.name)   # the case is built beside its final folder, then renamed
    name = staged.group("name") if staged else directory.name
    batch = _BATCH_RUN.match(name)
    if batch is None or int(batch.group("n")) == 0:
        return {}
    width = len(batch.group("n"))
    previous = directory.parent / f"run_{int(batch.group('n')) - 1:0{width}d}" / SCORES_PART
    if not previous.is_file():
        return {}
    doc = json.loads(previous.read_text(encoding="utf-8"))
    if doc.get("failed"):
        raise UserError(f"{where}: the previous run of the batch failed ({previous}); its scores are not carried")
    return {str(k): float(v) for k, v in doc["scores"].items()}


def _case_start_unix(ctx: Any) -> int:
    """The case start (local time in ``case.timezone``) as UNIX seconds."""
    from zoneinfo import ZoneInfo

    from vppfed.formats.gridlabd import GLD_TIMEZONES

    zone = ZoneInfo(GLD_TIMEZONES.get(ctx.settings.timezone, "UTC"))
    return int(ctx.settings.start_datetime.replace(tzinfo=zone).timestamp())


def _couple_to_feeder(ctx: Any, sec: NeighbourhoodSection, nb: Any, where: str) -> tuple[dict, dict]:
    """Map households onto the feeder, ask it for the PV publications and job-load subscriptions.

    Returns the setup's ``feeder`` part and the extra HELICS config of ``nb_consumers``.
    """
    from vppfed.federates.neighbourhood.feeder_link import job_power_key, jobs_load_name, map_households

    handle = ctx.handles.get("feeder")
    if handle is None:
        raise UserError(f"{where}.feeder: true needs a feeder: section in the case")
    step = int(handle.helics.period)
    if sec.hop_s != step:
        raise UserError(f"{where}.hop_s: must equal the feeder's step ({step} s) when feeder: true, got {sec.hop_s}")
    inv = handle.inventory
    glm = (ctx.directory / handle.device_glm).read_text(encoding="utf-8")
    if inv.houses and f"name {jobs_load_name(inv.houses[0])};" not in glm:
        raise UserError(f"{where}.feeder: " + (f"{handle.source} has no job loads (a ZIPload "
                        f"{jobs_load_name(inv.houses[0])} under each house)" if handle.source else
                        "the feeder has no job loads; set feeder.spec.job_loads: true"))
    pv_of = {inv.device_house[i]: i for i in inv.pv_inverters}
    producer_house = {e.producer_id: e.house for e in nb.producer_events}
    try:
        mapping = map_households(nb.house_ids(), inv.houses, producer_house, pv_of)
    except ValueError as exc:
        raise UserError(f"{where}.feeder: {exc}") from None
    publications, subscriptions, pv_targets = [], [], {}
    for household, house in mapping.houses.items():
        key = job_power_key(household)
        publications.append({"key": key, "global": False, "type": "double", "unit": "kW"})
        handle.subscribe(f"nb_consumers/{key}", jobs_load_name(house), "base_power", "double")
    for pid, inverter in mapping.pv_inverters.items():
        pv_targets[pid] = handle.publish(inverter, "VA_Out", "complex")
        subscriptions.append({"key": pv_targets[pid], "type": "complex", "required": True})
    part = {"federate": handle.name, "lead_s": float(step), **mapping.to_dict(), "pv_targets": pv_targets,
            "job_loads": {h: jobs_load_name(house) for h, house in mapping.houses.items()}}
    config = {"wait_for_current_time_update": True, "publications": publications, "subscriptions": subscriptions}
    return part, config
