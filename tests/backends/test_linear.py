"""The blocked linear scan against a brute-force numpy oracle: ids, float64 distances, order
of ties (also where float32 scores would round them apart), padding, over block and chunk
edges."""
from __future__ import annotations

import numpy as np
import pytest

from methods.backends import make_backend
from methods.backends.base import prepare
from methods.backends.linear import SLACK

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


def assert_oracle(X, Q, k, metric, **tile):
    """The oracle's ids, and its float64 distances within float32's rounding of them."""
    ids, dists = scan(X, Q, k, metric, **tile)
    want_ids, want_dists = oracle(X, Q, k, metric)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dists, want_dists, rtol=2.0 ** -23, atol=0)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("tile", [{}, {"chunk": 3, "block": 7}])
def test_ties_beyond_the_candidates_come_in_database_order(metric, tile):
    """More copies of each near vector than the scan keeps candidates beyond k, scattered over
    the blocks, with k's cut inside a group of copies."""
    rng = np.random.default_rng(2)
    distinct = rng.standard_normal((4, DIM), dtype=np.float32)
    X = np.concatenate([np.repeat(distinct, 3 * SLACK, axis=0), rng.standard_normal((50, DIM), dtype=np.float32)])
    X = X[rng.permutation(len(X))]
    Q = distinct + 0.01 * rng.standard_normal((4, DIM), dtype=np.float32)
    assert_oracle(X, Q, 4 * SLACK + 5, metric, **tile)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("tile", [{}, {"chunk": 3, "block": 7}])
def test_float32_rounding_neither_orders_nor_unties_neighbours(metric, tile):
    """Rows close around a far-off centre, some of them exact copies: their distances differ
    by less than float32 resolves of the scores (|x|^2 / 2 ~ 3e4, an ulp ~ 2e-3), so only
    float64 orders them, and copies tie."""
    rng = np.random.default_rng(3)
    centre = 100 * rng.standard_normal(DIM)
    near = (centre + 0.01 * rng.standard_normal((40, DIM))).astype(np.float32)
    far = (100 * rng.standard_normal((30, DIM))).astype(np.float32)
    X = np.concatenate([near, near[::3], far])
    X = X[rng.permutation(len(X))]
    Q = (centre + 0.01 * rng.standard_normal((5, DIM))).astype(np.float32)
    assert_oracle(X, Q, 12, metric, **tile)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_distances_are_float64_distances(metric):
    """Queries that are database rows are at distance 0 in l2 (float32 scores are not), every
    distance is the float64 one rounded to float32."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((N, DIM), dtype=np.float32) * 30
    Q = np.concatenate([X[:5], rng.standard_normal((5, DIM), dtype=np.float32) * 30])
    assert_oracle(X, Q, 7, metric, chunk=4, block=16)
    if metric == "l2":
        assert (scan(X, Q[:5], 1, metric)[1] == 0).all()


def test_no_queries_gives_an_empty_answer():
    ids, dists = scan(np.ones((4, DIM), np.float32), np.zeros((0, DIM), np.float32), 3, "l2")
    assert ids.shape == dists.shape == (0, 3)


@pytest.mark.parametrize("m", [1, 5, 40])
def test_the_cpu_threshold_selection_keeps_the_same_best_scores_as_a_top_k_of_every_block(m):
    """The CPU's candidates (entries above each query's m-th best, merged) and CUDA's (a top m of
    every block, merged): the same m best float32 scores per query, here over 23 blocks."""
    import torch

    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    X[150:] = X[:150]  # copies: equal scores across blocks
    backend = make_backend("linear", metric="l2", block=13)
    backend.build(X)
    q = torch.from_numpy(rng.standard_normal((17, 8)).astype(np.float32))
    by_threshold, ids = backend._top_by_threshold(q, m)
    by_blocks, _ = backend._top_by_blocks(q, m)
    assert by_threshold.shape == (17, m)
    assert torch.equal(by_threshold.sort(1).values, by_blocks.sort(1).values)
    rescored = backend.offset[ids] + (backend.X[ids] * q[:, None, :]).sum(-1)
    assert torch.allclose(rescored, by_threshold, atol=1e-5)  # each id carries its own score
