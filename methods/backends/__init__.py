"""Search backends by name: ``make_backend(name, metric="l2"|"cosine", **build_params)``.

Each backend is one module; the registry imports it only when asked for, so a
missing optional library (faiss, scann, sptag) affects only its own backend.
"""
from __future__ import annotations

import importlib

from .base import Backend, METRICS

BACKENDS = {
    "linear": "methods.backends.linear:LinearBackend",
}


class BackendUnavailable(RuntimeError):
    """The backend's library is not installed here; the message says how to get it."""


def make_backend(name: str, metric: str = "l2", **build_params) -> Backend:
    if name not in BACKENDS:
        raise KeyError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)(metric=metric, **build_params)


__all__ = ["Backend", "BackendUnavailable", "BACKENDS", "METRICS", "make_backend"]
