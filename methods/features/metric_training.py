"""Training with a metric-learning loss (CGD, IRT): class-balanced batches, so that
every anchor has positives in its batch, and any Objective (per-image forward,
whole-batch criterion). The
optimiser, schedule and augmentation are the classifier training's (methods/runtime/training.py)."""
from __future__ import annotations

import numpy as np
import torch.nn as nn

from datasets import Split

from ..runtime.checkpoint import Resumable
from ..runtime.training import Objective, TrainConfig, epoch_steps, run_steps


def class_balanced_batches(labels: np.ndarray, batch_size: int, per_class: int, steps: int, seed: int):
    """``steps`` index batches of ``per_class`` images from each of ``batch_size // per_class``
    random classes (every class, with more images each, when there are fewer classes)."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    n_classes = min(len(members), max(1, batch_size // per_class))
    per = max(1, batch_size // n_classes)
    for _ in range(steps):
        chosen = rng.choice(len(members), n_classes, replace=False)
        yield np.concatenate([rng.choice(members[c], per, replace=len(members[c]) < per) for c in chosen])


def train_metric(model, net: nn.Module, groups: list[tuple[list, float]], objective: Objective, split: Split,
                 cfg: TrainConfig, ctx, per_class: int, run: Resumable | None = None) -> list[float]:
    """Train ``net`` by ``objective`` with AdamW over ``groups`` of (params, lr).

    ``model`` is the FeatureModel (image size, normalisation); returns the loss curve.
    """
    batch_size = min(cfg.batch_size, len(split))
    steps = epoch_steps(cfg.epochs, len(split), batch_size)
    batches = class_balanced_batches(split.labels, batch_size, per_class, steps, ctx.seed)
    return run_steps(model, [net], groups, objective, split, cfg, ctx, batches, steps, run)
