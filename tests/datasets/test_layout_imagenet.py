"""ImageNet-1k: train/<wnid>/, val/ in class folders or flat with LOC_val_solution.csv."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from datasets import LAYOUTS


def test_flat_val_sorted_by_image_id(build):
    ds = build("imagenet-flat").load()
    assert ds.train.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert ds.train.source.paths[:2] == ["train/n01440764/n01440764_10026.JPEG", "train/n01440764/n01440764_10027.JPEG"]
    assert ds.query.source.paths == [f"val/ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 6)]
    assert ds.query.labels.tolist() == [2, 0, 3, 1, 0]


def test_val_in_class_folders(build):
    ds = build("imagenet-folders").load()
    assert ds.query.labels.tolist() == [0, 0, 1, 2, 3]
    assert ds.query.source.paths[0] == "val/n01440764/ILSVRC2012_val_00000002.JPEG"


def test_both_val_layouts_hold_the_same_images(build):
    flat, folders = build("imagenet-flat").load(), build("imagenet-folders").load()
    def by_name(ds):
        return sorted((p.rsplit("/", 1)[1], int(c)) for p, c in zip(ds.query.source.paths, ds.query.labels))
    assert by_name(flat) == by_name(folders)


def test_query_sample_draws_5000_val_images_with_a_fixed_seed():
    assert LAYOUTS["imagenet"].query_sample == 5000


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
