import numpy as np
import pytest
import torch

from datasets.base import ArraySource, FileSource, Split
from methods.base import HarnessError
from methods.irgen.config import IdentifierConfig
from methods.irgen.identifiers import (HierarchicalKMeans, RandomIdentifiers, RQVAEIdentifiers,
                                       SemanticIdentifiers, item_keys, parse_kind)
from methods.irgen.tokenizer import ResidualQuantizer


class Ctx:
    device, seed, progress = "cpu", 0, False


def features(n=300, d=8, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = 10.0 * torch.eye(classes, d)
    return centers[torch.arange(n) % classes] + torch.randn(n, d, generator=g)


def valid(codes, n, T, vocab):
    assert isinstance(codes, np.ndarray) and codes.dtype == np.int64
    assert codes.shape == (n, T)
    assert codes.min() >= 0 and codes.max() < vocab


def test_parse_kind():
    assert parse_kind("rq") == ("rq", None)
    assert parse_kind("hkm200") == ("hkm", 200)
    with pytest.raises(HarnessError, match="choose one of"):
        parse_kind("hkm")


def test_item_keys_name_images_by_path_or_pixels():
    pixels = np.zeros((3, 4, 4), np.uint8)
    pixels[1, 0, 0] = 1
    keys = item_keys(Split("s", ArraySource(pixels), np.zeros(3)))
    assert keys[0] == keys[2] != keys[1]
    assert item_keys(Split("s", FileSource("/r", ["a.jpg", "b.jpg"]), np.zeros(2))) == ["a.jpg", "b.jpg"]


def test_semantic_identifiers_are_the_quantizer_codes():
    x = features()
    rq = ResidualQuantizer(M=4, L=16, dim=8)
    rq.fit(x, 5, seed=0)
    ids = SemanticIdentifiers(rq)
    codes = ids.assign(x)
    valid(codes, len(x), 4, ids.vocab_size)
    assert np.array_equal(codes, ids.assign(x))


def test_random_identifiers_valid_deterministic_and_per_image():
    keys = [f"img{i}" for i in range(500)]
    ids = RandomIdentifiers(seq_len=4, vocab_size=256, seed=0)
    codes = ids.assign(keys)
    valid(codes, 500, 4, 256)
    assert np.array_equal(codes, ids.assign(keys))
    assert np.array_equal(codes[7], ids.assign([keys[7]])[0])  # an image keeps its code
    assert not np.array_equal(codes, RandomIdentifiers(4, 256, seed=1).assign(keys))
    assert len({tuple(c) for c in codes}) > 490  # spread over the range
    assert len(np.unique(codes)) > 200


def test_hierarchical_kmeans_codes_are_valid_deterministic_and_semantic():
    x = features(n=300, classes=5)
    hkm = HierarchicalKMeans(k=5, seq_len=3, leaf_size=1, seed=0).fit(x)
    codes = hkm.assign(x)
    valid(codes, len(x), 3, 5)
    again = HierarchicalKMeans(k=5, seq_len=3, leaf_size=1, seed=0).fit(x).assign(x)
    assert np.array_equal(codes, again)
    labels = np.arange(300) % 5
    for j in range(5):  # the first level is the five clusters
        assert len(np.unique(labels[codes[:, 0] == j])) == 1


def test_hierarchical_kmeans_stops_at_small_groups_and_pads_with_zero():
    x = features(n=40, classes=4)
    hkm = HierarchicalKMeans(k=4, seq_len=4, leaf_size=10, seed=0).fit(x)
    codes = hkm.assign(x)
    valid(codes, 40, 4, 4)
    assert (codes[:, 1:] == 0).all()  # groups of 10 are leaves after one level


def test_rqvae_identifiers_valid_and_deterministic():
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(120, 6, 4, 4, generator=g)
    cfg = IdentifierConfig(rqvae_grid=2, rqvae_depth=2, rqvae_codebook=16, rqvae_dim=8, rqvae_epochs=2)
    read = lambda idx: maps[torch.as_tensor(idx)]  # noqa: E731
    ids = RQVAEIdentifiers(cfg, seq_len=None, seed=0).fit(read, len(maps), Ctx())
    assert ids.seq_len == 8
    codes = ids.assign(read, len(maps))
    valid(codes, len(maps), 8, 16)
    again = RQVAEIdentifiers(cfg, seq_len=None, seed=0).fit(read, len(maps), Ctx()).assign(read, len(maps))
    assert np.array_equal(codes, again)


def test_rqvae_length_must_fill_the_grid():
    with pytest.raises(HarnessError, match="not a multiple"):
        RQVAEIdentifiers(IdentifierConfig(rqvae_grid=2), seq_len=6)
