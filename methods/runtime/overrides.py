"""Configuration as data: dataclasses overridden from a YAML file (``--config``) or
``--set key=value`` (dotted keys reach nested dataclasses, as nested mappings do in a file);
an unknown key, a value of the wrong type and a value where a section belongs (or the
reverse) are each one-line errors naming the key."""
from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from ..base import HarnessError

log = logging.getLogger(__name__)


def preset_alias(values: dict) -> dict:
    """A method's overrides with the old key ``size`` (the feature models' switch for the paper's
    model, before every method took ``preset``) read as ``preset``, saying so in one line."""
    if "size" not in values:
        return values
    if "preset" in values:
        raise HarnessError(f"--set size={values['size']} and preset={values['preset']}: size= is now preset=; "
                           f"give preset= alone")
    size_is_preset(values["size"])
    return {("preset" if key == "size" else key): value for key, value in values.items()}


@functools.cache
def size_is_preset(value) -> None:
    """The deprecation line, once per process and value."""
    log.warning("`size=` is now `preset=`; reading size=%s as preset=%s (write preset= in --set, --config "
                "and grid files)", value, value)


def parse_value(text: str) -> Any:
    """``--set`` values are read as YAML scalars: 3, 0.5, 3e-3, true, [1, 2], abc."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:  # YAML 1.1 reads 3e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    return value


def override(cfg, values: dict, where: str = "--set/--config", prefix: str = ""):
    """A copy of dataclass ``cfg`` with ``values`` applied; unknown keys are an error.

    Keys may be dotted (``train.epochs``) or hold a mapping (``train: {epochs: 2}``) to reach a
    nested dataclass; ``prefix`` is ``cfg``'s own dotted place in the config, for messages.
    """
    nested: dict[str, dict] = {}
    flat: dict[str, Any] = {}
    for key, value in values.items():
        head, _, rest = str(key).partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        elif isinstance(value, dict):
            nested.setdefault(head, {}).update(value)
        else:
            flat[head] = value
    fields = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted((set(flat) | set(nested)) - fields)
    if unknown:
        raise HarnessError(f"{where}: unknown key(s) {', '.join(prefix + k for k in unknown)} for "
                           f"{type(cfg).__name__}; known keys: {', '.join(sorted(fields))}")
    hints = get_type_hints(type(cfg))
    typed = {key: checked_value(f"{prefix}{key}", hints.get(key), getattr(cfg, key), value, where)
             for key, value in flat.items()}
    for key, sub in nested.items():
        inner = getattr(cfg, key)
        if not dataclasses.is_dataclass(inner):
            got = ", ".join(f"{prefix}{key}.{k}" for k in sub) or "an empty mapping"
            raise HarnessError(f"{where}: {prefix}{key} is a single value and has no sub-keys (got {got}); "
                               f"give it as {prefix}{key}=VALUE")
        typed[key] = override(inner, sub, where, prefix=f"{prefix}{key}.")
    return dataclasses.replace(cfg, **typed)


def checked_value(name: str, kind, current, value, where: str):
    """``value`` for the field ``name`` (type hint ``kind``, present value ``current``), or a one-line
    error when it has the wrong type: numbers and booleans are checked, a section takes no value."""
    if dataclasses.is_dataclass(current):
        keys = ", ".join(sorted(f.name for f in dataclasses.fields(current)))
        raise HarnessError(f"{where}: {name} is a section ({type(current).__name__}), not a value "
                           f"(got {value!r}); set its keys instead, {name}.KEY=VALUE with KEY one of: {keys}")
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise HarnessError(f"{where}: {name}={value!r} is not a number")
    if kind is int and isinstance(value, float):
        if not value.is_integer():
            raise HarnessError(f"{where}: {name}={value!r} is not a whole number")
        return int(value)
    if kind is bool and not isinstance(value, bool):
        raise HarnessError(f"{where}: {name}={value!r} is not true or false")
    return float(value) if kind is float else value


def parse_sets(pairs: list[str]) -> dict:
    """``["a=1", "train.epochs=2"]`` -> ``{"a": 1, "train.epochs": 2}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HarnessError(f"--set {pair!r}: expected key=value")
        out[key.strip()] = parse_value(value)
    return out


def read_overrides_file(path: Path) -> dict:
    """A YAML file of overrides (``--config``) as dotted keys, so ``--set`` can replace any one of
    them: ``train: {epochs: 2}`` -> ``{"train.epochs": 2}``. A missing or unreadable file, a YAML
    syntax error (file, line, column, what is wrong) or a file that is no mapping is a one-line error."""
    where = f"--config {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"{where}: cannot be read ({e.__class__.__name__}: {e})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise HarnessError(f"--config: {yaml_problem(path, e)}; fix the YAML there") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise HarnessError(f"{where}: expected a mapping of key: value (e.g. 'train: {{epochs: 2}}'), "
                           f"got {type(loaded).__name__}")
    return dotted(loaded)


def yaml_problem(path: Path, error: yaml.YAMLError) -> str:
    """'file F, line L, column C: what is wrong' from a YAML parser error (1-based, as editors count)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f"file {path}" if mark is None else f"file {path}, line {mark.line + 1}, column {mark.column + 1}"
    return f"{where}: {' '.join(problem.split())}"


def dotted(values: dict, prefix: str = "") -> dict:
    """Nested mappings as dotted keys: ``{"decoder": {"depth": 2}}`` -> ``{"decoder.depth": 2}``
    (an empty mapping stays a value, for ``override`` to judge)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.update(dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
