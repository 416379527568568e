"""HELICS adapter of the bulk-grid core: TESP's ``pypower`` federate on the shared runtime.

Inputs are recognised by their targets, case-insensitively and with ``/`` or ``#`` (TESP's ``tso_PYPOWER`` matches
substrings the same way): ``<fed>/distribution_load`` (or ``gld_load``; complex VA) and ``<fed>/unresponsive_mw``,
``responsive_max_mw``, ``responsive_c2``, ``responsive_c1``, ``responsive_deg``. The bus is the number in the source
federate's name (``gld_7``, ``sub_7``, ``gridlabdBus7``); with one DSO bus every input goes to it. Publications
``three_phase_voltage_<bus>`` (or ``three_phase_voltage_Bus<bus>``; V line-to-neutral) and ``LMP_<bus>`` ($/kWh) are
published with the type their config declares (a complex voltage is published as ``V + 0j``).

``--case`` is our ``_pp.json`` layout (:mod:`.ppcase`) or, with ``--layout tesp``, a TESP case JSON such as
``te30_pp.json`` read as TESP's ``tso_pypower_loop`` reads it (:mod:`.tesp_case`).

Timing: the initial voltage and LMP are published in ``on_start`` (t = 0) so the feeder has a voltage before its first
step; then every granted time runs :meth:`BulkGrid.step`. Metrics every ``--metrics-interval`` seconds from t = 0.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path
from typing import Any, Sequence

from vppfed.federates.metrics import MetricsWriter
from vppfed.io import normalize_key
from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds

from .core import BUS_COLUMNS, GEN_COLUMNS, SYS_COLUMNS, BulkGrid, BulkOptions, ResponsiveCurve
from vppfed.formats.ppcase import BulkCase, load_pp_case
from .tesp_case import load_tesp_case

log = logging.getLogger(__name__)

_CURVE_KEYS = ("unresponsive_mw", "responsive_max_mw", "responsive_c2", "responsive_c1", "responsive_deg")
_FIELD = {"unresponsive_mw": "unresponsive_mw", "responsive_max_mw": "responsive_max_mw", "responsive_c2": "c2",
          "responsive_c1": "c1", "responsive_deg": "deg"}
_VOLT_RE = re.compile(r"three_phase_voltage_(?:bus)?(\d+)$", re.IGNORECASE)
_LMP_RE = re.compile(r"(?:^|/)lmp_(\d+)$", re.IGNORECASE)


def classify_target(target: str) -> tuple[str, str] | None:
    """(kind, source federate) of an input target, or None if the bulk grid does not use it.

    ``kind`` is ``load`` or one of the five curve keys. Matching is case-insensitive; ``#`` equals ``/``.
    """
    t = normalize_key(target)
    source, _, key = t.rpartition("/")
    k = key.lower()
    if k in ("distribution_load", "gld_load"):
        return "load", source
    for name in _CURVE_KEYS:  # 'unresponsive_mw' is tested before any key it contains
        if k == name:
            return name, source
    return None


def bus_of(source: str, dso_buses: list[int]) -> int | None:
    """The DSO bus a source federate serves: the number in its name; the only DSO bus if there is one."""
    digits = "".join(ch for ch in source.split("/")[-1] if ch.isdigit())
    if digits and int(digits) in dso_buses:
        return int(digits)
    if len(dso_buses) == 1:
        return dso_buses[0]
    return None


#: default largest share of non-converged power flows before the run fails (see BulkFederate._check_convergence)
DEFAULT_MAX_NONCONVERGED_SHARE = 0.05
#: power flows solved before the share is judged (a failure in the first minutes is not yet a share)
MIN_FLOWS_BEFORE_JUDGING = 20


class BulkFederate(FederateBase):
    """The ``pypower`` federate: feeder loads and market curves in, bus voltages and LMPs out."""

    def __init__(self, config_path: str | Path, stop: float, case_path: str | Path, metrics_root: str,
                 out_dir: str | Path, options: BulkOptions, metrics_interval: float | None = None,
                 layout: str = "vppfed", max_nonconverged_share: float = DEFAULT_MAX_NONCONVERGED_SHARE) -> None:
        super().__init__(config_path, stop)
        self.max_nonconverged_share = float(max_nonconverged_share)
        self.case = load_case(case_path, layout)
        self.grid = BulkGrid(self.case, options)
        self.root = metrics_root
        self.out_dir = Path(out_dir)
        self.metrics_interval = float(metrics_interval or self.case.period)
        self.writers: dict[str, MetricsWriter] = {}
        self.load_inputs: list[tuple[Any, int]] = []
        self.curve_inputs: list[tuple[Any, int, str]] = []
        self.volt_pubs: list[tuple[str, int, str]] = []
        self.lmp_pubs: list[tuple[str, int, str]] = []
        self.curve_values: dict[int, dict[str, float]] = {}
        self._last_pub: dict[str, float] = {}
        self._solve_seconds = 0.0

    # ---------------------------------------------------------------- set-up
    def _pub_types(self) -> dict[str, str]:
        types: dict[str, str] = {}
        for pub in self.config.get("publications", []):
            key = str(pub.get("key", pub.get("name", "")))
            types[key.split("/")[-1].lower()] = str(pub.get("type", "double")).lower()
        return types

    def _wire(self) -> None:
        dso = self.grid.dso_buses
        for target, inp in self.interfaces.inputs.items():
            kind = classify_target(target)
            if kind is None:
                continue
            bus = bus_of(kind[1], dso)
            if bus is None:
                log.warning("input %s: no DSO bus matches '%s' (DSO buses %s); ignored", target, kind[1], dso)
                continue
            if kind[0] == "load":
                if all(i is not inp for i, _ in self.load_inputs):
                    self.load_inputs.append((inp, bus))
            elif all(i is not inp for i, _, _ in self.curve_inputs):
                self.curve_inputs.append((inp, bus, kind[0]))
        types = self._pub_types()
        seen: set[int] = set()
        for key, pub in self.interfaces.publications.items():
            if id(pub) in seen:
                continue
            local = key.split("/")[-1]
            for regex, out in ((_VOLT_RE, self.volt_pubs), (_LMP_RE, self.lmp_pubs)):
                m = regex.search(local)
                if m and int(m.group(1)) in dso:
                    out.append((key, int(m.group(1)), types.get(local.lower(), "double")))
                    seen.add(id(pub))
                elif m:
                    log.warning("publication %s: bus %s is not a DSO bus %s; not published", key, m.group(1), dso)
        if not self.volt_pubs:
            log.warning("%s: no three_phase_voltage_<bus> publication for DSO buses %s", self.config_path.name, dso)
        log.info("bulk wiring: loads %s, curve inputs %d, voltage pubs %s, LMP pubs %s",
                 [b for _, b in self.load_inputs], len(self.curve_inputs), [k for k, _, _ in self.volt_pubs],
                 [k for k, _, _ in self.lmp_pubs])

    def _open_metrics(self) -> None:
        start = self.case.start_time
        for prefix, cols in (("bus", BUS_COLUMNS), ("gen", GEN_COLUMNS), ("sys", SYS_COLUMNS)):
            self.writers[prefix] = MetricsWriter(self.out_dir, prefix, self.root, cols, start)

    # ------------------------------------------------------------------ hooks
    def on_start(self) -> None:
        self._wire()
        self._open_metrics()
        t0 = time.perf_counter()
        self.grid.start()
        self._solve_seconds += time.perf_counter() - t0
        self._publish(force=True)
        self._write_metrics(0.0)

    def on_step(self, t: float) -> None:
        for inp, bus in self.load_inputs:
            if self.is_updated(inp):
                self.grid.set_feeder_load(bus, self.read_complex(inp))
        changed: set[int] = set()
        for inp, bus, key in self.curve_inputs:
            if self.is_updated(inp):
                self.curve_values.setdefault(bus, {})[key] = self.read_double(inp)
                changed.add(bus)
        for bus in changed:
            vals = self.curve_values[bus]
            self.grid.set_curve(bus, ResponsiveCurve(
                unresponsive_mw=vals.get("unresponsive_mw", 0.0), responsive_max_mw=vals.get("responsive_max_mw", 0.0),
                c2=vals.get("responsive_c2", 0.0), c1=vals.get("responsive_c1", 0.0),
                deg=int(round(vals.get("responsive_deg", 0.0)))))
        t0 = time.perf_counter()
        self.grid.step(t)
        self._solve_seconds += time.perf_counter() - t0
        self._check_convergence()
        self._publish()
        if abs(t % self.metrics_interval) < 1e-6:
            self._write_metrics(t)

    def on_finish(self, failed: bool) -> None:
        for writer in self.writers.values():
            writer.close()
        if self.writers:
            path = self.out_dir / "model_dict.json"
            path.write_text(json.dumps(self.grid.model_dict(), indent=2) + "\n", encoding="utf-8")
        c = self.grid.counters
        self.write_report(self._convergence_report())
        log.info("bulk: %d PF calls, %d solved (%d Newton iterations); %d OPF calls, %d solved; %.2f s in the core",
                 c.pf_calls, c.pf_solved, c.pf_iterations, c.opf_calls, c.opf_solved, self._solve_seconds)

    # ----------------------------------------------------------- convergence
    def _convergence_report(self) -> dict[str, Any]:
        c = self.grid.counters
        figures: dict[str, Any] = {"pf_solved": c.pf_solved, "pf_nonconverged": c.pf_failed,
                                   "first_nonconverged_s": c.first_pf_failure_s,
                                   "opf_calls": c.opf_calls, "opf_solved": c.opf_solved}
        if c.pf_failed:
            figures["say"] = (f"{c.pf_failed} of {c.pf_solved} power flows did not converge (first at "
                              f"t={c.first_pf_failure_s:g} s; the last good voltages were kept)")
        return figures

    def _check_convergence(self) -> None:
        """Fail the run when the share of non-converged power flows passes the threshold.

        Why a share over a floor of power flows: one flow that does not converge during an outage keeps the last good
        voltages and is worth a warning; a grid where most flows fail (``bulk.scale: .inf``) gives numbers that mean
        nothing, and a run that says "ok" over them is the worst outcome."""
        c = self.grid.counters
        if c.pf_failed and c.pf_solved >= MIN_FLOWS_BEFORE_JUDGING:
            share = c.pf_failed / c.pf_solved
            if share > self.max_nonconverged_share:
                raise RuntimeError(f"{c.pf_failed} of {c.pf_solved} power flows did not converge ({share:.0%}, above "
                                   f"the case's limit bulk.max_nonconverged_share={self.max_nonconverged_share:g}); "
                                   f"the first at t={c.first_pf_failure_s:g} s")

    # ---------------------------------------------------------------- outputs
    def _send(self, key: str, value: float, kind: str, force: bool) -> None:
        if not force and abs(self._last_pub.get(key, float("nan")) - value) <= 1e-9 * max(1.0, abs(value)):
            return
        self._last_pub[key] = value
        self.publish(key, complex(value, 0.0) if kind == "complex" else float(value))

    def _publish(self, force: bool = False) -> None:
        for key, bus, kind in self.volt_pubs:
            self._send(key, self.grid.voltage_ln(bus), kind, force)
        for key, bus, kind in self.lmp_pubs:
            self._send(key, self.grid.lmp_kwh(bus), kind, force)

    def _write_metrics(self, t: float) -> None:
        sample = self.grid.metrics(self.root)
        for prefix, rows in sample.items():
            self.writers[prefix].write(t, rows)


def load_case(path: str | Path, layout: str = "vppfed") -> BulkCase:
    """Read the bulk case: ``tesp`` reads a TESP case JSON as TESP's ``tso_pypower_loop`` does (its dispatchable-load
    row, CSV column order and timing, :mod:`.tesp_case`); ``vppfed`` reads our ``_pp.json`` layout (:mod:`.ppcase`)."""
    return load_tesp_case(path) if layout == "tesp" else load_pp_case(path)


def build_parser() -> argparse.ArgumentParser:
    """The bulk federate's command line (the case builder writes it into the runner JSON)."""
    parser = base_argument_parser("vppfed bulk grid (TESP 'pypower' federate): AC power flow every dt, OPF every "
                                  "Period, publishes three_phase_voltage_<bus> and LMP_<bus>")
    parser.add_argument("--case", required=True, help="<case>_pp.json (TESP layout)")
    parser.add_argument("--layout", choices=("vppfed", "tesp"), default="vppfed",
                        help="how to read --case: vppfed's _pp.json layout, or a TESP case JSON as TESP's "
                             "tso_pypower_loop reads it (te30_pp.json with its NonGLDLoad CSV)")
    parser.add_argument("--out", default=".", help="folder of the metrics files and model_dict.json")
    parser.add_argument("--metrics-interval", type=float, default=None, help="seconds between metrics (default Period)")
    parser.add_argument("--pf-tol-mw", type=float, default=BulkOptions.pf_tol_mw,
                        help="skip a power flow when no injection moved more than this, MW/MVAr (0 = always solve)")
    parser.add_argument("--opf-tol-mw", type=float, default=BulkOptions.opf_tol_mw,
                        help="skip an OPF when no load moved more than this, MW (0 = always solve)")
    parser.add_argument("--slack-only", action="store_true",
                        help="the slack unit takes all losses and load drift between OPFs (TESP's tso_PYPOWER); "
                             "default: the online units share them by rating within their limits")
    parser.add_argument("--max-nonconverged-share", type=float, default=DEFAULT_MAX_NONCONVERGED_SHARE,
                        help="fail the run when more than this share of the power flows did not converge "
                             f"(judged after {MIN_FLOWS_BEFORE_JUDGING} flows; default %(default)s)")
    parser.add_argument("--no-loss-compensation", action="store_true",
                        help="the DC OPF ignores losses (TESP); default: it dispatches the last power flow's losses")
    parser.prog = "python -m vppfed.federates.bulk"
    return parser


def build_federate(args: argparse.Namespace) -> BulkFederate:
    """The bulk federate of a parsed :func:`build_parser` command line (the stop defaults to the case's Tmax)."""
    case_stop = None
    stop = stop_seconds(args, default_hours=0.0)
    if stop <= 0:
        case_stop = load_case(args.case, args.layout).tmax
    root = args.metrics_root or Path(args.case).name.removesuffix("_pp.json")
    return BulkFederate(args.config, case_stop or stop, args.case, root, args.out,
                        BulkOptions(pf_tol_mw=args.pf_tol_mw, opf_tol_mw=args.opf_tol_mw,
                                    slack_sharing=not args.slack_only,
                                    loss_compensation=not args.no_loss_compensation), args.metrics_interval,
                        layout=args.layout, max_nonconverged_share=args.max_nonconverged_share)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m vppfed.federates.bulk``."""
    return run_federate(build_federate, build_parser(), argv)
