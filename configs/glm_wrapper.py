"""A user's own GridLAB-D model in a case folder: the wrapper GLM, skipped modules and the model's input files.

The user's file is never edited. The case folder gets ``<root>.glm``, a wrapper that sets the user's environment
(``#setenv``) and defines (``#define``, what ``gridlabd -D`` gives), includes the user's model and then adds what the
co-simulation needs: the clock of the ``case:`` section (a second ``clock`` block after the model overrides the
model's own; measured with the PyPI GridLAB-D 6.0.0) and the heartbeat recorder (FACTS.md: without an event at every
step ``step_to`` gives wrong physics).

How GridLAB-D finds the model's files, measured with the PyPI GridLAB-D 6.0.0:

- ``#include "rel.glm"`` resolves against the working directory or ``GLPATH``, not against the including file's
  folder, and ``GLPATH`` must be in the worker's environment when it starts (``#setenv GLPATH=...`` in the wrapper has
  no effect on the search). The feeder federate runs GridLAB-D in the case folder with ``GLPATH`` = the user's folder
  (:data:`GLPATH_ENV`), so the model's own includes resolve as they did beside it;
- ``#setenv NAME=value`` before the include does expand ``${NAME}`` in the model's ``#include`` lines;
- a player's ``file`` resolves only against the working directory, so every input file the loaded model reads
  (player/shaper ``file``, climate ``tmyfile``) that is not in the case folder is linked there
  (:func:`link_inputs`); recorders write into the case folder, never through such a link into the user's folder;
- ``module market;`` fails the whole load (``market.so: cannot open shared object file``). A module the installed
  GridLAB-D lacks (its modules are ``<gridlabd>/lib/*.so``) is commented out in a line-preserving copy of the file that
  declares it (:func:`filter_modules`), so GridLAB-D's ``file(line)`` messages keep pointing at the user's lines.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from vppfed.errors import UserError

log = logging.getLogger(__name__)

__all__ = ["GLPATH_ENV", "SkippedModule", "FilteredModel", "available_modules", "filter_modules", "expand_vars",
           "wrapper_text", "link_inputs", "input_files", "output_files"]

#: the environment variable GridLAB-D searches ``#include`` files in (``:``-separated folders)
GLPATH_ENV = "GLPATH"

_INCLUDE_RE = re.compile(r'^(\s*#\s*include\s+)(["<])([^">]+)([">])')
_MODULE_RE = re.compile(r"^\s*module\s+([A-Za-z_][A-Za-z0-9_]*)\s*([;{])")
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: classes that read a file the model depends on, and the property naming it
INPUT_FILE_PROPS = {"player": "file", "shaper": "file", "climate": "tmyfile"}
#: classes that write files, and the property naming the file
OUTPUT_FILE_PROPS = {"recorder": "file", "multi_recorder": "file", "group_recorder": "file", "collector": "file",
                     "histogram": "filename", "metrics_collector_writer": "filename"}


@dataclass(frozen=True)
class SkippedModule:
    """A ``module`` line commented out because the installed GridLAB-D has no such module."""

    module: str
    file: Path
    line: int

    def where(self) -> str:
        return f"{self.file.name}:{self.line}"


@dataclass
class FilteredModel:
    """Result of :func:`filter_modules`: what the wrapper includes and what was skipped."""

    include: str                                   # path or case-folder file name for the wrapper's #include
    skipped: list[SkippedModule] = field(default_factory=list)
    copies: dict[Path, str] = field(default_factory=dict)  # user file -> file name of its filtered copy


def available_modules() -> set[str]:
    """Modules of the installed GridLAB-D: the ``lib/*.so`` files of the ``gridlabd`` package (FACTS.md: no market)."""
    import gridlabd

    lib = Path(gridlabd.__file__).parent / "lib"
    return {p.name[:-3] for p in lib.glob("*.so") if not p.name.startswith("lib")}


def expand_vars(text: str, variables: Mapping[str, str]) -> str:
    """``${NAME}`` replaced from ``variables`` (defines and environment); unknown names are left as written."""
    return _VAR_RE.sub(lambda m: str(variables.get(m.group(1), m.group(0))), text)


def _resolve_include(name: str, search: Iterable[Path]) -> Path | None:
    path = Path(name)
    if path.is_absolute():
        return path if path.is_file() else None
    for folder in search:
        candidate = folder / path
        if candidate.is_file():
            return candidate.resolve()
    return None


def filter_modules(model: Path, out_dir: Path, copy_prefix: str, *, variables: Mapping[str, str],
                   search: Iterable[Path], have: set[str] | None = None) -> FilteredModel:
    """Comment out ``module`` declarations the installed GridLAB-D lacks, in the model and the files it includes.

    A file that declares such a module (or includes one that does) is copied into ``out_dir`` as
    ``<copy_prefix><name>`` with the module's lines replaced by comments (same line count, so GridLAB-D's line numbers
    stay those of the user's file) and its ``#include`` of a filtered file pointed at that file's copy. Files with
    nothing to skip are included from where they are.

    Parameters
    ----------
    model : Path
        The user's GLM (absolute).
    out_dir : Path
        The case folder (GridLAB-D's working directory: a copy is included by its bare file name).
    variables : mapping
        Defines and environment, for ``${NAME}`` in ``#include`` lines.
    search : iterable of Path
        Folders ``#include`` files are looked up in (the working directory and ``GLPATH``).
    have : set of str, optional
        Installed modules (default :func:`available_modules`).
    """
    have = available_modules() if have is None else have
    search = list(search)
    result = FilteredModel(include=str(model))
    visiting: set[Path] = set()
    used_names: set[str] = set()

    def visit(path: Path) -> str | None:
        if path in result.copies:
            return result.copies[path]
        if path in visiting:
            return None
        visiting.add(path)
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        changed = False
        depth = 0       # brace depth of a module block being commented out
        for i, line in enumerate(lines):
            if depth > 0:
                depth += line.count("{") - line.count("}")
                lines[i] = _comment(line)
                continue
            inc = _INCLUDE_RE.match(line)
            if inc:
                target = _resolve_include(expand_vars(inc.group(3), variables), search)
                if target is not None:
                    copy = visit(target)
                    if copy is not None:
                        lines[i] = f'{inc.group(1)}"{copy}"{line[inc.end():]}'
                        changed = True
                continue
            mod = _MODULE_RE.match(line)
            if mod and mod.group(1) not in have:
                result.skipped.append(SkippedModule(mod.group(1), path, i + 1))
                if mod.group(2) == "{":
                    depth = line.count("{") - line.count("}")
                lines[i] = _comment(line)
                changed = True
        visiting.discard(path)
        if not changed:
            return None
        name = f"{copy_prefix}{path.name}"
        k = 1
        while name in used_names:
            k += 1
            name = f"{copy_prefix}{k}_{path.name}"
        used_names.add(name)
        (out_dir / name).write_text("".join(lines), encoding="utf-8", newline="")
        result.copies[path] = name
        return name

    copy = visit(model)
    if copy is not None:
        result.include = copy
    for s in result.skipped:
        log.warning("%s: module '%s' skipped: the installed GridLAB-D has no such module", s.where(), s.module)
    return result


def _comment(line: str) -> str:
    """``line`` as a GLM comment, keeping its line end (line-preserving)."""
    body = line.rstrip("\r\n")
    return f"// vppfed: skipped (module not installed): {body}{line[len(body):]}"


def wrapper_text(*, model: str, source: Path, env: Mapping[str, str], defines: Mapping[str, str],
                 timezone: str, start: str, stop: str, heartbeat: tuple[str, str, int] | None,
                 minimum_timestep_s: int | None = None, skipped: Iterable[SkippedModule] = ()) -> str:
    """The wrapper GLM (see the module docstring).

    Parameters
    ----------
    model : str
        What to ``#include`` (the user's file by absolute path, or the file name of its filtered copy).
    source : Path
        The user's file (named in the header).
    heartbeat : (name, parent, interval_s), optional
        The heartbeat recorder; None while discovering (the head is not known yet).
    """
    out = [f"// vppfed wrapper of {source} (written by vppfed; the model itself is never edited).",
           f"// GridLAB-D runs in this folder with GLPATH={source.parent} so the model's relative #includes resolve;",
           "// its players' input files are linked here and its recorders write here."]
    for s in skipped:
        out.append(f"// module '{s.module}' ({s.where()}) skipped: not in the installed GridLAB-D")
    out += [f"#setenv {k}={v}" for k, v in env.items()]
    out += [f"#define {k}={v}" for k, v in defines.items()]
    if minimum_timestep_s:
        out.append(f"#set minimum_timestep={int(minimum_timestep_s)}")
    out.append(f'#include "{model}"')
    out += ["", "// ---- co-simulation additions (after the model: this clock overrides the model's own)",
            "clock {", f"  timezone {timezone};", f"  starttime '{start}';", f"  stoptime '{stop}';", "}"]
    if heartbeat is not None:
        name, parent, interval = heartbeat
        out.append("module tape;  // the recorder's module (declaring it again is harmless; measured)")
        out.append(f"object recorder {{ name {name}; parent {parent}; property voltage_A; interval {int(interval)}; "
                   "file /dev/null; }  // an event at every co-simulation step (step_to is exact only then)")
    return "\n".join(out) + "\n"


def _files(objects: Mapping[str, Mapping[str, object]], props: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, obj in objects.items():
        prop = props.get(str(obj.get("class")))
        value = str(obj.get(prop) or "").strip() if prop else ""
        if value and value.upper() not in ("NONE", "/DEV/NULL"):
            out[name] = value
    return out


def input_files(objects: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """``{object: file}`` of the files the model reads (players, shapers, climate TMY files)."""
    return _files(objects, INPUT_FILE_PROPS)


def output_files(objects: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """``{object: file}`` of the files the model's recorders and collectors write."""
    return _files(objects, OUTPUT_FILE_PROPS)


def link_inputs(objects: Mapping[str, Mapping[str, object]], case_dir: Path, search: Iterable[Path],
                where: str) -> list[str]:
    """Link the model's relative input files into ``case_dir`` (GridLAB-D opens them from its working directory).

    Returns the relative names linked. A recorder that would write to a linked name (through the link, into the user's
    folder) and an input file found nowhere are :class:`UserError`.
    """
    search = list(search)
    linked: list[str] = []
    for obj, name in sorted(input_files(objects).items()):
        rel = Path(name)
        if rel.is_absolute() or (case_dir / rel).exists() or name in linked:
            continue
        target = next((folder / rel for folder in search if (folder / rel).is_file()), None)
        if target is None:
            # measured: load_glm accepts a missing player file and the worker dies at the first step with no word
            # of the file; say it here, where the model and the folders searched are known
            raise UserError(f"{where}: input file '{name}' of {obj} is not in {', '.join(map(str, search))}"
                            " (GridLAB-D opens it at the first step)")
        link = case_dir / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target.resolve())
        linked.append(name)
    clash = {o: f for o, f in output_files(objects).items() if f in linked}
    if clash:
        obj, name = next(iter(sorted(clash.items())))
        raise UserError(f"{where}: recorder {obj} writes '{name}', which the model also reads as an input: give the "
                        "recorder another file name")
    return linked
