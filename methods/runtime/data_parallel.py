"""One training step's gradients over a global batch, in one process or across torchrun's.

Every training loop of the harness (feature models, IRGen's tokenizer and encoder-decoder)
draws the same global batch of B items from the same seed, whatever the number of
processes N. A step's loss comes in two parts:

- ``forward(positions)`` runs the network on some positions of the batch (this process's
  contiguous block of each micro-batch) and returns their outputs, one row per item;
- ``criterion(outputs, positions)`` is the loss of a whole micro-batch's outputs, gathered
  from every process with their gradients: every process computes the one-process loss
  (batch-hard triplets and contrastive pairs see the whole batch), and
  DistributedDataParallel averages the gradients, which gives the one-process gradient.

Batch norm inside ``forward`` uses the whole batch's statistics (sync_batch_norm.py); the
criterion may use parameters but no batch statistics. ``accumulate`` micro-batches make
one step (gradient accumulation: the global batch at 1/accumulate of the memory; exact for
per-item losses, while batch-level losses and batch norm then see one micro-batch at a
time). On CUDA, ``amp`` runs forward and criterion under bf16 autocast.
"""
from __future__ import annotations

from contextlib import ExitStack, nullcontext
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ..base import HarnessError
from . import distributed
from .sync_batch_norm import global_batch_norm


class _Closure(nn.Module):
    """The nets as one module for DDP; its forward runs the step's loss function."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, loss_fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        return loss_fn()


class DataParallel:
    """Gradients of one global batch (see the module doc). ``close()`` puts the nets back as they were."""

    def __init__(self, nets: list[nn.Module], ctx):
        self.world = distributed.world_size()
        self.accumulate = int(getattr(ctx, "accumulate", 1))
        if self.accumulate < 1:
            raise HarnessError(f"--accumulate {self.accumulate}: give a positive number of micro-batches")
        cuda = str(ctx.device).startswith("cuda")
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if cuda and getattr(ctx, "amp", False)
                         else nullcontext())
        self._stack = ExitStack()
        self.ddp = None
        if self.world > 1:
            self._stack.enter_context(global_batch_norm(nets))
            trained = [net for net in nets if any(p.requires_grad for p in net.parameters())]
            self.ddp = nn.parallel.DistributedDataParallel(
                _Closure(trained), device_ids=[torch.device(ctx.device).index] if cuda else None,
                find_unused_parameters=True, forward_sync_buffers=False)

    def backward(self, n: int, forward: Callable[[np.ndarray], object],
                 criterion: Callable[[object, np.ndarray], torch.Tensor]) -> float:
        """Accumulate into ``.grad`` the gradient of the loss of a batch of n items; returns the loss."""
        micro_batches = np.array_split(np.arange(n), self.accumulate)
        if min(len(m) for m in micro_batches) < self.world:
            raise HarnessError(f"a batch of {n} cannot be split into {self.accumulate} micro-batches over "
                               f"{self.world} processes; lower --accumulate or the number of processes")
        total = 0.0
        for i, positions in enumerate(micro_batches):
            mine = positions[distributed.local_part(len(positions))]

            def loss_fn(positions=positions, mine=mine):
                with self.autocast:
                    return criterion(distributed.gather_rows(forward(mine), len(positions)), positions)

            last = i == len(micro_batches) - 1
            with self.ddp.no_sync() if self.ddp is not None and not last else nullcontext():
                loss = self.ddp(loss_fn) if self.ddp is not None else loss_fn()
                share = len(positions) / n
                (loss if self.accumulate == 1 else loss * share).backward()
            total += loss.item() * share
        return total

    def close(self) -> None:
        self._stack.close()
