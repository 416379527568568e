"""HELICS adapter of COHDA: agent-host federates (many agents, one endpoint each) and the controller federate.

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
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from vppfed.federates.cohda.agent import CohdaAgent
from vppfed.federates.cohda.controller import CohdaController, Member
from vppfed.federates.cohda.data import Catalogue
from vppfed.federates.cohda.instance import load_instance
from vppfed.federates.cohda.messages import (CONTROLLER, CandidateCache, InitMessage, ResultMessage, StepMessage,
                                             StopMessage, WeightMessage, decode)
from vppfed.federates.cohda.objectives import objective_by_name
from vppfed.federates.runtime import FederateBase

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
