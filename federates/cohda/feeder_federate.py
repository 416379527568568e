"""HELICS adapter of the COHDA day plan for a GridLAB-D feeder: negotiate before the feeder runs, then play the plan.

At ``t = 0`` (before the first time request, so the feeder waits) the federate runs the COHDA negotiation of the
feeder's devices (the case's ``cohda_instance.npz``: one agent per device, the in-process transport, the case seed)
and writes ``cohda_plan.json``. Then it plays the plan: ``lead_s`` before each interval it publishes every device's
setpoint (battery inverter ``P_Out``, EV charger ``maximum_charge_rate``), which the feeder writes into the objects;
one second after each feeder step it reads the devices' measured power. Interval means go to
``cohda_<root>_metrics.json`` (uids: each device and ``vpp``; columns target, planned, achieved in kW, feed-in > 0).
Grant times are offset by one second from the feeder's, so no value is read at the instant it is written.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from vppfed.federates.cohda.devices import IntervalAverager, PlanSetup
from vppfed.federates.cohda.instance import load_instance
from vppfed.federates.cohda.solve import SolveResult, solve
from vppfed.federates.metrics import MetricsWriter
from vppfed.federates.runtime import FederateBase

log = logging.getLogger(__name__)

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
        tmp = Path(PLAN_FILE + ".tmp")
        tmp.write_text(json.dumps(doc) + "\n", encoding="utf-8")
        os.replace(tmp, PLAN_FILE)
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


def main(argv: list[str] | None = None) -> int:
    """``python -m vppfed.federates.cohda.feeder_federate --config X.json --instance I.npz --devices D.json``"""
    from vppfed.federates.runtime import base_argument_parser, run_federate, stop_seconds

    parser = base_argument_parser("COHDA day plan of a feeder's devices: negotiate at start, then play the plan")
    parser.add_argument("--instance", required=True, help="cohda_instance.npz written by the cohda section")
    parser.add_argument("--devices", required=True, help="cohda_devices.json written by the cohda section")

    def factory(args):
        return CohdaPlanFederate(args.config, stop_seconds(args), args.instance, args.devices,
                                 args.metrics_root or "cohda")

    return run_federate(factory, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
