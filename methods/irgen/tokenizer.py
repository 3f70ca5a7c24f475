"""The semantic image tokenizer (paper 3.1): residual quantization of f_cls.

M codebooks of L entries quantize f_cls one level at a time (eq. 1-2):

    l_m = argmin_l ||r_{m-1} - c_{m,l}||^2,   r_m = r_{m-1} - c_{m,l_m},   r_0 = f_cls,

so an image's identifier is (l_1, ..., l_M), coarse to fine. The network that gives
f_cls is trained with (eq. 3-4)

    L = CE(f_cls) + lambda1 * sum_m CE(f^{<=m}) + lambda2 * sum_m ||f_cls - sg[f^{<=m}]||^2

where f^{<=m} = c_{1,l_1} + ... + c_{m,l_m} is the m-level reconstruction, CE a classifier
(one linear layer, shared by all levels) under cross-entropy, and the gradient of
CE(f^{<=m}) is copied to f_cls (straight-through estimator). Codebooks and network are
optimised alternately: each round first refits the codebooks to the current features by
k-means on the residuals, level by level (warm started from the previous codebooks;
the first round is the k-means initialisation), then trains the network for one epoch
with the codebooks fixed (the loop: ``train.train_tokenizer``).
"""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..features.base import EMBED_BATCH
from ..runtime.rng import cpu_generator, weighted_choice
from .config import TokenizerConfig, loss_weights

log = logging.getLogger(__name__)


def kmeans(x: torch.Tensor, k: int, iters: int, seed: int, init: torch.Tensor | None = None) -> torch.Tensor:
    """Lloyd's k-means on x (n, d) -> centroids (k, d). Starts from ``init`` or from k-means++
    seeding drawn with ``seed``; a centroid left empty moves to the point farthest from its centroid."""
    centroids = init.clone() if init is not None else kmeans_plus_plus(x, k, cpu_generator(seed))
    for _ in range(iters):
        assign, dist = nearest(x, centroids)
        counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp(min=1)[:, None])
        if empty.any() and len(x) > k:
            far = dist.topk(int(empty.sum())).indices
            centroids[empty] = x[far]
    return centroids


def kmeans_plus_plus(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k starting centroids, each drawn with probability proportional to its squared distance
    to the nearest one drawn before (Arthur and Vassilvitskii, 2007); repeats when k > n.
    The draws are ``gen``'s on the CPU whatever x's device (methods/runtime/rng.py)."""
    picks = [int(torch.randint(len(x), (1,), generator=gen))]
    d2 = ((x - x[picks[0]]) ** 2).sum(1)
    for _ in range(1, k):
        weights = d2 if float(d2.sum()) > 0 else torch.ones_like(d2)
        picks.append(weighted_choice(weights, gen))
        d2 = torch.minimum(d2, ((x - x[picks[-1]]) ** 2).sum(1))
    return x[picks].clone()


def nearest(x: torch.Tensor, centroids: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest centroid (ties: the lowest index) and its squared distance, per row of x.
    In fp32 also under bf16 autocast (training with --amp): codes are chosen at full precision."""
    assign, dist = [], []
    with torch.autocast(x.device.type, enabled=False):
        c_sq = (centroids * centroids).sum(1)
        for start in range(0, len(x), chunk):
            part = x[start : start + chunk]
            d = (part * part).sum(1, keepdim=True) - 2 * part @ centroids.T + c_sq[None]  # (n, k)
            best = d.min(dim=1)
            assign.append(best.indices)
            dist.append(best.values.clamp(min=0))
    return torch.cat(assign), torch.cat(dist)


class ResidualQuantizer(nn.Module):
    """M codebooks of L entries over d-dimensional vectors."""

    def __init__(self, M: int, L: int, dim: int):
        super().__init__()
        self.M, self.L = M, L
        self.register_buffer("codebooks", torch.zeros(M, L, dim))  # (M, L, d)
        self.register_buffer("fitted", torch.tensor(False))

    @torch.no_grad()
    def quantize(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """f (B, d) -> codes (B, M) int64, partial reconstructions (M, B, d): row m is f^{<=m+1}."""
        residual = f.float()
        recon = torch.zeros_like(residual)
        codes, partial = [], []
        for m in range(self.M):
            code, _ = nearest(residual, self.codebooks[m])
            chosen = self.codebooks[m][code]
            residual = residual - chosen
            recon = recon + chosen
            codes.append(code)
            partial.append(recon)
        return torch.stack(codes, dim=1), torch.stack(partial)

    @torch.no_grad()
    def encode(self, f: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
        """f (n, d) -> codes (n, M), a chunk of rows at a time: the partial reconstructions
        ``quantize`` keeps for the loss would take M * n * d floats (2 GB for 10^6 x 128)."""
        return torch.cat([self.quantize(f[start:start + chunk])[0] for start in range(0, len(f), chunk)])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, M) -> the full reconstruction (B, d)."""
        return sum(self.codebooks[m][codes[:, m]] for m in range(self.M))

    @torch.no_grad()
    def fit(self, f: torch.Tensor, iters: int, seed: int) -> list[float]:
        """k-means on the residuals, level by level (warm started once fitted); returns the
        mean squared residual after each level."""
        residual = f.float().clone()
        errors = []
        for m in range(self.M):
            init = self.codebooks[m] if bool(self.fitted) else None
            self.codebooks[m] = kmeans(residual, self.L, iters, seed + m, init=init)
            code, _ = nearest(residual, self.codebooks[m])
            residual -= self.codebooks[m][code]
            errors.append(float((residual * residual).sum(1).mean()))
        self.fitted.fill_(True)
        return errors


class Classifiers(nn.Module):
    """The tokenizer's linear classifiers: of f_cls, and of the partial reconstructions by the same
    layer (eq. 3) or, with ``separate``, by one of their own (the official code's ``fc_rq``)."""

    def __init__(self, dim: int, n_classes: int, separate: bool = False):
        super().__init__()
        self.of_features = nn.Linear(dim, n_classes)
        self.own = nn.Linear(dim, n_classes) if separate else None

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.of_features(f)

    def of_reconstructions(self, recon: torch.Tensor) -> torch.Tensor:
        return self.of_features(recon) if self.own is None else self.own(recon)


def tokenizer_loss(f: torch.Tensor, labels: torch.Tensor, quantizer: ResidualQuantizer, classifier: Classifiers,
                   cfg: TokenizerConfig, label_smoothing: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Eq. 3 for a batch (weighted as ``cfg.loss`` says): f (B, d) from the network, codebooks fixed."""
    _, partial = quantizer.quantize(f.detach())  # (M, B, d), no gradient: sg[f^{<=m}]
    ce = lambda logits: F.cross_entropy(logits, labels, label_smoothing=label_smoothing)  # noqa: E731
    loss_cls = ce(classifier(f))
    straight_through = f[None] + (partial - f[None]).detach()  # values of f^{<=m}, gradient to f
    loss_rec = sum(ce(classifier.of_reconstructions(recon)) for recon in straight_through)
    loss_res = ((f[None] - partial) ** 2).sum(-1).mean(-1).sum()
    lambda1, lambda2 = loss_weights(cfg)
    loss = loss_cls + lambda1 * loss_rec + lambda2 * loss_res
    return loss, {"cls": loss_cls.item(), "rec": loss_rec.item() / quantizer.M, "res": loss_res.item() / quantizer.M}


@torch.no_grad()
def all_features(encoder, inputs, batch_size: int = EMBED_BATCH) -> torch.Tensor:
    """f_cls (n, d) for every item of ``inputs`` (a StemInputs), in eval mode."""
    was_training = encoder.training
    encoder.eval()
    out = [encoder.from_stem(inputs(np.arange(s, min(s + batch_size, len(inputs)))))[0].float()
           for s in range(0, len(inputs), batch_size)]
    encoder.train(was_training)
    return torch.cat(out)
