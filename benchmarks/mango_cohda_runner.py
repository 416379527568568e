"""Run mango-library's COHDA decider on a vppfed instance file; executed by a SEPARATE interpreter with mango-library.

    /path/to/venv-mango/bin/python benchmarks/mango_cohda_runner.py INSTANCE.npz SEED [DEADLINE_S]

mango-library is never a vppfed dependency: ``bench_cohda.py`` calls this script with the interpreter named by
``--mango-python`` / ``VPPFED_MANGO_PYTHON``. Every agent is one ``COHDANegotiation`` object of mango-library (its own
perceive / decide / act and merge rules, its default performance function: minus the L1 distance to the target).
What is ours is only the message loop that mango's ``COHDANegotiationRole`` otherwise drives with asyncio timers:
in each round every agent with a non-empty inbox (seeded random order) handles its whole inbox at once, as the
role's periodic inbox check does, and a returned working memory goes to the overlay neighbours (a snapshot, as a
serialising container would deliver it). One seeded agent starts; the run ends when no message is in flight
(the state mango's weight-based termination detector reports). Prints one JSON object.

With ``DEADLINE_S`` the loop also stops after that many CPU seconds of this process (CPU, not wall, so that a busy
machine does not cut mango short) and reports the best complete candidate any agent holds then (``"stopped":
"deadline"``; ``"quiet"`` when it ended by itself): mango's anytime result, for sizes where it does not end in an
hour (1,000 agents). ``trace`` lists ``[cpu_seconds, messages, rel_D]`` about once a CPU minute (``rel_D`` null while
no agent holds a complete candidate), so its progress is visible, not only its end.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
from mango_library.negotiation.cohda.cohda_negotiation import COHDANegotiation
from mango_library.negotiation.cohda.data_classes import SolutionCandidate, SystemConfig, WorkingMemory


def best_candidate(agents: list) -> SolutionCandidate:
    """The candidate with the most agents, then the best performance, over all agents' working memories."""
    best = None
    for a in agents:
        c = a._memory.solution_candidate
        if best is None or len(c.schedules) > len(best.schedules) or (
                len(c.schedules) == len(best.schedules) and c.perf > best.perf):
            best = c
    return best


def selection_of(candidate: SolutionCandidate, names: list[str], schedules: np.ndarray) -> list[int] | None:
    """Each agent's option index in ``candidate`` (None while the candidate is incomplete)."""
    if len(candidate.schedules) < len(names):
        return None
    return [int(np.argmin(np.abs(schedules[i] - candidate.schedules[name][None, :]).sum(axis=1)))
            for i, name in enumerate(names)]


def distance(sel: list[int], schedules: np.ndarray, target: np.ndarray) -> float:
    """L1 distance of the selection's sum to the target."""
    total = schedules[np.arange(len(sel)), sel].sum(axis=0)
    return float(np.abs(target - total).sum())


def main() -> int:
    path, seed = sys.argv[1], int(sys.argv[2])
    deadline = float(sys.argv[3]) if len(sys.argv) > 3 else float("inf")
    data = np.load(path)
    schedules, target, edges = data["schedules"], data["target"], data["edges"]
    n, m, t = schedules.shape
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for a, b in edges:
        if a != b:
            nbrs[int(a)].add(int(b))
            nbrs[int(b)].add(int(a))
    names = [f"{i:06d}" for i in range(n)]
    options = [[schedules[i, j].copy() for j in range(m)] for i in range(n)]
    agents = [COHDANegotiation((lambda i=i: options[i]), lambda s: True, names[i]) for i in range(n)]
    rng = np.random.default_rng(seed)
    params = (target.tolist(), [1.0] * t)
    inbox: list[list[WorkingMemory]] = [[] for _ in range(n)]
    inbox[int(rng.integers(n))].append(
        WorkingMemory(params, SystemConfig({}), SolutionCandidate("init", {}, float("-inf"))))
    messages = rounds = 0
    norm = float(np.abs(target).sum())
    trace: list[list] = []
    stopped = "quiet"
    t0 = time.perf_counter()
    c0 = time.process_time()
    next_trace = c0 + 60.0
    while any(inbox):
        rounds += 1
        active = [i for i in range(n) if inbox[i]]
        rng.shuffle(active)
        batch = {i: inbox[i] for i in active}
        for i in active:
            inbox[i] = []
        for i in active:
            now = time.process_time()
            if now - c0 > deadline:
                stopped = "deadline"
                break
            if now >= next_trace:
                sel = selection_of(best_candidate(agents), names, schedules)
                trace.append([round(now - c0, 1), messages,
                              None if sel is None else distance(sel, schedules, target) / norm])
                print(json.dumps({"trace": trace[-1]}), file=sys.stderr, flush=True)
                next_trace = now + 60.0
            wm = agents[i].handle_cohda_msgs(batch[i])
            if wm is None:
                continue
            snap = WorkingMemory(wm.target_params, SystemConfig(dict(wm.system_config.schedule_choices)),
                                 wm.solution_candidate)
            for j in sorted(nbrs[i]):
                inbox[j].append(snap)
                messages += 1
        if stopped == "deadline":
            break
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    sel = selection_of(best_candidate(agents), names, schedules)
    d = None if sel is None else distance(sel, schedules, target)
    print(json.dumps({"selection": sel, "D": d, "rel_D": None if d is None else d / norm, "messages": messages,
                      "rounds": rounds, "seconds": seconds, "cpu_seconds": cpu_seconds, "seed": seed,
                      "stopped": stopped, "trace": trace}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
