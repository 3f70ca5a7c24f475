"""Methods by name. A method module exposes ``build(options) -> Method``; adding a
method is adding a module and one line here."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from .base import HarnessError, Method

METHODS = {
    "smallcnn": "methods.features.method",
    "effnet": "methods.features.method",
    "res101": "methods.features.method",
    "clip": "methods.features.method",
    "cgd": "methods.features.method",
    "irt": "methods.features.method",
    "ftclip": "methods.features.method",
    "irgen": "methods.irgen.method",
    "irgen-enc": "methods.irgen.method",
}


@dataclass
class MethodOptions:
    """What the command line says about a method; each builder reads what applies to it."""

    backend: str = "linear"
    sweep: bool = False  # sweep the backend's query parameters
    beams: tuple[int, ...] = (1, 10, 20, 30)
    identifier: str = "rq"
    seq_len: int | None = None
    fresh: float = 0.0
    overrides: dict = field(default_factory=dict)  # --set key=value on the method's config


def method_names() -> list[str]:
    return sorted(METHODS)


def make_method(name: str, options: MethodOptions) -> Method:
    if name not in METHODS:
        raise HarnessError(f"unknown method {name!r}: choose one of {', '.join(method_names())}")
    return importlib.import_module(METHODS[name]).build(name, options)
