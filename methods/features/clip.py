"""CLIP ViT-B/16's image tower, off the shelf: the projected image embedding,
L2-normalised, cosine distance, no training.

``preset=paper`` builds open_clip's ViT-B-16 and reads the image tower (the
``visual.*`` keys) of the official open_clip file from the weights folder, or with
``weights=openai`` of OpenAI's own ``ViT-B-16.pt`` as published (a TorchScript archive, read
as it is; QuickGELU, which OpenAI's tower uses, is then set from the file);
``preset=small`` (the default) is the same open_clip code from a tiny config dict,
randomly initialised, named ``clip-small``. FT-CLIP (ftclip.py) fine-tunes this tower.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import HarnessError
from .base import FeatureModel
from ..runtime.weights import (WeightsFile, find_weights, is_torchscript, load_state_dict_checked, with_preset, preset_name,
                      weights_checksum)

CLIP_WEIGHTS = WeightsFile(
    what="open_clip ViT-B-16 weights (laion2b_s34b_b88k)",
    names=("open_clip_pytorch_model.bin", "open_clip_model.safetensors"),
    url="https://huggingface.co/laion/CLIP-ViT-B-16-laion2B-s34B-b88K",
)
# The same CLIP class at a size a CPU trains in a minute: 32 px, 8 x 8 patches, 4 layers.
SMALL_CLIP = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "layers": 4, "width": 96, "head_width": 32},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 1, "layers": 1},
}
OPENAI_CLIP_WEIGHTS = WeightsFile(
    what="OpenAI CLIP ViT-B/16 weights (TorchScript)",
    names=("ViT-B-16.pt",),
    url="https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
)
CLIP_FILES = {"open_clip": CLIP_WEIGHTS, "openai": OPENAI_CLIP_WEIGHTS}
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_config(preset: str) -> dict:
    import open_clip

    return open_clip.get_model_config("ViT-B-16") if preset == "paper" else SMALL_CLIP


def clip_weights_file(weights: str) -> WeightsFile:
    if weights not in CLIP_FILES:
        raise HarnessError(f"--set weights={weights}: choose one of {', '.join(CLIP_FILES)}")
    return CLIP_FILES[weights]


def load_clip_tower(build, spec: WeightsFile, quick_gelu: bool, ctx) -> tuple[nn.Module, dict]:
    """``build(quick_gelu)`` loaded with the image tower (``visual.*``) of ``spec``'s file; QuickGELU
    where asked or where the file is a TorchScript archive (OpenAI's, whose tower uses it)."""
    path = find_weights(spec, ctx)
    module = build(quick_gelu or is_torchscript(path))
    load_state_dict_checked(module, path, expected_from=spec.describe(), prefix="visual.")
    return module, {"file": path.name, "sha1": weights_checksum(path)}


def clip_image_tower(preset: str, quick_gelu: bool, ctx, weights: str = "open_clip") -> tuple[nn.Module, dict]:
    """open_clip's image tower (ViT-B-16 with its weights, or the small random one) and its origin."""
    import open_clip

    def build(quick: bool):
        return open_clip.CLIP(**clip_config(preset), quick_gelu=quick).visual  # the text tower is dropped

    if preset == "paper":
        return load_clip_tower(build, clip_weights_file(weights), quick_gelu, ctx)
    return build(quick_gelu), {"random_seed": ctx.seed}


@dataclass
class ClipConfig:
    preset: str = "small"  # small | paper (needs the open_clip ViT-B-16 file)
    quick_gelu: bool = False  # True for OpenAI's own ViT-B-16 weights saved as an open_clip state dict
    weights: str = "open_clip"  # preset=paper's file: open_clip's (LAION-2B) or openai (OpenAI's ViT-B-16.pt as published)


class Clip(FeatureModel):
    base_name = "clip"
    paper_preset: dict = {}
    metric = "cosine"
    published = CLIP_WEIGHTS
    mean = OPENAI_MEAN
    std = OPENAI_STD

    def __init__(self, cfg: ClipConfig | None = None, explicit: Iterable[str] = ()):
        super().__init__(with_preset(cfg or ClipConfig(), self.paper_preset, explicit))
        self.name = preset_name(self.base_name, self.cfg.preset)
        self.published = clip_weights_file(self.cfg.weights)
        self.image_size = clip_config(self.cfg.preset)["vision_cfg"]["image_size"]
        self.visual: nn.Module | None = None
        self.init: dict | None = None

    def fit(self, train, ctx) -> None:
        torch.manual_seed(ctx.seed)
        self.visual, self.init = clip_image_tower(self.cfg.preset, self.cfg.quick_gelu, ctx, self.cfg.weights)
        self.visual.to(ctx.device).eval()

    @property
    def variant(self) -> str:
        """Its preset, and OpenAI's file where it starts from that one."""
        return super().variant + (",weights=openai" if self.cfg.weights == "openai" else "")

    def model_fields(self) -> dict:
        return {**super().model_fields(), **({"weights": "openai"} if self.cfg.weights == "openai" else {})}

    def modules(self) -> list[nn.Module]:
        return [self.visual]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.visual(x), dim=1)

    def identity(self) -> dict:
        return {"name": self.name, "cfg": asdict(self.cfg), "init": self.init}
