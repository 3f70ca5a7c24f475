"""IRGen's configuration as plain data: one dataclass per part, two presets.

``small`` (the default) trains on two CPU cores: an EfficientNet-Lite0 encoder warm
started from its packaged ImageNet weights, at 64 px, its first 11 of 16 blocks frozen
(their output is computed once per split and cached), and a 2-block decoder of width
256. On the embedded default, ``--limit 10000`` (10,000 train = database images, all
10,000 test queries) trains and evaluates in about 6 minutes on two idle cores (longer
when the cores are shared). Two
departures from the paper's schedule, for a training of minutes instead of 200 epochs:
the tokenizer's backbone learns at the head's rate (the paper: 1%), and the
encoder-decoder's encoder starts from the tokenizer's trained network
(``encoder_init=tokenizer``; the paper starts both from CLIP). The encoder-decoder's
encoder keeps the paper's 1% learning rate.
A floor on optimisation steps (``min_steps``): the small preset's schedule is set in
epochs, so at small ``--limit`` (or with ``--fresh``, which halves what it trains on) a
model would train only a few dozen steps and an ablation would rank training budgets, not
identifiers. Every trained part of the small preset (the tokenizer, the RQ-VAE identifiers,
the encoder-decoder) trains at least ``min_steps`` steps, so every variant of an ablation
at a small limit trains the same number of steps; the number each model trained is kept
beside its results (``Method.stats``), and the report marks a model that trained fewer
steps than its preset's floor (``--set min_steps=0`` removes it).

``official`` is what the authors' released code (github yakt00/IRGen) runs, where it
differs from the paper's text (the README's table of differences): f_cls is the raw class
token of OpenAI's CLIP tower (no ln_post, no projection, no new layer), the decoder attends to
all 197 tokens as they leave the last block, OpenAI's ``ViT-B-16.pt`` (QuickGELU), Resize 256 +
crop 224, cosine schedules with warm restarts (train_ar.py: 4 cycles of 100 epochs over 400,
batch 512, lr 8e-5; train_tokenizer.py: one cycle of 50 epochs, then its floor), codebooks
refit from scratch every epoch, the tokenizer's 1e-7 loss weights without label smoothing, and
a post-norm decoder without qkv bias, Xavier-initialised, with biased token embedding and
output layer. Each of these is a setting of its own, named in ``official_config``.

``paper`` is the paper's model (appendix A): a ViT-B/16 encoder initialised from
CLIP, a 12-block decoder of width 768, M = 4 codebooks of L = 256 entries, 200 epochs
(``decoder.depth=24`` for the million-scale datasets), no step floor. ``--set preset=paper``
picks it; every other value is then overridable with ``--set`` (``--set train.epochs=2``).

The tokenizer's loss (``tokenizer.loss``): ``eq3`` (the default) is the paper's equation 3,
lambda1 = 1 on the classification of the partial reconstructions and lambda2 = 0.01 on the
residual term, one classifier for f_cls and the reconstructions; ``official`` is the
official code's weighting (train_tokenizer.py: both terms at 1e-7, the reconstructions
classified by a classifier of their own, ``fc_rq``), under which the network learns from
CE(f_cls) alone and the codebooks come from k-means only.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..base import HarnessError
from ..runtime.overrides import override
from ..runtime.training import TrainConfig
from .decoder import DecoderConfig
from .identifiers import IdentifierConfig

PRESETS = ("small", "paper", "official")
ENCODERS = ("effnet", "vit", "clip-vit-b16")
TOKENIZER_LOSSES = ("eq3", "official")
CHOICES = {  # the settings that take one of a few words, and their words (the first is the default)
    "encoder.feature": ("proj", "raw_cls"),
    "encoder.memory": ("patches", "all_tokens"),
    "encoder.weights": ("open_clip", "openai"),
    "encoder.preprocess": ("short_side", "resize256_crop224"),
    "tokenizer.kmeans": ("warm", "refit_each_epoch"),
    "decoder.norm": ("pre", "post"),
    "decoder.init": ("gpt2", "xavier"),
}
OFFICIAL_LOSS_WEIGHT = 1e-7  # the official train_tokenizer.py's weight of both the reconstruction and residual terms
SMALL_MIN_STEPS = 120  # the small preset's floor on optimisation steps of each trained part (module doc)


@dataclass
class Restarts:
    """Cosine with warm restarts, as timm's CosineLRScheduler in epochs (t = epochs done): a linear
    warm-up from ``warmup_lr_init`` over ``warmup_epochs``, then ``cycles`` cosines of
    ``cycle_epochs`` each from the base lr down to ``lr_min``, then ``lr_min``. ``cycles=0``: the
    harness's one cosine to zero after ``warmup_frac`` of the steps (TrainConfig)."""

    cycles: int = 0
    cycle_epochs: float = 0.0
    warmup_epochs: float = 0.0
    lr_min: float = 0.0
    warmup_lr_init: float = 0.0


@dataclass
class EncoderConfig:
    kind: str = "effnet"  # effnet | vit (small, random init) | clip-vit-b16 (needs the open_clip file)
    image_size: int = 64
    dim: int = 128  # d: width of f_cls, the feature the tokenizer quantizes
    memory_dim: int = 256  # width of the spatial tokens the decoder attends to
    frozen_blocks: int = 11  # leading blocks kept frozen; their output is cached once per split
    last_stride: int = 2  # effnet: stride of the last down-sampling stage (1: twice the final map size)
    # vit from scratch (kind=vit): open_clip's VisionTransformer at a CPU size
    patch_size: int = 4
    vit_width: int = 192
    vit_layers: int = 6
    vit_heads: int = 3
    quick_gelu: bool = False  # clip-vit-b16: True for OpenAI's weights saved as an open_clip state dict
    # ViT encoders: f_cls = a new Linear over ln_post(class token) @ proj (proj), or the raw class
    # token as it leaves the last block (raw_cls: the official code's, d = the tower's width)
    feature: str = "proj"
    # the decoder's memory: a new Linear over ln_post(patch tokens) (patches), or all 1 + S tokens
    # as they leave the last block (all_tokens: the official code's, memory_dim = the tower's width)
    memory: str = "patches"
    weights: str = "open_clip"  # clip-vit-b16's file: open_clip's LAION-2B, or OpenAI's ViT-B-16.pt (openai)
    # short_side: the short side to image_size, centre crop; resize256_crop224: to resize_px, then
    # a random crop of image_size in training and the centre one otherwise (utils/utils.py's transforms)
    preprocess: str = "short_side"
    resize_px: int = 256


@dataclass
class TokenizerConfig:
    """The semantic tokenizer (paper eq. 1-4): residual quantization of f_cls."""

    M: int = 4  # codebooks = identifier length T
    L: int = 256  # entries per codebook = vocabulary
    lambda1: float = 1.0  # weight of the classification losses on the partial reconstructions (loss=eq3)
    lambda2: float = 0.01  # weight of the residual (commitment) term (loss=eq3)
    loss: str = "eq3"  # eq3 | official (module doc)
    kmeans_iters: int = 10  # Lloyd iterations per level at each codebook update
    # warm: each round's k-means starts from the codebooks before it; refit_each_epoch: from a new
    # k-means++ draw each round (the official code refits faiss k-means from scratch every epoch)
    kmeans: str = "warm"
    # the official code's files instead of training (methods/irgen/official.py): a train_tokenizer.py
    # checkpoint and rq.py's codebooks (both or neither)
    checkpoint: str = ""
    codebooks: str = ""
    schedule: Restarts = field(default_factory=Restarts)  # cycles=0: one cosine (TrainConfig.warmup_frac)
    # one round per epoch: refit the codebooks, then train the network an epoch with them fixed
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=3.0, batch_size=128, lr=1e-3, backbone_lr_scale=1.0, warmup_frac=0.05, flip=False))


def loss_weights(cfg: TokenizerConfig) -> tuple[float, float]:
    """(weight of the reconstructions' classification, weight of the residual term) of ``cfg.loss``."""
    if cfg.loss == "official":
        return OFFICIAL_LOSS_WEIGHT, OFFICIAL_LOSS_WEIGHT
    return cfg.lambda1, cfg.lambda2


@dataclass
class IRGenConfig:
    preset: str = "small"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    decoder: DecoderConfig = field(default_factory=lambda: DecoderConfig(width=256, depth=2, heads=4))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=3.0, batch_size=128, lr=1e-3, backbone_lr_scale=0.01, warmup_frac=0.05, flip=False))
    identifiers: IdentifierConfig = field(default_factory=IdentifierConfig)
    schedule: Restarts = field(default_factory=Restarts)  # the encoder-decoder's
    # small: the encoder-decoder's encoder starts from the tokenizer's trained network (a CPU
    # budget shortcut); paper: from the pretrained weights, as the paper warm-starts both from CLIP
    encoder_init: str = "tokenizer"  # tokenizer | pretrained
    search_batch: int = 500  # queries per beam-search batch
    checkpoint: str = ""  # a train_ar.py checkpoint: the encoder-decoder is loaded from it, not trained
    min_steps: int = SMALL_MIN_STEPS  # floor on each trained part's optimisation steps (module doc)


def paper_config() -> IRGenConfig:
    """Appendix A: ViT-B/16 from CLIP at 224 px, 12 decoder blocks of width 768, M=4, L=256,
    AdamW (0.9, 0.96), wd 0.05, tokenizer lr 5e-4, decoder lr 4e-5, encoder at 1%, 200 epochs,
    20 warm-up epochs (10%), batch 128 (tokenizer) and 64 (decoder).

    The encoder-decoder's schedule follows the paper's text (batch 64, lr 4e-5, 200 epochs),
    not the official code, which trains it with batch 64 per GPU on 8 GPUs (512 in all) at
    lr 8e-5 for 400 epochs (train_ar.py; ``--set train.batch_size=512 --set train.lr=8e-5
    --set train.epochs=400`` for that one)."""
    return IRGenConfig(
        preset="paper",
        encoder=EncoderConfig(kind="clip-vit-b16", image_size=224, dim=768, memory_dim=768, frozen_blocks=0),
        tokenizer=TokenizerConfig(M=4, L=256, train=TrainConfig(
            epochs=200.0, batch_size=128, lr=5e-4, backbone_lr_scale=0.01, warmup_frac=0.1,
            label_smoothing=0.1, flip=True)),
        decoder=DecoderConfig(width=768, depth=12, heads=12, memory_dim=768),
        train=TrainConfig(epochs=200.0, batch_size=64, lr=4e-5, backbone_lr_scale=0.01, warmup_frac=0.1,
                          label_smoothing=0.1, flip=True),
        encoder_init="pretrained",
        min_steps=0,  # 200 epochs: the schedule is the paper's, with no floor
    )


def official_config() -> IRGenConfig:
    """What the released code runs (module doc), each difference from the paper preset a setting:
    encoder.feature=raw_cls, encoder.memory=all_tokens (model/CLIP/clip/model.py, tokenizer.py:50,
    IRGen.py:72-73), encoder.weights=openai (clip.load('ViT-B-16.pt')), encoder.preprocess=
    resize256_crop224 (utils/utils.py:334-353, no flip), schedule / tokenizer.schedule (train_ar.py's
    and train_tokenizer.py's CosineLRScheduler), tokenizer.kmeans=refit_each_epoch with faiss's 25
    iterations (utils.py:358), tokenizer.loss=official without label smoothing, decoder.norm=post,
    qkv_bias=false, init=xavier, token_bias and head_bias (model/model.py:140-176, IRGen.py:67)."""
    paper = paper_config()
    return dataclasses.replace(
        paper, preset="official",
        encoder=dataclasses.replace(paper.encoder, feature="raw_cls", memory="all_tokens", weights="openai",
                                    quick_gelu=True, preprocess="resize256_crop224"),
        tokenizer=dataclasses.replace(
            paper.tokenizer, loss="official", kmeans="refit_each_epoch", kmeans_iters=25,
            train=dataclasses.replace(paper.tokenizer.train, label_smoothing=0.0, flip=False),
            schedule=Restarts(cycles=1, cycle_epochs=50, warmup_epochs=20, lr_min=1e-6, warmup_lr_init=1e-7)),
        decoder=dataclasses.replace(paper.decoder, norm="post", qkv_bias=False, init="xavier", token_bias=True,
                                    head_bias=True),
        train=dataclasses.replace(paper.train, epochs=400.0, batch_size=512, lr=8e-5, flip=False),
        schedule=Restarts(cycles=4, cycle_epochs=100, warmup_epochs=20, lr_min=5e-7, warmup_lr_init=5e-8),
    )


PRESET_CONFIGS = {"small": IRGenConfig, "paper": paper_config, "official": official_config}


def make_config(overrides: dict) -> IRGenConfig:
    """The preset named by ``overrides["preset"]`` (default small) with the other overrides applied."""
    values = dict(overrides)
    preset = values.pop("preset", "small")
    if preset not in PRESETS:
        raise HarnessError(f"--set preset={preset}: choose one of {', '.join(PRESETS)}")
    cfg = override(PRESET_CONFIGS[preset](), values)
    for key, words in CHOICES.items():
        part, name = key.split(".")
        if getattr(getattr(cfg, part), name) not in words:
            raise HarnessError(f"--set {key}={getattr(getattr(cfg, part), name)}: choose one of {', '.join(words)}")
    if cfg.encoder.kind not in ENCODERS:
        raise HarnessError(f"--set encoder.kind={cfg.encoder.kind}: choose one of {', '.join(ENCODERS)}")
    if cfg.encoder_init not in ("tokenizer", "pretrained"):
        raise HarnessError(f"--set encoder_init={cfg.encoder_init}: choose tokenizer or pretrained")
    if cfg.tokenizer.loss not in TOKENIZER_LOSSES:
        raise HarnessError(f"--set tokenizer.loss={cfg.tokenizer.loss}: choose one of {', '.join(TOKENIZER_LOSSES)}")
    if bool(cfg.tokenizer.checkpoint) != bool(cfg.tokenizer.codebooks):
        raise HarnessError("--set tokenizer.checkpoint / tokenizer.codebooks: give both (the official tokenizer's "
                           "train_tokenizer.py checkpoint and rq.py's codebooks file) or neither")
    if cfg.min_steps < 0:
        raise HarnessError(f"--set min_steps={cfg.min_steps}: give a number of steps >= 0 (0: no floor)")
    return cfg


def preset_min_steps(preset: str) -> int:
    """The step floor a preset ships with (what the report compares a model's steps against)."""
    return PRESET_CONFIGS.get(preset, IRGenConfig)().min_steps
