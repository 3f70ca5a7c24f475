"""The blocked linear scan against a brute-force numpy oracle: ids, distances, order of
ties, padding, over block and chunk edges."""
from __future__ import annotations

import numpy as np
import pytest

from methods.backends import make_backend
from methods.backends.base import prepare

N, DIM = 61, 6


def oracle(X: np.ndarray, Q: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Every distance in float64, sorted stably (ties in database order), padded with -1 / inf."""
    X, Q = prepare(X, metric).astype(np.float64), prepare(Q, metric).astype(np.float64)
    d = 1.0 - Q @ X.T if metric == "cosine" else ((Q[:, None, :] - X[None]) ** 2).sum(-1)
    ids = np.argsort(d, axis=1, kind="stable")[:, :k]
    dists = np.take_along_axis(d, ids, axis=1)
    pad = k - ids.shape[1]
    return (np.pad(ids, ((0, 0), (0, pad)), constant_values=-1),
            np.pad(dists, ((0, 0), (0, pad)), constant_values=np.inf))


def scan(X, Q, k, metric, **tile):
    backend = make_backend("linear", metric=metric, **tile)
    backend.build(X)
    return backend.search(Q, k)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("k", [1, 5, 12, N, N + 4])
@pytest.mark.parametrize("tile", [{}, {"chunk": 3, "block": 7}, {"chunk": 1, "block": 1}])
def test_scan_returns_the_oracle_neighbours(metric, k, tile):
    rng = np.random.default_rng(0)
    X, Q = rng.standard_normal((N, DIM), dtype=np.float32), rng.standard_normal((10, DIM), dtype=np.float32)
    ids, dists = scan(X, Q, k, metric, **tile)
    want_ids, want_dists = oracle(X, Q, k, metric)
    assert ids.shape == dists.shape == (10, k) and ids.dtype == np.int64 and dists.dtype == np.float32
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dists, want_dists, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_tied_neighbours_come_in_database_order(metric):
    rng = np.random.default_rng(1)
    distinct = rng.standard_normal((8, DIM), dtype=np.float32)
    X = np.concatenate([distinct, distinct[::-1], distinct])  # every vector three times
    Q = distinct[:4] + 0.01 * rng.standard_normal((4, DIM), dtype=np.float32)
    ids, _ = scan(X, Q, 9, metric, chunk=2, block=5)  # three whole groups of ties
    np.testing.assert_array_equal(ids, oracle(X, Q, 9, metric)[0])


def test_no_queries_gives_an_empty_answer():
    ids, dists = scan(np.ones((4, DIM), np.float32), np.zeros((0, DIM), np.float32), 3, "l2")
    assert ids.shape == dists.shape == (0, 3)
