"""CUB-200-2011: ``images.txt``, ``image_class_labels.txt`` and ``train_test_split.txt``
keyed by image id, pixels under ``images/``. Parts ``train`` (5,994) and ``test`` (5,794)."""
from __future__ import annotations

from pathlib import Path

from . import Layout, register
from ._text import Checker
from .base import Split

FILES = {
    "images.txt": "lines '<image_id> <class folder>/<file>.jpg'",
    "image_class_labels.txt": "lines '<image_id> <class_id 1..200>'",
    "train_test_split.txt": "lines '<image_id> <1 for train, 0 for test>'",
}


def _class_id(s: str) -> int:
    if not 1 <= (v := int(s)) <= 200:
        raise ValueError(s)
    return v


def _flag(s: str) -> int:
    if (v := int(s)) not in (0, 1):
        raise ValueError(s)
    return v


def read_cub200(folder: Path) -> dict[str, Split]:
    check = Checker(LAYOUT)
    images, labels, split = (folder / name for name in FILES)
    paths = check.table(images, FILES[images.name], int, str)
    classes = check.table(labels, FILES[labels.name], int, _class_id)
    is_train = check.table(split, FILES[split.name], int, _flag)
    for path, table in ((labels, classes), (split, is_train)):
        if extra := sorted(table.keys() - paths.keys()):
            raise check.error(path, f"lists image id {extra[0]}, which images.txt does not", FILES[path.name])
        if missing := sorted(paths.keys() - table.keys()):
            raise check.error(path, f"has no line for image id {missing[0]} of images.txt", FILES[path.name])
    rel = {i: f"images/{p}" for i, p in paths.items()}
    check.images_exist(folder, list(rel.values()), images)
    return check.parts(folder, {
        part: ([rel[i] for i in paths if is_train[i] == flag], [classes[i] for i in paths if is_train[i] == flag])
        for part, flag in (("train", 1), ("test", 0))
    }, split)


LAYOUT = register(Layout(
    name="cub200",
    subdir="CUB_200_2011",
    expected="images.txt, image_class_labels.txt, train_test_split.txt and images/ (CUB_200_2011.tgz extracted)",
    source="CUB-200-2011, https://www.vision.caltech.edu/datasets/cub_200_2011/",
    read=read_cub200,
    train=("train",), database=("train",), query=("test",),
))
