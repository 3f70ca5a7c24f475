"""Trained weights are cached by (model, config, train split, seed): a second run, or
a run that was killed after training, loads them instead of training again."""
from __future__ import annotations

import logging

import torch.nn as nn

from ..cache import digest, load_torch, save_torch

log = logging.getLogger(__name__)


def cached_weights(model, module: nn.Module, train, ctx, train_fn) -> str:
    """Load ``module``'s trained state from the cache or call ``train_fn()`` and store it.
    Returns the key that identifies these weights (it goes into the feature cache key)."""
    key = digest(model.name, model.cfg, train.digest(), ctx.seed)
    path = ctx.cache("models", f"{model.name}-{key}.pt")
    if path.exists():
        module.load_state_dict(load_torch(path))
        log.info("%s: loaded trained weights %s", model.name, path)
    else:
        train_fn()
        save_torch(module.state_dict(), path)
    return key
