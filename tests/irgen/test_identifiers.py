import numpy as np
import pytest
import torch

from datasets.base import ArraySource, FileSource, Split
from methods.base import HarnessError
from methods.irgen.config import IdentifierConfig
from methods.runtime.fresh import item_keys
from methods.irgen.identifiers import (KINDS, HierarchicalKMeans, IdentifierKind, IdentifierSpec, Items,
                                       RandomIdentifiers, RQVAEIdentifiers, SemanticIdentifiers, identifier_labels,
                                       kind_class, make_identifiers, parse_kind)
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


def test_every_kind_declares_its_name_and_label_on_its_class():
    assert all(issubclass(kind, IdentifierKind) and KINDS[kind.name] is kind for kind in KINDS.values())
    assert list(KINDS) == ["random", "hkm", "rqvae", "rq"]  # the paper's Table 3 order, ours last
    labels = identifier_labels()
    assert list(labels) == ["random", "hkm100", "hkm200", "hkm500", "rqvae", "rq"]
    assert labels["hkm200"] == "HKM_200" and labels["rq"] == SemanticIdentifiers.label
    assert all(parse_kind(spelling)[0] in KINDS for spelling in labels)


def test_an_unknown_kind_is_one_line_listing_the_kinds():
    with pytest.raises(HarnessError) as error:
        kind_class("hkm-ish")
    message = str(error.value)
    assert "\n" not in message and "hkm-ish" in message
    assert all(name in message for name in KINDS)
    with pytest.raises(HarnessError, match="hkm-ish"):
        make_identifiers(IdentifierSpec("hkm-ish", 4, 16))


def test_item_keys_name_images_by_path_or_pixels():
    pixels = np.zeros((3, 4, 4), np.uint8)
    pixels[1, 0, 0] = 1
    keys = item_keys(Split("s", ArraySource(pixels), np.zeros(3)))
    assert keys[0] == keys[2] != keys[1]
    assert item_keys(Split("s", FileSource("/r", ["a.jpg", "b.jpg"]), np.zeros(2))) == ["a.jpg", "b.jpg"]


def test_every_kind_follows_one_protocol_fit_then_assign():
    x = features(n=120, classes=4)
    maps = torch.randn(120, 6, 4, 4, generator=torch.Generator().manual_seed(0))
    items = Items(len(x), lambda: x, lambda: [f"img{i}" for i in range(120)], lambda idx: maps[torch.as_tensor(idx)])
    rq = ResidualQuantizer(M=3, L=8, dim=8)
    rq.fit(x, 3, seed=0)
    cfg = IdentifierConfig(rqvae_grid=2, rqvae_depth=1, rqvae_codebook=8, rqvae_dim=8, rqvae_epochs=1)
    for kind in KINDS:
        spec = IdentifierSpec(kind, seq_len=3 if kind != "rqvae" else 4, vocab=8, clusters=4, cfg=cfg, quantizer=rq)
        ids = make_identifiers(spec).fit(items, Ctx())
        valid(ids.assign(items), 120, spec.seq_len, ids.vocab_size)


def test_semantic_identifiers_are_the_quantizer_codes():
    x = features()
    rq = ResidualQuantizer(M=4, L=16, dim=8)
    rq.fit(x, 5, seed=0)
    ids = SemanticIdentifiers(IdentifierSpec("rq", 4, 16, quantizer=rq))
    codes = ids.assign(Items.of_features(x))
    valid(codes, len(x), 4, ids.vocab_size)
    assert np.array_equal(codes, rq.encode(x).numpy())


def random_codes(keys, seed=0):
    return RandomIdentifiers(IdentifierSpec("random", 4, 256, seed)).assign(Items.of_keys(keys))


def test_random_identifiers_valid_deterministic_and_per_image():
    keys = [f"img{i}" for i in range(500)]
    codes = random_codes(keys)
    valid(codes, 500, 4, 256)
    assert np.array_equal(codes, random_codes(keys))
    assert np.array_equal(codes[7], random_codes([keys[7]])[0])  # an image keeps its code
    assert not np.array_equal(codes, random_codes(keys, seed=1))
    assert len({tuple(c) for c in codes}) > 490  # spread over the range
    assert len(np.unique(codes)) > 200


def hkm(x, k, seq_len, leaf_size):
    spec = IdentifierSpec("hkm", seq_len, 256, 0, clusters=k, cfg=IdentifierConfig(hkm_leaf_size=leaf_size))
    items = Items.of_features(x)
    return HierarchicalKMeans(spec).fit(items, Ctx()).assign(items)


def test_hierarchical_kmeans_codes_are_valid_deterministic_and_semantic():
    x = features(n=300, classes=5)
    codes = hkm(x, 5, 3, 1)
    valid(codes, len(x), 3, 5)
    assert np.array_equal(codes, hkm(x, 5, 3, 1))
    labels = np.arange(300) % 5
    for j in range(5):  # the first level is the five clusters
        assert len(np.unique(labels[codes[:, 0] == j])) == 1


def test_hierarchical_kmeans_stops_at_small_groups_and_pads_with_zero():
    codes = hkm(features(n=40, classes=4), 4, 4, 10)
    valid(codes, 40, 4, 4)
    assert (codes[:, 1:] == 0).all()  # groups of 10 are leaves after one level


def test_rqvae_identifiers_valid_and_deterministic():
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(120, 6, 4, 4, generator=g)
    cfg = IdentifierConfig(rqvae_grid=2, rqvae_depth=2, rqvae_codebook=16, rqvae_dim=8, rqvae_epochs=2)
    items = Items(len(maps), None, None, lambda idx: maps[torch.as_tensor(idx)])

    def codes():
        ids = RQVAEIdentifiers(IdentifierSpec("rqvae", None, 256, 0, cfg=cfg)).fit(items, Ctx())
        assert ids.seq_len == 8
        return ids.assign(items)

    first = codes()
    valid(first, len(maps), 8, 16)
    assert np.array_equal(first, codes())


def test_rqvae_length_must_fill_the_grid():
    with pytest.raises(HarnessError, match="not a multiple"):
        RQVAEIdentifiers(IdentifierSpec("rqvae", 6, 256, cfg=IdentifierConfig(rqvae_grid=2)))


def test_rqvae_training_steps_have_the_presets_floor():
    spec = IdentifierSpec("rqvae", 16, 256, cfg=IdentifierConfig(rqvae_epochs=3.0), min_steps=120)
    assert RQVAEIdentifiers(spec).steps(1000) == 120  # 3 epochs of 1,000 items: 11 steps
    assert RQVAEIdentifiers(spec).steps(20000) == 234
