"""The bottom layer of vppfed: reading user files with one-line errors, atomic writes, and small value parsers.

Everything here depends only on the standard library, PyYAML and :mod:`vppfed.errors`, so every other layer
(federate cores, configs, postprocess, the CLI) may import it and it imports none of them (``tests/test_layers.py``
checks this). It is the one home of:

- reading: :func:`read_text_file`, :func:`load_yaml`, :func:`parse_yaml_text`, :func:`load_json`, :func:`read_csv_rows`
  (a missing file, a folder, binary content or a syntax error is one :class:`~vppfed.errors.UserError` line naming the
  file and the line);
- checking: :func:`parse_dataclass` (a dataclass from a mapping, every field checked against its type hint) and
  :func:`require` (the building block of a dataclass's ``validate()``);
- writing: :func:`atomic_write_text`, :func:`atomic_write_bytes`, :func:`atomic_write_json` (write a temporary file
  beside the target, optionally fsync it, then ``os.replace``: a reader never sees half a file);
- values: :func:`normalize_key` (TESP 1.3.6/1.3.7 HELICS keys) and :func:`parse_complex` (GridLAB-D/HELICS text).

Every YAML a user writes (case descriptions, scenario configurators, neighbourhood descriptions) goes through
:func:`load_yaml` and :func:`parse_dataclass`. A wrong or missing field gives one :class:`~vppfed.errors.UserError` line
such as ``te30.yaml: feeder.houses: expected an integer, got 'thirty'``; never a traceback.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from vppfed.errors import UserError
from vppfed.formats.gld_strings import format_complex, parse_complex, parse_float, split_unit

__all__ = ["SEED_LIMIT", "core_default", "PLAIN_NAME", "PLAIN_NAME_MAX", "parse_yaml_text", "read_text_file", "load_yaml", "load_json",
           "read_csv_rows", "parse_dataclass", "require", "plain_name_problem", "require_plain_name", "check_out_dir",
           "check_timeout", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "normalize_key",
           "parse_complex", "parse_float", "split_unit", "format_complex", "proc_stat_fields", "process_cpu_seconds"]

T = TypeVar("T")

#: Seeds (every field named ``seed`` or ``*_seed``) must lie in [0, 2**32): numpy's ``RandomState`` range.
SEED_LIMIT = 2**32


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key repeated in one mapping is an error.

    PyYAML keeps the last of two equal keys in silence, so a second ``case:`` section (or ``hours:`` written twice)
    would quietly replace the first. Merge keys (``<<: *base``) keep their YAML meaning: the merged keys may be
    overridden, only keys written twice in the same mapping are refused.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: the base class reports it
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first.start_mark.line + 1})",
                        key_node.start_mark)
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def parse_yaml_text(text: str, source: str) -> Any:
    """Parse YAML ``text`` with duplicate keys refused; errors are one UserError line naming ``source`` and line.

    Used for every YAML a user writes (files and ``--set`` values), so both follow the same rules.
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{source}:{where} invalid YAML: {problem}") from None
    except RecursionError:
        raise UserError(f"{source}: invalid YAML: nested too deeply") from None


def read_text_file(path: str | Path, what: str = "file") -> str:
    """Read a UTF-8 text file that a user named; a folder, a missing file or binary content is one UserError line.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file should be, for the message (``"YAML file"``, ``"_pp.json"``).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a {what}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); expected a {what}") \
            from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``.

    A missing file, a folder, non-UTF-8 or binary content, a syntax error, a duplicate key or a non-mapping top level
    is a one-line UserError naming the file (and the line where there is one).
    """
    path = Path(path)
    text = read_text_file(path, "YAML file")
    if "\x00" in text:
        raise UserError(f"{path}: line {text[:text.index(chr(0))].count(chr(10)) + 1}: not a YAML file (NUL byte)")
    data = parse_yaml_text(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def load_json(path: str | Path, what: str = "JSON file") -> Any:
    """Read a JSON document; a missing file, a folder, binary content or a syntax error is one UserError line naming
    the file (and line and column); ``what`` says what the file should be (``"PYPOWER case file (_pp.json)"``).

    The one JSON reader of files a user names or hands over (runner, PYPOWER case, TESP case, configs)."""
    path = Path(path)
    try:
        return json.loads(read_text_file(path, what))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a mapping",
             list: "a list"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check/convert one value against a type hint; ``where`` names the field in the error."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except UserError as exc:
                errors.append(str(exc))
        raise UserError(errors[0] if len(errors) == 1 else f"{where}: got {value!r}, which matches none of "
                        + ", ".join(_type_name(a) for a in args if a is not type(None)))
    if origin is typing.Literal:
        if value not in args:
            raise UserError(f"{where}: must be one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise UserError(f"{where}: expected a mapping, got {value!r}")
        return parse_dataclass(tp, value, where)
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise UserError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin in (dict, typing.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise UserError(f"{where}: expected a mapping, got {value!r}")
        key_t, val_t = args if args else (Any, Any)
        return {_convert(k, key_t, f"{where}.{k}"): _convert(v, val_t, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise UserError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = ""
            if isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value.strip()):
                hint = " (YAML 1.1 reads this as text: write it as 1.0e+12)"
            raise UserError(f"{where}: expected a number, got {value!r}{hint}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise UserError(f"{where}: must be a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UserError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    if tp is Path or tp is typing.Optional[Path]:
        return Path(str(value))
    raise UserError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def renamed_fields(cls: type, mapping: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``mapping`` with the old names of renamed fields replaced by the new ones (``cls.RENAMED = {old: new}``).

    Why: field names gained their unit (``case.period`` -> ``case.period_s``) and users have YAML files with the old
    names, so an old name keeps working with one logged deprecation warning naming the new one; giving both is an
    error naming both (which one was meant is not ours to guess).
    """
    renames: Mapping[str, str] = getattr(cls, "RENAMED", None) or {}
    result = dict(mapping)
    for old, new in renames.items():
        if old not in result:
            continue
        if new in result:
            raise UserError(f"{where}.{old}: renamed to {new}; give only {new} (both {old} and {new} are set)")
        logging.getLogger(__name__).warning("%s.%s is deprecated: rename it to %s (same meaning and unit)",
                                            where, old, new)
        result = {(new if k == old else k): v for k, v in result.items()}
    return result


def parse_dataclass(cls: type[T], mapping: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``mapping``, checking every field against its type hint.

    Unknown keys are errors (a typo must not be silently ignored); missing fields without a default are errors;
    fields named ``seed``/``*_seed`` must lie in [0, 2**32); numbers must be finite (inf and nan are refused, unless the value is the field's own default, e.g. a threshold
    whose default +inf means "never");
    nested dataclasses, lists, dicts, Optional and Literal are checked recursively. After construction the dataclass's
    own ``validate()`` method, if it has one, is called so range checks live beside the fields; it should raise
    ``ValueError("field: reason")`` or UserError, and a ValueError is reported as ``where.field: reason``.

    Parameters
    ----------
    cls : type
        A dataclass type.
    mapping : mapping or None
        The raw values (None is treated as empty).
    where : str
        Prefix naming the file and section, e.g. ``"te30.yaml: feeder"``.
    """
    if mapping is not None and not isinstance(mapping, Mapping):
        raise UserError(f"{where}: must be a mapping of fields ('name: value' lines), got {_shown(mapping)}")
    mapping = renamed_fields(cls, mapping or {}, where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in mapping if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields))
        raise UserError(f"{where}.{unknown[0]}: unknown field (known fields: {known})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name in mapping:
            value = mapping[name]
            if isinstance(value, float) and math.isinf(value) and field.default == value:
                kwargs[name] = value  # the field's own "never" default (e.g. a threshold of +inf), passed on
                continue
            kwargs[name] = _convert(value, hints[name], f"{where}.{name}")
            seed = kwargs[name]
            if (name == "seed" or name.endswith("_seed")) and isinstance(seed, int) and not 0 <= seed < SEED_LIMIT:
                # every seed feeds numpy (RandomState needs [0, 2**32); default_rng refuses negatives)
                raise UserError(f"{where}.{name}: must be in [0, 2**32), got {seed}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise UserError(f"{where}.{name}: required field is missing")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as exc:
            raise UserError(f"{where}.{exc}") from None
    return obj


def require(condition: bool, field: str, reason: str) -> None:
    """Raise ``ValueError("field: reason")`` unless ``condition``: the building block of dataclass ``validate()``."""
    if not condition:
        raise ValueError(f"{field}: {reason}")


def _shown(value: Any) -> str:
    """A short description of a wrong value for a message: its type, and the value if it is short."""
    text = repr(value)
    kind = {list: "a list", tuple: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)
    return f"{kind} {text}" if len(text) <= 40 else kind


#: A name that becomes part of file names, HELICS federate names and keys: letters, digits, '_' and '-', starting
#: with a letter, digit or '_' (so no path separator, no '..', no leading '.', nothing a shell or TESP script quotes).
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
#: Longest plain name: file names built from it (``<root>_<federate>_metrics.json``) stay far below 255 bytes.
PLAIN_NAME_MAX = 64


def plain_name_problem(value: str) -> str | None:
    """Why ``value`` is not a plain name (see :data:`PLAIN_NAME`), or None if it is one."""
    if not value:
        return "must not be empty"
    if len(value) > PLAIN_NAME_MAX:
        return f"must be at most {PLAIN_NAME_MAX} characters, got {len(value)}"
    if PLAIN_NAME.fullmatch(value):
        return None
    if "/" in value or "\\" in value or ".." in value or value.startswith("."):
        return f"must be a plain name, not a path (no '/', '\\', '..' or leading '.'), got {value!r}"
    return f"use letters, digits, '_' and '-' only (starting with a letter, digit or '_'), got {value!r}"


def require_plain_name(value: str, field: str) -> None:
    """``require`` for a plain name: raises ``ValueError("field: reason")`` (for dataclass ``validate()``)."""
    problem = plain_name_problem(value)
    if problem:
        raise ValueError(f"{field}: {problem}")


def check_out_dir(path: str | Path, option: str = "--out") -> Path:
    """Check that folder ``path`` can be created or replaced and written, before anything is built into it.

    A path that is a file, lies under a file, or whose nearest existing folder is not writable is a one-line
    UserError naming ``option`` and the path. Returns ``path`` as a Path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, expected a folder")
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            raise UserError(f"{option} {path}: {existing} is a dangling symbolic link")
        parent = existing.parent
        if parent == existing:
            break
        existing = parent
    if existing != path and not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is a file, so no folder can be made under it")
    # the run writes into path and builds beside it (staging folder), so both path and its parent must be writable
    target = path if path.exists() else existing
    for folder in {target, path.parent if path.parent.exists() else existing}:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(f"{option} {path}: {folder} is not writable")
    return path


def check_timeout(value: float | None, option: str = "--timeout") -> None:
    """A wall-clock timeout must be a finite number of seconds > 0 (None: not given)."""
    if value is None:
        return
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"{option} {value:g}: must be a finite number of seconds > 0")


def read_csv_rows(path: str | Path, what: str = "CSV file") -> list[dict[str, str]]:
    """Read a CSV file with a header line into one dict per row; a missing/unreadable file is one UserError line.

    A row with more cells than the header is reported with its line number (``csv.DictReader`` would keep the extra
    cells under the key None in silence).
    """
    text = read_text_file(path, what)
    rows: list[dict[str, str]] = []
    reader = csv.DictReader(text.splitlines())
    for row in reader:
        if None in row:
            raise UserError(f"{path}: line {reader.line_num}: more cells than the header has columns")
        rows.append(row)
    return rows


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half of one.

    Parameters
    ----------
    path : str or Path
        The target file; its folder must exist.
    data : bytes
        The whole new content.
    fsync : bool
        Flush the temporary file to disk before the rename, so a crash (power loss) cannot leave an empty file under
        the final name. Off only for frequently rewritten status files (heartbeat, progress), where the latest
        value matters and a lost one does not.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: str | Path, text: str, fsync: bool = True, encoding: str = "utf-8") -> None:
    """:func:`atomic_write_bytes` for text (UTF-8 unless ``encoding`` says otherwise)."""
    atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def atomic_write_json(path: str | Path, data: Any, fsync: bool = True, **dumps: Any) -> None:
    """:func:`atomic_write_text` of ``json.dumps(data, **dumps)``; ``dumps`` are ``json.dumps`` options (indent...)."""
    atomic_write_text(path, json.dumps(data, **dumps), fsync=fsync)


def normalize_key(key: str) -> str:
    """Fold the object/property separator so ``a#b`` and ``a/b`` compare equal (TESP 1.3.6 vs 1.3.7 keys)."""
    return key.replace("#", "/")


def core_default(cls: type, name: str) -> Any:
    """The default of field ``name`` of the core dataclass ``cls``, for a YAML section that shares the field.

    Why: a default has one home, the core's dataclass; a section writes ``soc_low: float = core_default(
    BatteryConfig, "soc_low")`` so that changing the core's default changes the cases too
    (``tests/test_section_defaults.py`` checks every section against its core). Mutable defaults (a
    ``default_factory``) are not supported here: use ``field(default_factory=list)`` in the section.
    """
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{name} has no plain default")
            return f.default
    raise TypeError(f"{cls.__name__} has no field {name!r}")


def proc_stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (``[0]`` the state letter, ``[11]``/``[12]`` utime
    and stime in clock ticks, ``[21]`` resident pages), or None when the process is gone or the file unreadable.

    One parser for the launcher (is a process alive, stopped, a zombie), the feeder (its GridLAB-D worker's CPU) and
    the benchmarks: the command name may itself hold spaces and parentheses, so the fields start after the last ')'.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    head, sep, rest = text.rpartition(")")
    return rest.split() if sep else None


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from ``/proc/<pid>/stat`` (0.0 where that cannot be read).

    Why /proc: a process's reaped-children total (``RUSAGE_CHILDREN``) cannot tell whose child a worker was when
    several feeders share one co-hosting process, and the launcher asks about processes that are not its children."""
    fields = proc_stat_fields(pid)
    try:
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0
    except (ValueError, IndexError):
        return 0.0
