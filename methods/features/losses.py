"""The losses and pooling operators of the paper's trained feature models.

CGD (Jun et al. 2019, "Combination of Multiple Global Descriptors for Image Retrieval"):
SPoC / MAC / GeM pooling, the combined descriptor, the auxiliary classification loss
with temperature scaling and label smoothing, and the batch-hard triplet loss.
IRT (El-Nouby et al. 2021, "Training Vision Transformers for Image Retrieval"):
the contrastive loss with margin and the differential entropy (KoLeo) regulariser.
Feature maps are (n, C, H, W); embeddings are (n, d).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def spoc(x: torch.Tensor) -> torch.Tensor:
    """Sum (average) pooling of convolutions: mean over positions, (n, C)."""
    return x.mean((2, 3))


def mac(x: torch.Tensor) -> torch.Tensor:
    """Maximum activation of convolutions: max over positions, (n, C)."""
    return x.amax((2, 3))


def gem(x: torch.Tensor, p: float = 3.0, eps: float = 1e-6) -> torch.Tensor:
    """Generalised mean pooling (mean of x^p)^(1/p); p=1 is SPoC, p -> inf is MAC."""
    return x.clamp(min=eps).pow(p).mean((2, 3)).pow(1.0 / p)


POOLINGS = {"S": spoc, "M": mac, "G": gem}


def combine_descriptors(projected: list[torch.Tensor]) -> torch.Tensor:
    """CGD's combined descriptor: each projected descriptor L2-normalised, concatenated, normalised again."""
    return F.normalize(torch.cat([F.normalize(p, dim=1) for p in projected], dim=1), dim=1)


def smoothed_tempered_ce(logits: torch.Tensor, labels: torch.Tensor, temperature: float,
                         smoothing: float) -> torch.Tensor:
    """Cross-entropy of softmax(logits / temperature) against (1 - eps) one-hot + eps / classes."""
    return F.cross_entropy(logits / temperature, labels, label_smoothing=smoothing)


def pairwise_distances(z: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (n, n); clamped before the root so the diagonal has a finite gradient."""
    sq = (z * z).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(1e-12).sqrt()


def _pair_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive pairs i != j of one class, negative pairs of different classes), both (n, n) bool."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def batch_hard_triplet(z: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over anchors of [margin + max_p d(a, p) - min_n d(a, n)]_+ (Hermans et al. 2017).

    Anchors with no positive or no negative in the batch are left out.
    """
    d = pairwise_distances(z)
    pos, neg = _pair_masks(labels)
    hardest_pos = d.masked_fill(~pos, float("-inf")).amax(1)
    hardest_neg = d.masked_fill(~neg, float("inf")).amin(1)
    valid = pos.any(1) & neg.any(1)
    if not valid.any():
        return z.sum() * 0.0
    return F.relu(margin + hardest_pos - hardest_neg)[valid].mean()


def _mean_nonzero(terms: torch.Tensor) -> torch.Tensor:
    nonzero = terms > 0
    return terms[nonzero].mean() if nonzero.any() else terms.sum() * 0.0


def contrastive(z: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """IRT's contrastive loss on L2-normalised ``z``, s_ij = z_i . z_j:
    [1 - s_ij]_+ over positive pairs plus [s_ij - margin]_+ over negative pairs.

    Each of the two sums is averaged over its non-zero terms, as the public
    implementation does (pytorch-metric-learning's ContrastiveLoss, pos_margin=1,
    neg_margin=beta, cosine similarity), so that the regulariser's weight keeps its meaning.
    """
    s = z @ z.T
    pos, neg = _pair_masks(labels)
    return _mean_nonzero(F.relu(1.0 - s)[pos]) + _mean_nonzero(F.relu(s - margin)[neg])


def koleo(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Kozachenko-Leonenko differential entropy regulariser: -mean_i log(min_{j != i} ||z_i - z_j||)."""
    d = pairwise_distances(z)
    d = d.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("inf"))
    return -torch.log(d.amin(1) + eps).mean()
