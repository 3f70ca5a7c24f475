"""Configuration as data: dataclasses overridden from YAML or ``--set key=value``
(dotted keys reach nested dataclasses); an unknown key is an error that lists the known ones."""
from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

import yaml

from .base import HarnessError


def parse_value(text: str) -> Any:
    """``--set`` values are read as YAML scalars: 3, 0.5, 3e-3, true, [1, 2], abc."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:  # YAML 1.1 reads 3e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    return value


def override(cfg, values: dict, where: str = "--set"):
    """A copy of dataclass ``cfg`` with ``values`` applied; unknown keys are an error."""
    nested: dict[str, dict] = {}
    flat: dict[str, Any] = {}
    for key, value in values.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[head] = value
    fields = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted((set(flat) | set(nested)) - fields)
    if unknown:
        raise HarnessError(f"{where}: unknown key(s) {', '.join(unknown)} for {type(cfg).__name__}; "
                           f"known keys: {', '.join(sorted(fields))}")
    hints = get_type_hints(type(cfg))
    typed = {}
    for key, value in flat.items():
        kind = hints.get(key)
        if kind in (int, float) and not isinstance(value, (int, float)):
            raise HarnessError(f"{where}: {key}={value!r} is not a number")
        typed[key] = float(value) if kind is float else value
    for key, sub in nested.items():
        inner = getattr(cfg, key)
        if not dataclasses.is_dataclass(inner):
            raise HarnessError(f"{where}: {key} has no sub-keys (got {key}.{next(iter(sub))})")
        typed[key] = override(inner, sub, where)
    return dataclasses.replace(cfg, **typed)


def parse_sets(pairs: list[str]) -> dict:
    """``["a=1", "train.epochs=2"]`` -> ``{"a": 1, "train.epochs": 2}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HarnessError(f"--set {pair!r}: expected key=value")
        out[key.strip()] = parse_value(value)
    return out
