"""The paper's encoder: open_clip's ViT-B-16 image tower, initialised from a local CLIP
weights file (the state dict of ``open_clip.create_model('ViT-B-16')``; its ``visual.*``
keys are read). Nothing is downloaded: the file is looked up in ``--weights DIR`` or
``$IRGEN_WEIGHTS`` under the names below, and a file whose keys or shapes do not fit is
refused in one line that names it and what was expected."""
from __future__ import annotations

import torch.nn as nn

from ..base import HarnessError
from ..features.clip import CLIP_WEIGHTS
from ..features.weights import WeightsFile, load_pretrained, weights_dir

VIT_B16_WEIGHTS = WeightsFile(
    what=CLIP_WEIGHTS.what,
    names=(*CLIP_WEIGHTS.names, "open_clip_vit_b16.pt"),
    url=CLIP_WEIGHTS.url,
)


def clip_vit_b16(ctx, quick_gelu: bool = False) -> tuple[nn.Module, dict]:
    """The ViT-B-16 image tower with the CLIP weights, and what identifies them (file, sha1)."""
    import open_clip

    folder = weights_dir(ctx)
    names = VIT_B16_WEIGHTS.names
    if folder is None or not any((folder / name).is_file() for name in names):
        where = f"in {folder}" if folder else "(no weights folder given)"
        raise HarnessError(f"IRGen's CLIP encoder: {VIT_B16_WEIGHTS.describe()} not found {where}; put "
                           f"{names[0]} (or {names[-1]}) in a folder and pass --weights DIR (or set "
                           f"$IRGEN_WEIGHTS), or use --set preset=small")

    def build() -> nn.Module:
        return open_clip.create_model("ViT-B-16", pretrained=None, force_quick_gelu=quick_gelu).visual

    return load_pretrained(build, VIT_B16_WEIGHTS, ctx, prefix="visual.")
