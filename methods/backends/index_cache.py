"""Built indexes are kept on disk and reused: an index is rebuilt only when the backend,
metric, build parameters or the indexed vectors change (they are all in the key), and
it stores its build time, so the device and the CPU threads it was built with are in the
key too: an index built on a GPU or with other threads is not this one.

An entry is a folder written by ``Backend.save`` (atomically: a reader sees the
whole entry or none). A reused index reports the build time of the run that built
it, labelled with that run (``Measured``): never as a build of this run.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np

from ..runtime.files import digest
from ..runtime.timing import threads
from .base import META_FILE, Backend

log = logging.getLogger(__name__)


def features_checksum(X: np.ndarray) -> str:
    """sha1 of the vectors' float32 bytes and shape (first 16 hex digits)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    h = hashlib.sha1(str(X.shape).encode())
    h.update(memoryview(X).cast("B"))
    return h.hexdigest()[:16]


def index_key(backend: Backend, X: np.ndarray) -> str:
    return digest(backend.name, backend.metric, backend.build_params, features_checksum(X),
                  str(backend.device), threads())


def cached_build(backend: Backend, X: np.ndarray, cache_dir: str | Path, run_id: str = "") -> Path:
    """Load ``backend``'s index for X from ``cache_dir`` if one was saved, else build
    and save it (recording ``run_id`` as the run that built it). Returns the entry's folder."""
    path = Path(cache_dir) / f"{backend.name}-{backend.metric}-{index_key(backend, X)}"
    if (path / META_FILE).exists():
        try:
            backend.load(path)
            log.info("%s: reused the index in %s", backend.name, path)
            return path
        except Exception as err:  # a damaged or outdated entry: rebuild it
            log.warning("%s: cannot reuse %s (%s); rebuilding", backend.name, path, err)
            shutil.rmtree(path, ignore_errors=True)
    backend.build(X)
    backend.save(path, run_id)
    log.info("%s: built in %.1f s, saved to %s", backend.name, backend.build_seconds, path)
    return path
