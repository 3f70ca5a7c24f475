"""Official-format weight files that take a few MB on disk, not hundreds.

The tests of the pretrained loaders need files with every key and shape of the published ones
(ResNet-101, CLIP ViT-B/16, DeiT-B), but not their values. A tensor saved as a view that repeats
one value per output row keeps its full shape in the file while only that row's values are
written, so a 600 MB CLIP file becomes 1.6 MB. CI machines have little free disk, and
pytest keeps the temporary folders of recent runs.
"""
from __future__ import annotations

from pathlib import Path

import torch

SMALL = 4096  # tensors up to this many values are stored as they are (biases, norms, BN statistics)


def compact(tensor: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``tensor``'s shape, one random value per leading row, repeated along the other dimensions."""
    if tensor.numel() <= SMALL or tensor.dim() < 2 or not tensor.is_floating_point():
        return tensor
    rows = tensor.shape[0]
    fan_in = tensor[0].numel()
    values = torch.randn(rows, generator=generator) / fan_in  # each row sums its inputs: keep it O(mean)
    return values.view(rows, *([1] * (tensor.dim() - 1))).expand(tensor.shape)


def compact_state(state: dict, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {k: compact(v, generator) if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def save_compact(state: dict, path: Path, seed: int = 0, wrap: str | None = None) -> Path:
    """Save ``state`` (wrapped under the key ``wrap`` when given, as DeiT's release is) compactly."""
    small = compact_state(state, seed)
    torch.save({wrap: small} if wrap else small, path)
    return path


class _Holder(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def save_torchscript(state: dict, path: Path) -> Path:
    """``state`` as a TorchScript archive (as OpenAI publishes CLIP): a module tree whose parameters
    carry the state's dotted names, scripted and saved."""
    root = _Holder()
    for key, value in state.items():
        *parents, leaf = key.split(".")
        module = root
        for name in parents:
            if not hasattr(module, name):
                module.add_module(name, _Holder())
            module = getattr(module, name)
        module.register_parameter(leaf, torch.nn.Parameter(value.clone(), requires_grad=False))
    torch.jit.save(torch.jit.script(root), str(path))
    return path
