"""IRT_R (El-Nouby et al. 2021, "Training Vision Transformers for Image Retrieval").

A DeiT's class token, L2-normalised (Euclidean distance, equivalent to cosine),
fine-tuned with the contrastive loss (positive pairs pulled to similarity 1,
negative pairs pushed below the margin beta) plus lambda times the differential
entropy regulariser, which spreads the features over the sphere.

``preset=paper``: timm's deit_base_patch16_224 from its ImageNet weights; ``preset=small``
(the default): the same timm ViT code, 4 layers of width 96 on 32 px images with
8 x 8 patches, randomly initialised, named ``irt-small``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..runtime.training import Objective, TrainConfig
from ..runtime.weights import WeightsFile, load_pretrained, with_preset, preset_name
from .base import FeatureModel
from .losses import contrastive, koleo
from .metric_training import train_metric
from .res101 import IMAGENET_MEAN, IMAGENET_STD
from .trained import cached_weights

DEIT_WEIGHTS = WeightsFile(
    what="DeiT-B ImageNet weights (timm deit_base_patch16_224)",
    names=("deit_base_patch16_224-b5f2ef4d.pth",),
    url="https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth",
)
# timm model name, its arguments, and its input size, per preset.
ARCHS = {
    "paper": ("deit_base_patch16_224", {}, 224),
    "small": ("deit_tiny_patch16_224", {"img_size": 32, "patch_size": 8, "depth": 4, "embed_dim": 96,
                                        "num_heads": 3}, 32),
}


def deit(preset: str, drop_path: float, ctx) -> tuple[nn.Module, dict]:
    """timm's DeiT (with its ImageNet weights for the paper preset) returning the class token, and its origin."""
    import timm

    arch, kwargs, _ = ARCHS[preset]

    def build():
        return timm.create_model(arch, pretrained=False, drop_path_rate=drop_path, **kwargs)

    if preset == "paper":
        net, init = load_pretrained(build, DEIT_WEIGHTS, ctx)
    else:
        net, init = build(), {"random_seed": ctx.seed}
    net.reset_classifier(0)
    return net, init


@dataclass
class IRTConfig:
    preset: str = "small"  # small | paper (needs the DeiT-B weights file)
    margin: float = 0.5  # beta: negatives are pushed below this cosine similarity
    entropy_weight: float = 0.7  # lambda
    drop_path: float = 0.0
    per_class: int = 4  # images of each class in a batch
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8.0, lr=1e-3, batch_size=64))


# The paper's settings for category-level retrieval: AdamW, lr 3e-5, batch 64, drop path 0.1.
PAPER = {"drop_path": 0.1, "train.lr": 3e-5, "train.weight_decay": 5e-4, "train.epochs": 30.0}


class IRT(FeatureModel):
    metric = "l2"
    published = DEIT_WEIGHTS
    mean = IMAGENET_MEAN
    std = IMAGENET_STD

    def __init__(self, cfg: IRTConfig | None = None, explicit: Iterable[str] = ()):
        super().__init__(with_preset(cfg or IRTConfig(), PAPER, explicit))
        self.name = preset_name("irt", self.cfg.preset)
        self.image_size = ARCHS[self.cfg.preset][2]
        self.net: nn.Module | None = None
        self.init: dict | None = None
        self.weights_id = "untrained"

    def criterion(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Contrastive pairs and the entropy regulariser over the whole batch's features."""
        return contrastive(z, y, self.cfg.margin) + self.cfg.entropy_weight * koleo(z)

    def fit(self, train, ctx) -> None:
        torch.manual_seed(ctx.seed)
        self.net, self.init = deit(self.cfg.preset, self.cfg.drop_path, ctx)
        self.net.to(ctx.device)
        tc = self.cfg.train

        def train_fn(run):
            return train_metric(self, self.net, [(list(self.net.parameters()), tc.lr)],
                                Objective(self.encode, self.criterion), train, tc, ctx, self.cfg.per_class, run)

        self.weights_id = cached_weights(self, self.net, train, ctx, train_fn, init=self.init)
        self.net.eval()

    def modules(self) -> list[nn.Module]:
        return [self.net]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=1)

    def identity(self) -> dict:
        return {"name": self.name, "cfg": asdict(self.cfg), "init": self.init, "weights": self.weights_id}
