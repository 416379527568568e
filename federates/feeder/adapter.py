"""Thin HELICS adapter: the feeder core on the project's FederateBase (the only module here that uses helics).

``python -m vppfed.federates.feeder --config <root>_gridlabd.json --glm <root>.glm [...]``: :func:`build_parser` is the
command line (the case builder writes it into the runner JSON), :class:`FeederOptions` its typed form.

Per granted time ``t``: read every updated subscription (typed as its config says) into the core, let the core write
them into GridLAB-D, step to ``t`` and read the publications, then publish those that changed.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

from vppfed.formats.weather import read_weather
from vppfed.federates.feeder.core import (FeederCore, SubstationScale, SwingHead, build_metrics, load_gridlabd_config,
                                         make_writers, object_class_map)
from vppfed.federates.feeder.discover import load_inventory
from vppfed.federates.feeder.session import GridlabdError, GridlabdSession
from vppfed.federates.metrics import MetricsWriter
from vppfed.envvars import ENV_PID_DIR
from vppfed.federates.runtime import (FederateBase, FederateOptions, base_argument_parser, run_federate,
                                      stop_seconds)

log = logging.getLogger(__name__)

__all__ = ["FeederFederate", "FeederOptions", "build_parser", "main"]


@dataclass(frozen=True)
class FeederOptions(FederateOptions):
    """What the feeder federate is started with (the typed form of :func:`build_parser`'s options).

    ``config`` and ``stop_s`` come from :class:`~vppfed.federates.runtime.FederateOptions`.

    Attributes
    ----------
    glm : Path
        GridLAB-D model (with the co-simulation heartbeat recorder).
    weather : Path or None
        TESP ``weather.dat`` written into the climate object each step (None: a weather federate publishes it).
    inventory : Path or None
        Object inventory JSON (None: ``<glm stem>_inventory.json`` beside the GLM if present, else discovered).
    metrics_root : str or None
        Root of the metrics file names; None writes no metrics.
    metrics_dir : Path
        Folder of the metrics files.
    metrics_interval_s : float
        Seconds per metrics row.
    metrics_sample_s : float
        Seconds between metrics samples (rounded to a multiple of the period).
    pid_dir : Path or None
        Folder of ``<federate>_gridlabd.pid`` (None: ``$VPPFED_PID_DIR``, or no pid file).
    worker_log : Path or None
        File for GridLAB-D's own stderr.
    glpath : str or None
        GLPATH of the GridLAB-D worker (the folder of a user's model, for its relative ``#include`` files).
    head_voltage_base : float or None
        Volts at the bulk bus that make 1 pu at the head of a user's model.
    """

    glm: Path
    weather: Path | None = None
    inventory: Path | None = None
    metrics_root: str | None = None
    metrics_dir: Path = Path(".")
    metrics_interval_s: float = 300.0
    metrics_sample_s: float = 60.0
    pid_dir: Path | None = None
    worker_log: Path | None = None
    glpath: str | None = None
    head_voltage_base: float | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "FeederOptions":
        """The options of a parsed :func:`build_parser` command line."""
        def path(value: str | None) -> Path | None:
            return Path(value) if value else None

        return cls(config=Path(args.config), stop_s=stop_seconds(args), glm=Path(args.glm), weather=path(args.weather),
                   inventory=path(args.inventory), metrics_root=args.metrics_root or None,
                   metrics_dir=Path(args.metrics_dir or "."), metrics_interval_s=float(args.metrics_interval),
                   metrics_sample_s=float(args.metrics_sample), pid_dir=path(args.pid_dir),
                   worker_log=path(args.worker_log), glpath=args.glpath or None,
                   head_voltage_base=args.head_voltage_base)


class FeederFederate(FederateBase):
    """GridLAB-D feeder federate (TESP ``gld_<bus>``) built from :class:`FeederOptions`."""

    def __init__(self, options: FeederOptions) -> None:
        super().__init__(options.config, options.stop_s)
        self.options = options
        opts = options
        try:
            self.feeder_config = load_gridlabd_config(self.config)
        except ValueError as exc:
            raise ValueError(f"{self.config_path.name}: {exc}") from None
        glm = Path(opts.glm)
        if not glm.is_file():
            raise FileNotFoundError(f"{glm}: GLM file not found")
        pid_dir = opts.pid_dir or os.environ.get(ENV_PID_DIR)
        pid_file = Path(pid_dir) / f"{self.name}_gridlabd.pid" if pid_dir else None
        # a user's model (feeder.glm): GridLAB-D finds its relative #includes through GLPATH = the model's folder
        env = {"GLPATH": opts.glpath} if opts.glpath else None
        self.session = GridlabdSession(glm, pid_file=pid_file, worker_log=opts.worker_log, env=env)
        self.core: FeederCore | None = None
        self._inputs: list[tuple[Any, str, str]] = []

    def on_start(self) -> None:
        opts = self.options
        self.session.open()
        clock = self.session.clock
        assert clock is not None
        # GridLAB-D's end-of-run writes (metrics_collector_writer's last dump) happen at its stoptime: make it ours
        self.session.set_stop(round(self.stop_seconds))
        self._check_heartbeat()
        inventory = load_inventory(opts.inventory or self.session.glm.with_name(
            f"{self.session.glm.stem}_inventory.json"), self.session)
        weather = read_weather(opts.weather, clock.start, clock.timezone) if opts.weather else None
        metrics = writers = None
        if opts.metrics_root:
            metrics = build_metrics(inventory)
            directory = opts.metrics_dir
            label = clock.start_label()
            writers = make_writers(lambda prefix, cols: MetricsWriter(directory, prefix, opts.metrics_root, cols, label),
                                   metrics)
        sample = max(self.period, opts.metrics_sample_s)
        sample = self.period * round(sample / self.period)
        base = opts.head_voltage_base
        head = SwingHead.from_inventory(inventory, base)
        self.core = FeederCore(self.session, self.feeder_config, object_class=object_class_map(inventory.by_class()),
                               weather=weather, climate_name=inventory.climate, metrics=metrics, writers=writers,
                               metrics_interval_s=opts.metrics_interval_s, sample_every_s=sample, head=head,
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

    def child_cpu_seconds(self) -> float:
        return self.session.stats.worker_cpu_s

    def on_finish(self, failed: bool) -> None:
        stats = self.session.stats
        # finished the way a batch run ends, so the model's own recorder/metrics files are complete (session.finish)
        if self.core is not None:
            self.core.finish(failed=failed)
        else:
            self.session.close(failed=failed)
        log.info("%s: %s%s", self.name, stats.summary(), " (failed)" if failed else "")
        count, first = self.session.errors
        if count:
            where = (self.options.worker_log.name if self.options.worker_log is not None
                     else "GridLAB-D's stderr; --worker-log keeps it")
            log.warning("%s: GridLAB-D reported %d error(s) in %s; its results may be wrong. First: %s", self.name,
                        count, where, first)
            self.write_report({"gridlabd_errors": count, "first_gridlabd_error": first,
                               "say": f"GridLAB-D reported {count} error(s) (see {where}); first: {first}"})


def build_parser() -> argparse.ArgumentParser:
    """The feeder federate's command line (the case builder writes it into the runner JSON)."""
    parser = base_argument_parser("GridLAB-D feeder federate: drives the PyPI gridlabd bindings in lockstep with "
                                  "HELICS, using a TESP-style <root>_gridlabd.json")
    parser.add_argument("--glm", required=True, help="GridLAB-D model (with the co-simulation heartbeat recorder)")
    parser.add_argument("--weather", default=None,
                        help="TESP weather.dat written into the climate object each step (omit when a weather "
                             "federate publishes localWeather/#<param>)")
    parser.add_argument("--inventory", default=None,
                        help="object inventory JSON from the generator (default: <glm stem>_inventory.json beside the "
                             "GLM if present, else objects are discovered by class)")
    parser.add_argument("--metrics-dir", default=None, help="folder of the metrics files (default: current folder)")
    parser.add_argument("--metrics-interval", type=float, default=300.0,
                        help="seconds per metrics row (TESP: 300)")
    parser.add_argument("--metrics-sample", type=float, default=60.0,
                        help="seconds between metrics samples, rounded to a multiple of the period (default 60)")
    parser.add_argument("--pid-dir", default=None,
                        help="write the GridLAB-D worker's pid to <dir>/<federate>_gridlabd.pid while it runs "
                             "(default: $VPPFED_PID_DIR)")
    parser.add_argument("--worker-log", default=None, help="file for GridLAB-D's own stderr (parser/solver messages)")
    parser.add_argument("--glpath", default=None,
                        help="GLPATH of the GridLAB-D worker: the folder of a user's own model (feeder.glm), where "
                             "its relative #include files are found")
    parser.add_argument("--head-voltage-base", type=float, default=None,
                        help="volts at the bulk bus that make 1 pu at the head of a user's model (feeder.glm): the "
                             "bulk voltage is written scaled by the head's nominal voltage (a SWING node's "
                             "voltage_A/B/C, a substation's positive_sequence_voltage)")
    parser.prog = "python -m vppfed.federates.feeder"
    return parser


def build_federate(args: argparse.Namespace) -> FeederFederate:
    """The feeder federate of a parsed :func:`build_parser` command line."""
    return FeederFederate(FeederOptions.from_args(args))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vppfed.federates.feeder``: parse ``argv``, build the federate and run it."""
    return run_federate(build_federate, build_parser(), argv)
