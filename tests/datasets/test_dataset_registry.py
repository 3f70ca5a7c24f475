"""datasets/__init__.py and base.py: the registry, the protocols, splits and batches."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import datasets
from datasets import LAYOUTS, DatasetError, Split, concat_splits, iter_batches, load_batch, load_dataset
from datasets.base import ArraySource, FileSource


def test_every_layout_is_registered():
    datasets._import_layouts()
    assert {"cub200", "cars196", "inshop", "imagenet", "places365", "fashion-mnist", "digits"} <= set(LAYOUTS)
    for layout in LAYOUTS.values():
        assert layout.source and layout.expected
        parts = set(layout.train) | set(layout.database) | set(layout.query)
        assert parts, layout.name


def test_unknown_dataset_and_protocol():
    with pytest.raises(DatasetError, match="cub200"):
        load_dataset("cub-200")
    with pytest.raises(DatasetError, match="paper, paper-random, dml"):
        load_dataset("digits", protocol="metric")


@pytest.mark.parametrize("limit", [0, -5])
def test_a_limit_below_one_is_refused(limit):
    with pytest.raises(DatasetError, match=f"--limit {limit}: give a positive number"):
        load_dataset("digits", limit=limit)


def test_data_root_from_environment(build, monkeypatch):
    m = build("cub200")
    monkeypatch.setenv("IRGEN_DATA_ROOT", str(m.root))
    assert len(load_dataset("cub200").query) == 5


def test_query_picks_are_fixed_whatever_the_seed(build, monkeypatch):
    m = build("cub200")
    monkeypatch.setitem(LAYOUTS, "cub200", dataclasses.replace(LAYOUTS["cub200"], query_every=2, query_sample=3))
    for protocol, n in (("paper", 3), ("paper-random", 3)):
        a, b = m.load(protocol=protocol, seed=0), m.load(protocol=protocol, seed=7)
        assert len(a.query) == n and a.query.source.paths == b.query.source.paths
        assert len(a.train) == 7
    assert m.load().query.labels.tolist() == [0, 2, 3]  # every other of the test part's labels 0, 1, 2, 3, 3


def test_limit_above_split_sizes_changes_nothing(build):
    m = build("inshop")
    assert m.load(limit=1000).fingerprint == m.load().fingerprint


def test_concat_splits():
    a = Split("a", ArraySource(np.zeros((2, 4, 4), np.uint8)), [0, 1])
    b = Split("b", ArraySource(np.ones((3, 4, 4), np.uint8)), [2, 2, 1])
    ab = concat_splits("ab", [a, b])
    assert len(ab) == 5 and ab.labels.tolist() == [0, 1, 2, 2, 1] and ab.source.array[4].max() == 1
    f = Split("f", FileSource(Path("/x"), ["p.jpg", "q.jpg"]), [0, 1])
    g = Split("g", FileSource(Path("/x"), ["r.jpg"]), [3])
    assert concat_splits("fg", [f, g]).source.paths == ["p.jpg", "q.jpg", "r.jpg"]
    with pytest.raises(ValueError):
        concat_splits("af", [a, f])
    with pytest.raises(ValueError):
        concat_splits("fh", [f, Split("h", FileSource(Path("/y"), ["s.jpg"]), [0])])


def test_split_needs_one_label_per_image():
    with pytest.raises(DatasetError, match="3 images but 2 labels"):
        Split("s", ArraySource(np.zeros((3, 4, 4), np.uint8)), [0, 1])


def test_load_batch_arrays_gray_and_rgb():
    gray = Split("g", ArraySource(np.full((3, 8, 8), 200, np.uint8)), [0, 1, 2])
    x = load_batch(gray, [2, 0], 16)
    assert x.shape == (2, 3, 16, 16) and int(x.min()) == int(x.max()) == 200
    rgb = np.zeros((2, 8, 8, 3), np.uint8)
    rgb[..., 1] = 90
    y = load_batch(Split("c", ArraySource(rgb), [0, 1]), [1], 8)
    assert y.shape == (1, 3, 8, 8) and y[0, 1].float().mean() == 90 and y[0, 0].max() == 0


def test_load_batch_files_center_crop(tmp_path):
    from PIL import Image
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, 10:30] = 255  # a white centre on a wide image
    Image.fromarray(img).save(tmp_path / "wide.png")
    x = load_batch(Split("f", FileSource(tmp_path, ["wide.png"]), [0]), [0], 10)
    assert x.shape == (1, 3, 10, 10) and int(x[..., 2:8].min()) == 255  # the dark sides are cropped away


def test_iter_batches_cover_the_split():
    s = Split("s", ArraySource(np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)), [0, 1, 0, 1, 0])
    seen = [idx.tolist() for idx, batch in iter_batches(s, 4, batch_size=2)]
    assert seen == [[0, 1], [2, 3], [4]]


def test_file_source_missing_file_message(tmp_path):
    s = Split("s", FileSource(tmp_path, ["gone.jpg"]), [0])
    with pytest.raises(DatasetError, match="gone.jpg is missing"):
        s[0]
