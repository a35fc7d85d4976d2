"""Config files and their validation, in one place.

Every settings dataclass of the package (``TrainConfig``, ``IPUSettings``, ``SchNetConfig``, the
sections of the pretraining, finetuning, transfer and study configs) is built from plain mappings
through :func:`from_mapping`, which refuses unknown keys with a message that names the file, the
section and the known keys, and checks each value's type and range (:mod:`hydronet_nb.utils.schema`):
``"{file}: {section}.{key}: expected {what}, got {value!r}"``.
:func:`read_mapping` reads the YAML or JSON file; :func:`differences` says which settings of two
plain dicts differ (resuming a run, reusing a work folder).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable

from ..errors import ConfigError
from .schema import check_keys, check_value, field_names, from_mapping, message  # noqa: F401 (the config API)


def section_of(raw: dict, name: str, source: str) -> dict:
    """``raw[name]`` as a dict (missing or null: empty); anything else than a mapping is a ConfigError."""
    value = raw.get(name)
    if value is not None and not isinstance(value, dict):
        raise ConfigError(message(source, name, "a mapping", value))
    return {} if value is None else dict(value)


def typed(raw: dict, key: str, hint, source: str, default=dataclasses.MISSING):
    """``raw[key]`` checked against the annotation ``hint`` (a top-level key of a config; see
    :func:`hydronet_nb.utils.schema.check_value`); missing: ``default``, or a ConfigError when there is none."""
    if key not in raw:
        if default is dataclasses.MISSING:
            raise ConfigError(f"{source}: '{key}' is missing")
        return default
    return check_value(raw[key], hint, key, source)


def read_mapping(path: str | Path, what: str = "config") -> dict:
    """A YAML (``.yaml``/``.yml``) or JSON file as a dict; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc}); YAML files must end in .yaml or .yml") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the {what} must be a mapping")
    return raw


def differences(old: dict, new: dict, *, ignore: Iterable[str] = (), prefix: str = "") -> list[str]:
    """The keys whose values differ between two plain dicts, recursing into nested dicts: ``["a", "b.c"]``."""
    ignore = set(ignore)
    out = []
    for key in sorted(set(old) | set(new), key=str):
        if key in ignore:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, prefix=f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def parse_sizes(text) -> tuple[int, ...]:
    """``"3-25"`` or ``"3,5,10-12"`` (or a list of ints) as a sorted tuple of cluster sizes (waters, at least 2)."""
    if isinstance(text, (list, tuple)):
        text = ",".join(map(str, text))
    sizes: list[int] = []
    try:
        for part in str(text).replace(" ", "").split(","):
            lo, _, hi = part.partition("-")
            sizes += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        raise ConfigError(f"sizes {text!r}: expected e.g. '3-25' or '3,4,5'") from None
    if not sizes or min(sizes) < 2:
        raise ConfigError(f"sizes {text!r}: need at least one size, each of 2 waters or more")
    return tuple(sorted(set(sizes)))


def format_sizes(sizes) -> str:
    """(3, 4, 5, 8) as '3-5,8', the form :func:`parse_sizes` reads."""
    runs: list[list[int]] = []
    for n in sizes:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)
