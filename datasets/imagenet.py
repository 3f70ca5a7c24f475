"""ImageNet-1k (ILSVRC2012): ``train/<wnid>/*.JPEG``; ``val/`` either in class folders
``val/<wnid>/*.JPEG`` or flat ``val/*.JPEG`` labelled by ``LOC_val_solution.csv`` (in the
folder). Classes are the sorted train wnids. Parts ``train`` (1,281,167) and ``val`` (50,000).

The 1.28M files are listed with ``os.scandir``, not checked one by one: an unreadable
file is reported when it is read (``FileSource.pil``).
"""
from __future__ import annotations

import os
from pathlib import Path

from . import Layout, register
from ._text import Checker
from .base import Split

SOLUTION = "LOC_val_solution.csv"
EXPECTED_TRAIN = "train/<wnid>/*.JPEG, one folder per class"
EXPECTED_VAL = f"val/<wnid>/*.JPEG, or val/*.JPEG with {SOLUTION} beside train/ and val/"
EXPECTED_CSV = "the header 'ImageId,PredictionString', then lines 'ILSVRC2012_val_<n>,<wnid> <x1> <y1> <x2> <y2> ...'"
EXTENSIONS = (".jpeg", ".jpg", ".png")


def _scan(folder: Path) -> tuple[list[str], list[str]]:
    """Sorted names of the sub-folders and of the image files in ``folder``."""
    dirs, files = [], []
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                dirs.append(e.name)
            elif e.name.lower().endswith(EXTENSIONS):
                files.append(e.name)
    return sorted(dirs), sorted(files)


def _class_folders(check: Checker, folder: Path, part: str, wnids: list[str], index: dict) -> tuple[list, list]:
    paths, labels = [], []
    for wnid in wnids:
        files = _scan(folder / part / wnid)[1]
        if not files and part == "train":
            raise check.error(folder / part / wnid, "holds no images", EXPECTED_TRAIN)
        paths += [f"{part}/{wnid}/{f}" for f in files]
        labels += [index[wnid]] * len(files)
    return paths, labels


def _first_wnid(s: str) -> str:
    tokens = s.split()
    if not tokens or not tokens[0].startswith("n"):
        raise ValueError(s)
    return tokens[0]


def _flat_val(check: Checker, folder: Path, files: list[str], index: dict) -> tuple[list, list]:
    csv = folder / SOLUTION
    wnid_of = check.table(csv, EXPECTED_CSV, str, _first_wnid, skip=1, sep=",")
    if unknown := sorted(i for i, w in wnid_of.items() if w not in index):
        problem = f"gives {unknown[0]} the class {wnid_of[unknown[0]]}, which has no train/ folder"
        raise check.error(csv, problem, EXPECTED_CSV)
    on_disk = {f.rsplit(".", 1)[0]: f for f in files}
    if missing := sorted(wnid_of.keys() - on_disk.keys()):
        raise check.error(folder / "val" / f"{missing[0]}.JPEG", f"is missing (listed in {csv})", EXPECTED_VAL)
    if unlisted := sorted(on_disk.keys() - wnid_of.keys()):
        raise check.error(csv, f"has no line for val/{on_disk[unlisted[0]]}", EXPECTED_CSV)
    ids = sorted(wnid_of)
    return [f"val/{on_disk[i]}" for i in ids], [index[wnid_of[i]] for i in ids]


def read_imagenet(folder: Path) -> dict[str, Split]:
    check = Checker(LAYOUT)
    check.require(folder / "train", EXPECTED_TRAIN, folder=True)
    check.require(folder / "val", EXPECTED_VAL, folder=True)
    wnids = _scan(folder / "train")[0]
    if not wnids:
        raise check.error(folder / "train", "holds no class folders", EXPECTED_TRAIN)
    index = {w: i for i, w in enumerate(wnids)}
    val_dirs, val_files = _scan(folder / "val")
    if val_dirs:
        if unknown := [w for w in val_dirs if w not in index]:
            raise check.error(folder / "val" / unknown[0], "is a class folder with no train/ counterpart", EXPECTED_VAL)
        val = _class_folders(check, folder, "val", val_dirs, index)
    else:
        val = _flat_val(check, folder, val_files, index)
    train = _class_folders(check, folder, "train", wnids, index)
    return check.parts(folder, {"train": train, "val": val}, folder / "val")


LAYOUT = register(Layout(
    name="imagenet",
    subdir="imagenet",
    expected=f"train/<wnid>/*.JPEG and val/ (class folders, or flat with {SOLUTION})",
    source="ILSVRC2012 (ImageNet-1k), https://image-net.org",
    read=read_imagenet,
    train=("train",), database=("train",), query=("val",),
    query_every=10,  # the official code's val[0:50000:10]: 5 per class
    query_sample=5000,  # --protocol paper-random: the paper's text, "randomly sample 5,000 images"
))
