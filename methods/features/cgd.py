"""CGD (Jun et al. 2019, "Combination of Multiple Global Descriptors for Image Retrieval").

A ResNet whose last stage keeps its resolution (no downsampling), pooled by several
global descriptors (SPoC, MAC, GeM p=3); each is projected by its own FC layer and
L2-normalised, and their concatenation, normalised again, is the image's feature
(Euclidean distance). Training: the batch-hard triplet loss on the combined
descriptor plus an auxiliary classification loss, with temperature scaling and label
smoothing, on the first descriptor after batch normalisation.

``preset=paper``: ResNet-101 from its ImageNet weights, 224 px, 1536-d; ``preset=small``
(the default): the small random ResNet of res101.py at 32 px, named ``cgd-small``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from ..base import HarnessError
from ..runtime.training import Objective, TrainConfig
from ..runtime.weights import with_preset, preset_name
from .base import FeatureModel
from .losses import POOLINGS, batch_hard_triplet, combine_descriptors, gem, smoothed_tempered_ce
from .metric_training import train_metric
from .res101 import IMAGENET_MEAN, IMAGENET_STD, RESNET101_WEIGHTS, resnet
from .trained import cached_weights


@dataclass
class CGDConfig:
    preset: str = "small"  # small | paper (needs the ResNet-101 weights file)
    image_size: int = 32
    descriptors: str = "SMG"  # S = SPoC, M = MAC, G = GeM; the first feeds the auxiliary classifier
    dim: int = 192  # combined descriptor, split evenly between the descriptors
    gem_p: float = 3.0
    temperature: float = 0.5
    smoothing: float = 0.1
    margin: float = 0.1  # triplet margin
    per_class: int = 4  # images of each class in a batch
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3.0, lr=2e-3, batch_size=64))


# The paper's settings (ResNet at 224 px, 1536-d, batch 128, lr 1e-4); the epochs are ours.
PAPER = {"image_size": 224, "dim": 1536, "train.lr": 1e-4, "train.batch_size": 128, "train.epochs": 30.0}


def keep_last_stage_resolution(net: nn.Module) -> None:
    """CGD drops the downsampling between the last two ResNet stages (stride 2 -> 1)."""
    block = net.layer4[0]
    for conv in (block.conv1, block.conv2, block.downsample[0]):
        conv.stride = (1, 1)


class CGDNet(nn.Module):
    def __init__(self, backbone: nn.Module, cfg: CGDConfig, n_classes: int):
        super().__init__()
        keep_last_stage_resolution(backbone)
        self.trunk = nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool,
                                   backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4)
        channels = backbone.layer4[-1].conv3.out_channels
        self.descriptors = cfg.descriptors
        self.gem_p = cfg.gem_p
        self.projections = nn.ModuleList(nn.Linear(channels, cfg.dim // len(cfg.descriptors), bias=False)
                                         for _ in cfg.descriptors)
        self.aux = nn.Sequential(nn.BatchNorm1d(channels), nn.Linear(channels, n_classes))

    def pool(self, fmap: torch.Tensor, kind: str) -> torch.Tensor:
        return gem(fmap, self.gem_p) if kind == "G" else POOLINGS[kind](fmap)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(combined descriptor (n, dim), first pooled descriptor (n, C) for the auxiliary loss)."""
        fmap = self.trunk(x)
        pooled = [self.pool(fmap, kind) for kind in self.descriptors]
        return combine_descriptors([fc(p) for fc, p in zip(self.projections, pooled)]), pooled[0]


class CGD(FeatureModel):
    metric = "l2"
    published = RESNET101_WEIGHTS
    mean = IMAGENET_MEAN
    std = IMAGENET_STD

    def __init__(self, cfg: CGDConfig | None = None, explicit: Iterable[str] = ()):
        super().__init__(with_preset(cfg or CGDConfig(), PAPER, explicit))
        bad = set(self.cfg.descriptors) - set(POOLINGS)
        if bad or not self.cfg.descriptors:
            raise HarnessError(f"cgd: descriptors={self.cfg.descriptors!r}: use letters of S (SPoC), M (MAC), G (GeM)")
        self.name = preset_name("cgd", self.cfg.preset)
        self.image_size = self.cfg.image_size
        self.net: CGDNet | None = None
        self.init: dict | None = None
        self.weights_id = "untrained"

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(combined descriptor, auxiliary class logits): the per-image part of the loss."""
        combined, first = self.net(x)
        return combined, self.net.aux(first)

    def criterion(self, outputs: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """Batch-hard triplets over the whole batch + the auxiliary classification loss."""
        combined, logits = outputs
        return (batch_hard_triplet(combined, y, self.cfg.margin)
                + smoothed_tempered_ce(logits, y, self.cfg.temperature, self.cfg.smoothing))

    def fit(self, train, ctx) -> None:
        torch.manual_seed(ctx.seed)
        backbone, self.init = resnet(self.cfg.preset, ctx)
        self.net = CGDNet(backbone, self.cfg, int(train.labels.max()) + 1).to(ctx.device)
        tc = self.cfg.train

        def train_fn(run):
            groups = [(list(self.net.trunk.parameters()), tc.lr * tc.backbone_lr_scale),
                      (list(self.net.projections.parameters()) + list(self.net.aux.parameters()), tc.lr)]
            return train_metric(self, self.net, groups, Objective(self.outputs, self.criterion), train, tc,
                                ctx, self.cfg.per_class, run)

        self.weights_id = cached_weights(self, self.net, train, ctx, train_fn, init=self.init)
        self.net.eval()

    def modules(self) -> list[nn.Module]:
        return [self.net]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]

    def identity(self) -> dict:
        return {"name": self.name, "cfg": asdict(self.cfg), "init": self.init, "weights": self.weights_id}
