"""Dataclasses <-> JSON-ready dicts, checked field by field.

Events and configs cross the process boundary as JSON. Decoding validates every field
against the dataclass's type hints, so a bad line from a broken engine (or a bad command from
a broken client) becomes a clear `CodecError` instead of a wrong-typed value deep in the UI.
Handles the shapes our dataclasses use: str/int/float/bool, StrEnum, `X | None`,
`tuple[X, ...]`, and nested classes that provide `to_json()` / `from_json()`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


class CodecError(ValueError):
    """Data that does not fit the dataclass it should become."""


def to_json(obj: object) -> Any:
    """Encode a dataclass (recursively) into dicts/lists/str/numbers."""
    if isinstance(obj, Enum):
        return obj.value
    to_json_method = getattr(obj, "to_json", None)
    if to_json_method is not None and not isinstance(obj, type):
        return to_json_method()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    return obj


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_json(cls: type[T], data: object, *, partial: bool = False) -> T:
    """Decode `data` into dataclass `cls`; unknown keys are ignored (forward compatibility).

    Missing fields fall back to their defaults; a missing required field is an error.
    """
    if not isinstance(data, dict):
        raise CodecError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = _hints(typing.cast(Any, cls))
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if not has_default and not partial:
                raise CodecError(f"{cls.__name__}: missing field {f.name!r}")
            continue
        kwargs[f.name] = _convert(hints[f.name], data[f.name], f"{cls.__name__}.{f.name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{cls.__name__}: {exc}") from exc


def _convert(tp: Any, value: object, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except CodecError as exc:
                errors.append(str(exc))
        raise CodecError("; ".join(errors) or f"{where}: unexpected null")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise CodecError(f"{where}: expected a list, got {type(value).__name__}")
        (item_tp, *_rest) = typing.get_args(tp)
        return tuple(_convert(item_tp, v, f"{where}[]") for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise CodecError(f"{where}: expected an object")
        _k, v_tp = typing.get_args(tp)
        return {str(k): _convert(v_tp, v, where) for k, v in value.items()}
    if isinstance(tp, type):
        if issubclass(tp, Enum):
            try:
                return tp(value)
            except ValueError:
                allowed = ", ".join(str(m.value) for m in tp)
                raise CodecError(f"{where}: {value!r} is not one of {allowed}") from None
        if tp is bool:
            if not isinstance(value, bool):
                raise CodecError(f"{where}: expected true/false, got {value!r}")
            return value
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise CodecError(f"{where}: expected an integer, got {value!r}")
            return value
        if tp is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CodecError(f"{where}: expected a number, got {value!r}")
            return float(value)
        if tp is str:
            if not isinstance(value, str):
                raise CodecError(f"{where}: expected a string, got {value!r}")
            return value
        from_json_method = getattr(tp, "from_json", None)
        if from_json_method is not None:
            try:
                return from_json_method(value)
            except (TypeError, ValueError, KeyError) as exc:
                raise CodecError(f"{where}: {exc}") from exc
        if dataclasses.is_dataclass(tp):
            return from_json(tp, value)
    if tp is Any or tp is object:
        return value
    raise CodecError(f"{where}: cannot decode type {tp!r}")
