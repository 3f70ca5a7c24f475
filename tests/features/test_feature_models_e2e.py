"""Every feature model end to end on the embedded default through the real command line."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.run import main

pytestmark = pytest.mark.usefixtures("fashion_mnist")

# Quick settings for the tests (the same code path as the defaults, fewer steps or pixels), and the
# variant each row says: the preset of a model that has presets.
MODELS = {
    "effnet": ("-", ["--set", "image_size=64"]),
    "res101": ("preset=small", []),
    "clip": ("preset=small", []),
    "cgd": ("preset=small", ["--set", "train.epochs=1"]),
    "irt": ("preset=small", ["--set", "train.epochs=1"]),
    "ftclip": ("preset=small", ["--set", "train.epochs=1"]),
}
TRAINED = {"cgd", "irt", "ftclip"}


@pytest.mark.e2e
@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) if m in TRAINED else m for m in MODELS])
def test_model_lands_metric_rows(method, tmp_path):
    variant, extra = MODELS[method]
    argv = ["--method", method, "--backend", "linear", "--dataset", "fashion-mnist", "--limit", "500",
            "--results", str(tmp_path), "--cache", str(tmp_path), "--no-progress", *extra]
    assert main(argv) == 0
    rows = pd.read_csv(tmp_path / "results.csv")
    mine = rows[rows["method"] == method]  # the registry name, whatever the model's display name
    assert set(mine["features"]) == {method} and set(mine["variant"].fillna("-")) == {variant}
    assert {"precision", "recall", "mrr", "map_at_r"} <= set(mine["metric"])
    p1 = mine[(mine["metric"] == "precision") & (mine["k"] == 1)]["value"].item()
    assert 0.1 < p1 <= 1.0  # better than chance among ten classes


def test_paper_preset_without_weights_fails_in_one_line_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("IRGEN_WEIGHTS", raising=False)
    argv = ["--method", "res101", "--dataset", "fashion-mnist", "--limit", "50", "--set", "preset=paper",
            "--results", str(tmp_path), "--cache", str(tmp_path), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "resnet101-cd907fe2.pth" in err and "download.pytorch.org" in err
