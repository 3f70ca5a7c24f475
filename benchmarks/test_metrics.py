"""Every metric of a results cell from one ranking: 10^4 queries ranked to depth 100."""
import numpy as np

from bench.evaluate import evaluate


def test_evaluate_10k_queries(benchmark):
    rng = np.random.default_rng(0)
    db_labels = rng.integers(0, 100, 50_000)
    query_labels = rng.integers(0, 100, 10_000)
    ids = rng.integers(0, len(db_labels), (len(query_labels), 100))
    benchmark(lambda: evaluate(ids, db_labels, query_labels, [1, 10, 20, 30]))
