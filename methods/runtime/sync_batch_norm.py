"""Batch norm over the whole global batch when it is split across processes.

In train mode batch norm normalises with the statistics of the batch it sees; a process
that sees 1/N of the batch would use other statistics than one process seeing all of it,
and the loss would differ. ``GlobalBatchNorm`` sums its statistics over the processes
(with gradients) before normalising, on any device (torch's SyncBatchNorm is CUDA only).
In eval mode, and in one process, it is plain batch norm.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from .distributed import sum_tensor, world_size


class GlobalBatchNorm(_BatchNorm):
    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.ndim < 2:
            raise ValueError(f"GlobalBatchNorm: expected (batch, channels, ...) input, got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or world_size() == 1:
            return super().forward(x)
        dims = [d for d in range(x.ndim) if d != 1]
        xf = x.float()
        shape = [1, -1] + [1] * (x.ndim - 2)
        count = sum_tensor(xf.new_tensor([xf.numel() / xf.shape[1]]))
        mean = sum_tensor(xf.sum(dims)) / count  # two passes, as batch norm itself
        centred = xf - mean.view(shape)
        var = sum_tensor((centred * centred).sum(dims)) / count
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach(), float(count))
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        self.num_batches_tracked.add_(1)
        m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.mul_(1 - m).add_(mean, alpha=m)
        self.running_var.mul_(1 - m).add_(var * (n / max(n - 1, 1)), alpha=m)


def _global_twin(bn: _BatchNorm) -> GlobalBatchNorm:
    """A GlobalBatchNorm sharing ``bn``'s parameters and running statistics (the same tensors)."""
    twin = GlobalBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    for name in ("weight", "bias"):
        setattr(twin, name, getattr(bn, name))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        setattr(twin, name, getattr(bn, name))
    twin.train(bn.training)
    return twin.to(bn.weight.device if bn.affine else bn.running_mean.device)


@contextmanager
def global_batch_norm(nets: list[nn.Module]):
    """Within the block, every batch norm of ``nets`` is a GlobalBatchNorm over the same
    tensors (an optimizer made before keeps working); the originals are put back after."""
    swapped = []
    for net in nets:
        for parent in net.modules():
            for name, child in list(parent.named_children()):
                if isinstance(child, _BatchNorm) and not isinstance(child, GlobalBatchNorm):
                    setattr(parent, name, _global_twin(child))
                    swapped.append((parent, name, child))
    try:
        yield
    finally:
        for parent, name, original in swapped:
            original.train(getattr(parent, name).training)
            setattr(parent, name, original)
