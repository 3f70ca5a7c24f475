import numpy as np

from datasets.synthetic import synthetic_chunks, synthetic_features


def test_seeded_and_class_structured():
    X, y = synthetic_features(2000, dim=16, n_classes=10, seed=3)
    X2, y2 = synthetic_features(2000, dim=16, n_classes=10, seed=3)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert X.dtype == np.float32 and X.shape == (2000, 16) and set(np.unique(y)) <= set(range(10))
    # members sit closer to their own class mean than to any other
    means = np.stack([X[y == c].mean(0) for c in range(10)])
    nearest = np.argmin(((X[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y).mean() > 0.95


def test_queries_share_centres_but_not_noise():
    Xd, yd = synthetic_features(500, dim=8, n_classes=5, seed=1, split="database")
    Xq, yq = synthetic_features(500, dim=8, n_classes=5, seed=1, split="query")
    assert not np.array_equal(Xd, Xq)
    for c in range(5):
        assert np.linalg.norm(Xd[yd == c].mean(0) - Xq[yq == c].mean(0)) < 0.2


def test_chunking_does_not_change_the_data():
    whole, _ = synthetic_features(1000, dim=4, seed=0, chunk=1000)
    chunked, _ = synthetic_features(1000, dim=4, seed=0, chunk=100)
    assert np.array_equal(whole, chunked)


def test_chunks_stream_the_same_rows():
    whole, labels = synthetic_features(1000, dim=4, seed=2)
    parts = list(synthetic_chunks(1000, dim=4, seed=2, chunk=300))
    assert [len(y) for _, y in parts] == [300, 300, 300, 100]
    assert np.array_equal(np.concatenate([x for x, _ in parts]), whole)
    assert np.array_equal(np.concatenate([y for _, y in parts]), labels)
