"""FT-CLIP: CLIP's image tower fine-tuned on the target train split with a
classification head on its normalised embedding (a cosine classifier), the tower at a
fraction of the head's learning rate; features from the tuned tower, cosine distance.

``preset=paper`` starts from the open_clip ViT-B-16 file; ``preset=small`` (the default)
trains the tiny random CLIP tower from scratch and is named ``ftclip-small``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch.nn as nn

from ..runtime.training import TrainConfig, train_classifier
from .clip import Clip, ClipConfig
from .trained import cached_weights


@dataclass
class FTClipConfig(ClipConfig):
    head_scale: float = 16.0  # logits = scale * cosine(embedding, class weight)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8.0, lr=2e-3, batch_size=64,
                                                                   backbone_lr_scale=0.5))


# Fine-tuning a pretrained tower: the encoder at 1% of the head's learning rate, as IRGen's encoder.
PAPER = {"train.lr": 1e-3, "train.backbone_lr_scale": 0.01, "train.batch_size": 128, "train.epochs": 10.0}


class FTClip(Clip):
    base_name = "ftclip"
    paper_preset = PAPER

    def __init__(self, cfg: FTClipConfig | None = None, explicit: Iterable[str] = ()):
        super().__init__(cfg or FTClipConfig(), explicit)
        self.weights_id = "untrained"

    def fit(self, train, ctx) -> None:
        super().fit(train, ctx)
        head = nn.Linear(self.visual.output_dim, int(train.labels.max()) + 1).to(ctx.device)

        def train_fn(run):
            return train_classifier(self, self.visual, head, train, self.cfg.train, ctx,
                                    features=lambda x: self.cfg.head_scale * self.encode(x), run=run)

        self.weights_id = cached_weights(self, self.visual, train, ctx, train_fn, init=self.init)

    def identity(self) -> dict:
        return {**super().identity(), "weights": self.weights_id}
