"""CUB-200-2011: images.txt, image_class_labels.txt, train_test_split.txt, images/."""
from __future__ import annotations

import pytest


def test_parts_and_labels_sorted_by_numeric_class_id(build):
    m = build("cub200")  # classes 2, 10, 101, 200: 10 must come before 101 and 200
    ds = m.load()
    assert ds.train.labels.tolist() == [0, 0, 1, 1, 2, 2, 3]
    assert ds.query.labels.tolist() == [0, 1, 2, 3, 3]
    assert ds.train.source.paths[0] == "images/002.Laysan_Albatross/Laysan_Albatross_0001_101.jpg"
    assert ds.database.source.paths == ds.train.source.paths


def test_dataset_folder_given_directly(build):
    m = build("cub200")
    m.root = m.folder  # --data-root pointing at CUB_200_2011 itself
    assert len(m.load().query) == 5


@pytest.mark.parametrize("name", ["images", "labels", "split"])
def test_missing_annotation_file(build, raises_naming, name):
    m = build("cub200")
    m.files[name].unlink()
    raises_naming(m, m.files[name])


@pytest.mark.parametrize("name, line", [
    ("images", "13"),  # one column
    ("images", "x 001.Black_footed_Albatross/a.jpg"),  # id not a number
    ("labels", "13 2 7"),  # three columns
    ("split", "13 yes"),
    ("split", "13 2"),  # neither 1 (train) nor 0 (test)
    ("labels", "13 201"),  # outside 1..200
    ("labels", "13 0"),
])
def test_unparsable_line(build, raises_naming, tools, name, line):
    m = build("cub200")
    tools.rewrite(m.files[name], lambda lines: lines[:-1] + [line])
    msg = raises_naming(m, m.files[name])
    assert "line 12" in msg and line in msg


def test_image_id_unknown_to_images_txt(build, raises_naming, tools):
    m = build("cub200")
    tools.rewrite(m.files["labels"], lambda lines: lines + ["13 2"])
    assert "image id 13" in raises_naming(m, m.files["labels"])


def test_image_id_without_a_split_line(build, raises_naming, tools):
    m = build("cub200")
    tools.rewrite(m.files["split"], lambda lines: lines[1:])
    assert "image id 1 " in raises_naming(m, m.files["split"])


def test_image_id_listed_twice(build, raises_naming, tools):
    m = build("cub200")
    tools.rewrite(m.files["labels"], lambda lines: lines + [lines[0]])
    assert "twice" in raises_naming(m, m.files["labels"])


def test_missing_image_file(build, raises_naming):
    m = build("cub200")
    m.image.unlink()
    msg = raises_naming(m, m.image)
    assert "images.txt" in msg


def test_a_part_with_no_images(build, raises_naming, tools):
    m = build("cub200")
    tools.rewrite(m.files["split"], lambda lines: [line.split()[0] + " 1" for line in lines])
    assert "no test images" in raises_naming(m, m.files["split"])
