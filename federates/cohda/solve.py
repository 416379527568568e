"""One call from an instance to a COHDA result: agents, controller, transport, optional improvement."""
from __future__ import annotations

import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vppfed.federates.cohda.agent import CohdaAgent
from vppfed.federates.cohda.controller import CohdaController, Member
from vppfed.federates.cohda.improve import pairwise_improve
from vppfed.federates.cohda.inproc import InprocConfig, run_inproc
from vppfed.federates.cohda.instance import Instance
from vppfed.federates.cohda.objectives import objective_by_name

if TYPE_CHECKING:
    from vppfed.federates.cohda.helics_run import FederationRunner

log = logging.getLogger(__name__)


@dataclass
class SolveResult:
    """Result of one negotiation (the JSON printed by ``vppfed cohda solve``).

    ``D`` is the (weighted) L1 distance of ``selection`` to the target in kW; ``rel_D`` is ``D / sum|target|``.
    ``messages``/``bytes`` count agent-to-agent step messages; ``control_*`` the init, weight-return, stop and
    result messages; ``catalogue_bytes`` the one-off distribution of the schedule catalogue (float64).
    ``seconds`` is wall time, ``cpu_seconds`` the CPU time of this process (the whole negotiation in process; for
    ``helics`` only the launching process), ``activations`` the agents' inbox activations (in process only).
    ``terminated`` is False for an anytime result (stopped by ``stop_at`` or a time budget). ``engine`` names the
    in-process implementation (``compiled`` or ``python``), ``work`` its internal counts (compiled engine: decides,
    candidates created, entries delivered, aggregate rows folded, ...). ``setup_seconds`` is the one-off loading (or
    first compilation) of the compiled kernels in this process, not included in ``seconds``.
    ``refine`` describes the token refinement after COHDA (:mod:`.refine`; its hops are token messages counted
    there, not in ``messages``), ``None`` when it did not run. ``messages_total`` is ``messages`` plus the
    refinement's token messages (``refine["messages"]``): the number to compare with another COHDA's message count
    (mango-library's has no refinement, so its count is all there is).
    ``delivered_messages`` counts the step messages that reached their receiver (``helics`` and the Python engine):
    fewer than ``messages`` when a seeded ``loss`` (at the sending agent federate, or in the simulator) dropped some. ``config.loss``
    or ``config.resend_every`` on ``inproc`` run the Python engine (the compiled one has no loss model).
    """

    selection: list[int]
    D: float
    rel_D: float
    messages: int
    bytes: int
    seconds: float
    agents: int
    transport: str
    seed: int
    terminated: bool
    cpu_seconds: float = 0.0
    activations: int = 0
    control_messages: int = 0
    control_bytes: int = 0
    catalogue_bytes: int = 0
    bytes_per_message: float = 0.0
    max_message_bytes: int = 0
    sim_time: float = 0.0
    cohda_D: float = 0.0
    improve: dict[str, Any] | None = None
    refine: dict[str, Any] | None = None
    engine: str = ""
    setup_seconds: float = 0.0
    work: dict[str, int] = field(default_factory=dict)
    delivered_messages: int | None = None
    messages_total: int = 0
    trace: list[dict[str, float]] = field(default_factory=list)

    def to_json(self, with_trace: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_trace:
            d.pop("trace")
        return d


def build_agents(instance: Instance) -> tuple[CohdaController, list[CohdaAgent]]:
    """One agent per instance row (agent id = row) and a controller with all of them joined."""
    controller = CohdaController()
    agents = []
    init = instance.init_selection()
    for i in range(instance.agents):
        controller.join(Member(i, instance.schedules[i], None, int(init[i])))
        agents.append(CohdaAgent(i, instance.schedules[i]))
    return controller, agents


def solve(instance: Instance, transport: str = "inproc", seed: int = 0, improve: bool = False,
          config: InprocConfig | None = None, helics_options: dict | None = None,
          warm_start: bool = False, engine: str = "compiled", progress=None, refine: bool = True,
          refine_hops: int | None = None, run_federation: FederationRunner | None = None) -> SolveResult:
    """Negotiate a selection for ``instance`` on the chosen transport (``inproc`` or ``helics``).

    The instance's own overlay (``edges``) is used. ``improve`` adds the pairwise exchange rounds after COHDA;
    ``warm_start`` lets every agent start from the instance's ``init`` selection of all agents (see
    :meth:`CohdaController.start`). ``engine`` picks the in-process implementation: ``compiled`` (numba kernels,
    :mod:`.compiled`) or ``python`` (the :class:`CohdaAgent` objects that also run on HELICS, :mod:`.inproc`).
    ``progress(events, messages, best_perf)`` is called every few thousand events on the compiled engine.
    ``refine`` (default on) lets the annealing token of :mod:`.refine` walk the overlay after a terminated in-process
    negotiation (``refine_hops`` hops, default :func:`.refine.default_hops`); it never worsens the result and ends
    1-opt. It does not run after an anytime stop or on the ``helics`` transport, which needs ``run_federation``
    (:data:`.helics_run.FederationRunner`; the command line's is :func:`vppfed.commands.cohda.run_federation`).
    """
    setup_seconds = 0.0
    if transport == "inproc" and config is not None and (config.loss > 0 or config.resend_every is not None):
        engine = "python"  # message loss and re-sending are simulated around the Python agents only
    if transport == "inproc" and engine == "compiled":
        from vppfed.federates.cohda.compiled import warm_up

        setup_seconds = warm_up()
    if refine and transport == "inproc":
        from vppfed.federates.cohda.refine import warm_up as refine_warm_up

        setup_seconds += refine_warm_up()
    t0 = time.perf_counter()
    c0 = time.process_time()
    activations = 0
    if transport == "inproc":
        controller, agents = build_agents(instance)
        catalogue, inits = controller.start(instance.target, instance.weights, "l1", edges=instance.edges,
                                            warm_start=warm_start)
        if engine == "compiled":
            from vppfed.federates.cohda.compiled import run_compiled

            stats = run_compiled(controller, catalogue, inits, seed, config or InprocConfig(), progress)
        elif engine == "python":
            stats = run_inproc(controller, agents, catalogue, inits, seed, config or InprocConfig())
        else:
            raise ValueError(f"unknown engine {engine!r} (compiled or python)")
        selection, _ = controller.final_selection()
        counts = dict(messages=stats.messages, bytes=stats.bytes, control_messages=stats.control_messages,
                      control_bytes=stats.control_bytes, catalogue_bytes=stats.catalogue_bytes,
                      max_message_bytes=stats.max_message_bytes, sim_time=stats.sim_time,
                      terminated=stats.terminated, engine=engine, work=stats.counts)
        if engine == "python":
            counts["delivered_messages"] = stats.messages - stats.dropped
        trace = [asdict(r) for r in stats.trace]
        activations = stats.activations
    elif transport == "helics":
        from vppfed.federates.cohda.helics_run import solve_helics

        options = dict(helics_options or {})
        if config is not None and config.stop_at is not None:
            options.setdefault("stop_round", config.stop_at)  # the anytime stop, in rounds
        selection, counts = solve_helics(instance, run_federation, seed, warm_start=warm_start, **options)
        trace = []
    else:
        raise ValueError(f"unknown transport {transport!r} (inproc or helics)")
    cohda_d = instance.distance(selection)
    refine_info = None
    if refine and transport == "inproc" and counts["terminated"]:
        from vppfed.federates.cohda.refine import token_refine

        selection, rs = token_refine(instance.schedules, instance.target, np.asarray(selection), instance.edges,
                                     instance.weights, seed, refine_hops)
        refine_info = asdict(rs)
    improve_info = None
    if improve:
        objective = objective_by_name("l1", instance.target, instance.weights)
        selection, st = pairwise_improve(instance.schedules, selection, objective, instance.edges, seed)
        improve_info = asdict(st)
    d = instance.distance(selection)
    norm = float(np.abs(instance.target).sum() if instance.weights is None
                 else np.abs(instance.target) @ instance.weights)
    seconds = time.perf_counter() - t0
    msgs = counts["messages"]
    return SolveResult(selection=[int(v) for v in selection], D=d, rel_D=d / norm if norm else 0.0,
                       seconds=seconds, cpu_seconds=time.process_time() - c0, activations=activations,
                       agents=instance.agents, transport=transport, seed=seed,
                       bytes_per_message=counts["bytes"] / msgs if msgs else 0.0, cohda_D=cohda_d,
                       improve=improve_info, refine=refine_info, trace=trace, setup_seconds=setup_seconds,
                       messages_total=msgs + (refine_info["messages"] if refine_info else 0), **counts)


def machine_info() -> dict[str, Any]:
    """Machine description for benchmark lines."""
    import os

    return {"python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor(),
            "system": platform.system(), "cpus": os.cpu_count()}
