"""Methods by name. A method module exposes ``build(name, options) -> Method``; adding a
method is adding a module and one line here, or, outside this repository, a module of your
own that calls ``register`` and is named in ``$IRGEN_PLUGINS`` (comma-separated module
names, imported before any method is looked up; every command and every grid cell, which
runs as a child process, imports them)."""
from __future__ import annotations

import importlib
import os
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
DEFAULT_BEAMS = (1, 10, 20, 30)  # the paper's beam sizes (Figure 5, Tables 1-2)
_plugins_loaded = False


@dataclass
class MethodOptions:
    """What the command line says about a method; each builder reads what applies to it."""

    backend: str = "linear"
    backend_params: dict = field(default_factory=dict)  # the backend's build parameters (--backend-param)
    sweep: bool = False  # sweep the backend's query parameters
    beams: tuple[int, ...] = DEFAULT_BEAMS
    identifier: str = "rq"
    seq_len: int | None = None
    fresh: float = 0.0
    untrained: bool = False  # a randomly initialised model of the configured size (speed tools)
    overrides: dict = field(default_factory=dict)  # --set key=value on the method's config


def register(name: str, module: str) -> None:
    """Make ``--method name`` build its method with ``module``'s ``build(name, options)``."""
    METHODS[name] = module


def load_plugins() -> None:
    """Import the modules named in ``$IRGEN_PLUGINS`` once (they register their methods)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get("IRGEN_PLUGINS", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise HarnessError(f"$IRGEN_PLUGINS names {module!r}, which cannot be imported ({e}); "
                               f"fix the name or its sys.path") from None


def method_names() -> list[str]:
    load_plugins()
    return sorted(METHODS)


def make_method(name: str, options: MethodOptions) -> Method:
    load_plugins()
    if name not in METHODS:
        raise HarnessError(f"unknown method {name!r}: choose one of {', '.join(method_names())}")
    method = importlib.import_module(METHODS[name]).build(name, options)
    method.name = name
    return method
