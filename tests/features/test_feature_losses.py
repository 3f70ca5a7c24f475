"""Each loss and pooling operator against a plain-loop transcription of its paper formula."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from methods.features import losses as L

torch.manual_seed(0)


def vec_norm(v):
    return math.sqrt(sum(a * a for a in v))


def dist(u, v):
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(u, v)))


@pytest.fixture
def fmap():
    return torch.rand(2, 3, 4, 5, dtype=torch.float64) + 0.01  # positive, as after a ReLU


@pytest.fixture
def batch():
    """Unit-norm embeddings of three classes (positives and negatives for every anchor)."""
    z = F.normalize(torch.randn(7, 4, dtype=torch.float64), dim=1)
    y = torch.tensor([0, 1, 0, 2, 1, 2, 0])
    return z, y


# ---------------------------------------------------------------- CGD


def test_spoc_mac_gem_are_the_pooled_means_max_and_power_mean(fmap):
    n, c, h, w = fmap.shape
    for i in range(n):
        for k in range(c):
            values = [float(fmap[i, k, a, b]) for a in range(h) for b in range(w)]
            assert float(L.spoc(fmap)[i, k]) == pytest.approx(sum(values) / len(values))
            assert float(L.mac(fmap)[i, k]) == pytest.approx(max(values))
            gem3 = (sum(v ** 3 for v in values) / len(values)) ** (1 / 3)
            assert float(L.gem(fmap, p=3.0)[i, k]) == pytest.approx(gem3)


def test_gem_between_spoc_and_mac(fmap):
    assert torch.allclose(L.gem(fmap, p=1.0), L.spoc(fmap))
    assert (L.gem(fmap, p=3.0) <= L.mac(fmap) + 1e-12).all()
    assert (L.gem(fmap, p=3.0) >= L.spoc(fmap) - 1e-12).all()


def test_combined_descriptor_normalises_each_part_then_the_concatenation():
    parts = [torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 2, dtype=torch.float64) * 5]
    got = L.combine_descriptors(parts)
    for i in range(2):
        concat = []
        for p in parts:
            v = [float(a) for a in p[i]]
            concat += [a / vec_norm(v) for a in v]
        expected = [a / vec_norm(concat) for a in concat]
        assert [float(a) for a in got[i]] == pytest.approx(expected)
        # every part weighs the same: each has norm 1 / sqrt(parts) in the result
        assert float(got[i, :3].norm()) == pytest.approx(1 / math.sqrt(2))


@pytest.mark.parametrize("temperature,smoothing", [(1.0, 0.0), (0.5, 0.1), (0.2, 0.3)])
def test_label_smoothed_temperature_scaled_cross_entropy(temperature, smoothing):
    logits = torch.randn(5, 4, dtype=torch.float64)
    labels = torch.tensor([0, 3, 1, 1, 2])
    n_classes = logits.shape[1]
    total = 0.0
    for i in range(len(labels)):
        scaled = [float(v) / temperature for v in logits[i]]
        log_z = math.log(sum(math.exp(v) for v in scaled))
        for k in range(n_classes):
            target = (1 - smoothing) * (k == int(labels[i])) + smoothing / n_classes
            total -= target * (scaled[k] - log_z)
    expected = total / len(labels)
    assert float(L.smoothed_tempered_ce(logits, labels, temperature, smoothing)) == pytest.approx(expected)


def batch_hard_loop(z, y, margin):
    """Hermans et al.: mean over anchors (with a positive and a negative) of
    [margin + max_p d(a, p) - min_n d(a, n)]_+."""
    rows = [[float(a) for a in r] for r in z]
    labels = [int(v) for v in y]
    terms = []
    for a in range(len(rows)):
        pos = [dist(rows[a], rows[p]) for p in range(len(rows)) if p != a and labels[p] == labels[a]]
        neg = [dist(rows[a], rows[n]) for n in range(len(rows)) if labels[n] != labels[a]]
        if pos and neg:
            terms.append(max(0.0, margin + max(pos) - min(neg)))
    return sum(terms) / len(terms) if terms else 0.0


@pytest.mark.parametrize("margin", [0.1, 1.0])
def test_batch_hard_triplet(batch, margin):
    z, y = batch
    assert float(L.batch_hard_triplet(z, y, margin)) == pytest.approx(batch_hard_loop(z, y, margin), rel=1e-6)


def test_batch_hard_triplet_leaves_out_anchors_without_a_positive(batch):
    z, y = batch
    y = y.clone()
    y[3] = 9  # anchors 3 and 5 are alone in their classes now; they still serve as negatives
    assert float(L.batch_hard_triplet(z, y, 0.5)) == pytest.approx(batch_hard_loop(z, y, 0.5), rel=1e-6)
    assert float(L.batch_hard_triplet(z[:1], y[:1], 0.5)) == 0.0


# ---------------------------------------------------------------- IRT


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_contrastive_loss(batch, beta):
    z, y = batch
    rows = [[float(a) for a in r] for r in z]
    labels = [int(v) for v in y]
    pos_terms, neg_terms = [], []
    for i in range(len(rows)):
        for j in range(len(rows)):
            if i == j:
                continue
            s = sum(a * b for a, b in zip(rows[i], rows[j]))
            if labels[i] == labels[j]:
                pos_terms.append(max(0.0, 1.0 - s))  # pulled to similarity 1 (distance 0)
            else:
                neg_terms.append(max(0.0, s - beta))  # pushed below similarity beta

    def mean_nonzero(terms):
        nonzero = [t for t in terms if t > 0]
        return sum(nonzero) / len(nonzero) if nonzero else 0.0

    expected = mean_nonzero(pos_terms) + mean_nonzero(neg_terms)
    assert float(L.contrastive(z, y, beta)) == pytest.approx(expected)


def test_contrastive_loss_matches_pytorch_metric_learning(batch):
    pml = pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.losses import ContrastiveLoss

    z, y = batch
    ref = ContrastiveLoss(pos_margin=1.0, neg_margin=0.5, distance=CosineSimilarity())(z.float(), y)
    assert float(L.contrastive(z.float(), y, 0.5)) == pytest.approx(float(ref), rel=1e-5), pml.__version__


def test_koleo_entropy_regulariser(batch):
    z, _ = batch
    rows = [[float(a) for a in r] for r in z]
    logs = [math.log(min(dist(rows[i], rows[j]) for j in range(len(rows)) if j != i)) for i in range(len(rows))]
    expected = -sum(logs) / len(logs)
    assert float(L.koleo(z)) == pytest.approx(expected, rel=1e-6)


def test_losses_have_finite_gradients_with_duplicate_points():
    z = F.normalize(torch.randn(6, 3), dim=1)
    z = torch.cat([z, z[:2]]).requires_grad_(True)  # two exact duplicates: zero distances
    y = torch.tensor([0, 0, 1, 1, 2, 2, 0, 0])
    loss = L.batch_hard_triplet(z, y, 0.1) + L.contrastive(z, y, 0.5) + 0.7 * L.koleo(z)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
