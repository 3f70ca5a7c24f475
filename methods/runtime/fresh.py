"""Fresh data (paper Table 6): a seeded share of the database is held out of training and only
added to the index, so the model never saw it. Every method holds out the same images through
``held_out_items``, so IRGen and the feature models of Table 6 are trained on the same half."""
from __future__ import annotations

import hashlib

import numpy as np

from datasets import Split
from datasets.base import ArraySource, FileSource

from ..base import HarnessError


def item_keys(split: Split) -> list[str]:
    """A stable name per image: its path for files, a hash of its pixels for arrays."""
    src = split.source
    if isinstance(src, FileSource):
        return list(src.paths)
    if isinstance(src, ArraySource):
        return [hashlib.sha1(np.ascontiguousarray(row).tobytes()).hexdigest() for row in src.array]
    raise HarnessError(f"split {split.name}: no per-image key for a {type(src).__name__}")


def held_out_items(database: Split, train: Split, fresh: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(database items held out, train items left to train on): a seeded share ``fresh`` of the
    database, and the train split without those images (matched by path or pixels)."""
    if not 0.0 <= fresh < 1.0:
        raise HarnessError(f"--fresh {fresh}: give the share of the database to hold out, in [0, 1)")
    if fresh == 0.0:
        return np.zeros(0, dtype=np.int64), np.arange(len(train))
    rng = np.random.default_rng([seed, 7])
    held = np.sort(rng.choice(len(database), size=int(round(fresh * len(database))), replace=False))
    db_keys = item_keys(database)
    held_keys = {db_keys[i] for i in held}
    keep = np.array([i for i, key in enumerate(item_keys(train)) if key not in held_keys], dtype=np.int64)
    if len(keep) == 0:
        raise HarnessError(f"--fresh {fresh}: nothing is left to train on")
    return held, keep
