"""Messages of the co-simulated negotiation and the files its federates leave (no HELICS here).

Endpoints (global names): ``nb/manager``; ``nb/consumer/<house>`` (one per household, all in the consumers
federate); ``nb/producer/<house>_<device>`` (one per PV producer, all in the producers federate).

Sequence for one job (each hop takes one federate period of co-simulation time)::

    producer  -> manager   {"t": "register", "producer": id}                 when a producer first appears
    consumer  -> manager   {"t": "rank", "job": id}                          at the job's registration time
    manager   -> consumer  {"t": "ranking", "job": id, "producers": [ids]}   best score first
    consumer  -> producer  {"t": "request", "job": {...}}                    in ranking order
    producer  -> consumer  {"t": "accept"|"decline", "job": id, "start_s": s}
    consumer  -> manager   {"t": "answer", "producer": id, "accepted": b}    score -1 / +1
    producer  -> consumer  {"t": "reschedule", "job": id, "start_s": s}      a held job moved before it started

``id`` in these messages is the job's unique key (:attr:`~.model.Job.key`), never the file's job id, which
PySSMic's inputs repeat.

Each federate writes its part of the result in the case folder when it finishes; :func:`assemble_run_record` joins
them into ``neighbourhood_run.json`` (the same record as an in-process run). ``vppfed run`` joins them at the end of
the run, ``vppfed plot`` and ``vppfed report`` before they read the folder (:mod:`vppfed.summaries.neighbourhood`);
postprocess only reads the record (:mod:`vppfed.formats.neighbourhood`). Beside a feeder the consumers federate
also writes the PV the feeder measured (``neighbourhood_feeder_pv.json``) and the record gets a ``feeder`` part: the
same metrics with that PV as production instead of the predictions.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vppfed.federates.neighbourhood.model import Contract, Job, Profile
from vppfed.formats.neighbourhood import RECORD_FILE, SETUP_FILE  # the record's names live where postprocess reads it

MANAGER = "nb/manager"
CONTRACTS_FILE = "neighbourhood_contracts.json"
PRODUCERS_FILE = "neighbourhood_producers.json"
SCORES_PART = "neighbourhood_scores.json"
FEEDER_PV_FILE = "neighbourhood_feeder_pv.json"


def consumer_endpoint(house: str) -> str:
    """Global endpoint of a household's consumer."""
    return f"nb/consumer/{house}"


def producer_endpoint(producer_id: str) -> str:
    """Global endpoint of a producer (``pv_producer[57]:[220]`` -> ``nb/producer/57_220``)."""
    inner = producer_id[producer_id.index("["):]
    return "nb/producer/" + inner.replace("[", "").replace("]", "").replace(":", "_")


def job_to_dict(job: Job) -> dict:
    """A job as a message field."""
    return {"id": job.job_id, "key": job.key, "house": job.house, "device": job.device, "reg": job.reg_time_s,
            "est": job.est_s, "lst": job.lst_s, "name": job.profile_name, "times": job.profile.times_s.tolist(),
            "cum": job.profile.cumulative_wh.tolist()}


def job_from_dict(d: dict) -> Job:
    """Inverse of :func:`job_to_dict`."""
    return Job(d["id"], d["house"], d["device"], float(d["reg"]), float(d["est"]), float(d["lst"]),
               Profile(np.asarray(d["times"], dtype=float), np.asarray(d["cum"], dtype=float)), d.get("name", ""),
               d.get("key", ""))


def decode(payload: bytes) -> dict:
    """A received message body."""
    return json.loads(payload.decode("utf-8"))


def assemble_run_record(run_dir: Path, write: bool = True) -> dict | None:
    """Join the federates' parts in ``run_dir`` into a run record (and write ``neighbourhood_run.json``).

    Returns None when the parts are missing (not a neighbourhood run, or the run failed before finishing).
    """
    from vppfed.federates.neighbourhood.metrics import run_metrics
    from vppfed.federates.neighbourhood.simulation import RunResult

    run_dir = Path(run_dir)
    paths = [run_dir / name for name in (CONTRACTS_FILE, PRODUCERS_FILE, SCORES_PART, SETUP_FILE)]
    if not all(p.exists() for p in paths):
        return None
    contracts_doc, producers_doc, scores_doc, setup = (json.loads(p.read_text(encoding="utf-8")) for p in paths)
    length = float(setup["length_s"])
    every = [Contract.from_dict(c) for c in contracts_doc["contracts"]]
    every.sort(key=lambda c: (c.start_s, c.job_key))
    production = {pid: Profile(np.asarray(p["times_s"]), np.asarray(p["cumulative_wh"]))
                  for pid, p in producers_doc["production"].items()}
    result = RunResult([c for c in every if c.start_s < length], [c for c in every if c.start_s >= length],
                       production, producers_doc["producer_house"])
    metrics = run_metrics(result, length, setup["houses"], slot_s=60.0)
    record = {"run": setup.get("seed", 0), "optimizer": setup["optimizer"],
              "n_requests": producers_doc.get("n_requests", 0), "n_accepted": producers_doc.get("n_accepted", 0),
              "solver_limits": producers_doc.get("solver_limits", {}),
              "contracts": [c.to_dict() for c in result.contracts],
              "pending_contracts": [c.to_dict() for c in result.pending],
              "scores_after": scores_doc["scores"], **metrics.to_dict()}
    pv_path = run_dir / FEEDER_PV_FILE
    if setup.get("feeder") and pv_path.exists():
        pv_doc = json.loads(pv_path.read_text(encoding="utf-8"))
        measured = {pid: Profile(np.asarray(p["times_s"]), np.asarray(p["cumulative_wh"]))
                    for pid, p in pv_doc["production"].items()}
        # producers the feeder has no PV for keep their prediction (cannot happen when the case builder mapped them)
        actual = RunResult(result.contracts, result.pending, {**production, **measured}, result.producer_house)
        record["feeder"] = {"federate": setup["feeder"]["federate"], "feeder_houses": setup["feeder"]["houses"],
                            "pv_inverters": setup["feeder"]["pv_inverters"],
                            **run_metrics(actual, length, setup["houses"], slot_s=60.0).to_dict()}
    if write:
        from vppfed.federates.neighbourhood.runs import write_json

        write_json(run_dir / RECORD_FILE, record)
    return record
