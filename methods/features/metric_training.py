"""Training with a metric-learning loss (CGD, IRT): class-balanced batches, so that
every anchor has positives in its batch, and any loss of (images, labels). The
optimiser, schedule and augmentation are the classifier training's (training.py)."""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from datasets import Split, load_batch

from .training import TrainConfig, augment, cosine_lr, make_optimizer

log = logging.getLogger(__name__)


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


def train_metric(model, net: nn.Module, groups: list[tuple[list, float]], loss_fn, split: Split,
                 cfg: TrainConfig, ctx, per_class: int) -> list[float]:
    """Train ``net`` by ``loss_fn(x, y) -> loss`` with AdamW over ``groups`` of (params, lr).

    ``model`` is the FeatureModel (image size, normalisation); returns the loss curve.
    """
    batch_size = min(cfg.batch_size, len(split))
    steps = max(1, int(cfg.epochs * len(split) / batch_size))
    opt = make_optimizer(groups, cfg)
    warmup = max(1, int(cfg.warmup_frac * steps))
    gen = torch.Generator().manual_seed(ctx.seed)
    net.train()
    losses = []
    batches = class_balanced_batches(split.labels, batch_size, per_class, steps, ctx.seed)
    bar = tqdm(enumerate(batches), total=steps, desc=f"train {model.name}", disable=not ctx.progress, leave=False)
    for step, idx in bar:
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * cosine_lr(step, steps, warmup)
        x = augment(model.normalise(load_batch(split, idx, model.image_size), ctx.device), cfg.flip, gen)
        y = torch.from_numpy(split.labels[idx]).to(ctx.device)
        loss = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    net.eval()
    log.info("%s: trained %d steps, final loss %.3f", model.name, steps, np.mean(losses[-20:]))
    return losses
