"""Places365-Standard: places365_train_standard.txt over data_256/, places365_val.txt over val_256/."""
from __future__ import annotations

import shutil

import pytest

from datasets import DatasetError


def test_parts_and_labels(build):
    ds = build("places365").load()
    assert ds.train.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]  # class 364 becomes 3
    assert ds.train.source.paths[0] == "data_256/a/airfield/00000001.jpg"
    assert ds.query.source.paths[0] == "val_256/Places365_val_00000001.jpg"
    assert ds.query.labels.tolist() == [3, 0, 2, 1, 3]


@pytest.mark.parametrize("key", ["train", "val"])
def test_missing_list_file(build, raises_naming, key):
    m = build("places365")
    m.files[key].unlink()
    raises_naming(m, m.files[key])


@pytest.mark.parametrize("key, bad", [("train", "/a/airfield/00000009.jpg x"), ("val", "Places365_val_00000009.jpg"),
                                      ("val", "Places365_val_00000009.jpg 3 4")])
def test_unparsable_line(build, raises_naming, tools, key, bad):
    m = build("places365")
    tools.rewrite(m.files[key], lambda lines: lines[:2] + [bad] + lines[2:])
    assert "line 3" in raises_naming(m, m.files[key])


def test_val_class_unknown_to_train(build, raises_naming, tools):
    m = build("places365")
    tools.rewrite(m.files["val"], lambda lines: lines[:1] + ["Places365_val_00000006.jpg 200"] + lines[1:])
    assert "class id 200" in raises_naming(m, m.files["val"])


@pytest.mark.parametrize("folder", ["data_256", "val_256"])
def test_missing_image_folder(build, raises_naming, folder):
    m = build("places365")
    shutil.rmtree(m.folder / folder)
    raises_naming(m, m.folder / folder)


def test_missing_first_listed_image(build, raises_naming):
    m = build("places365")
    m.image.unlink()
    assert "places365_train_standard.txt" in raises_naming(m, m.image)


def test_missing_image_in_the_middle_fails_when_read(build):
    m = build("places365")
    middle = m.folder / "data_256" / "a" / "airplane_cabin" / "00000001.jpg"
    middle.unlink()
    ds = m.load()  # only the folders and the ends of each list are checked up front
    with pytest.raises(DatasetError, match="airplane_cabin/00000001.jpg"):
        ds.train[2]
