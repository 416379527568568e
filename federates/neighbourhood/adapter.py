"""HELICS adapters of the neighbourhood: the manager, the consumers and the producers as message endpoints.

Three federates, each a thin shell around the pure core (:mod:`.negotiation`), talking with the messages of
:mod:`.protocol`. All step with a fixed ``period`` (``hop_s``) and are uninterruptible: a message sent at ``t`` is
handled at ``t + hop_s``, so negotiation takes one hop of co-simulation time per message. (Event-driven requests
interrupted by messages deadlocked intermittently in helics 3.6.1: all three federates waiting in
``helicsFederateRequestTime``, in about one run of five here.)

Beside a feeder (setup ``feeder``, see :mod:`.feeder_link`) the consumers federate also stands for the households'
meters: it publishes each household's job power for the feeder's next step and integrates the producers' PV output
as the feeder publishes it. It then runs with ``wait_for_current_time_update``, so at ``t`` it sees everything the
feeder, the producers and the manager did at ``t`` and the feeder sees its values exactly one step later, never in
the same step: the coupling does not depend on which process HELICS lets run first.

``python -m vppfed.federates.neighbourhood --role manager|consumers|producers --config X.json --setup S.json``:
:func:`build_parser` is the command line (the case builder writes it into the runner JSON).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from vppfed.federates.metrics import MetricsWriter
from vppfed.federates.neighbourhood.feeder_link import MeasuredProduction, household_job_power_kw, job_power_key
from vppfed.federates.neighbourhood.model import GRID, Contract, Job
from vppfed.federates.neighbourhood.negotiation import Manager, Producer, ScoreBoard, grid_contract
from vppfed.federates.neighbourhood.protocol import (
    CONTRACTS_FILE, FEEDER_PV_FILE, MANAGER, PRODUCERS_FILE, SCORES_PART, consumer_endpoint, decode, job_from_dict,
    job_to_dict, producer_endpoint)
from vppfed.federates.neighbourhood.runs import write_json
from vppfed.federates.neighbourhood.simulation import RunSettings
from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds

log = logging.getLogger(__name__)


def _setup(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _settings(setup: dict) -> RunSettings:
    return RunSettings(**setup["settings"])


def _lead(setup: dict) -> float:
    """Seconds between a decision and the first feeder step it can change (0 without a feeder)."""
    feeder = setup.get("feeder")
    return float(feeder["lead_s"]) if feeder else 0.0


def _rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator per purpose, stable across Python runs (no ``hash``)."""
    return np.random.default_rng([int(seed)] + [ord(c) for c in purpose])


class _EventFederate(FederateBase):
    """Steps every ``period``; ``own_events`` lists the times of its next own events (for readers and tests)."""

    def own_events(self) -> list[float]:
        return []


class ManagerFederate(_EventFederate):
    """Keeps the producer scores, ranks producers for each job, writes the final scores into its run folder."""

    def __init__(self, config_path: str | Path, stop_seconds: float, setup_path: Path) -> None:
        super().__init__(config_path, stop_seconds)
        self.setup = _setup(setup_path)
        initial = self.setup.get("initial_scores") or {}
        self.manager = Manager(ScoreBoard({str(k): float(v) for k, v in initial.items()}))

    def on_step(self, t: float) -> None:
        messages = [(src, decode(body)) for src, body, _ in self.receive(MANAGER)]
        # registrations first, so a producer appearing at t is ranked for jobs posted at t
        messages.sort(key=lambda m: m[1]["t"] != "register")
        for source, msg in messages:
            kind = msg["t"]
            if kind == "register":
                self.manager.register(msg["producer"])
            elif kind == "rank":
                ranking = [producer_endpoint(pid) for pid in self.manager.ranking()]
                self.send(MANAGER, source, {"t": "ranking", "job": msg["job"], "producers": ranking,
                                            "ids": self.manager.ranking()})
            elif kind == "answer":
                self.manager.record(msg["producer"], bool(msg["accepted"]))
            else:
                log.warning("manager: unknown message %r from %s", kind, source)

    def on_finish(self, failed: bool) -> None:
        write_json(Path.cwd() / SCORES_PART, {"scores": self.manager.scores.scores, "failed": failed})


class ProducersFederate(_EventFederate):
    """Every PV producer of the neighbourhood: prediction updates on schedule, requests answered by the core."""

    def __init__(self, config_path: str | Path, stop_seconds: float, setup_path: Path) -> None:
        super().__init__(config_path, stop_seconds)
        from vppfed.federates.neighbourhood.inputs import load_neighbourhood

        self.setup = _setup(setup_path)
        self.settings = _settings(self.setup)
        self.neighbourhood = load_neighbourhood(Path(self.setup["folder"]))
        self.events = sorted(self.neighbourhood.producer_events, key=lambda e: e.time_s)
        self.next_event = 0
        self.producers: dict[str, Producer] = {}
        self.by_endpoint: dict[str, str] = {}
        self.owner: dict[str, str] = {}  # job key -> consumer endpoint
        self.n_requests = 0
        self.n_accepted = 0
        self.scheduler = self.settings.make_scheduler()
        self.lead_s = _lead(self.setup)

    def own_events(self) -> list[float]:
        return [e.time_s for e in self.events[self.next_event:self.next_event + 1]]

    def on_start(self) -> None:
        self._apply_events(0.0)

    def _apply_events(self, t: float) -> None:
        while self.next_event < len(self.events) and self.events[self.next_event].time_s <= t + 1e-9:
            ev = self.events[self.next_event]
            self.next_event += 1
            producer = self.producers.get(ev.producer_id)
            if producer is None:
                producer = Producer(ev.producer_id, ev.house, self.scheduler, self.settings.producer_settings(),
                                    _rng(self.setup["seed"], ev.producer_id))
                self.producers[ev.producer_id] = producer
                self.by_endpoint[producer_endpoint(ev.producer_id)] = ev.producer_id
                self.send(producer_endpoint(ev.producer_id), MANAGER, {"t": "register", "producer": ev.producer_id})
            producer.update_prediction(ev.prediction)

    def on_step(self, t: float) -> None:
        self._apply_events(t)
        for endpoint, pid in self.by_endpoint.items():
            for source, body, _ in self.receive(endpoint):
                msg = decode(body)
                if msg["t"] != "request":
                    log.warning("%s: unknown message %r", endpoint, msg["t"])
                    continue
                job = job_from_dict(msg["job"])
                self.owner[job.key] = source
                # beside a feeder the chosen starts must lie after the next feeder step the consumer can still set
                decision = self.producers[pid].request(job, t + self.lead_s)
                self.n_requests += 1
                self.n_accepted += decision.accepted
                start = decision.contract.start_s if decision.accepted else None
                self.send(endpoint, source, {"t": "accept" if decision.accepted else "decline", "job": job.key,
                                             "producer": pid, "start_s": start})
                for moved in decision.rescheduled:
                    self.send(endpoint, self.owner[moved.job_key],
                              {"t": "reschedule", "job": moved.job_key, "producer": pid, "start_s": moved.start_s})

    def on_finish(self, failed: bool) -> None:
        write_json(Path.cwd() / PRODUCERS_FILE, {
            "production": {pid: p.prediction.to_dict() for pid, p in self.producers.items() if p.prediction},
            "producer_house": {pid: p.house for pid, p in self.producers.items()},
            "n_requests": self.n_requests, "n_accepted": self.n_accepted,
            "solver_limits": dict(getattr(self.scheduler, "limits", {})), "failed": failed})


class _Negotiation:
    """A consumer's state for one job: the producers still to ask."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.queue: list[tuple[str, str]] = []  # (endpoint, producer id)


class ConsumersFederate(_EventFederate):
    """Every household's consumer: posts jobs at their registration time, asks producers, falls back to the grid."""

    def __init__(self, config_path: str | Path, stop_seconds: float, setup_path: Path, metrics_root: str,
                 start_time: str, metrics_interval: float) -> None:
        super().__init__(config_path, stop_seconds)
        from vppfed.federates.neighbourhood.inputs import load_neighbourhood

        self.setup = _setup(setup_path)
        self.settings = _settings(self.setup)
        nb = load_neighbourhood(Path(self.setup["folder"]))
        self.jobs = sorted(nb.jobs, key=lambda j: j.reg_time_s)
        self.houses = nb.house_ids()
        self.next_job = 0
        self.open: dict[str, _Negotiation] = {}
        self.contracts: dict[str, Contract] = {}
        self.rng = {h: _rng(self.setup["seed"], f"consumer{h}") for h in self.houses}
        self.metrics = MetricsWriter(Path.cwd(), "neighbourhood", metrics_root,
                                     [("jobs_posted", "count"), ("pv_contracts", "count"), ("grid_contracts", "count"),
                                      ("pv_contract_energy", "Wh"), ("grid_contract_energy", "Wh")], start_time)
        self.metrics_interval = float(metrics_interval)
        self.next_metrics = self.metrics_interval
        self.posted = {h: 0 for h in self.houses}
        self.feeder = self.setup.get("feeder")
        self.lead_s = _lead(self.setup)
        self.job_power_sent = {h: 0.0 for h in self.houses}   # the feeder's job loads start at 0 kW
        self.pv_targets: dict[str, str] = dict(self.feeder["pv_targets"]) if self.feeder else {}
        self.measured = {pid: MeasuredProduction() for pid in self.pv_targets}
        self._pv_inputs: list[tuple[str, object]] = []

    def own_events(self) -> list[float]:
        events = [self.next_metrics]
        if self.next_job < len(self.jobs):
            events.append(self.jobs[self.next_job].reg_time_s)
        return events

    def on_start(self) -> None:
        for pid, target in self.pv_targets.items():
            inp = self.input(target)
            if inp is None:
                raise KeyError(f"{self.config_path.name}: no subscription to '{target}' (PV of {pid})")
            self._pv_inputs.append((pid, inp))
        self.on_step(0.0)

    def _grid(self, neg: _Negotiation, t: float) -> None:
        contract = grid_contract(neg.job, t + self.lead_s, self.rng[neg.job.house], self.settings.grid_start,
                                 self.settings.step_s)
        contract.agreed_s = float(t)
        self.contracts[neg.job.key] = contract
        del self.open[neg.job.key]

    def _ask_next(self, neg: _Negotiation, t: float) -> None:
        if not neg.queue:
            self._grid(neg, t)
            return
        endpoint, _ = neg.queue[0]
        self.send(consumer_endpoint(neg.job.house), endpoint, {"t": "request", "job": job_to_dict(neg.job)})

    def on_step(self, t: float) -> None:
        while self.next_job < len(self.jobs) and self.jobs[self.next_job].reg_time_s <= t + 1e-9:
            job = self.jobs[self.next_job]
            self.next_job += 1
            if job.reg_time_s >= self.stop_seconds:
                continue
            self.open[job.key] = _Negotiation(job)
            self.posted[job.house] += 1
            self.send(consumer_endpoint(job.house), MANAGER, {"t": "rank", "job": job.key})
        for house in self.houses:
            endpoint = consumer_endpoint(house)
            for _, body, _ in self.receive(endpoint):
                self._handle(endpoint, decode(body), t)
        if self.feeder:
            self._exchange_with_feeder(t)
        if t + 1e-9 >= self.next_metrics:
            self._write_metrics(t)
            while self.next_metrics <= t + 1e-9:
                self.next_metrics += self.metrics_interval

    def _handle(self, endpoint: str, msg: dict, t: float) -> None:
        kind = msg["t"]
        if kind == "reschedule":
            contract = self.contracts.get(msg["job"])
            if contract is not None and contract.producer_id == msg["producer"]:
                contract.start_s = float(msg["start_s"])
            return
        neg = self.open.get(msg["job"])
        if neg is None:
            log.warning("%s: %s for unknown job %s", endpoint, kind, msg["job"])
            return
        if kind == "ranking":
            neg.queue = list(zip(msg["producers"], msg["ids"]))
            self._ask_next(neg, t)
        elif kind in ("accept", "decline"):
            _, pid = neg.queue.pop(0)
            accepted = kind == "accept"
            self.send(endpoint, MANAGER, {"t": "answer", "producer": pid, "accepted": accepted})
            if accepted:
                job = neg.job
                self.contracts[job.key] = Contract(f"{pid};{job.key};{t:g}", job.job_id, job.house, pid,
                                                   float(msg["start_s"]), float(t), job.profile, job.key)
                del self.open[job.key]
            else:
                self._ask_next(neg, t)
        else:
            log.warning("%s: unknown message %r", endpoint, kind)

    def _exchange_with_feeder(self, t: float) -> None:
        """Record the PV the feeder published at ``t``; publish the job power of its next step ``[t+hop, t+2hop)``."""
        for pid, inp in self._pv_inputs:
            if self.is_updated(inp):
                self.measured[pid].update(t, self.read_complex(inp).real)
        power = household_job_power_kw(self.contracts.values(), self.houses, t + self.period, t + 2 * self.period)
        for house, kw in power.items():
            kw = round(kw, 9)   # no republishing of float noise
            if kw != self.job_power_sent[house]:
                self.publish(job_power_key(house), kw)
                self.job_power_sent[house] = kw

    def _write_metrics(self, t: float) -> None:
        rows = {}
        for house in self.houses:
            mine = [c for c in self.contracts.values() if c.house == house]
            pv = [c for c in mine if c.producer_id != GRID]
            grid = [c for c in mine if c.producer_id == GRID]
            rows[house] = [self.posted[house], len(pv), len(grid), sum(c.energy_wh for c in pv),
                           sum(c.energy_wh for c in grid)]
        self.metrics.write(t, rows)

    def on_finish(self, failed: bool) -> None:
        for neg in list(self.open.values()):
            log.warning("job %s still negotiating at the end of the run: grid", neg.job.key)
            self._grid(neg, self.time)
        if not math.isclose(self.time, self.next_metrics - self.metrics_interval):
            self._write_metrics(self.time)
        self.metrics.close()
        write_json(Path.cwd() / CONTRACTS_FILE, {"contracts": [c.to_dict() for c in self.contracts.values()],
                                                 "failed": failed})
        if self.feeder:
            write_json(Path.cwd() / FEEDER_PV_FILE, {
                "production": {pid: m.profile(self.time).to_dict() for pid, m in self.measured.items()},
                "pv_inverters": self.feeder["pv_inverters"], "failed": failed})


def build_parser() -> argparse.ArgumentParser:
    """The neighbourhood federates' command line (the case builder writes it into the runner JSON)."""
    parser = base_argument_parser("CoSSMic-style neighbourhood federate: manager, consumers or producers as HELICS "
                                  "endpoints negotiating PV energy for shiftable jobs")
    parser.add_argument("--role", required=True, choices=["manager", "consumers", "producers"],
                        help="which of the three federates to run")
    parser.add_argument("--setup", required=True, help="neighbourhood_setup.json written by the case builder")
    parser.add_argument("--start", default="", help="StartTime of the metrics file (consumers)")
    parser.add_argument("--metrics-interval", type=float, default=3600.0, help="seconds between metrics samples")
    parser.prog = "python -m vppfed.federates.neighbourhood"
    return parser


def build_federate(args: argparse.Namespace) -> FederateBase:
    """The federate of ``args.role``, built from a parsed :func:`build_parser` command line."""
    stop = stop_seconds(args, default_hours=24.0)
    if args.role == "manager":
        return ManagerFederate(args.config, stop, Path(args.setup))
    if args.role == "producers":
        return ProducersFederate(args.config, stop, Path(args.setup))
    return ConsumersFederate(args.config, stop, Path(args.setup), args.metrics_root or "neighbourhood", args.start,
                             args.metrics_interval)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vppfed.federates.neighbourhood``: parse ``argv``, build the federate of ``--role`` and run it."""
    return run_federate(build_federate, build_parser(), argv)
