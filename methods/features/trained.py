"""Trained weights are cached by (model, config, starting weights, train split, seed):
a second run, or a run that was killed after training, loads them instead of training again.
The key names what is trained, not how: a model trained by ``torchrun ... -m bench.train``
on N processes has the key of the same model trained by ``bench.run`` in one, which reuses it.
Only rank 0 writes. Training writes checkpoints beside the model (``<name>.ckpt.pt``,
every ``ctx.checkpoint_every`` steps); a run that finds one continues from it."""
from __future__ import annotations

import logging

import torch.nn as nn

from ..runtime.checkpoint import Resumable
from ..runtime.files import digest, load_torch
from .cache import file_label

log = logging.getLogger(__name__)


def cached_weights(model, module: nn.Module, train, ctx, train_fn, init: dict | None = None) -> str:
    """Load ``module``'s trained state from the cache or call ``train_fn(run)`` (-> its loss
    curve; ``run`` keeps its checkpoints, and a killed run resumes from them) and store it,
    with the loss curve beside it.

    ``init`` identifies pretrained starting weights (file and checksum), if any.
    Returns the key that identifies these weights (it goes into the feature cache key).
    """
    parts = (model.name, model.cfg, train.digest(), ctx.seed) + ((init,) if init else ())
    key = digest(*parts)
    path = ctx.cache("models", f"{file_label(model.name)}-{key}.pt")
    if path.exists():
        module.load_state_dict(load_torch(path))
        log.info("%s: loaded trained weights %s", model.name, path)
    else:
        run = Resumable(path, model.name, ctx.device)
        run.finish(module.state_dict(), train_fn(run))
    return key
