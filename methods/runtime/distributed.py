"""The processes of a ``torchrun`` launch, as the harness sees them: who am I, who writes,
which rows are mine, and the collectives that put the pieces back together.

Without torchrun's environment (``WORLD_SIZE`` unset or 1) every function is the
one-process identity: rank 0 of 1, the whole range is mine, a gather returns its input.
Rows are split into contiguous blocks in rank order, so a gather in rank order is the
one-process order.
"""
from __future__ import annotations

import logging
import os
import signal
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

CRASH_ENV = "IRGEN_CRASH_AT"  # fault injection for the resume tests: "<rank>:<step>"


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0: the one process that writes results, checkpoints and caches."""
    return rank() == 0


def launched() -> bool:
    """Whether torchrun started this process (its agent sets TORCHELASTIC_RUN_ID), or another
    launcher using its variables started several. Then the process joins the launch's group, also
    as its only member: on one GPU, nccl is set up and torn down as on many."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str = "cpu") -> str:
    """Join the launch's process group (gloo on CPU, nccl on CUDA) when torchrun started
    several processes; returns the device this process should use (its own GPU on CUDA)."""
    if not launched():
        return device
    cuda = str(device).startswith("cuda")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not active():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=30))
        log.info("process %d of %d (%s)", rank(), world_size(), dist.get_backend())
    return device


def shutdown() -> None:
    if active():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


@contextmanager
def main_first():
    """Rank 0 runs the block first (builds and caches), then the others (and find its cache)."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def split_sizes(n: int, parts: int | None = None) -> list[int]:
    """Sizes of ``parts`` contiguous blocks of n rows (the first ones one row longer)."""
    parts = parts or world_size()
    return [len(b) for b in np.array_split(np.arange(n), parts)]


def local_part(n: int) -> np.ndarray:
    """Positions 0..n-1 of a batch that this process computes: its contiguous block."""
    sizes = split_sizes(n)
    start = sum(sizes[: rank()])
    return np.arange(start, start + sizes[rank()])


def shard(n: int, align: int = 1) -> np.ndarray:
    """This process's contiguous block of range(n), block edges at multiples of ``align``
    (so that batches of ``align`` rows are cut the same way as in one process)."""
    blocks = split_sizes((n + align - 1) // align)
    start = sum(blocks[: rank()]) * align
    return np.arange(min(start, n), min(start + blocks[rank()] * align, n))


class _GatherRows(torch.autograd.Function):
    """All ranks' row blocks, concatenated in rank order; the gradient of a block is the sum
    of every rank's gradient for it (so each rank may compute the whole batch's loss)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int]):
        ctx.sizes = sizes
        pad = max(sizes) - len(x)
        padded = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))]) if pad else x.contiguous()
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        return torch.cat([p[:s] for p, s in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = sum(ctx.sizes[: rank()])
        return grad[start : start + ctx.sizes[rank()]], None


class _SumOverRanks(torch.autograd.Function):
    """The sum of a tensor over the ranks; its gradient is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def sum_tensor(x: torch.Tensor) -> torch.Tensor:
    """``x`` summed over the processes, with gradients (batch statistics of a split batch)."""
    return _SumOverRanks.apply(x) if world_size() > 1 else x


def gather_rows(outputs, n: int):
    """A batch's outputs (a tensor or a tuple of tensors, rows = this process's block of
    ``local_part(n)``) -> the whole batch's, on every process, with gradients."""
    if world_size() == 1:
        return outputs
    sizes = split_sizes(n)
    if isinstance(outputs, tuple):
        return tuple(_GatherRows.apply(o, sizes) for o in outputs)
    return _GatherRows.apply(outputs, sizes)


def all_objects(obj) -> list:
    """Every process's ``obj`` (picklable), in rank order, on every process."""
    if world_size() == 1:
        return [obj]
    parts = [None] * world_size()
    dist.all_gather_object(parts, obj)
    return parts


def gather_arrays(part: np.ndarray | None) -> np.ndarray:
    """Every process's rows, concatenated in rank order, on every process (None: no rows)."""
    if world_size() == 1:
        return part
    return np.concatenate([p for p in all_objects(part) if p is not None])


def sum_over_ranks(value: float) -> float:
    return float(sum(all_objects(float(value))))


def broadcast_object(obj):
    """Rank 0's ``obj`` on every process."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_(*tensors: torch.Tensor) -> None:
    """Overwrite ``tensors`` in place with rank 0's."""
    if world_size() > 1:
        for t in tensors:
            dist.broadcast(t, src=0)


def crash_if_asked(step: int) -> None:
    """Fault injection: ``$IRGEN_CRASH_AT=<rank>:<step>`` kills that rank (SIGKILL, no clean-up)
    once ``step`` training steps are done, as a machine failure would."""
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    which, at = (int(v) for v in spec.split(":"))
    if which == rank() and step == at:
        log.warning("%s=%s: killing rank %d after step %d", CRASH_ENV, spec, which, step)
        os.kill(os.getpid(), signal.SIGKILL)
