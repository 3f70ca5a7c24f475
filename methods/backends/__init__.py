"""Search backends by name: ``make_backend(name, metric="l2"|"cosine", device, **build_params)``.

Each backend is one module; the registry imports it only when asked for, so a
missing optional library (faiss, scann, sptag, diskannpy) affects only its own backend, which
then raises ``BackendUnavailable`` naming what to install. A backend's build parameters
are its ``__init__``'s typed keyword arguments; ``checked_build_params`` checks and converts given
ones (a command line's text included) in one place, before anything is built.

* ``linear``     exact torch scan (the recall reference)        -- always there
* ``faiss-flat`` exact Faiss IndexFlatL2 / IndexFlatIP          -- pip install -e .[cpu]
* ``ivfpq``      Faiss IVF-PQ, the paper's settings             -- pip install -e .[cpu]
* ``scann``      Google ScaNN, library-default configurations    -- pip install -e .[ann]
* ``spann``      SPTAG SPANN (memory + disk), in a 3.9 worker    -- setup/sptag.sh
* ``hnsw``       Faiss HNSW graph (beyond the paper)            -- pip install -e .[cpu]
* ``diskann``    DiskANN Vamana graph, memory or disk (beyond)  -- pip install --no-deps diskannpy==0.7.0

A build parameter that makes another kind of index names that kind (``KINDS``): ``diskann-disk``
is ``diskann`` built with ``disk=True``, a series of its own in the sweeps and their reports.
"""
from __future__ import annotations

import importlib

from .base import METRICS, Backend, BackendUnavailable
from .index_cache import cached_build
from .ivfpq import PAPER_NLIST
from ..registry import BACKEND_KINDS

BACKENDS = {
    "linear": "methods.backends.linear:LinearBackend",
    "faiss-flat": "methods.backends.faiss_flat:FaissFlatBackend",
    "ivfpq": "methods.backends.ivfpq:IVFPQBackend",
    "scann": "methods.backends.scann_backend:ScannBackend",
    "spann": "methods.backends.spann:SpannBackend",
    "hnsw": "methods.backends.hnsw:HNSWBackend",
    "diskann": "methods.backends.diskann:DiskANNBackend",
}

KINDS = BACKEND_KINDS  # kind -> (backend, build parameter, its value), described in the registry


def backend_class(name: str) -> type[Backend]:
    """The class of backend ``name`` (importing its module, not its library)."""
    if name not in BACKENDS:
        raise KeyError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def checked_build_params(name: str, given: dict, where: str = "--backend-param ") -> dict:
    """``given`` build parameters of backend ``name`` checked against its declared ones and
    converted to their types; one line listing them all where one is unknown or mistyped."""
    return backend_class(name).checked_build_params(given, where)


def make_backend(name: str, metric: str = "l2", device: str = "cpu", **params) -> Backend:
    return backend_class(name)(metric=metric, device=device, **checked_build_params(name, params))


def available_backends() -> dict[str, str]:
    """name -> "" for the backends usable here, or the reason one is not."""
    status = {}
    for name in BACKENDS:
        try:
            make_backend(name).close()
            status[name] = ""
        except BackendUnavailable as err:
            status[name] = str(err)
    return status


__all__ = ["Backend", "BackendUnavailable", "BACKENDS", "KINDS", "METRICS", "PAPER_NLIST", "available_backends",
           "backend_class", "cached_build", "checked_build_params", "make_backend"]
