"""Seeded, class-structured synthetic features for scaling studies without the
million-image datasets: unit-norm class centres, members scattered around them.
The database and the queries share the centres and draw their noise independently."""
from __future__ import annotations

import numpy as np

SPLITS = ("database", "query")


def class_centres(n_classes: int, dim: int, seed: int) -> np.ndarray:
    centres = np.random.default_rng(seed).standard_normal((n_classes, dim)).astype(np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def synthetic_features(n: int, dim: int = 128, n_classes: int = 1000, spread: float = 0.6, seed: int = 0,
                       split: str = "database", chunk: int = 1 << 18) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 (n, dim), labels int64 (n,)); ``spread`` is a member's expected noise
    norm relative to its unit-norm centre. Generated in chunks, so 10^7 points need no
    scratch memory beyond one chunk."""
    centres = class_centres(n_classes, dim, seed)
    rng = np.random.default_rng([seed, SPLITS.index(split) + 1])
    labels = rng.integers(0, n_classes, size=n)
    X = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32)
        X[start:stop] = centres[labels[start:stop]] + noise * np.float32(spread / np.sqrt(dim))
    return X, labels.astype(np.int64)
