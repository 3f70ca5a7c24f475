"""Features are computed once: a second run reuses them (no encode call), a changed
dataset or config computes them again; trained weights are reused the same way."""
from __future__ import annotations

import pytest

from bench.run import main
from methods.features import res101
from methods.features.base import FeatureModel
from methods.features.cache import file_label

pytestmark = pytest.mark.usefixtures("fashion_mnist")


def run(tmp_path, *extra):
    argv = ["--method", "res101", "--backend", "linear", "--dataset", "fashion-mnist", "--limit", "200",
            "--k", "1,10", "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache"),
            "--no-progress", "--force", *extra]
    assert main(argv) == 0


@pytest.fixture
def embed_calls(monkeypatch):
    """Images of each split embedded (the feature extraction the cache holds)."""
    calls = []
    original = FeatureModel.embed

    def counting(self, split, ctx, batch_size=256):
        calls.append(len(split))
        return original(self, split, ctx, batch_size)

    monkeypatch.setattr(FeatureModel, "embed", counting)
    return calls


@pytest.fixture
def encode_calls(monkeypatch):
    calls = []
    original = res101.Res101.encode

    def counting(self, x):
        calls.append(len(x))
        return original(self, x)

    monkeypatch.setattr(res101.Res101, "encode", counting)
    return calls


@pytest.mark.e2e
def test_second_run_reuses_features_and_changed_inputs_do_not(tmp_path, embed_calls):
    run(tmp_path)
    first = sum(embed_calls)
    assert first == 400  # database + queries
    run(tmp_path)
    assert sum(embed_calls) == first  # reused: not one image extracted again
    run(tmp_path, "--limit", "150")  # another dataset subset
    assert sum(embed_calls) == first + 300
    run(tmp_path, "--set", "image_size=28")  # another config
    assert sum(embed_calls) == first + 300 + 400
    run(tmp_path, "--seed", "1")  # another random init (and subset)
    assert sum(embed_calls) == first + 300 + 400 + 400


@pytest.mark.e2e
def test_the_query_path_is_timed_afresh_when_the_features_are_cached(tmp_path, encode_calls):
    """queries/s is this run's: the query images are encoded again (a timed pass and a profile of
    the --query-batch batches, bench.speed.query_timing.timed_batches) though every feature comes from the cache."""
    run(tmp_path, "--query-batch", "50")
    before = len(encode_calls)
    run(tmp_path, "--query-batch", "50")
    assert encode_calls[before:] == [50] * 6  # 200 queries: 4 batches timed, 2 profiled; no database image


def test_file_label_keeps_names_readable():
    assert file_label("effnet-lite0 (ImageNet)") == "effnet-lite0_ImageNet"
    assert file_label("cgd-small") == "cgd-small"


@pytest.mark.slow
def test_trained_weights_are_reused(tmp_path, monkeypatch):
    from methods.features import metric_training

    trained = []
    original = metric_training.train_metric

    def counting(*args, **kwargs):
        trained.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr("methods.features.cgd.train_metric", counting)
    for _ in range(2):
        argv = ["--method", "cgd", "--dataset", "fashion-mnist", "--limit", "150", "--k", "1",
                "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--no-progress", "--force",
                "--set", "train.epochs=0.5"]
        assert main(argv) == 0
    assert len(trained) == 1
    assert len(list((tmp_path / "c" / "models").glob("cgd-small-*.pt"))) == 1
