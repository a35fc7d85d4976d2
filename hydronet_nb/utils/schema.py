"""Typed settings: each value of a config checked against its dataclass's annotations, and against its range.

:func:`hydronet_nb.utils.config.from_mapping` runs :func:`check_fields` on a mapping read from a file before it
builds the dataclass: a value of the wrong type is an error naming the file and the key, and nothing is coerced
in a way that changes its meaning (``epochs: 1.5`` is not 1 epoch, ``batched: "no"`` is not true). Ranges live in
the fields' metadata (:func:`setting`) and :func:`check_ranges` checks them in the dataclasses' ``__post_init__``,
so settings built in code get them too. Every message has one shape::

    {file}: {section}.{key}: expected {what}, got {value!r}

Written by hand, not with pydantic: the settings are plain dataclasses used across the package (``asdict``,
``replace``, frozen ones), the rules are few, and pydantic is not one of the package's dependencies.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import re
import types
import typing
from pathlib import Path
from typing import Iterable, TypeVar

from ..errors import ConfigError

#: the keys of a field's metadata that bound its value (a list's items, a mapping's values)
BOUNDS = ("ge", "gt", "le", "lt", "choices")
T = TypeVar("T")
# A number written as YAML 1.1 does not read it: PyYAML reads `1e-3` and `5e-4` as strings (its float pattern
# needs a dot and a signed exponent). Float fields take such strings, and only these, as the number they spell.
_FLOAT_TEXT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def setting(default=dataclasses.MISSING, *, factory=dataclasses.MISSING, **bounds) -> dataclasses.Field:
    """A dataclass field with bounds (``ge``, ``gt``, ``le``, ``lt``: numbers; ``choices``: allowed values)
    that :func:`check_ranges` checks; for a list or a mapping they apply to each item or value."""
    unknown = set(bounds) - set(BOUNDS)
    if unknown:
        raise TypeError(f"setting(): unknown bound(s) {', '.join(sorted(unknown))}")
    return dataclasses.field(default=default, default_factory=factory, metadata=bounds)


def message(source: str | None, key: str, what: str, value) -> str:
    """``"{source}: {key}: expected {what}, got {value!r}"`` (a long value shortened)."""
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{source + ': ' if source else ''}{key}: expected {what}, got {shown}"


# --- types -------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def type_hints(cls) -> dict:
    """The fields' annotations of dataclass ``cls`` as types (``from __future__ import annotations`` leaves text)."""
    return typing.get_type_hints(cls)


def _members(hint) -> tuple:
    """The members of a union (``X | None``, ``Optional[X]``), or ``(hint,)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


_NAMES = {int: ("an integer", "integers"), float: ("a number", "numbers"), bool: ("true or false", "true/false values"),
          str: ("a string", "strings"), Path: ("a path", "paths"), type(None): ("null", "nulls"),
          list: ("a list", "lists"), tuple: ("a list", "lists"), dict: ("a mapping", "mappings")}


def describe(hint, plural: bool = False) -> str:
    """What a value of type ``hint`` is, in words: ``"a list of integers or null"``."""
    members = _members(hint)
    if len(members) > 1:
        words = [describe(m, plural) for m in members if m is not type(None)]
        return " or ".join(words + (["null"] if type(None) in members else []))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (list, tuple) and args:
        return ("lists" if plural else "a list") + " of " + describe(args[0], plural=True)
    if origin is dict and args:
        return ("mappings" if plural else "a mapping") + f" of {describe(args[0], True)} to {describe(args[1], True)}"
    if dataclasses.is_dataclass(hint):
        return "mappings" if plural else "a mapping"
    base = origin or hint
    if base in _NAMES:
        return _NAMES[base][plural]
    return getattr(hint, "__name__", str(hint))


class _Mismatch(Exception):
    """A value that is not of the type asked (internal: :func:`check_value` turns it into a ConfigError)."""


def _convert(value, hint, key: str, source: str | None):
    """``value`` as a value of type ``hint`` (ints and number strings to float; lists to tuples), or _Mismatch."""
    members = _members(hint)
    if len(members) > 1:
        for member in members:
            try:
                return _convert(value, member, key, source)
            except _Mismatch:
                continue
        raise _Mismatch
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return value
    if hint is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin is typing.Literal:
        if value in args and not isinstance(value, bool):
            return value
        raise _Mismatch
    if hint in (bool, int, str):  # exactly that type: a bool is no int here, 1.5 no int, 5 no str
        if isinstance(value, hint) and (hint is bool or not isinstance(value, bool)):
            return value
        raise _Mismatch
    if hint is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value):  # YAML 1.1's `1e-3` (see _FLOAT_TEXT)
            value = float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise _Mismatch
    if hint is Path:
        if isinstance(value, (str, Path)) and str(value):
            return Path(value)
        raise _Mismatch
    if (origin or hint) in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        items = [_convert(v, args[0], key, source) for v in value] if args else list(value)
        return tuple(items) if (origin or hint) is tuple else items
    if (origin or hint) is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        if not args:
            return dict(value)
        return {_convert(k, args[0], key, source): _convert(v, args[1], key, source) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise _Mismatch
        return from_mapping(hint, value, key, source or "config")  # a nested section: its keys, types and ranges
    raise TypeError(f"{key}: no check for the annotation {hint!r}")  # a programming error, not a bad config


def check_value(value, hint, key: str, source: str | None = None):
    """``value`` converted to ``hint`` (an annotation), or ConfigError ``"{source}: {key}: expected ..., got ..."``."""
    try:
        return _convert(value, hint, key, source)
    except _Mismatch:
        raise ConfigError(message(source, key, describe(hint), value)) from None


def check_fields(cls, values: dict, section: str, source: str | None = None) -> dict:
    """The values of a mapping (keys already known to be fields of dataclass ``cls``) checked against the fields'
    annotations and converted, then against their bounds (:func:`setting`)."""
    hints = type_hints(cls)
    values = {key: check_value(value, hints[key], f"{section}.{key}", source) for key, value in values.items()}
    try:
        _check_bounds(cls, values, section)
    except ValueError as err:
        raise ConfigError(f"{source + ': ' if source else ''}{err}") from None
    return values


def check_keys(values, known: Iterable[str], section: str, source: str) -> dict:
    """``values`` as a dict after checking it is a mapping whose keys are all in ``known``.

    Raises ConfigError: ``"{source}: unknown key(s) {section}.a, {section}.b; known: ..."``.
    """
    if not isinstance(values, dict):
        raise ConfigError(message(source, section, "a mapping", values))
    known = set(known)
    unknown = sorted(set(values) - known, key=str)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
                          f"known: {', '.join(sorted(known))}")
    return dict(values)


def field_names(cls) -> list[str]:
    """The field names of a dataclass."""
    return [f.name for f in dataclasses.fields(cls)]


def from_mapping(cls: type[T], values, section: str, source: str = "config") -> T:
    """An instance of dataclass ``cls`` from a mapping (null: the defaults): unknown keys refused by
    :func:`check_keys`, each value checked and converted by :func:`check_fields` (its type, then its bounds),
    then the class's own checks (``__post_init__``); every error a ConfigError naming ``source``."""
    values = check_fields(cls, check_keys({} if values is None else values, field_names(cls), section, source),
                          section, source)
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # a check across fields in ``__post_init__``
        raise ConfigError(f"{source}: {exc}") from None


# --- ranges ------------------------------------------------------------------------------------------------

_SIGNS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _bound_words(bounds: dict) -> str:
    if "choices" in bounds:
        return "one of " + ", ".join(map(str, bounds["choices"]))
    low = [(bounds[k], k) for k in ("ge", "gt") if k in bounds]
    high = [(bounds[k], k) for k in ("le", "lt") if k in bounds]
    if low and high:
        (a, ka), (b, kb) = low[0], high[0]
        return f"in {'[' if ka == 'ge' else '('}{a}, {b}{']' if kb == 'le' else ')'}"
    (limit, kind), = low or high
    return f"{_SIGNS[kind]} {limit}"


def _within(value, bounds: dict) -> bool:
    if "choices" in bounds:
        return value in bounds["choices"] and not isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # (numpy's numbers too, built in code)
        return False
    return (("ge" not in bounds or value >= bounds["ge"]) and ("gt" not in bounds or value > bounds["gt"])
            and ("le" not in bounds or value <= bounds["le"]) and ("lt" not in bounds or value < bounds["lt"]))


def _check_bounds(cls, values: dict, section: str) -> None:
    """ValueError ``"{section}.{key}: expected {what}, got {value!r}"`` for the first value of ``values`` (field
    name: value) outside its field's bounds; null is left to the type check."""
    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        bounds = {k: v for k, v in f.metadata.items() if k in BOUNDS}
        if not bounds or f.name not in values or values[f.name] is None:
            continue
        value = values[f.name]
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        if all(_within(v, bounds) for v in items):
            continue
        hint = next((m for m in _members(hints[f.name]) if m is not type(None)), hints[f.name])
        if isinstance(value, (list, tuple, dict)):
            raise ValueError(message(None, f"{section}.{f.name}", f"{describe(hint)}, each {_bound_words(bounds)}",
                                     value))
        what = _bound_words(bounds) if "choices" in bounds else f"{describe(hint)} {_bound_words(bounds)}"
        raise ValueError(message(None, f"{section}.{f.name}", what, value))


def check_ranges(obj, section: str) -> None:
    """The bounds of every field of dataclass instance ``obj`` (call it in ``__post_init__``, so that settings
    built in code are checked too); ValueError ``"{section}.{key}: expected {what}, got {value!r}"``."""
    _check_bounds(type(obj), {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}, section)
