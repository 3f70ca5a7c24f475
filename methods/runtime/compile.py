"""torch.compile for the harness's networks: off unless a run asks (``RunContext.compile``).

Compiling costs seconds to minutes once per shape and pays off on a GPU, where a small
model's time goes into launching kernels. ``whole=True`` is for a module written to run
as one graph on fixed shapes and buffers (IRGen's StaticDecoder): a graph break is then an
error rather than a silent slow path, and on CUDA its calls are captured once and
replayed as CUDA graphs (mode ``reduce-overhead``).
"""
from __future__ import annotations

import torch
import torch.nn as nn


def compile_module(module: nn.Module, device, whole: bool = False) -> nn.Module:
    """``module`` under torch.compile (see the module doc for ``whole``)."""
    replay = whole and torch.device(device).type == "cuda"
    return torch.compile(module, fullgraph=whole, mode="reduce-overhead" if replay else None)
