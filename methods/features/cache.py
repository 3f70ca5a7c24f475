"""Features are computed once per (feature model identity, split contents) and reused
by every backend and every run; a changed input gives a different key.

The identity holds the model's config, the checksum of any pretrained weights file
and the key of its trained weights, so a changed config, weights file or training
run, or a changed dataset, never reuses stale features. An entry keeps the seconds the
extraction took and the run that measured them, so the device, the precision and the CPU
threads are in the key too; a reused entry's seconds come back labelled with that run
(``Measured``), never as a measurement of the run that reuses them.

Under torchrun a split every process asks for (``shared``: the database) is embedded a
block per process (block edges on the batch size, so every batch is the one a single
process would run) and every process gets the whole; rank 0 writes the cache entry, under
the key a one-process run uses. A split of one process's own (its block of the queries)
is embedded and cached by that process alone.
"""
from __future__ import annotations

import logging
import re

import numpy as np
import torch

from ..runtime import distributed
from ..runtime.files import digest, load_arrays, save_arrays
from ..runtime.timing import Measured, device_sync, threads, timed
from .base import EMBED_BATCH

log = logging.getLogger(__name__)


def file_label(name: str) -> str:
    """A model name as a file-name part: ``effnet-lite0 (ImageNet)`` -> ``effnet-lite0_ImageNet``."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_")


def cached_features(model, split, ctx, shared: bool = False) -> tuple[np.ndarray, Measured]:
    """(features, the seconds it took to compute them and the run that measured them). ``shared``:
    every torchrun process calls this with the same split at the same point (see the module doc)."""
    key = digest(model.identity(), split.digest(), ctx.dtype, torch.device(ctx.device).type, threads())
    path = ctx.cache("features", f"{file_label(model.name)}-{split.name}-{key}.npz")
    if path.exists():
        stored = load_arrays(path)
        log.info("%s: reused cached %s features %s", model.name, split.name, path)
        return stored["features"], Measured(float(stored["seconds"]), str(stored["run_id"]) or "unrecorded")
    if shared:
        features, seconds = timed(lambda: embed_sharded(model, split, ctx), device_sync(ctx.device))
        seconds = distributed.sum_over_ranks(seconds)
    else:
        features, seconds = timed(lambda: model.embed(split, ctx), device_sync(ctx.device))
    if distributed.is_main() or not shared:
        save_arrays(path, features=features, seconds=np.float64(seconds), run_id=np.str_(ctx.run_id))
    return features, Measured(seconds)


def embed_sharded(model, split, ctx, batch_size: int = EMBED_BATCH) -> np.ndarray:
    """``model.embed(split)``, computed by blocks across torchrun's processes (all of it in one)."""
    if distributed.world_size() == 1:
        return model.embed(split, ctx)
    rows = distributed.shard(len(split), align=batch_size)
    part = model.embed(split.subset(rows), ctx, batch_size) if len(rows) else None
    return distributed.gather_arrays(part)
