import numpy as np
import pytest
import torch

from methods.irgen.config import TokenizerConfig
from methods.irgen.tokenizer import Classifiers, ResidualQuantizer, kmeans, nearest, tokenizer_loss
from methods.irgen.trainer import train_tokenizer
from methods.runtime.checkpoint import Resumable
from methods.runtime.training import TrainConfig
from tests.irgen.irgen_stubs import Rows, VectorEncoder


def clustered(n=600, d=8, classes=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = 10.0 * torch.eye(classes, d)  # well apart: sqrt(200) between centres, noise 1 per axis
    labels = torch.arange(n) % classes
    return centers[labels] + torch.randn(n, d, generator=g), labels


def test_kmeans_finds_separated_clusters_and_is_seeded():
    x, labels = clustered(classes=4)
    c1, c2 = kmeans(x, 4, 20, seed=3), kmeans(x, 4, 20, seed=3)
    assert torch.equal(c1, c2)
    assign = nearest(x, c1)[0]
    # every cluster is one class
    for j in assign.unique():
        assert len(labels[assign == j].unique()) == 1


def test_quantization_error_falls_with_each_level():
    x, _ = clustered()
    rq = ResidualQuantizer(M=4, L=16, dim=8)
    errors = rq.fit(x, iters=10, seed=0)
    assert all(a > b for a, b in zip(errors, errors[1:]))
    codes, partial = rq.quantize(x)
    level_errors = [((x - p) ** 2).sum(1).mean().item() for p in partial]
    assert level_errors == sorted(level_errors, reverse=True)
    assert level_errors[-1] < 0.5 * ((x - x.mean(0)) ** 2).sum(1).mean().item()
    assert torch.allclose(rq.decode(codes), partial[-1], atol=1e-5)


def test_codes_in_range_and_deterministic_for_a_seed():
    x, _ = clustered()
    a, b, c = (ResidualQuantizer(M=3, L=16, dim=8) for _ in range(3))
    a.fit(x, 10, seed=1), b.fit(x, 10, seed=1), c.fit(x, 10, seed=2)
    codes = a.encode(x)
    assert codes.dtype == torch.int64 and codes.shape == (len(x), 3)
    assert codes.min() >= 0 and codes.max() < 16
    assert torch.equal(codes, b.encode(x))
    assert not torch.equal(a.codebooks, c.codebooks)
    assert torch.equal(a.encode(x, chunk=7), codes)  # chunked encoding: the same codes


def test_fewer_points_than_codebook_entries_still_fits():
    x, _ = clustered(n=10)
    rq = ResidualQuantizer(M=2, L=16, dim=8)
    rq.fit(x, 5, seed=0)
    assert rq.encode(x).max() < 16


def test_loss_sends_reconstruction_gradients_to_f_through_the_straight_through_estimator():
    x, labels = clustered(n=64)
    rq = ResidualQuantizer(M=2, L=8, dim=8)
    rq.fit(x, 5, seed=0)
    clf = Classifiers(8, 6)
    cfg = TokenizerConfig(M=2, L=8, lambda1=1.0, lambda2=0.0)
    f = x.clone().requires_grad_(True)
    # only the reconstruction terms: zero the f_cls term's weight by detaching its input
    loss, parts = tokenizer_loss(f, labels, rq, clf, cfg)
    loss.backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    assert set(parts) == {"cls", "rec", "res"}
    assert rq.codebooks.grad is None  # codebooks are not changed by the network step


def test_official_weighting_scales_both_terms_by_1e7_and_classifies_reconstructions_apart():
    """tokenizer.loss=official: the official train_tokenizer.py's 1e-7 on the reconstructions' CE and
    the residual term, the reconstructions classified by their own layer (fc_rq)."""
    x, labels = clustered(n=64)
    rq = ResidualQuantizer(M=2, L=8, dim=8)
    rq.fit(x, 5, seed=0)
    torch.manual_seed(0)
    clf = Classifiers(8, 6, separate=True)
    official = TokenizerConfig(M=2, L=8, loss="official")
    loss, parts = tokenizer_loss(x, labels, rq, clf, official)
    assert loss.item() == pytest.approx(parts["cls"] + 1e-7 * 2 * (parts["rec"] + parts["res"]), rel=1e-6)
    loss.backward()
    assert clf.own.weight.grad.abs().sum() > 0  # the reconstructions' own classifier learns from them
    shared = Classifiers(8, 6)
    shared.of_features.load_state_dict(clf.of_features.state_dict())
    eq3, _ = tokenizer_loss(x, labels, rq, shared, TokenizerConfig(M=2, L=8))
    assert eq3.item() > loss.item()  # eq. 3 weighs the reconstructions' CE at lambda1 = 1


class Ctx:
    device, seed, progress = "cpu", 0, False


def test_train_tokenizer_gives_class_consistent_first_codes():
    torch.manual_seed(0)
    x, labels = clustered(n=600, d=16, classes=4)
    encoder = VectorEncoder(16, 8)
    rq = ResidualQuantizer(M=2, L=8, dim=8)
    clf = Classifiers(8, 4)
    cfg = TokenizerConfig(M=2, L=8, kmeans_iters=5, train=TrainConfig(epochs=3, batch_size=64, lr=1e-2))
    trained = train_tokenizer(encoder, rq, clf, Rows(x), labels.numpy(), cfg, Ctx())
    assert np.mean(trained.losses[-5:]) < np.mean(trained.losses[:5])
    assert trained.images_per_s > 0
    with torch.no_grad():
        codes = rq.encode(encoder.from_stem(x)[0])
    purity = sum(torch.bincount(labels[codes[:, 0] == j]).max().item() for j in codes[:, 0].unique()) / len(x)
    assert purity > 0.95


def test_tokenizer_training_resumes_from_its_last_round(tmp_path):
    x, labels = clustered(n=256, d=16, classes=4)
    cfg = TokenizerConfig(M=2, L=8, kmeans_iters=3, train=TrainConfig(epochs=3, batch_size=64, lr=1e-2))

    def parts():
        torch.manual_seed(0)
        return VectorEncoder(16, 8), ResidualQuantizer(M=2, L=8, dim=8), Classifiers(8, 4)

    whole = parts()
    train_tokenizer(*whole, Rows(x), labels.numpy(), cfg, Ctx())
    run = Resumable(tmp_path / "tok.pt")
    with pytest.raises(KeyboardInterrupt):  # dies in the third round (a round: a pass of 4 reads + 4 steps)
        train_tokenizer(*parts(), Rows(x, fail_after=21), labels.numpy(), cfg, Ctx(), run)
    assert run.load()["round"] == 2
    resumed = parts()
    train_tokenizer(*resumed, Rows(x), labels.numpy(), cfg, Ctx(), run)
    assert torch.allclose(whole[1].codebooks, resumed[1].codebooks, atol=1e-5)
    for a, b in zip(whole[0].parameters(), resumed[0].parameters()):
        assert torch.allclose(a, b, atol=1e-5)
