"""Res101-Img: torchvision's ResNet-101 with its ImageNet weights, off the shelf: the
pooled 2048-d output of the last stage, Euclidean distance, no training.

``preset=paper`` reads the official torchvision file from the weights folder;
``preset=small`` (the default) is the same torchvision ResNet code with one
bottleneck block per stage at a quarter of the width, randomly initialised, named
``res101-small``: it exercises the pipeline on a CPU, it is not ImageNet features.
The backbone is shared with CGD.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import Bottleneck, ResNet

from ..runtime.weights import WeightsFile, load_pretrained, with_preset, preset_name
from .base import FeatureModel

RESNET101_WEIGHTS = WeightsFile(
    what="torchvision ResNet-101 ImageNet weights",
    names=("resnet101-cd907fe2.pth", "resnet101-63fe2227.pth"),
    url="https://download.pytorch.org/models/resnet101-cd907fe2.pth",
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resnet(preset: str, ctx) -> tuple[ResNet, dict]:
    """ResNet-101 with its ImageNet weights (paper) or the small random one, without its
    classifier (``fc`` is the identity); and what its weights started from."""
    if preset == "paper":
        net, init = load_pretrained(torchvision.models.resnet101, RESNET101_WEIGHTS, ctx)
    else:
        net = ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=16)
        init = {"random_seed": ctx.seed}
    net.fc = nn.Identity()
    return net, init


@dataclass
class Res101Config:
    preset: str = "small"  # small | paper (needs the ResNet-101 weights file)
    image_size: int = 32


PAPER = {"image_size": 224}


class Res101(FeatureModel):
    metric = "l2"
    published = RESNET101_WEIGHTS
    mean = IMAGENET_MEAN
    std = IMAGENET_STD

    def __init__(self, cfg: Res101Config | None = None, explicit: Iterable[str] = ()):
        super().__init__(with_preset(cfg or Res101Config(), PAPER, explicit))
        self.name = preset_name("res101", self.cfg.preset)
        self.image_size = self.cfg.image_size
        self.net: nn.Module | None = None
        self.init: dict | None = None

    def fit(self, train, ctx) -> None:
        torch.manual_seed(ctx.seed)
        self.net, self.init = resnet(self.cfg.preset, ctx)
        self.net.to(ctx.device).eval()

    def modules(self) -> list[nn.Module]:
        return [self.net]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def identity(self) -> dict:
        return {"name": self.name, "cfg": asdict(self.cfg), "init": self.init}
