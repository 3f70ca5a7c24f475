"""The training every method shares: AdamW with a cosine schedule and warm-up, seeded index
batches and flips, step counts from epochs (IRGen's tokenizer and encoder-decoder train on
these), the one step loop of the feature models (``run_steps``), and supervised training of
a feature model with a classifier head (``train_classifier``: a classification loss on the
train split, the backbone at a fraction of the head's learning rate).

Every loss is an ``Objective`` in two parts, so that one loop serves one process and
torchrun's N (methods/runtime/data_parallel.py): the batches and flips are drawn for the global
batch from the seed, each process runs the network on its block of it.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from datasets import Split, load_batch

from . import distributed
from .checkpoint import Resumable
from .data_parallel import DataParallel
from .rng import cpu_generator

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: float = 2.0
    batch_size: int = 128
    lr: float = 2e-3
    backbone_lr_scale: float = 1.0  # FT-style fine-tuning: the pretrained part learns slower
    weight_decay: float = 0.05
    warmup_frac: float = 0.05
    label_smoothing: float = 0.1
    flip: bool = True  # random horizontal flip


def cosine_lr(step: int, total: int, warmup: int) -> float:
    """Multiplier of the base learning rate: linear warm-up, then cosine to zero."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(groups: list[tuple[list, float]], cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over (params, lr) groups; each group keeps its base lr for the schedule. With every
    parameter on CUDA, the fused kernel (one launch per step instead of several per tensor)."""
    param_groups = [{"params": p, "lr": lr, "base_lr": lr} for p, lr in groups if p]
    on_cuda = all(p.is_cuda for group in param_groups for p in group["params"])
    return torch.optim.AdamW(param_groups, betas=(0.9, 0.96), weight_decay=cfg.weight_decay,
                             fused=True if param_groups and on_cuda else None)


def epoch_steps(epochs: float, n: int, batch_size: int, floor: int = 0) -> int:
    """Optimisation steps for ``epochs`` passes over n items in batches of ``batch_size``: at
    least 1, and at least ``floor`` (IRGen's min_steps)."""
    return max(1, floor, int(epochs * n / batch_size))


def batches(n: int, batch_size: int, steps: int, seed: int):
    """``steps`` index batches over epochs of a seeded permutation of range(n)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    pos = 0
    for _ in range(steps):
        if pos + batch_size > n:
            order, pos = rng.permutation(n), 0
        yield order[pos : pos + batch_size]
        pos += batch_size


def flip_mask(n: int, generator: torch.Generator) -> torch.Tensor:
    """Which of n images a random horizontal flip turns (drawn for a whole batch)."""
    return torch.rand(n, generator=generator) < 0.5


def apply_flips(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)


def augment(x: torch.Tensor, flip: bool, generator: torch.Generator) -> torch.Tensor:
    return apply_flips(x, flip_mask(len(x), generator)) if flip else x


@dataclass
class Objective:
    """A training loss in two parts: ``forward(x)`` runs the network on images (any share of
    a batch) to per-image outputs (a tensor or a tuple of tensors); ``criterion(outputs, y)``
    is the loss of the whole batch's outputs. Batch norm belongs in ``forward``."""

    forward: Callable
    criterion: Callable

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.criterion(self.forward(x), y)


def run_steps(model, nets: list[nn.Module], groups: list[tuple[list, float]], objective: Objective,
              split: Split, cfg: TrainConfig, ctx, index_batches, steps: int,
              run: Resumable | None = None) -> list[float]:
    """The training loop every feature model shares: ``steps`` AdamW steps of ``objective``
    over ``index_batches`` of ``split``, with the cosine schedule and flips, on this process
    or across torchrun's; ``nets`` are put in train mode, then back in eval mode. Returns the
    loss curve (the global batch's loss, the same on every process).

    With ``run``, a checkpoint (nets, optimizer, losses, random states) is written every
    ``ctx.checkpoint_every`` steps, and a checkpoint found there is resumed from: the
    batches and flips of the steps it holds are drawn again and skipped, so the run goes on
    exactly as an uninterrupted one."""
    opt = make_optimizer(groups, cfg)
    warmup = max(1, int(cfg.warmup_frac * steps))
    gen = cpu_generator(ctx.seed)
    losses: list[float] = []
    resumed = run.load() if run is not None else None
    if resumed is not None:
        for net, state in zip(nets, resumed["nets"]):
            net.load_state_dict(state)
        opt.load_state_dict(resumed["optimizer"])
        losses = list(resumed["losses"])
    for net in nets:
        net.train()
    parallel = DataParallel(nets, ctx)
    bar = tqdm(enumerate(index_batches), total=steps, desc=f"train {model.name}",
               disable=not (ctx.progress and distributed.is_main()), leave=False)
    for step, idx in bar:
        if step < len(losses):  # done before the checkpoint: draw its flips, as the first run did
            if cfg.flip:
                flip_mask(len(idx), gen)
            continue
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * cosine_lr(step, steps, warmup)
        flips = flip_mask(len(idx), gen) if cfg.flip else None
        labels = torch.from_numpy(split.labels[idx]).to(ctx.device)

        def forward(pos):
            x = model.normalise(load_batch(split, idx[pos], model.image_size, ctx.device), ctx.device)
            return objective.forward(x if flips is None else apply_flips(x, flips[pos]))

        opt.zero_grad(set_to_none=True)
        losses.append(parallel.backward(len(idx), forward, lambda out, pos: objective.criterion(out, labels[pos])))
        opt.step()
        if run is not None and (step + 1) % ctx.checkpoint_every == 0 and step + 1 < steps:
            run.save({"nets": [net.state_dict() for net in nets], "optimizer": opt.state_dict(),
                      "losses": losses, "step": step + 1})
        distributed.crash_if_asked(step + 1)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    parallel.close()
    for net in nets:
        net.eval()
    log.info("%s: trained %d steps, final loss %.3f", model.name, steps, np.mean(losses[-20:]))
    return losses


def train_classifier(model, backbone: nn.Module, head: nn.Module, split: Split, cfg: TrainConfig, ctx,
                     features=None, run: Resumable | None = None) -> list[float]:
    """Train ``backbone`` + linear ``head`` on ``split``'s labels; returns the loss curve.

    ``model`` is the FeatureModel (for its image size and normalisation); ``features``
    maps normalised images to the vector the head classifies (default: ``model.encode``).
    """
    features = features or model.encode
    batch_size = min(cfg.batch_size, len(split))
    steps = epoch_steps(cfg.epochs, len(split), batch_size)
    groups = [(list(backbone.parameters()), cfg.lr * cfg.backbone_lr_scale), (list(head.parameters()), cfg.lr)]

    objective = Objective(lambda x: head(features(x)),
                          lambda logits, y: F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing))
    return run_steps(model, [backbone, head], groups, objective, split, cfg, ctx,
                     batches(len(split), batch_size, steps, ctx.seed), steps, run)
