"""Seeded, class-structured synthetic features for scaling studies without the
million-image datasets: unit-norm class centres, members scattered around them.
The database and the queries share the centres and draw their noise independently.

``synthetic_chunks`` streams the rows chunk by chunk (10^7 x 128 float32 is 5 GB, more
than a consumer that encodes or indexes in pieces needs to hold); ``synthetic_features``
gathers the same rows into one array."""
from __future__ import annotations

from typing import Iterator

import numpy as np

SPLITS = ("database", "query")


def class_centres(n_classes: int, dim: int, seed: int) -> np.ndarray:
    centres = np.random.default_rng(seed).standard_normal((n_classes, dim)).astype(np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def synthetic_chunks(n: int, dim: int = 128, n_classes: int = 1000, spread: float = 0.6, seed: int = 0,
                     split: str = "database", chunk: int = 1 << 18) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Rows 0..n-1 as (features float32 (c, dim), labels int64 (c,)) chunks of at most ``chunk``
    rows; ``spread`` is a member's expected noise norm relative to its unit-norm centre. The
    rows do not depend on ``chunk``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    centres = class_centres(n_classes, dim, seed)
    rng = np.random.default_rng([seed, SPLITS.index(split) + 1])
    labels = rng.integers(0, n_classes, size=n)  # 8 bytes a row: 80 MB at 10^7
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32)
        noise *= np.float32(spread / np.sqrt(dim))
        noise += centres[labels[start:stop]]
        yield noise, labels[start:stop].astype(np.int64)


def synthetic_features(n: int, dim: int = 128, n_classes: int = 1000, spread: float = 0.6, seed: int = 0,
                       split: str = "database", chunk: int = 1 << 18) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 (n, dim), labels int64 (n,)): every row of ``synthetic_chunks``, needing
    no scratch memory beyond one chunk."""
    X = np.empty((n, dim), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    start = 0
    for features, labels in synthetic_chunks(n, dim, n_classes, spread, seed, split, chunk):
        X[start:start + len(labels)], y[start:start + len(labels)] = features, labels
        start += len(labels)
    return X, y
