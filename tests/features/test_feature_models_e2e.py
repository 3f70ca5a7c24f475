"""Every feature model end to end on the embedded default through the real command line."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.run import main

pytestmark = pytest.mark.usefixtures("fashion_mnist")

# Quick settings for the tests (the same code path as the defaults, fewer steps or pixels).
MODELS = {
    "effnet": ("effnet-lite0 (ImageNet)", ["--set", "image_size=64"]),
    "res101": ("res101-small", []),
    "clip": ("clip-small", []),
    "cgd": ("cgd-small", ["--set", "train.epochs=1"]),
    "irt": ("irt-small", ["--set", "train.epochs=1"]),
    "ftclip": ("ftclip-small", ["--set", "train.epochs=1"]),
}
TRAINED = {"cgd", "irt", "ftclip"}


@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) if m in TRAINED else m for m in MODELS])
def test_model_lands_metric_rows(method, tmp_path):
    label, extra = MODELS[method]
    argv = ["--method", method, "--backend", "linear", "--dataset", "fashion-mnist", "--limit", "500",
            "--results", str(tmp_path), "--cache", str(tmp_path), "--no-progress", *extra]
    assert main(argv) == 0
    rows = pd.read_csv(tmp_path / "results.csv")
    mine = rows[rows["method"] == label]
    assert set(mine["features"]) == {label}
    assert {"precision", "recall", "mrr", "map_at_r"} <= set(mine["metric"])
    p1 = mine[(mine["metric"] == "precision") & (mine["k"] == 1)]["value"].item()
    assert 0.1 < p1 <= 1.0  # better than chance among ten classes


def test_paper_size_without_weights_fails_in_one_line_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("IRGEN_WEIGHTS", raising=False)
    argv = ["--method", "res101", "--dataset", "fashion-mnist", "--limit", "50", "--set", "size=paper",
            "--results", str(tmp_path), "--cache", str(tmp_path), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "resnet101-cd907fe2.pth" in err and "download.pytorch.org" in err
