"""Constants and helpers shared by the backend tests (fixtures live in conftest.py)."""
from __future__ import annotations

import numpy as np
import pytest

from methods.backends import BackendUnavailable, make_backend

N, DIM, N_QUERIES, K = 5000, 32, 200, 10

# Build and query parameters at which every approximate backend should find >= 90%
# of the true top-10 (the "generous" end of its sweep).
GENEROUS = {
    "linear": ({}, {}),
    "faiss-flat": ({}, {}),
    "ivfpq": ({"refine_factor": 10}, {"nprobe": 128}),
    "scann": ({"mode": "tree"}, {"leaves_to_search": 71, "pre_reorder_num_neighbors": 400}),
    "spann": ({}, {"SearchInternalResultNum": 64}),
    "hnsw": ({}, {"efSearch": 256}),
    "diskann": ({}, {"complexity": 256}),
}


def clustered(n: int, dim: int, seed: int, centers: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(centers), n)
    return (centers[picks] + rng.standard_normal((n, dim))).astype(np.float32)


def make_or_skip(name: str, metric: str = "l2", **build_params):
    try:
        return make_backend(name, metric=metric, **build_params)
    except BackendUnavailable as err:
        pytest.skip(f"{name} unavailable: {err}")


def recall(found: np.ndarray, true: np.ndarray) -> float:
    """Share of the true top-k ids that were found, averaged over queries."""
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, true)]))
