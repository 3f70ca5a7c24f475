"""Queries per second of the exact linear scan (torch, blocked with a running top-k)
against Faiss's flat index, in one run, on the same data and threads.

    python -m pytest benchmarks/test_linear_scan.py -o addopts="" -p no:cacheprovider
    LINEAR_SCAN_N=1000000 python -m pytest benchmarks/test_linear_scan.py -o addopts=""  # ~1 minute per backend
    LINEAR_SCAN_DATA=classes LINEAR_SCAN_QUERIES=1000 LINEAR_SCAN_N=1000000 ...  # bench.sweep's synthetic set

(``-o addopts=""`` lifts the --benchmark-skip of the test suite's settings.) Both land in
one pytest-benchmark group; the table's figures in parentheses are each one's ratio to
the faster. Every round searches all queries in one call, with the library's own threads.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch's and faiss's OpenMP teams must not spin

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from methods.backends import BackendUnavailable, make_backend  # noqa: E402

N = int(os.environ.get("LINEAR_SCAN_N", 200_000))
DATA = os.environ.get("LINEAR_SCAN_DATA", "normal")  # normal: random normal; classes: bench.sweep --synthetic's
QUERIES = int(os.environ.get("LINEAR_SCAN_QUERIES", 500))
DIM, K = 128, 10


@pytest.fixture(scope="module")
def vectors():
    if DATA == "classes":
        from datasets.synthetic import synthetic_features

        return synthetic_features(N, DIM)[0], synthetic_features(QUERIES, DIM, split="query")[0]
    if DATA != "normal":
        pytest.fail(f"LINEAR_SCAN_DATA={DATA}: use normal or classes")
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, DIM), dtype=np.float32), rng.standard_normal((QUERIES, DIM), dtype=np.float32)


@pytest.fixture(scope="module")
def answers():
    return {}


@pytest.mark.parametrize("name", ["faiss-flat", "linear"])
def test_exact_scan_queries_per_second(benchmark, vectors, answers, name):
    X, Q = vectors
    try:
        backend = make_backend(name, metric="l2")
    except BackendUnavailable as err:
        pytest.skip(str(err))
    backend.build(X)
    benchmark.group = f"exact scan, {N} x {DIM} {DATA}, {QUERIES} queries, k={K}"
    benchmark.extra_info["queries"] = QUERIES
    ids, _ = benchmark.pedantic(backend.search, args=(Q, K), rounds=3, warmup_rounds=1)
    answers[name] = ids
    if len(answers) == 2:  # the same neighbours from both
        assert (answers["linear"] == answers["faiss-flat"]).mean() > 0.999
