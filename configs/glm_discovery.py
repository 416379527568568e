"""Discover what a user's GridLAB-D model contains, by loading it with the real GridLAB-D at configuration time.

Why load instead of parsing the text: GLMs nest objects, include files through ``${...}`` macros, ``#define`` and
``#ifdef`` parts away and name objects implicitly (``metrics_collector_auto_25``). The PyPI GridLAB-D's
``get_checkpoint_json()`` of a loaded model gives every object with its class, ``parent``, ``from``/``to`` and
properties (measured: 0.35 s on TESP's TE_Challenge), which is what the agents and metrics need:
:func:`inventory_from_objects` turns it into the
:class:`~vppfed.federates.feeder.inventory.FeederInventory` a generated feeder has, and :func:`glm_dict_from_objects` into TESP's ``<root>_glm_dict.json``.

The roles of objects (billing meters, devices by house, the feeder head) are the choices written in
:mod:`vppfed.federates.feeder.inventory`. Behind the SWING head: on our IEEE 13-node feeder with its SWING node turned
into a meter, the sum of ``power_in`` of the head's links equals the SWING meter's ``measured_power`` (3.64431+1.76608j
MVA); the bulk voltage is written into its ``voltage_A/B/C`` scaled from per unit by ``head_nominal_v``.
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from vppfed.configs.feeder_glm import _atomic_write
from vppfed.configs.glm_wrapper import (GLPATH_ENV, SkippedModule, filter_modules, link_inputs, wrapper_text)
from vppfed.federates.feeder.inventory import (
    FeederInventory, _num, _of, _parent_chain, inventory_from_objects, objects_from_checkpoint)
from vppfed.errors import UserError

log = logging.getLogger(__name__)

__all__ = ["UserFeeder", "load_objects", "objects_from_checkpoint", "inventory_from_objects", "glm_dict_from_objects",
           "objects_listing", "first_step_load_kw", "prepare_user_feeder"]

_UNKNOWN_CLASS_RE = re.compile(r"class '([^']+)' is not known")


@dataclass
class UserFeeder:
    """A prepared user model: the wrapper written, the objects discovered."""

    inventory: FeederInventory
    glm_dict: dict[str, Any]
    objects: dict[str, dict[str, Any]]
    glpath: str
    step_s: int
    minimum_timestep_s: int | None = None
    linked: list[str] = field(default_factory=list)
    skipped: list[SkippedModule] = field(default_factory=list)
    climate_reads_file: bool = False      # the climate object reads a TMY file itself (no weather writes)
    objects_glm: str = ""                 # file name of the device objects listing (:func:`objects_listing`)
    first_step_load_kw: float | None = None   # real power at the head after the first step (:func:`first_step_load_kw`)


def load_objects(glm: Path, *, env: Mapping[str, str] | None = None,
                 where: str = "feeder") -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Load ``glm`` with the real GridLAB-D (worker process, working directory: the GLM's folder) and return
    ``(objects, globals)`` from its checkpoint JSON.

    Raises
    ------
    UserError
        One line: GridLAB-D's own ``file(line): message`` when the model does not load.
    """
    from vppfed.federates.feeder.session import GridlabdError, GridlabdSession

    fd, log_name = tempfile.mkstemp(prefix="vppfed_glm_load_", suffix=".log")
    os.close(fd)
    session = GridlabdSession(glm, worker_log=log_name, env=env, timezone="UTC0")
    try:
        try:
            session.open()
        except GridlabdError as exc:
            raise UserError(f"{where}: {str(exc).splitlines()[0]}") from None
        with tempfile.TemporaryDirectory(prefix="vppfed_ckpt_") as scratch:
            # a path of ours: the default writes _checkpoint.json into the working directory
            checkpoint = json.loads(session._gld.get_checkpoint_json(str(Path(scratch) / "checkpoint.json")))
    finally:
        session.close(failed=True)   # no outputs wanted from a model that never ran
        Path(log_name).unlink(missing_ok=True)
    return objects_from_checkpoint(checkpoint), dict(checkpoint.get("globals") or {})


def glm_dict_from_objects(objects: Mapping[str, Mapping[str, Any]], inv: FeederInventory, *, fed_name: str,
                          bulk_bus: int | str) -> dict[str, Any]:
    """TESP's ``<root>_glm_dict.json`` of a discovered model (the keys our generator writes)."""
    head = inv.substation
    meter_of = {h: m for h, m in inv.house_meter.items()}

    def meter_for(device: str) -> str:
        return next((p for p in _parent_chain(objects, device) if p in set(inv.billing_meters)), "")

    xf_kva = 0.0
    if inv.substation_transformer:
        cfg = objects.get(str(objects[inv.substation_transformer].get("configuration")), {})
        xf_kva = _num(cfg.get("power_rating"))
    children: dict[str, list[str]] = {}
    for name, obj in objects.items():
        if obj.get("parent") in set(inv.billing_meters):
            children.setdefault(str(obj["parent"]), []).append(name)
    meters = {}
    for m in inv.billing_meters:
        vln = _num(objects[m].get("nominal_voltage"), 120.0)
        meters[m] = {"feeder_id": head, "phases": str(objects[m].get("phases", "")), "vll": round(vln * (
            2.0 if objects[m].get("class") == "triplex_meter" else 3 ** 0.5), 3), "vln": vln,
            "children": children.get(m, [])}
    houses = {}
    for h in inv.houses:
        o = objects[h]
        whs = [w for w in inv.water_heaters if inv.device_house.get(w) == h]
        houses[h] = {"feeder_id": head, "billingmeter_id": meter_of.get(h, ""), "sqft": _num(o.get("floor_area")),
                     "stories": int(_num(o.get("number_of_stories"), 1)), "doors": int(_num(o.get("number_of_doors"))),
                     "thermal_integrity": str(o.get("thermal_integrity_level", "UNKNOWN")),
                     "cooling": str(o.get("cooling_system_type", "NONE")),
                     "heating": str(o.get("heating_system_type", "NONE")),
                     "wh_gallons": _num(objects[whs[0]].get("tank_volume")) if whs else 0,
                     "house_class": str(o.get("house_type") or "SINGLE_FAMILY"), "parent": str(o.get("parent", ""))}
    inverters = {}
    for i in inv.pv_inverters + inv.battery_inverters:
        o = objects[i]
        row = {"feeder_id": head, "billingmeter_id": meter_for(i), "rated_W": _num(o.get("rated_power")),
               "resource": "battery" if i in inv.battery_inverters else "solar",
               "inv_eta": _num(o.get("inverter_efficiency"), 1.0)}
        bats = [b for b in inv.batteries if objects[b].get("parent") == i]
        if bats:
            b = objects[bats[0]]
            row.update(bat_eta=_num(b.get("round_trip_efficiency"), 1.0), bat_capacity=_num(b.get("battery_capacity")),
                       bat_soc=_num(b.get("state_of_charge")))
        inverters[i] = row
    evs = {e: {"feeder_id": head, "billingmeter_id": meter_for(e), "house": inv.device_house.get(e, ""),
               "rated_W": _num(objects[e].get("maximum_charge_rate"))} for e in inv.ev_chargers}
    return {
        "bulkpower_bus": str(bulk_bus), "FedName": fed_name, "transformer_MVA": round(xf_kva / 1000.0, 6),
        "feeders": {head: {"house_count": len(inv.houses), "inverter_count": len(inverters)}},
        "billingmeters": meters, "houses": houses, "inverters": inverters,
        "capacitors": {c: {"feeder_id": head} for c in inv.capacitors},
        "regulators": {r: {"feeder_id": head} for r in inv.regulators},
        "ev_chargers": evs,
    }


#: classes whose properties the agent sections read (ratings, initial states, job loads) from the objects listing
LISTED_CLASSES = ("house", "ZIPload", "waterheater", "evcharger_det", "evcharger", "inverter", "battery", "solar",
                  "triplex_meter", "meter", "substation", "climate")


def objects_listing(objects: Mapping[str, Mapping[str, Any]], source: Path) -> str:
    """The discovered device objects as GLM text in the generator's block form (one ``name value;`` per line,
    ``parent`` explicit), so sections that read ratings from a generated feeder's GLM read a user's model the same
    way. Not a model to run: a listing of what GridLAB-D loaded from ``source``."""
    out = [f"// objects GridLAB-D loaded from {source} (vppfed's listing for the agent sections; not a model to run)"]
    for name, obj in objects.items():
        cls = str(obj.get("class"))
        if cls not in LISTED_CLASSES:
            continue
        out.append(f"object {cls} {{")
        out.append(f"  name {name};")
        for key, value in obj.items():
            if key in ("class", "name") or value is None or isinstance(value, (dict, list)):
                continue
            text = ("TRUE" if value else "FALSE") if isinstance(value, bool) else str(value)
            if text and ";" not in text and "\n" not in text:
                out.append(f"  {key} {text};")
        out.append("}")
    return "\n".join(out) + "\n"


def first_step_load_kw(wrapper_text_: str, linked: list[str], case_dir: Path, user_dir: Path, *, timezone: str,
                       step_s: int, inventory: FeederInventory, where: str) -> float | None:
    """The feeder's real power at the head after its first step [kW], by running the wrapped model one step in a
    scratch folder (its recorders' files and GridLAB-D's checkpoint land there, not in the case folder).

    Why: the bulk grid scales a feeder's load to its bus (TESP's DSO scale); a user's model can be a 100 kW or a
    5 MW feeder, so the scale must follow its size (measured: IEEE-123, 3.2 MW x the te30 default 250 left 18 of 20
    bulk power flows unconverged). Returns None (with a warning) when the step fails; the run would then say why.
    """
    from vppfed.formats.gld_strings import parse_complex
    from vppfed.federates.feeder.session import GridlabdError, GridlabdSession

    with tempfile.TemporaryDirectory(prefix="vppfed_glm_step_") as scratch:
        folder = Path(scratch)
        probe = folder / "probe.glm"
        probe.write_text(wrapper_text_, encoding="utf-8")
        for name in linked:
            link = folder / name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((case_dir / name).resolve())
        session = GridlabdSession(probe, worker_log=folder / "worker.log", timezone=timezone,
                                  env={GLPATH_ENV: os.pathsep.join([str(user_dir), str(case_dir)])})
        try:
            session.open()
            session.step_to(float(step_s))
            head = inventory.substation
            if inventory.head_kind == "substation":
                power = parse_complex(session.get(head, "distribution_load"))
            else:
                power = 0j
                for link in inventory.head_links:
                    if session.get(link, "from").strip() == head:
                        power += parse_complex(session.get(link, "power_in"))
                    else:
                        power -= parse_complex(session.get(link, "power_out"))
        except GridlabdError as exc:
            log.warning("%s: the model's first step failed, its load is unknown: %s", where,
                        str(exc).splitlines()[0])
            return None
        finally:
            session.close(failed=True)
    return power.real / 1000.0


def _check_metrics_names(objects: Mapping[str, Mapping[str, Any]], root: str, where: str) -> None:
    """A ``metrics_collector_writer`` writes ``<class>_<filename>`` (``substation_TE_Challenge_metrics.json``); with
    ``filename`` ``<root>_metrics.json`` those are the files vppfed's own metrics write (measured: both wrote
    ``substation_<root>_metrics.json`` and the file was not JSON at the end), so that name is refused."""
    ours = f"{root}_metrics"
    for name in _of(objects, "metrics_collector_writer"):
        filename = Path(str(objects[name].get("filename") or "")).name
        if Path(filename).stem == ours:
            raise UserError(f"{where}.glm: metrics_collector_writer {name} writes '{filename}', the names of vppfed's "
                            f"own metrics files (<prefix>_{ours}.json); give it another filename (e.g. feeder.defines)"
                            " or another case.root")


def _load_error(exc: UserError, skipped: list[SkippedModule], copies: Mapping[Path, str]) -> UserError:
    """A load error in the user's terms: copy names mapped back to the user's files; an unknown class after a
    skipped module named with that module."""
    text = str(exc)
    for user, copy in copies.items():
        text = text.replace(copy, user.name)
    match = _UNKNOWN_CLASS_RE.search(text)
    if match and skipped:
        mods = ", ".join(f"'{s.module}' ({s.where()})" for s in skipped)
        return UserError(f"{text}: its module is not in the installed GridLAB-D ({mods} skipped); remove the "
                         f"module's objects or use a GridLAB-D that has it")
    return UserError(text)


def prepare_user_feeder(user_glm: Path, case_dir: Path, root: str, *, defines: Mapping[str, str],
                        env: Mapping[str, str], timezone: str, start: str, stop: str, step_s: int,
                        minimum_timestep_s: int | None, fed_name: str, bulk_bus: int | str,
                        where: str = "feeder", step_given: bool = True, period_s: int | None = None) -> UserFeeder:
    """Write ``<root>.glm`` (the wrapper), ``<root>_inventory.json`` and ``<root>_glm_dict.json`` into ``case_dir``
    for the user's model ``user_glm`` (never edited), link its input files, and return what was found.

    ``case_dir`` is GridLAB-D's working directory here and at run time (the feeder federate runs in the case folder
    with ``GLPATH`` = the model's folder, :attr:`UserFeeder.glpath`). ``step_s`` is the solve step (heartbeat
    interval); when it was not given (``step_given`` False) and the model's ``minimum_timestep`` is a multiple of the
    case period ``period_s``, the step becomes that minimum timestep (:attr:`UserFeeder.step_s`).
    """
    user_glm = user_glm.resolve()
    case_dir = case_dir.resolve()   # the probe below loads from another folder: no path may be relative to ours
    if not user_glm.is_file():
        raise UserError(f"{where}.glm: {user_glm}: file not found")
    glpath = str(user_glm.parent)
    variables = {**os.environ, **env, **defines}
    filtered = filter_modules(user_glm, case_dir, f"{root}_user_", variables=variables,
                              search=[case_dir, user_glm.parent])
    wrapper = case_dir / f"{root}.glm"
    common = dict(source=user_glm, env=env, defines=defines, timezone=timezone, start=start, stop=stop,
                  minimum_timestep_s=minimum_timestep_s, skipped=filtered.skipped)
    # discovery loads a copy of the wrapper in a scratch folder: whatever GridLAB-D writes on load and finalize
    # (recorder headers, _checkpoint.json) stays out of the case folder; filtered copies are found through GLPATH
    with tempfile.TemporaryDirectory(prefix="vppfed_glm_") as scratch:
        probe = Path(scratch) / wrapper.name
        included = filtered.include if Path(filtered.include).is_absolute() else str(case_dir / filtered.include)
        probe.write_text(wrapper_text(model=included, heartbeat=None, **common), encoding="utf-8")
        try:
            objects, globals_ = load_objects(probe, where=f"{where}.glm",
                                             env={GLPATH_ENV: os.pathsep.join([glpath, str(case_dir)])})
        except UserError as exc:
            raise _load_error(exc, filtered.skipped, filtered.copies) from None
    inv = inventory_from_objects(objects, f"{where}.glm")
    mts = int(_num(globals_.get("minimum_timestep"), 1)) or 1
    if step_s % mts:
        # GridLAB-D rounds its events to minimum_timestep: a step between them would never be reached
        if not step_given and period_s and mts % period_s == 0:
            log.info("%s: step %d s -> %d s, the model's minimum_timestep", where, step_s, mts)
            step_s = mts
        else:
            raise UserError(f"{where}.step_s: {step_s} s is not a multiple of the model's minimum_timestep ({mts} s); "
                            f"set feeder.step_s to a multiple of {mts} and of case.period_s")
    heartbeat = (inv.heartbeat, inv.substation, step_s)
    _atomic_write(wrapper, wrapper_text(model=filtered.include, heartbeat=heartbeat, **common))
    _check_metrics_names(objects, root, where)
    linked = link_inputs(objects, case_dir, [user_glm.parent], f"{where}.glm")
    load_kw = first_step_load_kw(wrapper_text(model=included, heartbeat=heartbeat, **common), linked, case_dir,
                                 user_glm.parent, timezone=timezone, step_s=step_s, inventory=inv, where=where)
    glm_dict = glm_dict_from_objects(objects, inv, fed_name=fed_name, bulk_bus=bulk_bus)
    _atomic_write(case_dir / f"{root}_glm_dict.json", json.dumps(glm_dict, indent=2) + "\n")
    _atomic_write(case_dir / f"{root}_inventory.json", json.dumps(inv.to_json(), indent=2) + "\n")
    _atomic_write(case_dir / f"{root}_objects.glm", objects_listing(objects, user_glm))
    climate_file = bool(inv.climate and str(objects[inv.climate].get("tmyfile") or "").strip())
    log.info("%s: %s: %d houses, %d billing meters, %d inverters, head %s (%s), %s kW after the first step", where,
             user_glm.name, len(inv.houses), len(inv.billing_meters),
             len(inv.pv_inverters) + len(inv.battery_inverters), inv.substation, inv.head_kind,
             "?" if load_kw is None else f"{load_kw:.1f}")
    return UserFeeder(inventory=inv, glm_dict=glm_dict, objects=dict(objects), glpath=glpath, step_s=step_s,
                      minimum_timestep_s=mts,
                      linked=linked, skipped=filtered.skipped, climate_reads_file=climate_file,
                      objects_glm=f"{root}_objects.glm", first_step_load_kw=load_kw)
