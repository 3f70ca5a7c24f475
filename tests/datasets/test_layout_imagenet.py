"""ImageNet-1k: train/<wnid>/, val/ in class folders or flat with LOC_val_solution.csv."""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from datasets import LAYOUTS, DatasetError


def val_part(m):
    """The val part as the reader lists it, before the protocol picks the queries from it."""
    return LAYOUTS["imagenet"].read(m.folder)["val"]


def test_flat_val_sorted_by_image_id(build):
    m = build("imagenet-flat")
    ds, val = m.load(), val_part(m)
    assert ds.train.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert ds.train.source.paths[:2] == ["train/n01440764/n01440764_10026.JPEG", "train/n01440764/n01440764_10027.JPEG"]
    assert val.source.paths == [f"val/ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 6)]
    assert val.labels.tolist() == [2, 0, 3, 1, 0]


def test_val_in_class_folders(build):
    val = val_part(build("imagenet-folders"))
    assert val.labels.tolist() == [0, 0, 1, 2, 3]
    assert val.source.paths[0] == "val/n01440764/ILSVRC2012_val_00000002.JPEG"


def test_both_val_layouts_hold_the_same_images_and_give_the_same_queries(build):
    flat, folders = build("imagenet-flat"), build("imagenet-folders")

    def by_name(split):
        return sorted((p.rsplit("/", 1)[1], int(c)) for p, c in zip(split.source.paths, split.labels))
    assert by_name(val_part(flat)) == by_name(val_part(folders))
    for protocol in ("paper", "paper-random"):
        assert by_name(flat.load(protocol=protocol).query) == by_name(folders.load(protocol=protocol).query)


def test_paper_queries_are_every_tenth_val_image_class_by_class(build, tools):
    """The official code's val[0:50000:10] over its class-by-class list: 5 of each class's 50."""
    m = build("imagenet-folders")
    for w in ("n01440764", "n01443537"):  # 24 more val images in classes 0 and 1: 26, 25, 1, 1 in all
        for i in range(24):
            tools.write_jpeg(m.folder / "val" / w / f"ILSVRC2012_val_{1000 + i:08d}_{w}.JPEG", i)
    val, query = val_part(m), m.load().query
    assert len(val) == 53 and len(query) == 6  # positions 0, 10, ..., 50 of the class-by-class list
    assert query.labels.tolist() == [0, 0, 0, 1, 1, 1]
    by_class = [p for c in (0, 1) for p, label in zip(val.source.paths, val.labels) if label == c]
    assert query.source.paths == by_class[::10]


def test_paper_random_draws_5000_val_images_with_a_fixed_seed(build, monkeypatch):
    m = build("imagenet-flat")
    assert LAYOUTS["imagenet"].query_sample == 5000
    assert len(m.load(protocol="paper-random").query) == 5  # fewer than 5000: all of them
    monkeypatch.setitem(LAYOUTS, "imagenet", dataclasses.replace(LAYOUTS["imagenet"], query_sample=3))
    a, b = m.load(protocol="paper-random", seed=0), m.load(protocol="paper-random", seed=9)
    assert len(a.query) == 3 and a.query.source.paths == b.query.source.paths


def test_paper_random_is_refused_where_the_layout_draws_no_queries(build):
    with pytest.raises(DatasetError, match="paper-random: cub200 takes every image of its query part"):
        build("cub200").load(protocol="paper-random")


def test_non_image_files_and_hidden_files_are_skipped(build, tools):
    m = build("imagenet-folders")
    (m.folder / "train" / "n01440764" / "notes.txt").write_text("x")
    tools.write_jpeg(m.folder / "train" / "n01440764" / "._n01440764_1.JPEG", 0)
    assert len(m.load().train) == 8


def test_missing_solution_csv(build, raises_naming):
    m = build("imagenet-flat")
    m.files["solution"].unlink()
    raises_naming(m, m.files["solution"])


def test_unparsable_csv_line(build, raises_naming, tools):
    m = build("imagenet-flat")
    tools.rewrite(m.files["solution"], lambda lines: lines[:3] + ["ILSVRC2012_val_00000009"] + lines[3:])
    assert "line 4" in raises_naming(m, m.files["solution"])


def test_csv_class_without_train_folder(build, raises_naming, tools):
    m = build("imagenet-flat")
    tools.rewrite(m.files["solution"], lambda lines: [line.replace("n01491361", "n09999999") for line in lines])
    assert "n09999999" in raises_naming(m, m.files["solution"])


def test_val_image_listed_but_missing(build, raises_naming):
    m = build("imagenet-flat")
    m.image.unlink()
    raises_naming(m, m.image)


def test_val_image_not_listed(build, raises_naming, tools):
    m = build("imagenet-flat")
    tools.write_jpeg(m.folder / "val" / "ILSVRC2012_val_00000006.JPEG", 6)
    assert "ILSVRC2012_val_00000006" in raises_naming(m, m.files["solution"])


def test_val_class_folder_without_train_folder(build, raises_naming):
    m = build("imagenet-folders")
    (m.folder / "val" / "n01491361").rename(m.folder / "val" / "n09999999")
    raises_naming(m, m.folder / "val" / "n09999999")


def test_empty_train_class_folder(build, raises_naming):
    m = build("imagenet-flat")
    (m.folder / "train" / "n09999999").mkdir()
    raises_naming(m, m.folder / "train" / "n09999999")


@pytest.mark.parametrize("folder", ["train", "val"])
def test_missing_folder(build, raises_naming, folder):
    m = build("imagenet-flat")
    shutil.rmtree(m.folder / folder)
    raises_naming(m, m.folder / folder)


def test_train_image_deleted_after_loading_fails_when_read(build):
    from datasets import DatasetError, load_batch
    m = build("imagenet-folders")
    ds = m.load()
    (m.folder / ds.train.source.paths[3]).unlink()
    with pytest.raises(DatasetError, match="n01443537_10027.JPEG"):
        load_batch(ds.train, np.arange(8), 8)
