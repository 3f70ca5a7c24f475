"""Places365-Standard, small (256x256) images: ``places365_train_standard.txt``
(``/a/airfield/00000001.jpg 0``) over ``data_256/``, ``places365_val.txt``
(``Places365_val_00000001.jpg 165``) over ``val_256/``. Parts ``train`` (1,803,460) and
``val`` (36,500).

Only the folders and the first and last file of each list are checked at load time; an
unreadable or missing file is reported when it is read (``FileSource.pil``).
"""
from __future__ import annotations

from pathlib import Path

from . import Layout, register
from ._text import Checker
from .base import Split

LISTS = {  # part: (list file, image folder, expected lines)
    "train": ("places365_train_standard.txt", "data_256", "lines '/<letter>/<category>/<n>.jpg <class 0..364>'"),
    "val": ("places365_val.txt", "val_256", "lines 'Places365_val_<n>.jpg <class 0..364>'"),
}


def read_places365(folder: Path) -> dict[str, Split]:
    check = Checker(LAYOUT)
    parts = {}
    for part, (list_name, images, expected) in LISTS.items():
        names, classes = check.columns(folder / list_name, expected, (str, int))
        check.require(folder / images, f"the {part} images under {images}/ (the small 256x256 archive)", folder=True)
        paths = [f"{images}/{name.lstrip('/')}" for name in names]
        check.images_exist(folder, paths[:1] + paths[-1:], folder / list_name)
        parts[part] = (paths, classes)
    if unknown := sorted(set(parts["val"][1]) - set(parts["train"][1])):
        val_list, _, expected = LISTS["val"]
        raise check.error(folder / val_list, f"has class id {unknown[0]}, which no train image has", expected)
    return check.parts(folder, parts, {part: folder / LISTS[part][0] for part in LISTS})


LAYOUT = register(Layout(
    name="places365",
    subdir="places365",
    expected="places365_train_standard.txt, places365_val.txt, data_256/ and val_256/",
    source="Places365-Standard (small images, 256x256), http://places2.csail.mit.edu",
    read=read_places365,
    train=("train",), database=("train",), query=("val",),
))
