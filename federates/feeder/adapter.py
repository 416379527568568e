"""Thin HELICS adapter: the feeder core on the project's FederateBase (the only module here that imports helics).

Per granted time ``t``: read every updated subscription (typed as its config says) into the core, let the core write
them into GridLAB-D, step to ``t`` and read the publications, then publish those that changed.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from vppfed.configs.weather import read_weather
from vppfed.federates.feeder.core import (FeederCore, SubstationScale, SwingHead, build_metrics, load_gridlabd_config,
                                         make_writers, object_class_map)
from vppfed.federates.feeder.discover import load_inventory
from vppfed.federates.feeder.session import GridlabdError, GridlabdSession
from vppfed.federates.metrics import MetricsWriter
from vppfed.federates.runtime import ENV_PID_DIR, FederateBase, stop_seconds

log = logging.getLogger(__name__)

__all__ = ["FeederFederate"]


class FeederFederate(FederateBase):
    """GridLAB-D feeder federate (TESP ``gld_<bus>``) built from command-line arguments (see ``__main__``)."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.config, stop_seconds(args))
        self.args = args
        try:
            self.feeder_config = load_gridlabd_config(self.config)
        except ValueError as exc:
            raise ValueError(f"{self.config_path.name}: {exc}") from None
        glm = Path(args.glm)
        if not glm.is_file():
            raise FileNotFoundError(f"{glm}: GLM file not found")
        pid_dir = args.pid_dir or os.environ.get(ENV_PID_DIR)
        pid_file = Path(pid_dir) / f"{self.name}_gridlabd.pid" if pid_dir else None
        worker_log = Path(args.worker_log) if args.worker_log else None
        # a user's model (feeder.glm): GridLAB-D finds its relative #includes through GLPATH = the model's folder
        env = {"GLPATH": args.glpath} if getattr(args, "glpath", None) else None
        self.session = GridlabdSession(glm, pid_file=pid_file, worker_log=worker_log, env=env)
        self.core: FeederCore | None = None
        self._inputs: list[tuple[Any, str, str]] = []

    def on_start(self) -> None:
        args = self.args
        self.session.open()
        clock = self.session.clock
        assert clock is not None
        # GridLAB-D's end-of-run writes (metrics_collector_writer's last dump) happen at its stoptime: make it ours
        self.session.set_stop(round(self.stop_seconds))
        self._check_heartbeat()
        inventory = load_inventory(args.inventory or self.session.glm.with_name(
            f"{self.session.glm.stem}_inventory.json"), self.session)
        weather = read_weather(args.weather, clock.start, clock.timezone) if args.weather else None
        metrics = writers = None
        if args.metrics_root:
            metrics = build_metrics(inventory)
            directory = Path(args.metrics_dir or ".")
            label = clock.start_label()
            writers = make_writers(lambda prefix, cols: MetricsWriter(directory, prefix, args.metrics_root, cols, label),
                                   metrics)
        sample = max(self.period, float(args.metrics_sample))
        sample = self.period * round(sample / self.period)
        base = getattr(args, "head_voltage_base", None)
        head = SwingHead.from_inventory(inventory, base)
        self.core = FeederCore(self.session, self.feeder_config, object_class=object_class_map(inventory.by_class()),
                               weather=weather, climate_name=inventory.climate, metrics=metrics, writers=writers,
                               metrics_interval_s=args.metrics_interval, sample_every_s=sample, head=head,
                               substation_scale=SubstationScale.from_inventory(inventory, base))
        self.core.start()
        for point in self.core.subscription_targets():
            inp = self.input(point.key)
            if inp is None:
                raise GridlabdError(f"{self.config_path.name}: no HELICS input for subscription '{point.key}'")
            self._inputs.append((inp, point.key, point.type))
        log.info("%s: %d publications, %d subscriptions, %d houses, metrics %s", self.name,
                 len(self.feeder_config.publications), len(self._inputs), len(inventory.houses),
                 "on" if metrics else "off")

    def _check_heartbeat(self) -> None:
        """The heartbeat recorder must fire at every granted time, or step_to is silently wrong (FACTS.md)."""
        intervals = self.session.get_class("recorder", "interval")
        ok = [n for n, v in intervals.items() if float(v.split()[0]) > 0 and self.period % float(v.split()[0]) == 0]
        if not ok:
            raise GridlabdError(
                f"{self.session.glm.name}: no recorder whose interval divides the period ({self.period:g} s); "
                "add the heartbeat (recorder on the swing node's voltage_A, interval = period, file /dev/null)")

    def on_step(self, t: float) -> None:
        assert self.core is not None
        for inp, target, typ in self._inputs:
            if not self.is_updated(inp):
                continue
            if typ == "complex":
                value: Any = self.read_complex(inp)
            elif typ == "string":
                value = self.read_string(inp)
            elif typ in ("integer", "int"):
                value = self.read_integer(inp)
            else:
                value = self.read_double(inp)
            self.core.set_input(target, value)
        for key, value in self.core.step(t).items():
            self.publish(key, value)

    def on_finish(self, failed: bool) -> None:
        stats = self.session.stats
        # finished the way a batch run ends, so the model's own recorder/metrics files are complete (session.finish)
        if self.core is not None:
            self.core.finish(failed=failed)
        else:
            self.session.close(failed=failed)
        log.info("%s: GridLAB-D %d steps, solve %.2f s, reads %.2f s (%d), writes %.2f s (%d)%s", self.name,
                 stats.steps, stats.solve_s, stats.read_s, stats.reads, stats.write_s, stats.writes,
                 " (failed)" if failed else "")
