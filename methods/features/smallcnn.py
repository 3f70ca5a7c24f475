"""A small convolutional encoder trained from scratch with a classification loss:
the harness's first real feature model, quick on 2 CPU cores."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..runtime.training import TrainConfig, train_classifier
from .base import FeatureModel
from .trained import cached_weights


@dataclass
class SmallCNNConfig:
    width: int = 32
    dim: int = 128
    image_size: int = 32
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3.0))


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2))


class SmallCNN(FeatureModel):
    name = "smallcnn"
    metric = "l2"

    def __init__(self, cfg: SmallCNNConfig | None = None):
        super().__init__(cfg or SmallCNNConfig())
        self.image_size = self.cfg.image_size
        self.backbone = self.build()
        self.weights_id = "untrained"

    def build(self) -> nn.Module:
        c = self.cfg.width
        return nn.Sequential(conv_block(3, c), conv_block(c, 2 * c), conv_block(2 * c, 4 * c),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * c, self.cfg.dim))

    def modules(self) -> list[nn.Module]:
        return [self.backbone]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone(x), dim=1)

    def fit(self, train, ctx) -> None:
        torch.manual_seed(ctx.seed)  # the starting weights are the seed's (torch seeds itself at random)
        self.backbone = self.build()

        def train_fn(run):
            head = nn.Linear(self.cfg.dim, int(train.labels.max()) + 1).to(ctx.device)
            # a temperature on the unit-norm features keeps the softmax sharp enough to learn
            return train_classifier(self, self.backbone, head, train, self.cfg.train, ctx,
                                    features=lambda x: 16.0 * self.encode(x), run=run)

        self.backbone.to(ctx.device)
        self.weights_id = cached_weights(self, self.backbone, train, ctx, train_fn)

    def identity(self) -> dict:
        return {"name": self.name, "cfg": self.cfg, "weights": self.weights_id}
