"""The ``vpp:`` section: the agile VPP as HELICS federates (one aggregator, ``hosts`` unit hosts).

YAML::

    vpp:
      params: ../../data/params.csv      # params CSV in the reference layout, or
      scenario: scenario.yaml            # a scenario-configurator YAML (units drawn with its seed)
      signal: vpp.csv                    # signal CSV, or
      random_signal: true                # the phase-2 signal (0/5/10 kW with p 0.3/0.3/0.4), seeded from the case
      signal_scale: 1.0                  # multiply the signal (e.g. for bigger portfolios)
      hosts: 2                           # unit-host federates (units split in contiguous blocks)
      step: 60                           # dispatch step [s], even
      keepalive_timeout: 3               # steps
      uplink: {loss: 0.3, delay: 1, jitter: 1}
      downlink: {loss: 0.3, delay: 0, jitter: 1}

The params and signal are written into the case folder (``vpp_params.csv``, ``vpp_signal.csv``).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from vppfed.configs.case import CaseContext
from vppfed.configs.validate import parse_dataclass, require
from vppfed.errors import UserError
from vppfed.federates.agile.link import LinkConfig

SECTION = "vpp"
ORDER = 60


@dataclass
class VppSection:
    params: str | None = None
    scenario: str | None = None
    signal: str | None = None
    random_signal: bool = False
    signal_scale: float = 1.0
    hosts: int = 1
    step: int = 60
    keepalive_timeout: int = 3
    uplink: LinkConfig = field(default_factory=LinkConfig)
    downlink: LinkConfig = field(default_factory=LinkConfig)

    def validate(self) -> None:
        require((self.params is None) != (self.scenario is None), "params", "give exactly one of params, scenario")
        require((self.signal is None) != (not self.random_signal), "signal",
                "give exactly one of signal, random_signal: true")
        require(self.hosts >= 1, "hosts", "must be >= 1")
        require(self.step >= 2 and self.step % 2 == 0, "step", "must be an even number of seconds >= 2")
        require(self.keepalive_timeout >= 1, "keepalive_timeout", "must be >= 1 step")


def build(ctx: CaseContext, raw: dict[str, Any]) -> None:
    """Write params/signal into the case and add the aggregator and unit-host federates."""
    from vppfed.configs.agile_scenario import build_portfolio, load_scenario
    from vppfed.federates.agile.portfolio import read_params_csv, write_params_csv
    from vppfed.federates.agile.signal import random_signal, read_signal_csv, write_signal_csv

    where = ctx.where(SECTION)
    cfg = parse_dataclass(VppSection, raw, where)
    s = ctx.settings
    steps = int(s.stop_seconds // cfg.step)
    if cfg.scenario:
        portfolio = build_portfolio(load_scenario(ctx.resolve_input(cfg.scenario)), where=f"{where}.scenario")
    else:
        portfolio = read_params_csv(ctx.resolve_input(cfg.params))
    if cfg.hosts > len(portfolio):
        raise UserError(f"{where}.hosts: {cfg.hosts} hosts for {len(portfolio)} units")
    if cfg.signal:
        signal = read_signal_csv(ctx.resolve_input(cfg.signal))
        if len(signal) < steps:
            raise UserError(f"{where}.signal: {len(signal)} steps, the case needs {steps} ({s.hours} h / {cfg.step} s)")
    else:
        signal = random_signal(steps, ctx.seed_for("vpp.signal"))
    signal = signal * cfg.signal_scale
    params_file, signal_file = "vpp_params.csv", "vpp_signal.csv"
    write_params_csv(portfolio, ctx.directory / params_file)
    write_signal_csv(signal, ctx.directory / signal_file)
    seed = ctx.seed_for("vpp.links")
    hosts = [f"vpp_host{h}" for h in range(cfg.hosts)]
    agg = "vpp_aggregator"
    link = lambda c: f"{c.loss},{c.delay},{c.jitter}"  # noqa: E731
    common = ["--stop", f"{s.stop_seconds:g}", "--metrics-root", s.root, "--step", str(cfg.step), "--seed", str(seed)]
    args = ["python", "-m", "vppfed.federates.agile", "aggregator", "--config", ctx.config_name(agg), *common,
            "--signal", signal_file, "--hosts", ",".join(hosts), "--keepalive-timeout", str(cfg.keepalive_timeout),
            "--downlink", link(cfg.downlink)]
    ctx.add_federate(agg, " ".join(shlex.quote(a) for a in args),
                     {"name": agg, "period": cfg.step / 2, "log_level": "warning", "terminate_on_error": True, "uninterruptible": True,
                      "endpoints": [{"name": "vpp", "global": False}]})
    for h, host in enumerate(hosts):
        args = ["python", "-m", "vppfed.federates.agile", "host", "--config", ctx.config_name(host), *common,
                "--params", params_file, "--index", str(h), "--of", str(cfg.hosts), "--aggregator", agg,
                "--uplink", link(cfg.uplink)]
        ctx.add_federate(host, " ".join(shlex.quote(a) for a in args),
                         {"name": host, "period": cfg.step, "log_level": "warning", "terminate_on_error": True, "uninterruptible": True,
                          "endpoints": [{"name": "vpp", "global": False}]})
