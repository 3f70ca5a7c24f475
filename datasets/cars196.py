"""Stanford Cars (Cars196) in either official layout, whichever is present:

- the single file ``cars_annos.mat`` (``relative_im_path``, ``class``, ``test``) with ``car_ims/``;
- the devkit: ``cars_train/``, ``cars_test/``, ``devkit/cars_train_annos.mat`` and
  ``cars_test_annos_withlabels.mat`` (in the folder or in ``devkit/``), ``fname`` and ``class``.

Parts ``train`` (8,144) and ``test`` (8,041); classes 1..196.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import loadmat
from scipy.io.matlab import MatReadError

from . import Layout, register
from ._text import Checker
from .base import Split

SINGLE = "cars_annos.mat"
TEST_LABELS = "cars_test_annos_withlabels.mat"
EXPECTED_SINGLE = f"{SINGLE} holding an 'annotations' struct array (relative_im_path, class, test) and 'class_names'"
EXPECTED_DEVKIT = (
    f"an 'annotations' struct array (bbox_x1.., class, fname), the test classes in {TEST_LABELS} "
    "(in the folder or in devkit/); "
    f"or the single file {SINGLE} with car_ims/"
)


def _annotations(check: Checker, path: Path, fields: dict, expected: str) -> dict[str, list]:
    """The ``annotations`` struct array of a .mat file as {field: list}, its class ids checked
    against the file's ``class_names`` (196 when it has none)."""
    check.require(path, expected)
    try:
        mat = loadmat(path, squeeze_me=True)
        ann = np.atleast_1d(mat["annotations"])
        cols = {name: [convert(x) for x in ann[name]] for name, convert in fields.items()}
    except (MatReadError, KeyError, ValueError, TypeError, IndexError, OSError) as e:
        problem = f"cannot be read as official annotations ({e.__class__.__name__}: {e})"
        raise check.error(path, problem, expected) from None
    n = len(np.atleast_1d(mat["class_names"])) if "class_names" in mat else 196
    if bad := [c for c in cols["class"] if not 1 <= c <= n]:
        raise check.error(path, f"has class id {bad[0]}, outside 1..{n}", expected)
    return cols


def _read_single(check: Checker, folder: Path) -> dict[str, Split]:
    path = folder / SINGLE
    ann = _annotations(check, path, {"relative_im_path": str, "class": int, "test": int}, EXPECTED_SINGLE)
    if bad := [t for t in ann["test"] if t not in (0, 1)]:
        raise check.error(path, f"has test flag {bad[0]}, not 0 or 1", EXPECTED_SINGLE)
    check.images_exist(folder, ann["relative_im_path"], path)
    rows = list(zip(ann["relative_im_path"], ann["class"], ann["test"]))
    return check.parts(folder, {
        part: ([p for p, _, t in rows if t == flag], [c for _, c, t in rows if t == flag])
        for part, flag in (("train", 0), ("test", 1))
    }, path)


def _read_devkit(check: Checker, folder: Path) -> dict[str, Split]:
    devkit = folder / "devkit"
    test_file = next((p for p in (folder / TEST_LABELS, devkit / TEST_LABELS) if p.is_file()), folder / TEST_LABELS)
    parts = {}
    for part, path in (("train", devkit / "cars_train_annos.mat"), ("test", test_file)):
        ann = _annotations(check, path, {"fname": str, "class": int}, EXPECTED_DEVKIT)
        paths = [f"cars_{part}/{name}" for name in ann["fname"]]
        check.images_exist(folder, paths, path)
        parts[part] = (paths, ann["class"])
    return check.parts(folder, parts, test_file)


def read_cars196(folder: Path) -> dict[str, Split]:
    check = Checker(LAYOUT)
    return _read_single(check, folder) if (folder / SINGLE).is_file() else _read_devkit(check, folder)


LAYOUT = register(Layout(
    name="cars196",
    subdir="cars196",
    expected=f"{SINGLE} with car_ims/, or cars_train/, cars_test/, devkit/cars_train_annos.mat and {TEST_LABELS}",
    source="Stanford Cars, https://ai.stanford.edu/~jkrause/cars/car_dataset.html or a mirror of it",
    read=read_cars196,
    train=("train",), database=("train",), query=("test",),
))
