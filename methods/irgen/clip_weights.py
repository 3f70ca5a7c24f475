"""The paper's encoder: open_clip's ViT-B-16 image tower, initialised from a local CLIP
weights file: open_clip's (the state dict of ``open_clip.create_model('ViT-B-16')``) or, with
``encoder.weights=openai``, OpenAI's ``ViT-B-16.pt`` as published (a TorchScript archive, read as
it is; QuickGELU set from the file). Its ``visual.*`` keys are read. Nothing is downloaded: the
file is looked up in ``--weights DIR`` or ``$IRGEN_WEIGHTS`` under the names below, and a file
whose keys or shapes do not fit is refused in one line that names it and what was expected."""
from __future__ import annotations

import torch.nn as nn

from ..base import HarnessError
from ..features.clip import CLIP_WEIGHTS, OPENAI_CLIP_WEIGHTS, load_clip_tower
from ..runtime.weights import WeightsFile, weights_dir
from .config import EncoderConfig

VIT_B16_WEIGHTS = WeightsFile(
    what=CLIP_WEIGHTS.what,
    names=(*CLIP_WEIGHTS.names, "open_clip_vit_b16.pt"),
    url=CLIP_WEIGHTS.url,
)
ENCODER_FILES = {"open_clip": VIT_B16_WEIGHTS, "openai": OPENAI_CLIP_WEIGHTS}


def encoder_file(cfg: EncoderConfig) -> WeightsFile:
    """The CLIP file ``encoder.weights`` names."""
    return ENCODER_FILES[cfg.weights]


def clip_vit_b16(ctx, cfg: EncoderConfig) -> tuple[nn.Module, dict]:
    """The ViT-B-16 image tower with the CLIP weights, and what identifies them (file, sha1)."""
    import open_clip

    spec = encoder_file(cfg)
    folder = weights_dir(ctx)
    names = spec.names
    if folder is None or not any((folder / name).is_file() for name in names):
        where = f"in {folder}" if folder else "(no weights folder given)"
        raise HarnessError(f"IRGen's CLIP encoder: {spec.describe()} not found {where}; put "
                           f"{names[0]} (or {names[-1]}) in a folder and pass --weights DIR (or set "
                           f"$IRGEN_WEIGHTS), or use --untrained, or --set preset=small")

    def build(quick_gelu: bool) -> nn.Module:
        return open_clip.create_model("ViT-B-16", pretrained=None, force_quick_gelu=quick_gelu).visual

    return load_clip_tower(build, spec, cfg.quick_gelu, ctx)
