"""Fixtures for the backend tests: one small seeded clustered set, exact answers from
the linear scan, and a session cache of built indexes (building is the slow part).

A backend whose library is missing here is skipped with the reason its
``BackendUnavailable`` gives (spann: no .venv-sptag, run setup/sptag.sh; or, on a processor
without AVX-512, "sptag's wheel needs AVX-512 (this processor has AVX2 only); ...").
"""
from __future__ import annotations

import os

# Faiss and torch each bring an OpenMP runtime; on a small shared machine their
# spinning threads starve each other (a 1 s k-means took 6 s). Must precede faiss.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from methods.backends.index_cache import features_checksum  # noqa: E402

from .common import DIM, K, N, N_QUERIES, clustered, make_or_skip  # noqa: E402


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray, np.ndarray]:
    """(X, Q): 5,000 database and 200 query vectors around 50 shared centres, 32-d."""
    centers = np.random.default_rng(0).standard_normal((50, DIM)).astype(np.float32) * 3
    return clustered(N, DIM, 1, centers), clustered(N_QUERIES, DIM, 2, centers)


@pytest.fixture(scope="session")
def built(data):
    """built(name, metric, X=None, **build_params) -> a built backend, cached per session."""
    cache: dict = {}

    def get(name: str, metric: str = "l2", X: np.ndarray | None = None, **build_params):
        X = data[0] if X is None else X
        key = (name, metric, features_checksum(X), tuple(sorted(build_params.items())))
        if key not in cache:
            backend = make_or_skip(name, metric, **build_params)
            backend.build(X)
            cache[key] = backend
        return cache[key]

    yield get
    for backend in cache.values():
        backend.close()


@pytest.fixture(scope="session")
def truth(built, data):
    """truth(metric) -> (ids, dists) of the exact top-10 from the linear scan."""
    answers = {}

    def get(metric: str = "l2"):
        if metric not in answers:
            answers[metric] = built("linear", metric).search(data[1], K)
        return answers[metric]

    return get
