"""Training IRGen's two stages, and caching what they train.

1. The semantic tokenizer (paper 3.1, eq. 3-4; the loss is in tokenizer.py): rounds of
   a codebook refit (k-means on the residuals of the current features) and one epoch of
   the network with the codebooks fixed, then a last refit to the final features.
2. The encoder-decoder (paper 3.2): each training pair is (x1, x2), a train image and a
   random image of the same class (the paper's stand-in for x1's nearest neighbour); the
   target is x2's identifier, learnt by next-token prediction with teacher forcing.

Both use AdamW (0.9, 0.96), weight decay 0.05, a cosine schedule with warm-up (or the
official code's cosine with warm restarts, ``Restarts``: ``restart_lr``), the
encoder's pretrained part at ``backbone_lr_scale`` of the head's learning rate (the
paper: 1%), label smoothing from the config. Trained models are cached by a digest of
everything they depend on (config, starting weights, training items, identifiers, seed);
while training, checkpoints are written (the tokenizer after every round, the
encoder-decoder every ``ctx.checkpoint_every`` steps) and a run that finds one continues
from it, drawing the same batches, pairs and flips as an uninterrupted run.

Under torchrun every process draws the same global batch and runs the network on its
block of it (methods/runtime/data_parallel.py: the loss is the one-process loss, DDP averages the
gradients); the codebooks are refitted on every process and rank 0's are kept; rank 0
alone writes checkpoints and the finished model, under the key a one-process run uses.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ..runtime import distributed
from ..runtime.checkpoint import Resumable
from ..runtime.data_parallel import DataParallel
from ..runtime.files import digest
from ..runtime.rng import cpu_generator
from ..runtime.training import TrainConfig, batches, cosine_lr, epoch_steps, flip_mask, make_optimizer
from .config import IRGenConfig, Restarts, TokenizerConfig
from .tokenizer import Classifiers, ResidualQuantizer, all_features, tokenizer_loss

log = logging.getLogger(__name__)


@dataclass
class Trained:
    """A training stage's outcome: its loss curve (a resumed run's earlier steps included) and
    the pace of the steps this run took: images per second of their wall time (the codebook
    refits between the tokenizer's rounds left out), None when it took none."""

    losses: list[float]
    images_per_s: float | None


def stage_steps(cfg: TrainConfig, n: int, min_steps: int = 0) -> int:
    """The optimisation steps a stage takes over n items: ``cfg.epochs`` epochs of batches, at
    least ``min_steps`` (IRGenConfig.min_steps)."""
    return epoch_steps(cfg.epochs, n, min(cfg.batch_size, n), min_steps)


def tokenizer_rounds(cfg: TrainConfig, n: int, min_steps: int = 0) -> tuple[int, int]:
    """(rounds, steps per round) of the tokenizer: a round per epoch, more where ``min_steps`` needs them."""
    per_round = max(1, n // min(cfg.batch_size, n))
    return max(1, math.ceil(cfg.epochs), math.ceil(min_steps / per_round)), per_round


def tokenizer_steps(cfg: TrainConfig, n: int, min_steps: int = 0) -> int:
    """The steps the tokenizer takes over n items: its rounds' steps, up to ``stage_steps``."""
    rounds, per_round = tokenizer_rounds(cfg, n, min_steps)
    return min(stage_steps(cfg, n, min_steps), rounds * per_round)


def restart_lr(epoch: float, base_lr: float, r: Restarts) -> float:
    """The learning rate at ``epoch`` (epochs done, fractional) under ``r`` (config.Restarts), as
    timm's CosineLRScheduler(t_initial=cycle_epochs, lr_min, warmup_t, warmup_lr_init, cycle_limit=cycles)
    gives it to a group of base rate ``base_lr``: the cosine's phase runs through the warm-up."""
    if epoch < r.warmup_epochs:
        return r.warmup_lr_init + epoch * (base_lr - r.warmup_lr_init) / r.warmup_epochs
    cycle = int(epoch // r.cycle_epochs)
    if cycle >= r.cycles:
        return r.lr_min
    phase = (epoch - cycle * r.cycle_epochs) / r.cycle_epochs
    return r.lr_min + 0.5 * (base_lr - r.lr_min) * (1 + math.cos(math.pi * phase))


class Schedule:
    """What both stages share: batch size and step count for n items (``stage_steps``), AdamW over
    the encoder's pretrained part (at ``backbone_lr_scale``) and the rest (encoder's new layers +
    ``head``), the learning rate of each step (``restarts``: config.Restarts, else one cosine), the
    checkpoint to resume from, the step's gradients on this process or across torchrun's (``step``),
    the batch's flips and crops, and the steps' pace."""

    def __init__(self, encoder, head: nn.Module, cfg: TrainConfig, n: int, ctx, run: Resumable | None,
                 model: nn.Module, desc: str, min_steps: int = 0, restarts: Restarts | None = None):
        self.cfg, self.ctx, self.run, self.model, self.encoder = cfg, ctx, run, model, encoder
        self.restarts = restarts if restarts is not None and restarts.cycles > 0 else None
        self.batch_size = min(cfg.batch_size, n)
        self.steps_per_epoch = n / self.batch_size
        self.total = stage_steps(cfg, n, min_steps)
        self.warmup = max(1, int(cfg.warmup_frac * self.total))
        self.opt = make_optimizer([(encoder.pretrained_parameters(), cfg.lr * cfg.backbone_lr_scale),
                                   (encoder.new_parameters() + list(head.parameters()), cfg.lr)], cfg)
        self.losses: list[float] = []
        self.resumed = run.load() if run is not None else None
        if self.resumed is not None:
            model.load_state_dict(self.resumed["model"])
            self.opt.load_state_dict(self.resumed["optimizer"])
            self.losses = self.resumed["losses"]
        self.parallel = DataParallel([encoder, head], ctx)
        self.desc, self.images, self.seconds = desc, 0, 0.0
        self.bar = tqdm(total=self.total, initial=len(self.losses), desc=desc,
                        disable=not (ctx.progress and distributed.is_main()), leave=False)

    def flips(self, step: int, n: int) -> torch.Tensor | None:
        """Which images of a step's batch of n are flipped (None: no flips), drawn for the whole batch."""
        if not self.cfg.flip:
            return None
        return flip_mask(n, cpu_generator(self.ctx.seed * 1_000_003 + step))

    def crops(self, step: int, n: int) -> torch.Tensor | None:
        """Each image's crop offsets in a step's batch of n (None: the centre), drawn for the whole batch."""
        return self.encoder.crop_offsets(n, cpu_generator(self.ctx.seed * 1_000_033 + step + 1))

    def lr_factor(self, step: int, base_lr: float) -> float:
        if self.restarts is not None:
            return restart_lr(step / self.steps_per_epoch, base_lr, self.restarts)
        return base_lr * cosine_lr(step, self.total, self.warmup)

    def step(self, step: int, n: int, forward, criterion, postfix=None) -> None:
        """One AdamW step on a batch of n items (``DataParallel.backward`` for forward / criterion)."""
        start = time.perf_counter()
        for g in self.opt.param_groups:
            g["lr"] = self.lr_factor(step, g["base_lr"])
        self.opt.zero_grad(set_to_none=True)
        self.losses.append(self.parallel.backward(n, forward, criterion))
        self.opt.step()
        self.images += n
        self.seconds += time.perf_counter() - start  # the loss read-back waited for the device
        self.bar.update(1)
        distributed.crash_if_asked(step + 1)
        if step % 20 == 0:
            self.bar.set_postfix((postfix and postfix()) or {"loss": f"{np.mean(self.losses[-20:]):.3f}"})

    def checkpoint(self, **position) -> None:
        if self.run is not None:
            self.run.save({"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                           "losses": self.losses, **position})

    def close(self) -> Trained:
        self.parallel.close()
        self.bar.close()
        self.model.eval()
        pace = self.images / self.seconds if self.images else None
        if pace is not None:
            log.info("%s: %d images in %.1f s of training steps, %.0f images/s", self.desc, self.images,
                     self.seconds, pace)
        return Trained(self.losses, pace)


def train_tokenizer(encoder, quantizer: ResidualQuantizer, classifier: nn.Module, inputs, labels: np.ndarray,
                    cfg: TokenizerConfig, ctx, run: Resumable | None = None, min_steps: int = 0) -> Trained:
    """Stage 1 (module doc) on ``inputs`` (a StemInputs), ``tokenizer_steps`` steps; returns the
    loss curve and pace. ``classifier`` is a tokenizer.Classifiers."""
    n = len(inputs)
    model = nn.ModuleList([encoder, quantizer, classifier])
    sched = Schedule(encoder, classifier, cfg.train, n, ctx, run, model, "train irgen tokenizer", min_steps,
                     cfg.schedule)
    rounds, steps_per_round = tokenizer_rounds(cfg.train, n, min_steps)
    start_round = sched.resumed["round"] if sched.resumed else 0
    y_all = torch.from_numpy(labels).to(ctx.device)
    order = batches(n, sched.batch_size, rounds * steps_per_round, ctx.seed)
    for r in range(rounds):
        round_batches = [next(order) for _ in range(steps_per_round)]
        if r < start_round:
            continue
        if cfg.kmeans == "refit_each_epoch":
            quantizer.fitted.fill_(False)  # a new k-means++ draw, not the last round's codebooks
        errors = refit(quantizer, all_features(encoder, inputs), cfg.kmeans_iters, ctx.seed + 1000 * r)
        log.info("irgen tokenizer round %d: mean squared residual per level %s", r, _fmt(errors))
        model.train()
        for i, idx in enumerate(round_batches):
            step = r * steps_per_round + i
            if step >= sched.total:
                break
            flips, crops, parts = sched.flips(step, len(idx)), sched.crops(step, len(idx)), {}

            def forward(pos, idx=idx, flips=flips, crops=crops):
                return encoder.from_stem(inputs(idx[pos], flips=_block(flips, pos), crops=_block(crops, pos)))[0]

            def criterion(f, pos, idx=idx, parts=parts):
                loss, parts["last"] = tokenizer_loss(f, y_all[idx[pos]], quantizer, classifier, cfg,
                                                     cfg.train.label_smoothing)
                return loss

            sched.step(step, len(idx), forward, criterion,
                       lambda parts=parts: {k: f"{v:.3f}" for k, v in parts["last"].items()})
        sched.checkpoint(round=r + 1)
    trained = sched.close()
    # the codebooks the identifiers come from are fitted to the final network's features
    if cfg.kmeans == "refit_each_epoch":
        quantizer.fitted.fill_(False)
    errors = refit(quantizer, all_features(encoder, inputs), cfg.kmeans_iters, ctx.seed + 1000 * rounds)
    log.info("irgen tokenizer: final mean squared residual per level %s", _fmt(errors))
    return trained


def _block(per_image: torch.Tensor | None, pos) -> torch.Tensor | None:
    """This process's block of a whole batch's flips or crops (None stays None)."""
    return None if per_image is None else per_image[pos]


def refit(quantizer: ResidualQuantizer, f: torch.Tensor, iters: int, seed: int) -> list[float]:
    """The codebooks' k-means refit; under torchrun every process fits the same features with the
    same seed, and rank 0's codebooks are kept everywhere (so no float drift can split them)."""
    errors = quantizer.fit(f, iters, seed)
    distributed.broadcast_(quantizer.codebooks)
    return errors


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


class SameClassPairs:
    """For item i, a random item of its class (possibly i itself): the paper's x2 for x1 = i."""

    def __init__(self, labels: np.ndarray):
        self.labels = np.asarray(labels)
        self.order = np.argsort(self.labels, kind="stable")  # items grouped by class
        classes, self.start, self.count = np.unique(self.labels[self.order], return_index=True, return_counts=True)
        self.slot = np.full(int(self.labels.max()) + 1, -1)
        self.slot[classes] = np.arange(len(classes))

    def sample(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = self.slot[self.labels[items]]
        return self.order[self.start[s] + (rng.random(len(items)) * self.count[s]).astype(np.int64)]


def train_encoder_decoder(encoder, decoder: nn.Module, inputs, labels: np.ndarray, codes: np.ndarray,
                          cfg: TrainConfig, ctx, run: Resumable | None = None, min_steps: int = 0,
                          restarts: Restarts | None = None) -> Trained:
    """Stage 2 (module doc): pairs (x1, same-class x2), target ``codes[x2]`` (n, T); ``inputs``
    is a StemInputs over the same n items; ``stage_steps`` steps; with ``run``, a checkpoint every
    ``ctx.checkpoint_every`` steps. Returns the loss curve and pace."""
    n = len(inputs)
    model = nn.ModuleList([encoder, decoder])
    sched = Schedule(encoder, decoder, cfg, n, ctx, run, model, "train irgen encoder-decoder", min_steps, restarts)
    start = sched.resumed["step"] if sched.resumed else 0
    targets = torch.from_numpy(np.asarray(codes, dtype=np.int64))
    pairs = SameClassPairs(labels)
    model.train()
    for step, idx in enumerate(batches(n, sched.batch_size, sched.total, ctx.seed)):
        if step < start:
            continue
        partner = pairs.sample(idx, np.random.default_rng([ctx.seed, step]))
        flips, crops = sched.flips(step, len(idx)), sched.crops(step, len(idx))

        def forward(pos, idx=idx, partner=partner, flips=flips, crops=crops):
            _, memory = encoder.from_stem(inputs(idx[pos], flips=_block(flips, pos), crops=_block(crops, pos)))
            return decoder(memory, targets[partner[pos]].to(ctx.device))  # (b, T, vocab)

        def criterion(logits, pos, partner=partner):
            target = targets[partner[pos]].to(ctx.device)
            return F.cross_entropy(logits.flatten(0, 1), target.flatten(), label_smoothing=cfg.label_smoothing)

        sched.step(step, len(idx), forward, criterion)
        if (step + 1) % ctx.checkpoint_every == 0 and step + 1 < sched.total:
            sched.checkpoint(step=step + 1)
    trained = sched.close()
    log.info("irgen encoder-decoder: trained %d steps, final loss %.3f", sched.total, np.mean(trained.losses[-20:]))
    return trained


@dataclass
class TokenizerModel:
    """The semantic tokenizer's network (encoder + classifier) and codebooks, their cache key,
    and the images/s its training steps ran at (None: loaded from the cache)."""

    encoder: nn.Module
    quantizer: ResidualQuantizer
    classifier: nn.Module
    key: str
    images_per_s: float | None = None


def data_key(split, items: np.ndarray) -> str:
    """Which images a model trained on: the split's digest and the items used of it."""
    return digest(split.digest(), hashlib.sha1(np.asarray(items, dtype=np.int64).tobytes()).hexdigest())


def fit_tokenizer(cfg: IRGenConfig, encoder, inputs, labels: np.ndarray, ctx, data: str) -> TokenizerModel:
    """Train (or load) the tokenizer on ``inputs`` (a StemInputs over ``encoder``'s stem); ``encoder``
    is trained in place. ``data`` is the data_key of the items."""
    steps = tokenizer_rounds(cfg.tokenizer.train, len(inputs), cfg.min_steps)
    key = digest("irgen-tokenizer", dataclasses.asdict(cfg.encoder), dataclasses.asdict(cfg.tokenizer),
                 encoder.init, data, ctx.seed, steps)
    run = Resumable(ctx.cache("models", f"irgen-tokenizer-{key}.pt"), "irgen tokenizer", ctx.device)
    torch.manual_seed(ctx.seed)
    quantizer = ResidualQuantizer(cfg.tokenizer.M, cfg.tokenizer.L, cfg.encoder.dim).to(ctx.device)
    classifier = Classifiers(cfg.encoder.dim, int(labels.max()) + 1, separate=cfg.tokenizer.loss == "official")
    classifier = classifier.to(ctx.device)
    modules = nn.ModuleList([encoder, quantizer, classifier])
    pace = None
    if (state := run.finished()) is not None:
        modules.load_state_dict(state)
        log.info("irgen: loaded trained tokenizer %s", run.final)
    else:
        trained = train_tokenizer(encoder, quantizer, classifier, inputs, labels, cfg.tokenizer, ctx, run,
                                  cfg.min_steps)
        run.finish(modules.state_dict(), trained.losses)
        pace = trained.images_per_s
    modules.eval()
    return TokenizerModel(encoder, quantizer, classifier, key, pace)


def fit_encoder_decoder(cfg: IRGenConfig, encoder, decoder: nn.Module, inputs, labels: np.ndarray,
                        codes: np.ndarray, ctx, data: str, init: str) -> tuple[str, float | None]:
    """Train (or load) the encoder-decoder in place; ``init`` names the encoder's starting
    weights. Returns the model's cache key and the images/s its training steps ran at (None:
    loaded from the cache)."""
    codes_sha1 = hashlib.sha1(np.ascontiguousarray(codes, dtype=np.int64).tobytes()).hexdigest()
    key = digest("irgen-ar", dataclasses.asdict(cfg.encoder), dataclasses.asdict(cfg.decoder),
                 dataclasses.asdict(cfg.train), init, codes_sha1, data, ctx.seed,
                 stage_steps(cfg.train, len(inputs), cfg.min_steps),
                 *([dataclasses.asdict(cfg.schedule)] if cfg.schedule.cycles else []))
    run = Resumable(ctx.cache("models", f"irgen-ar-{key}.pt"), "irgen encoder-decoder", ctx.device)
    model = nn.ModuleList([encoder, decoder])
    pace = None
    if (state := run.finished()) is not None:
        model.load_state_dict(state)
        log.info("irgen: loaded trained encoder-decoder %s", run.final)
    else:
        trained = train_encoder_decoder(encoder, decoder, inputs, labels, codes, cfg.train, ctx, run, cfg.min_steps,
                                        cfg.schedule)
        run.finish(model.state_dict(), trained.losses)
        pace = trained.images_per_s
    model.eval()
    return key, pace
