"""Features are computed once per (feature model identity, split contents) and reused
by every backend and every run; a changed input gives a different key.

The identity holds the model's config, the checksum of any pretrained weights file
and the key of its trained weights, so a changed config, weights file or training
run, or a changed dataset, never reuses stale features.

Under torchrun a split every process asks for (``shared``: the database) is embedded a
block per process (block edges on the batch size, so every batch is the one a single
process would run) and every process gets the whole; rank 0 writes the cache entry, under
the key a one-process run uses. A split of one process's own (its block of the queries)
is embedded and cached by that process alone.
"""
from __future__ import annotations

import logging
import re
import time

import numpy as np

from .. import distributed
from ..cache import digest, load_arrays, save_arrays
from .base import EMBED_BATCH

log = logging.getLogger(__name__)


def file_label(name: str) -> str:
    """A model name as a file-name part: ``effnet-lite0 (ImageNet)`` -> ``effnet-lite0_ImageNet``."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_")


def cached_features(model, split, ctx, shared: bool = False) -> tuple[np.ndarray, float]:
    """(features, seconds it took to compute them, when they were computed). ``shared``: every
    torchrun process calls this with the same split at the same point (see the module doc)."""
    precision = [ctx.dtype] if ctx.dtype != "fp32" else []  # fp32 keys stay as they were
    key = digest(model.identity(), split.digest(), *precision)
    path = ctx.cache("features", f"{file_label(model.name)}-{split.name}-{key}.npz")
    if path.exists():
        stored = load_arrays(path)
        log.info("%s: reused cached %s features %s", model.name, split.name, path)
        return stored["features"], float(stored["seconds"])
    start = time.perf_counter()
    if shared:
        features = embed_sharded(model, split, ctx)
        seconds = distributed.sum_over_ranks(time.perf_counter() - start)
    else:
        features = model.embed(split, ctx)
        seconds = time.perf_counter() - start
    if distributed.is_main() or not shared:
        save_arrays(path, features=features, seconds=np.float64(seconds))
    return features, seconds


def embed_sharded(model, split, ctx, batch_size: int = EMBED_BATCH) -> np.ndarray:
    """``model.embed(split)``, computed by blocks across torchrun's processes (all of it in one)."""
    if distributed.world_size() == 1:
        return model.embed(split, ctx)
    rows = distributed.shard(len(split), align=batch_size)
    part = model.embed(split.subset(rows), ctx, batch_size) if len(rows) else None
    return distributed.gather_arrays(part)
