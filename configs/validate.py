"""The one config validator: YAML/JSON loading and dataclass construction with errors that name the field.

Every YAML a user writes (case descriptions, scenario configurators, neighbourhood descriptions) goes through
:func:`load_yaml` and :func:`parse_dataclass`. A wrong or missing field gives one :class:`~vppfed.errors.UserError` line
such as ``te30.yaml: feeder.houses: expected an integer, got 'thirty'``; never a traceback.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from vppfed.errors import UserError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``; a missing file, a syntax error or a non-mapping top level is a UserError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}:{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def load_json(path: str | Path) -> Any:
    """Read a JSON document; a missing file or a syntax error is a UserError naming the file and line."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
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
            raise UserError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UserError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    if tp is Path or tp is typing.Optional[Path]:
        return Path(str(value))
    raise UserError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def parse_dataclass(cls: type[T], mapping: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``mapping``, checking every field against its type hint.

    Unknown keys are errors (a typo must not be silently ignored); missing fields without a default are errors;
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
    mapping = dict(mapping or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in mapping if k not in fields]
    if unknown:
        known = ", ".join(sorted(fields))
        raise UserError(f"{where}.{unknown[0]}: unknown field (known fields: {known})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name in mapping:
            kwargs[name] = _convert(mapping[name], hints[name], f"{where}.{name}")
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
