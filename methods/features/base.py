"""The feature-model interface: trained (or not) on the train split, it maps images
to vectors, with the distance it is meant for (``cosine`` or ``l2``)."""
from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod

import numpy as np
import torch
from tqdm import tqdm

from datasets import Split, iter_batches

log = logging.getLogger(__name__)

MEAN_STD_HALF = (0.5, 0.5)  # (x - 0.5) / 0.5: EfficientNet-Lite's and our small models' input range
# images per batch of a split's features. EfficientNet-Lite0 at 112 px on the CPU (1 thread, CPU
# time per image, measured beside each other): 256 took 1.2x the time of 128, and 128 1.25-1.5x that
# of 64; a large batch's activations outgrow the caches. IRGen's EfficientNet encoder at 64 px (2
# threads) as well: its frozen blocks 2.7-3.1 CPU ms per image at 64 against 7-10 at 256, the whole
# encoder 2.3-2.7 against 5.2-5.5 at 500, its trained blocks over the cached stem 0.5 against 0.8 at 512
EMBED_BATCH = 64


def normalise(x_uint8: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], device) -> torch.Tensor:
    """uint8 images (n, C, s, s) -> float (x / 255 - mean) / std per channel, on ``device``."""
    x = x_uint8.to(device, non_blocking=True).float().div_(255.0)
    mean_t, std_t = channel_stats(tuple(mean), tuple(std), str(device))
    return (x - mean_t) / std_t


def cpu_memory_format(device, channels_last: bool) -> torch.memory_format:
    """channels_last on the CPU for a network that asks for it (EfficientNet-Lite0's depthwise
    convolutions: about 1.4x the images per second at inference on 2 cores, and 2x the training
    steps per second for IRGen's encoder), the default layout elsewhere."""
    cpu = torch.device(device).type == "cpu"
    return torch.channels_last if channels_last and cpu else torch.contiguous_format


@functools.lru_cache(maxsize=None)
def channel_stats(mean: tuple[float, ...], std: tuple[float, ...], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """mean, std as (1, C, 1, 1) tensors on ``device``, made once: a copy from pageable memory to a
    GPU waits for the work queued before it, which every batch would pay."""
    return torch.tensor(mean, device=device).view(1, -1, 1, 1), torch.tensor(std, device=device).view(1, -1, 1, 1)


class FeatureModel(ABC):
    """Subclasses define ``name``, ``metric``, ``image_size``, ``fit`` and ``encode``."""

    name: str = "?"
    metric: str = "l2"
    image_size: int = 224
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    published = None  # the WeightsFile a model with ``cfg.preset`` starts from at preset=paper
    # its network runs in channels_last on the CPU (``memory_format``): where that was measured faster
    channels_last = False

    def __init__(self, cfg):
        self.cfg = cfg

    @abstractmethod
    def fit(self, train: Split, ctx) -> None:
        """Train on ``train`` (no-op for off-the-shelf models)."""

    @abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Float images (n, 3, s, s), normalised, to features (n, d)."""

    @property
    def variant(self) -> str:
        """What the results' ``variant`` column says of this model: its preset where it has presets."""
        preset = getattr(self.cfg, "preset", None)
        return f"preset={preset}" if preset else "-"

    def model_fields(self) -> dict:
        """What distinguishes this model (the results' ``model`` column): its preset where it has presets."""
        preset = getattr(self.cfg, "preset", None)
        return {"preset": preset} if preset else {}

    def pretrained_files(self) -> list:
        """The published checkpoints (``WeightsFile``) this model starts from: ``published`` at
        preset=paper, none at preset=small."""
        return [self.published] if self.published is not None and self.cfg.preset == "paper" else []

    def identity(self) -> dict:
        """What the features depend on besides the images (config, trained-weights hash)."""
        return {"name": self.name, "cfg": vars(self.cfg) if hasattr(self.cfg, "__dict__") else self.cfg}

    def memory_format(self, device) -> torch.memory_format:
        """The layout the network and its inputs take on ``device`` (``cpu_memory_format``)."""
        return cpu_memory_format(device, self.channels_last)

    def normalise(self, x_uint8: torch.Tensor, device: str) -> torch.Tensor:
        x = normalise(x_uint8, self.mean, self.std, device)
        return x.contiguous(memory_format=self.memory_format(device))

    @torch.inference_mode()
    def embed(self, split: Split, ctx, batch_size: int = EMBED_BATCH) -> np.ndarray:
        """Features (n, d) float32 for a whole split, in order."""
        self.eval_mode()
        out = []
        batches = iter_batches(split, self.image_size, batch_size, device=ctx.device)
        total = (len(split) + batch_size - 1) // batch_size
        for _, x in tqdm(batches, total=total, desc=f"{self.name} features ({split.name})",
                         disable=not ctx.progress, leave=False):
            with ctx.autocast():
                out.append(self.encode(self.normalise(x, ctx.device)).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def eval_mode(self) -> None:
        for module in self.modules():
            module.eval()

    def modules(self) -> list[torch.nn.Module]:
        return []
