"""Run mango-library's COHDA decider on a vppfed instance file; executed by a SEPARATE interpreter with mango-library.

    /path/to/venv-mango/bin/python benchmarks/mango_cohda_runner.py INSTANCE.npz SEED

mango-library is never a vppfed dependency: ``bench_cohda.py`` calls this script with the interpreter named by
``--mango-python`` / ``VPPFED_MANGO_PYTHON``. Every agent is one ``COHDANegotiation`` object of mango-library (its own
perceive / decide / act and merge rules, its default performance function: minus the L1 distance to the target).
What is ours is only the message loop that mango's ``COHDANegotiationRole`` otherwise drives with asyncio timers:
in each round every agent with a non-empty inbox (seeded random order) handles its whole inbox at once, as the
role's periodic inbox check does, and a returned working memory goes to the overlay neighbours (a snapshot, as a
serialising container would deliver it). One seeded agent starts; the run ends when no message is in flight
(the state mango's weight-based termination detector reports). Prints one JSON object.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
from mango_library.negotiation.cohda.cohda_negotiation import COHDANegotiation
from mango_library.negotiation.cohda.data_classes import SolutionCandidate, SystemConfig, WorkingMemory


def main() -> int:
    path, seed = sys.argv[1], int(sys.argv[2])
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
    t0 = time.perf_counter()
    while any(inbox):
        rounds += 1
        active = [i for i in range(n) if inbox[i]]
        rng.shuffle(active)
        batch = {i: inbox[i] for i in active}
        for i in active:
            inbox[i] = []
        for i in active:
            wm = agents[i].handle_cohda_msgs(batch[i])
            if wm is None:
                continue
            snap = WorkingMemory(wm.target_params, SystemConfig(dict(wm.system_config.schedule_choices)),
                                 wm.solution_candidate)
            for j in sorted(nbrs[i]):
                inbox[j].append(snap)
                messages += 1
    seconds = time.perf_counter() - t0
    best = None
    for a in agents:
        c = a._memory.solution_candidate
        if best is None or len(c.schedules) > len(best.schedules) or (
                len(c.schedules) == len(best.schedules) and c.perf > best.perf):
            best = c
    sel = []
    for i in range(n):
        s = best.schedules[names[i]]
        sel.append(int(np.argmin(np.abs(schedules[i] - s[None, :]).sum(axis=1))))
    total = schedules[np.arange(n), sel].sum(axis=0)
    d = float(np.abs(target - total).sum())
    print(json.dumps({"selection": sel, "D": d, "rel_D": d / float(np.abs(target).sum()), "messages": messages,
                      "rounds": rounds, "seconds": seconds, "seed": seed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
