"""The HELICS adapter of COHDA: the negotiation federates (agent hosts, controller) and a feeder's day-plan federate.

``python -m vppfed.federates.cohda --role agents|controller|plan --config X.json --instance I.npz ...``; the
argument parser is :func:`build_parser`, helics is imported only once a federate is built (``--help`` works
without it).

**Negotiation (roles agents, controller).** Agent-host federates (many agents, one endpoint each) and the controller federate.

Thin by design: the same :class:`~vppfed.federates.cohda.agent.CohdaAgent` and
:class:`~vppfed.federates.cohda.controller.CohdaController` as on the in-process transport, fed with decoded HELICS
messages. Time is rounds: every federate steps once per second of HELICS time (``uninterruptible``), a message sent
in round t is processed in round t + 1, and each agent drains its whole inbox per round. An agent returns its
termination weight in the round it was active (it is idle until its next message), so the controller detects
termination from weights alone. A federate leaves the loop once all its agents have reported their result.

Network effects are applied where a message is sent, through HELICS itself: a link delay stamps the message later
(HELICS delivers it then), a loss drops step messages with a seeded generator per host (same seed, same run).
HELICS's own filters stalled loaded runs of these periodic federates on helics 3.6.1 (a delay filter 25-40 % of
runs; a random_drop filter once in a loaded test-suite run) and HELICS's drop generator cannot be seeded.
Weights and results leave through one control endpoint per host, which no loss touches (nor should a user's own
filter), so a lossy run still stops and reports (it cannot detect termination: lost steps carry lost weight).

**Day plan of a feeder (role plan).** At ``t = 0`` (before the first time request, so the feeder waits) the
federate runs the COHDA negotiation of the feeder's devices (the case's ``cohda_instance.npz``: one agent per device, the in-process transport, the case seed)
and writes ``cohda_plan.json``. Then it plays the plan: ``lead_s`` before each interval it publishes every device's
setpoint (battery inverter ``P_Out``, EV charger ``maximum_charge_rate``), which the feeder writes into the objects;
one second after each feeder step it reads the devices' measured power. Interval means go to
``cohda_<root>_metrics.json`` (uids: each device and ``vpp``; columns target, planned, achieved in kW, feed-in > 0).
Grant times are offset by one second from the feeder's, so no value is read at the instant it is written.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vppfed.federates.cohda.agent import CohdaAgent
from vppfed.federates.cohda.controller import CohdaController, Member
from vppfed.federates.cohda.data import Catalogue
from vppfed.federates.cohda.devices import IntervalAverager, PlanSetup
from vppfed.federates.cohda.instance import load_instance
from vppfed.federates.cohda.messages import (CONTROLLER, CandidateCache, InitMessage, ResultMessage, StepMessage,
                                             StopMessage, WeightMessage, decode)
from vppfed.federates.cohda.objectives import objective_by_name
from vppfed.federates.cohda.solve import SolveResult, solve
from vppfed.federates.metrics import MetricsWriter
from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds
from vppfed.io import atomic_write_text

log = logging.getLogger(__name__)

CONTROLLER_ENDPOINT = "cohda_ctl"


def agent_endpoint(slot: int) -> str:
    """Global endpoint name of the agent in ``slot``."""
    return f"cohda_a{slot}"


def endpoint_of(receiver: int) -> str:
    return CONTROLLER_ENDPOINT if receiver == CONTROLLER else agent_endpoint(receiver)


def control_endpoint(host: str) -> str:
    """Global endpoint of agent host ``host`` for the agents' weight and result messages to the controller."""
    return f"{host}_control"


def helics_config(name: str, endpoints: list[str]) -> dict[str, Any]:
    """HELICS JSON config (TESP layout) of a COHDA federate: global endpoints, 1 s rounds, uninterruptible."""
    return {"name": name, "core_type": "zmq", "period": 1, "uninterruptible": True, "log_level": "warning",
            "terminate_on_error": True, "endpoints": [{"name": e, "global": True} for e in endpoints]}


def agent_host_config(name: str, slots: range) -> dict[str, Any]:
    """Config of an agent host: one endpoint per agent (its step traffic) plus the host's control endpoint."""
    config = helics_config(name, [agent_endpoint(s) for s in slots])
    config["endpoints"].append({"name": control_endpoint(name), "global": True})
    return config


class _Counting:
    """Message and byte counters a federate writes to ``<name>_cohda_stats.json`` at the end."""

    def __init__(self) -> None:
        self.counts = {"messages": 0, "bytes": 0, "control_messages": 0, "control_bytes": 0,
                       "max_message_bytes": 0, "delivered_messages": 0}

    def count(self, msg: Any, size: int) -> None:
        if isinstance(msg, StepMessage):
            self.counts["messages"] += 1
            self.counts["bytes"] += size
            self.counts["max_message_bytes"] = max(self.counts["max_message_bytes"], size)
        else:
            self.counts["control_messages"] += 1
            self.counts["control_bytes"] += size


class AgentHostFederate(FederateBase):
    """Hosts the agents in ``slots`` of the instance; one endpoint per agent.

    ``link_delay`` (s = rounds) stamps every message of these agents ``link_delay`` later, so HELICS delivers it
    that much later (a slow network); the weight-throwing termination holds under any delay. ``loss`` drops each
    step message with that probability (seeded by ``seed`` and the host's first slot). ``resend_every`` > 0 makes
    every agent re-send its whole working memory every that many rounds (for lossy links).
    """

    def __init__(self, config_path: str | Path, stop_seconds: float, instance_path: str | Path,
                 slots: list[int], link_delay: float = 0.0, resend_every: int = 0, loss: float = 0.0,
                 seed: int = 0) -> None:
        super().__init__(config_path, stop_seconds)
        self.link_delay = float(link_delay)
        self.resend_every = int(resend_every)
        self.loss = float(loss)
        self.rng = np.random.default_rng([int(seed), min(slots) if slots else 0])  # a stream per host
        inst = load_instance(instance_path)
        self.catalogue = Catalogue.build(np.arange(inst.agents), inst.schedules)
        self.agents = {s: CohdaAgent(s, inst.schedules[s]) for s in slots}
        # the benchmark instances negotiate the L1 objective on the instance's target and weights
        self.cache = CandidateCache(self.catalogue, objective_by_name("l1", inst.target, inst.weights))
        self.reported: set[int] = set()
        self.stats = _Counting()
        # configs written before the control channel existed send everything from the agents' endpoints
        names = {e.get("name", e.get("key")) for e in self.config.get("endpoints", [])}
        self.control = control_endpoint(self.name) if control_endpoint(self.name) in names else None

    def _send(self, msg: Any) -> None:
        buf = msg.encode()
        self.stats.count(msg, len(buf))
        if msg.receiver == CONTROLLER:  # weights and results: the host's control endpoint, never lost
            self.send(self.control or endpoint_of(msg.sender), CONTROLLER_ENDPOINT, buf, delay=self.link_delay)
        elif not (self.loss and self.rng.random() < self.loss):
            self.send(endpoint_of(msg.sender), endpoint_of(msg.receiver), buf, delay=self.link_delay)

    def on_step(self, t: float) -> None:
        inbox: dict[int, list[StepMessage]] = defaultdict(list)
        controls: list[Any] = []
        for slot in self.agents:
            for _src, payload, _time in self.receive(agent_endpoint(slot)):
                msg = decode(payload, self.cache)
                if isinstance(msg, StepMessage):
                    self.stats.counts["delivered_messages"] += 1
                    inbox[slot].append(msg)
                else:
                    controls.append(msg)
        for msg in controls:
            if isinstance(msg, InitMessage):
                for out in self.agents[msg.receiver].on_init(msg, self.catalogue):
                    self._send(out)
        active = []
        for slot in sorted(inbox):
            msgs = sorted(inbox[slot], key=lambda m: m.sender)
            agent = self.agents[slot]
            for out in agent.on_messages(msgs):
                self._send(out)
            active.append(slot)
        for msg in controls:
            if isinstance(msg, StopMessage):
                self._send(self.agents[msg.receiver].on_stop())
                self.reported.add(msg.receiver)
        if self.resend_every > 0 and round(t) % self.resend_every == 0:
            for slot, agent in self.agents.items():  # anti-entropy for lossy links (see CohdaAgent.refresh)
                if slot not in self.reported:
                    for out in agent.refresh():
                        self._send(out)
                    active.append(slot)
        for slot in set(active) | {m.receiver for m in controls if isinstance(m, InitMessage)}:
            w = self.agents[slot].release_weight()
            if w is not None and slot not in self.reported:
                self._send(w)
        if len(self.reported) == len(self.agents):
            self.stop_seconds = t  # every agent has reported: leave the loop

    def on_finish(self, failed: bool) -> None:
        Path(f"{self.name}_cohda_stats.json").write_text(json.dumps(self.stats.counts))


class ControllerFederate(FederateBase):
    """Starts the negotiation, detects termination by weight, stops the agents and writes the merged result."""

    def __init__(self, config_path: str | Path, stop_seconds: float, instance_path: str | Path,
                 out_path: str | Path, seed: int = 0, stop_round: float | None = None,
                 warm_start: bool = False, starters: str = "one", trust_weights: bool = True) -> None:
        super().__init__(config_path, stop_seconds)
        self.starters = starters
        # False when agents re-send their working memory: those messages may carry no weight, so a full weight
        # return no longer proves termination and only the anytime stop ends the negotiation
        self.trust_weights = trust_weights
        self.instance = load_instance(instance_path)
        self.out_path = Path(out_path)
        self.stop_round = stop_round
        self.warm_start = warm_start
        self.controller = CohdaController(seed=seed)
        init = self.instance.init_selection()
        for i in range(self.instance.agents):
            self.controller.join(Member(i, self.instance.schedules[i], None, int(init[i])))
        self.stats = _Counting()
        self.termination_round: float | None = None
        self.done = False

    def _send(self, msg: Any) -> None:
        buf = msg.encode()
        self.stats.count(msg, len(buf))
        self.send(CONTROLLER_ENDPOINT, endpoint_of(msg.receiver), buf)

    def on_start(self) -> None:
        inst = self.instance
        self.catalogue, inits = self.controller.start(inst.target, inst.weights, "l1", edges=inst.edges,
                                                      warm_start=self.warm_start, starters=self.starters)
        self.cache = CandidateCache(self.catalogue, objective_by_name("l1", inst.target, inst.weights))
        for msg in inits:
            self._send(msg)

    def on_step(self, t: float) -> None:
        for _src, payload, _time in self.receive(CONTROLLER_ENDPOINT):
            msg = decode(payload, self.cache)
            if isinstance(msg, WeightMessage):
                if self.controller.on_weight(msg) and self.trust_weights:
                    self.termination_round = t
                    if not self.controller.current.stopping:
                        for stop in self.controller.stop_messages():
                            self._send(stop)
            elif isinstance(msg, ResultMessage) and self.controller.on_result(msg):
                self._finish(t)
        if (self.stop_round is not None and t >= self.stop_round and not self.controller.current.stopping):
            for stop in self.controller.stop_messages():
                self._send(stop)

    def _finish(self, t: float) -> None:
        sel, _ = self.controller.final_selection()
        result = {"selection": [int(v) for v in sel], "terminated": self.termination_round is not None,
                  "termination_round": self.termination_round, "rounds": t, **self.stats.counts}
        self.out_path.write_text(json.dumps(result))
        self.done = True
        self.stop_seconds = t

    def on_finish(self, failed: bool) -> None:
        if not self.done:
            log.error("controller ended without a result (failed=%s)", failed)




PLAN_FILE = "cohda_plan.json"
METRICS_PREFIX = "cohda"
COLUMNS = [("target_kw", "kW"), ("planned_kw", "kW"), ("achieved_kw", "kW")]
AGGREGATE_UID = "vpp"


def negotiate_plan(instance_path: str | Path, setup: PlanSetup) -> dict[str, Any]:
    """Run the negotiation and return the plan document (what ``cohda_plan.json`` holds)."""
    inst = load_instance(instance_path)
    if setup.negotiate:
        # a feeder's devices are tens to hundreds of agents: the Python agents (those of the HELICS transport) take
        # well under a second there, while the compiled engine would first load or compile its kernels
        engine = "compiled" if inst.agents > 500 else "python"
        result = solve(inst, "inproc", seed=setup.seed, improve=setup.improve, engine=engine)
        sel = np.asarray(result.selection, dtype=np.int64)
    else:
        sel = inst.init_selection()
        d = inst.distance(sel)
        result = SolveResult(selection=sel.tolist(), D=d, rel_D=d / float(np.abs(inst.target).sum() or 1.0),
                             messages=0, bytes=0, seconds=0.0, agents=inst.agents, transport="none", seed=setup.seed,
                             terminated=True, cohda_D=d)
    planned = inst.schedules[np.arange(inst.agents), sel]
    baseline = inst.schedules[:, 0]
    return {
        "start": setup.start, "res_s": setup.res_s, "intervals": setup.intervals,
        "devices": [d.name for d in setup.devices], "kinds": [d.kind for d in setup.devices],
        "target_kw": inst.target.tolist(), "selection": sel.tolist(),
        "planned_kw": np.round(planned, 6).tolist(), "baseline_kw": np.round(baseline, 6).tolist(),
        "D": result.D, "rel_D": result.rel_D, "baseline_D": inst.distance(np.zeros(inst.agents, dtype=np.int64)),
        "messages": result.messages, "bytes": result.bytes, "negotiation_seconds": result.seconds,
        "terminated": result.terminated, "cohda_D": result.cohda_D, "improve": result.improve,
    }


class CohdaPlanFederate(FederateBase):
    """Negotiates the day plan at start and writes it into the feeder's devices interval by interval."""

    def __init__(self, config_path: str | Path, stop_seconds: float, instance_path: str | Path,
                 setup_path: str | Path, metrics_root: str) -> None:
        super().__init__(config_path, stop_seconds)
        self.setup = PlanSetup.from_json(json.loads(Path(setup_path).read_text(encoding="utf-8")))
        self.instance_path = Path(instance_path)
        self.metrics_root = metrics_root
        n = len(self.setup.devices)
        self.values = np.zeros(n)
        self.averager = IntervalAverager(n, self.setup.res_s, self.setup.intervals)
        self.next_interval = 0
        self.writer: MetricsWriter | None = None
        self.plan: np.ndarray | None = None
        self.target: np.ndarray | None = None

    # ------------------------------------------------------------------ plan
    def on_start(self) -> None:
        doc = negotiate_plan(self.instance_path, self.setup)
        atomic_write_text(PLAN_FILE, json.dumps(doc) + "\n")
        log.info("COHDA plan: D %.3f kW (baseline %.3f), %d messages, %.2f s, terminated %s", doc["D"],
                 doc["baseline_D"], doc["messages"], doc["negotiation_seconds"], doc["terminated"])
        self.plan = np.asarray(doc["planned_kw"], dtype=float)
        self.target = np.asarray(doc["target_kw"], dtype=float)
        self.writer = MetricsWriter(".", METRICS_PREFIX, self.metrics_root, COLUMNS, self.setup.start_label)
        self._publish_due(0.0)

    def _publish_time(self, k: int) -> float:
        return max(0.0, k * self.setup.res_s - self.setup.lead_s - 1.0)

    def _publish_due(self, t: float) -> None:
        """Publish the setpoints of every interval whose publish time has come."""
        while self.next_interval < self.setup.intervals and self._publish_time(self.next_interval) <= t + 1e-9:
            k = self.next_interval
            for i, dev in enumerate(self.setup.devices):
                self.publish(dev.write_key, float(dev.write_scale * self.plan[i, k]))
            self.next_interval += 1

    # ------------------------------------------------------------------ loop
    def next_time(self, t: float) -> float:
        step = self.setup.sample_s
        sample = (math.floor((t - 1.0) / step + 1e-9) + 1) * step + 1.0
        nxt = sample
        if self.next_interval < self.setup.intervals:
            nxt = min(nxt, self._publish_time(self.next_interval))
        return max(nxt, t + 1e-3)

    def on_step(self, t: float) -> None:
        self._publish_due(t)
        step = self.setup.sample_s
        if abs((t - 1.0) / step - round((t - 1.0) / step)) < 1e-6 and t >= 1.0:
            for i, dev in enumerate(self.setup.devices):
                kind = "complex" if dev.read_type == "complex" else "double"
                value = self.updated(dev.read_target, kind)
                if value is not None:
                    self.values[i] = dev.read_scale * (value.real if kind == "complex" else value)
            self._write(self.averager.add(t - 1.0, self.values))

    def _write(self, rows: list[tuple[int, np.ndarray]]) -> None:
        for k, achieved in rows:
            out: dict[str, Any] = {}
            for i, dev in enumerate(self.setup.devices):
                out[dev.name] = {"planned_kw": round(float(self.plan[i, k]), 6),
                                 "achieved_kw": round(float(achieved[i]), 6)}
            out[AGGREGATE_UID] = {"target_kw": round(float(self.target[k]), 6),
                                  "planned_kw": round(float(self.plan[:, k].sum()), 6),
                                  "achieved_kw": round(float(np.sum(achieved)), 6)}
            self.writer.write((k + 1) * self.setup.res_s, out)

    def on_finish(self, failed: bool) -> None:
        if self.writer is not None:
            if not failed:
                self._write(self.averager.finish())
            self.writer.close()


def build_parser() -> argparse.ArgumentParser:
    """The COHDA federates' command line (:mod:`.helics_run` and the cohda section write it into runner JSONs)."""
    parser = base_argument_parser("COHDA federate: a host of many agents, the controller, or the day plan of a "
                                  "feeder's devices (negotiate at start, then play the plan)")
    parser.add_argument("--role", choices=("agents", "controller", "plan"), required=True,
                        help="agents: host the agents of --slots; controller: start the negotiation and collect the "
                             "result; plan: negotiate a feeder's devices at start, then write the plan into them")
    parser.add_argument("--instance", required=True, help="instance .npz (the schedule catalogue)")
    parser.add_argument("--slots", default="", help="agents: first:last (inclusive) slots hosted here")
    parser.add_argument("--out", default="cohda_result.json", help="controller: result JSON")
    parser.add_argument("--seed", type=int, default=0, help="seed of the controller's first speaker and of --loss")
    parser.add_argument("--stop-round", type=float, default=None, help="controller: anytime stop at this round")
    parser.add_argument("--link-delay", type=float, default=0.0,
                        help="agents: every message is delivered this many seconds (rounds) after it is sent")
    parser.add_argument("--resend-every", type=int, default=0,
                        help="agents: re-send the whole working memory every N rounds (lossy links; 0 = never)")
    parser.add_argument("--loss", type=float, default=0.0,
                        help="agents: drop each step message with this probability (seeded by --seed and the host)")
    parser.add_argument("--ignore-weights", action="store_true",
                        help="controller: agents re-send their memory, so weights cannot prove termination")
    parser.add_argument("--starters", choices=("one", "all"), default="one",
                        help="controller: one seeded agent starts deciding, or all at once (robust to lost messages)")
    parser.add_argument("--warm-start", action="store_true", help="controller: agents start from the instance's init")
    parser.add_argument("--devices", default=None, help="plan: cohda_devices.json written by the cohda section")
    parser.prog = "python -m vppfed.federates.cohda"
    return parser


def build_federate(args: argparse.Namespace) -> FederateBase:
    """The federate of ``args.role``, built from the parsed command line (typed constructor arguments)."""
    if args.role == "plan":
        if not args.devices:
            raise ValueError("--role plan needs --devices")
        return CohdaPlanFederate(args.config, stop_seconds(args), args.instance, args.devices,
                                 args.metrics_root or "cohda")
    stop = stop_seconds(args, default_hours=1000.0 / 3600.0 * 100)
    if args.role == "controller":
        return ControllerFederate(args.config, stop, args.instance, args.out, args.seed, args.stop_round,
                                  args.warm_start, args.starters, not args.ignore_weights)
    first, last = (int(v) for v in args.slots.split(":"))
    return AgentHostFederate(args.config, stop, args.instance, list(range(first, last + 1)), args.link_delay,
                             args.resend_every, args.loss, args.seed)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vppfed.federates.cohda``: parse ``argv``, build the federate of ``--role`` and run it."""
    return run_federate(build_federate, build_parser(), argv)
