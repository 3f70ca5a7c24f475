"""Features are computed once per (feature model identity, split contents) and reused
by every backend and every run; a changed input gives a different key.

The identity holds the model's config, the checksum of any pretrained weights file
and the key of its trained weights, so a changed config, weights file or training
run, or a changed dataset, never reuses stale features.
"""
from __future__ import annotations

import logging
import re
import time

import numpy as np

from ..cache import digest, load_arrays, save_arrays

log = logging.getLogger(__name__)


def file_label(name: str) -> str:
    """A model name as a file-name part: ``effnet-lite0 (ImageNet)`` -> ``effnet-lite0_ImageNet``."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_")


def cached_features(model, split, ctx) -> tuple[np.ndarray, float]:
    """(features, seconds it took to compute them, when they were computed)."""
    key = digest(model.identity(), split.digest())
    path = ctx.cache("features", f"{file_label(model.name)}-{split.name}-{key}.npz")
    if path.exists():
        stored = load_arrays(path)
        log.info("%s: reused cached %s features %s", model.name, split.name, path)
        return stored["features"], float(stored["seconds"])
    start = time.perf_counter()
    features = model.embed(split, ctx)
    seconds = time.perf_counter() - start
    save_arrays(path, features=features, seconds=np.float64(seconds))
    return features, seconds
