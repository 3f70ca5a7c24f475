import numpy as np
import pytest
import torch

from bench.evaluate import evaluate
from datasets import load_dataset
from methods.base import HarnessError, RunContext
from methods.irgen.config import make_config
from methods.irgen.decoder import Decoder, DecoderConfig
from methods.irgen.method import IRGen
from methods.irgen.trainer import SameClassPairs, train_encoder_decoder
from methods.registry import MethodOptions, make_method
from methods.runtime.checkpoint import Resumable
from methods.runtime.fresh import held_out_items, item_keys
from methods.runtime.training import TrainConfig
from tests.irgen.irgen_stubs import Rows, VectorEncoder

TINY = {"encoder.image_size": 32, "encoder.frozen_blocks": 13, "encoder.dim": 32, "encoder.memory_dim": 32,
        "tokenizer.L": 16, "tokenizer.train.epochs": 6, "tokenizer.train.batch_size": 64,
        "decoder.width": 64, "decoder.depth": 1, "decoder.heads": 2,
        "train.epochs": 10, "train.batch_size": 64, "train.lr": 2e-3, "min_steps": 0}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def fitted(digits, tmp_path_factory):
    ctx = RunContext(cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    method = IRGen(make_config(TINY), identifier="rq", seq_len=3, beams=(1, 10))
    method.fit(digits, ctx)
    method.index(digits.database, ctx)
    results = {b: method.search(digits.query, 20, {"beam": b}, ctx) for b in (1, 10)}
    return method, results, ctx


def test_config_presets_and_overrides():
    small = make_config({})
    assert small.preset == "small" and small.encoder.kind == "effnet"
    assert small.train.backbone_lr_scale == 0.01  # the encoder learns at 1% of the decoder's rate
    paper = make_config({"preset": "paper", "decoder.depth": 24})
    assert paper.encoder.kind == "clip-vit-b16" and paper.encoder.image_size == 224
    assert (paper.decoder.width, paper.decoder.depth, paper.tokenizer.M, paper.tokenizer.L) == (768, 24, 4, 256)
    assert paper.train.lr == 4e-5 and paper.tokenizer.train.lr == 5e-4
    with pytest.raises(HarnessError, match="preset"):
        make_config({"preset": "huge"})
    with pytest.raises(HarnessError, match="unknown key"):
        make_config({"decoder.wdith": 3})


def test_variant_settings_and_registry():
    method = make_method("irgen", MethodOptions(identifier="hkm200", seq_len=2, fresh=0.5, beams=(1, 30)))
    assert method.variant == "preset=small,identifier=hkm200,T=2,fresh=0.5"
    assert method.settings(n_database=100) == [{"beam": 1}, {"beam": 30}]
    assert make_method("irgen", MethodOptions()).variant == "preset=small,identifier=rq,T=4"
    rqvae = make_method("irgen", MethodOptions(identifier="rqvae"))
    assert rqvae.variant == "preset=small,identifier=rqvae,T=16,grid=2"
    official = MethodOptions(overrides={"preset": "paper", "tokenizer.loss": "official"})
    assert make_method("irgen", official).variant == "preset=paper,identifier=rq,T=4,tokenizer_loss=official"
    encoder = make_method("irgen-enc", MethodOptions())
    assert encoder.features == "irgen-enc" and encoder.variant == "preset=small"


@pytest.mark.parametrize("identifier, length", [("hkm100", 4), ("hkm200", 3), ("hkm500", 2), ("hkm50", 4),
                                                ("random", 4), ("rq", 4), ("rqvae", 16)])
def test_default_lengths_are_the_papers(identifier, length):
    """Table 3: HKM_100 / HKM_200 / HKM_500 at T = 4 / 3 / 2 (100^4, 200^3, 500^2 codes); --seq-len wins."""
    assert make_method("irgen", MethodOptions(identifier=identifier)).seq_len == length
    assert make_method("irgen", MethodOptions(identifier="hkm500", seq_len=3)).seq_len == 3


def test_step_floor_trains_every_variant_the_same_number_of_steps():
    from methods.irgen.trainer import stage_steps, tokenizer_rounds, tokenizer_steps

    small, paper = make_config({}), make_config({"preset": "paper"})
    assert small.min_steps == 120 and paper.min_steps == 0
    # --limit 2000 and its --fresh 0.5 half: 46 and 23 steps by epochs alone, 120 with the floor
    assert [stage_steps(small.train, n) for n in (2000, 1000)] == [46, 23]
    assert [stage_steps(small.train, n, small.min_steps) for n in (2000, 1000, 10000)] == [120, 120, 234]
    assert [tokenizer_steps(small.tokenizer.train, n, small.min_steps) for n in (2000, 1000)] == [120, 120]
    assert tokenizer_rounds(small.tokenizer.train, 1000, small.min_steps) == (18, 7)  # a codebook refit per round
    assert tokenizer_steps(paper.tokenizer.train, 1000, paper.min_steps) == 7 * 200
    with pytest.raises(HarnessError, match="min_steps"):
        make_config({"min_steps": -1})
    with pytest.raises(HarnessError, match="tokenizer.loss=eq4: choose one of eq3, official"):
        make_config({"tokenizer.loss": "eq4"})


def test_same_class_pairs_stay_in_class():
    labels = np.array([0, 1, 0, 2, 1, 0])
    pairs = SameClassPairs(labels)
    partner = pairs.sample(np.arange(6).repeat(50), np.random.default_rng(0))
    assert (labels[partner] == labels.repeat(50)).all()
    assert set(partner[np.arange(6).repeat(50) == 0]) == {0, 2, 5}


@pytest.mark.slow
def test_end_to_end_ids_valid_shared_and_above_chance(fitted, digits):
    method, results, _ = fitted
    n_db = len(digits.database)
    for beam, result in results.items():
        ids = result.ids
        assert ids.shape == (len(digits.query), 20) and ids.dtype == np.int64
        assert ids.min() >= -1 and ids.max() < n_db
        for row in ids[:50]:
            got = row[row >= 0]
            assert len(set(got.tolist())) == len(got)  # no duplicates
            assert (row[len(got):] == -1).all()  # padding only at the end
        assert {"encoder", "decoder", "masks", "lookup"} <= set(result.timings)
    # every image sharing the first beam's identifier is returned, and only those with beam 1
    codes = method.db_codes
    first = results[1].ids[:, 0]
    same = [np.flatnonzero((codes == codes[i]).all(1)) for i in first]
    for row, members in zip(results[1].ids, same):
        expected = members[:20]
        assert np.array_equal(np.sort(row[: len(expected)]), np.sort(expected))
        assert (row[len(expected):] == -1).all()
    assert max(len(m) for m in same) > 1  # identifiers are shared
    rows = {(m, k): v for m, k, v in evaluate(results[10].ids, digits.database.labels, digits.query.labels, [1, 10])}
    assert rows[("precision", 1)] > 0.5  # chance: 0.1
    assert rows[("recall", 10)] >= rows[("precision", 1)]


@pytest.mark.slow
def test_search_batch_times_every_stage_and_returns_what_search_does(fitted, digits):
    method, results, ctx = fitted
    watch = ctx.stopwatch()
    rows = np.array([3, 0, 7])
    ids = method.search_batch(digits.query, rows, 20, {"beam": 10}, ctx, watch)
    assert np.array_equal(ids, results[10].ids[rows])
    assert list(watch.seconds) == ["preprocess", "encoder", "decoder", "masks", "lookup"]
    stats = method.stats()
    assert stats["db_items"] == len(digits.database) and 0 < stats["n_identifiers"] <= stats["db_items"]
    # TINY's tokenizer trains below the small preset's floor (min_steps=0): the steps say so, for the report
    assert stats["train_steps_tokenizer"] == 6 * (len(digits.train) // 64) < stats["preset_min_steps"] == 120
    assert stats["train_steps_decoder"] == int(10 * len(digits.train) / 64)


def test_untrained_irgen_indexes_a_synthetic_database_and_searches_it(digits, tmp_path):
    ctx = RunContext(cache_dir=tmp_path, progress=False)
    method = make_method("irgen", MethodOptions(untrained=True, overrides=TINY, seq_len=3))
    assert method.pretrained_files() == []
    method.fit(digits, ctx)
    method.index_synthetic(5000, ctx)
    assert method.stats()["db_items"] == 5000
    ids = method.search_batch(digits.query, np.arange(4), 7, {"beam": 3}, ctx, ctx.stopwatch())
    found = ids[ids >= 0]  # beam 3: every item of the 3 best identifiers, then -1
    assert ids.shape == (4, 7) and 3 <= (ids[0] >= 0).sum() and found.max() < 5000 and (ids[:, :3] >= 0).all()


@pytest.mark.slow
def test_second_fit_reuses_the_cached_models(fitted, digits):
    method, results, ctx = fitted
    again = IRGen(make_config(TINY), identifier="rq", seq_len=3, beams=(1, 10))
    again.fit(digits, ctx)
    again.index(digits.database, ctx)
    assert again.config["model_key"] == method.config["model_key"]
    assert np.array_equal(again.search(digits.query, 20, {"beam": 10}, ctx).ids, results[10].ids)


def test_held_out_items_remove_database_images_from_training(digits):
    held, keep = held_out_items(digits.database, digits.train, 0.5, seed=0)
    assert len(held) == round(0.5 * len(digits.database))
    held_keys = {item_keys(digits.database)[i] for i in held}
    train_keys = item_keys(digits.train)
    assert not held_keys & {train_keys[i] for i in keep}
    assert len(keep) == len(digits.train) - len(held)  # train = database here
    with pytest.raises(HarnessError, match="fresh"):
        held_out_items(digits.database, digits.train, 1.0, seed=0)


@pytest.mark.slow
def test_fresh_images_are_indexed_without_training_on_them(digits, tmp_path):
    ctx = RunContext(cache_dir=tmp_path, progress=False)
    cfg = make_config({**TINY, "train.epochs": 2, "tokenizer.train.epochs": 1})
    method = IRGen(cfg, identifier="random", seq_len=2, fresh=0.5, beams=(10,))
    method.fit(digits, ctx)
    assert method.config["n_train"] == len(digits.train) - method.config["n_held_out"]
    method.index(digits.database, ctx)
    assert method.tree.n_items == len(digits.database)
    ids = method.search(digits.query, 30, {"beam": 10}, ctx).ids
    assert ids.max() < len(digits.database)


@pytest.mark.slow
def test_fresh_holds_database_images_out_of_irgen_encs_training(digits, tmp_path):
    """--fresh on irgen-enc: its tokenizer trains without the held-out share, the whole database is indexed."""
    ctx = RunContext(cache_dir=tmp_path, progress=False)
    overrides = {**TINY, "tokenizer.train.epochs": 1}
    method = make_method("irgen-enc", MethodOptions(fresh=0.5, overrides=overrides))
    assert method.variant == "preset=small,fresh=0.5"
    trained_on = []
    fit = method.model.fit
    method.model.fit = lambda train, ctx: (trained_on.append(train), fit(train, ctx))
    method.fit(digits, ctx)
    held, keep = held_out_items(digits.database, digits.train, 0.5, ctx.seed)
    assert method.config["n_held_out"] == len(held) > 0 and len(trained_on[0]) == len(keep)
    held_keys = {item_keys(digits.database)[i] for i in held}
    assert not held_keys & set(item_keys(trained_on[0]))  # no held-out image was trained on
    whole = make_method("irgen-enc", MethodOptions(overrides=overrides))
    whole.fit(digits, ctx)
    assert whole.model.tokenizer.key != method.model.tokenizer.key  # another model, trained on everything
    method.index(digits.database, ctx)
    assert method.stats()["db_items"] == len(digits.database)


@pytest.mark.slow
@pytest.mark.parametrize("identifier, seq_len", [("hkm100", 3), ("rqvae", None)])
def test_ablation_identifiers_run_end_to_end(digits, tmp_path, identifier, seq_len):
    ctx = RunContext(cache_dir=tmp_path, progress=False)
    cfg = make_config({**TINY, "train.epochs": 1, "tokenizer.train.epochs": 1, "identifiers.rqvae_epochs": 1})
    method = IRGen(cfg, identifier=identifier, seq_len=seq_len, beams=(5,))
    method.fit(digits, ctx)
    method.index(digits.database, ctx)
    assert method.db_codes.shape == (len(digits.database), method.seq_len)
    assert method.db_codes.max() < method.identifiers.vocab_size
    ids = method.search(digits.query, 10, {"beam": 5}, ctx).ids
    assert ids.shape == (len(digits.query), 10) and ids.min() >= -1 and ids.max() < len(digits.database)
    assert ("train_steps_rqvae" in method.stats()) == (identifier == "rqvae")


@pytest.mark.slow
def test_small_vit_from_pixels_with_flips_and_pretrained_init(digits, tmp_path):
    ctx = RunContext(cache_dir=tmp_path, progress=False)
    cfg = make_config({"encoder.kind": "vit", "encoder.image_size": 16, "encoder.frozen_blocks": 0,
                       "encoder.vit_width": 32, "encoder.vit_layers": 1, "encoder.vit_heads": 2,
                       "encoder.dim": 16, "encoder.memory_dim": 16, "encoder_init": "pretrained",
                       "tokenizer.L": 8, "tokenizer.train.epochs": 1, "tokenizer.train.flip": True,
                       "decoder.width": 32, "decoder.depth": 1, "decoder.heads": 2,
                       "train.epochs": 1, "train.flip": True, "min_steps": 0})
    method = IRGen(cfg, identifier="rq", seq_len=2, beams=(4,))
    method.fit(digits, ctx)
    assert not list((tmp_path / "irgen").glob("stem-*.pt"))  # nothing frozen: nothing cached
    method.index(digits.database, ctx)
    ids = method.search(digits.query, 5, {"beam": 4}, ctx).ids
    assert ids.shape == (len(digits.query), 5) and ids.max() < len(digits.database)


def test_training_resumes_from_its_checkpoint_to_the_same_model(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, labels = torch.randn(64, 6, generator=g), np.arange(64) % 4
    codes = np.stack([labels, labels], axis=1)
    cfg = TrainConfig(epochs=2, batch_size=8)
    ctx = RunContext(cache_dir=tmp_path, progress=False, checkpoint_every=5)

    def model():
        torch.manual_seed(0)
        return VectorEncoder(6, 8), Decoder(DecoderConfig(vocab_size=4, seq_len=2, width=16, depth=1, heads=2,
                                                      memory_dim=16))

    enc, dec = model()
    whole = train_encoder_decoder(enc, dec, Rows(x), labels, codes, cfg, ctx).losses
    run = Resumable(tmp_path / "m.pt")
    enc2, dec2 = model()
    with pytest.raises(KeyboardInterrupt):
        train_encoder_decoder(enc2, dec2, Rows(x, fail_after=11), labels, codes, cfg, ctx, run)
    assert run.load()["step"] == 10
    enc3, dec3 = model()
    resumed = train_encoder_decoder(enc3, dec3, Rows(x), labels, codes, cfg, ctx, run)
    assert resumed.images_per_s > 0  # the 6 steps this run took
    resumed = resumed.losses
    assert len(resumed) == len(whole) == 16
    assert np.allclose(resumed, whole, atol=1e-5)
    for a, b in zip(dec.parameters(), dec3.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
