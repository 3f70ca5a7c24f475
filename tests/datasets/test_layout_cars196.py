"""Stanford Cars: the devkit layout and the single-file cars_annos.mat layout."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("kind", ["cars196-devkit", "cars196-annos"])
def test_both_layouts_give_the_same_dataset(build, kind):
    ds = build(kind).load()
    assert ds.train.labels.tolist() == [0, 0, 1, 2, 3, 3]
    assert ds.query.labels.tolist() == [0, 1, 2, 2, 3]


def test_devkit_paths_and_test_labels_in_devkit_folder(build):
    m = build("cars196-devkit", labels_in_devkit=True)
    ds = m.load()
    assert ds.train.source.paths[:2] == ["cars_train/00001.jpg", "cars_train/00002.jpg"]
    assert ds.query.source.paths[0] == "cars_test/00001.jpg"
    assert ds.query.labels.tolist() == [0, 1, 2, 2, 3]


def test_single_file_paths(build):
    ds = build("cars196-annos").load()
    assert ds.train.source.paths[:2] == ["car_ims/000001.jpg", "car_ims/000003.jpg"]


def test_devkit_without_labelled_test_list(build, raises_naming):
    m = build("cars196-devkit")
    m.files["test"].unlink()  # only the devkit's unlabelled cars_test_annos.mat is left
    assert "cars_test_annos_withlabels.mat" in raises_naming(m, m.folder / "cars_test_annos_withlabels.mat")


def test_devkit_missing_train_annotations(build, raises_naming):
    m = build("cars196-devkit")
    m.files["train"].unlink()
    raises_naming(m, m.files["train"])


@pytest.mark.parametrize("kind, key", [("cars196-devkit", "train"), ("cars196-devkit", "test"),
                                       ("cars196-annos", "annos")])
def test_corrupt_mat_file(build, raises_naming, kind, key):
    m = build(kind)
    m.files[key].write_bytes(b"MATLAB 5.0 MAT-file, but cut short")
    raises_naming(m, m.files[key])


def test_mat_file_without_annotations(build, raises_naming, tools):
    m = build("cars196-devkit")
    tools.savemat(m.files["train"], {"something_else": np.zeros(3)})
    assert "annotations" in raises_naming(m, m.files["train"])


def test_mat_annotations_without_class_field(build, raises_naming):
    m = build("cars196-devkit")
    (m.folder / "devkit" / "cars_test_annos.mat").replace(m.files["test"])  # no 'class' field in it
    raises_naming(m, m.files["test"])


def test_devkit_unknown_class_id(build, raises_naming, tools):
    m = build("cars196-devkit")
    record = {"bbox_x1": 1, "class": 197, "fname": "00001.jpg"}
    tools.savemat(m.files["train"], {"annotations": tools.mat_struct([record])})
    assert "197" in raises_naming(m, m.files["train"])


def test_single_file_unknown_class_id(build, raises_naming, tools):
    m = build("cars196-annos")
    tools.write_cars_annos(m.files["annos"], [(1, "train"), (3, "test")], names=np.array([["A", "B"]], dtype=object))
    assert "class id 3, outside 1..2" in raises_naming(m, m.files["annos"])


def test_single_file_bad_test_flag(build, raises_naming, tools):
    m = build("cars196-annos")
    tools.savemat(m.files["annos"], {"annotations": tools.mat_struct(
        [{"relative_im_path": "car_ims/000001.jpg", "class": 1, "test": 2}])})
    assert "test flag 2" in raises_naming(m, m.files["annos"])


@pytest.mark.parametrize("kind", ["cars196-devkit", "cars196-annos"])
def test_missing_image_file(build, raises_naming, kind):
    m = build(kind)
    m.image.unlink()
    raises_naming(m, m.image)
