"""Miniatures of every official dataset layout, written under tmp_path with the real file
names and formats: tiny JPEGs, the text lists, the .mat struct arrays.

Each builder returns a ``Miniature``: where it is, the paper-protocol labels a correct
reader must produce, and a few paths the tests break on purpose. ``relabel=True`` moves the
first listed image of one part (ImageNet: the val image its paper protocol picks) to another
class (for the fingerprint test).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

import datasets
from datasets import LAYOUTS, DatasetError, load_dataset

datasets._import_layouts()  # register every layout before a test looks in LAYOUTS


@dataclass
class Miniature:
    name: str  # the dataset name for load_dataset
    root: Path  # the data root handed to load_dataset
    folder: Path  # the dataset's own folder under it
    labels: dict[str, list[int]]  # paper protocol: train / database / query labels, in order
    image: Path  # one listed image file
    files: dict[str, Path]  # the annotation files, by short name

    def load(self, **kw):
        return load_dataset(self.name, root=self.root, **kw)


def write_jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (10, 14, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG")


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def rewrite(path: Path, change) -> None:
    """Replace the lines of a text file by ``change(lines)``."""
    path.write_text("".join(line + "\n" for line in change(path.read_text().splitlines())))


def remapped(ids) -> dict:
    """Original class id -> 0..C-1 in sorted order (what every reader must do)."""
    return {c: i for i, c in enumerate(sorted(set(ids)))}


def paper_labels(items, train, database, query) -> dict[str, list[int]]:
    """Expected labels from (class, part) items and the parts each paper split takes, in order."""
    to = remapped(c for c, _ in items)
    pick = lambda parts: [to[c] for p in parts for c, q in items if q == p]  # noqa: E731
    return {"train": pick(train), "database": pick(database), "query": pick(query)}


# --- CUB-200-2011 ---------------------------------------------------------------------------

CUB_NAMES = {2: "002.Laysan_Albatross", 10: "010.Red_winged_Blackbird", 101: "101.White_Pelican",
             200: "200.Common_Yellowthroat"}
CUB_ITEMS = [(2, "train"), (2, "train"), (2, "test"), (10, "test"), (10, "train"), (10, "train"),
             (101, "train"), (101, "test"), (101, "train"), (200, "test"), (200, "train"), (200, "test")]


def build_cub200(root: Path, relabel: bool = False) -> Miniature:
    folder = root / "CUB_200_2011"
    items = [(10, "train")] + CUB_ITEMS[1:] if relabel else CUB_ITEMS
    rel = [f"{CUB_NAMES[c]}/{CUB_NAMES[c][4:]}_{i:04d}_{100 + i}.jpg" for i, (c, _) in enumerate(CUB_ITEMS, 1)]
    for i, r in enumerate(rel, 1):
        write_jpeg(folder / "images" / r, i)
    files = {
        "images": write_lines(folder / "images.txt", [f"{i} {r}" for i, r in enumerate(rel, 1)]),
        "labels": write_lines(folder / "image_class_labels.txt", [f"{i} {c}" for i, (c, _) in enumerate(items, 1)]),
        "split": write_lines(folder / "train_test_split.txt",
                             [f"{i} {int(p == 'train')}" for i, (_, p) in enumerate(items, 1)]),
        "classes": write_lines(folder / "classes.txt", [f"{c} {n}" for c, n in CUB_NAMES.items()]),
    }
    return Miniature("cub200", root, folder, paper_labels(items, ["train"], ["train"], ["test"]),
                     folder / "images" / rel[0], files)


# --- Stanford Cars (Cars196) ----------------------------------------------------------------

CARS_ITEMS = [(1, "train"), (1, "test"), (1, "train"), (5, "train"), (5, "test"), (77, "test"),
              (77, "train"), (77, "test"), (196, "train"), (196, "train"), (196, "test")]
CAR_NAMES = np.array([[f"Car Model {i} 2012" for i in range(1, 197)]], dtype=object)  # a (1, 196) cell


def mat_struct(records: list[dict]) -> np.ndarray:
    """A MATLAB (1, n) struct array, each field stored the way the official files store it."""
    fields = list(records[0])
    arr = np.zeros((1, len(records)), dtype=[(f, "O") for f in fields])
    for i, rec in enumerate(records):  # strings as char arrays, numbers as 1x1 uint16 (bbox) / uint8
        arr[0, i] = tuple(np.array([v]) if isinstance(v, str)
                          else np.array([[v]], dtype=np.uint16 if f.startswith("bbox") else np.uint8)
                          for f, v in rec.items())
    return arr


def _bbox(i: int) -> dict:
    return {"bbox_x1": 1 + i, "bbox_y1": 2 + i, "bbox_x2": 300 + i, "bbox_y2": 200 + i}


def build_cars196_devkit(root: Path, relabel: bool = False, labels_in_devkit: bool = False) -> Miniature:
    folder = root / "cars196"
    items = [(5, "train")] + CARS_ITEMS[1:] if relabel else CARS_ITEMS
    records = {"train": [], "test": []}
    for i, (c, part) in enumerate(items):
        fname = f"{len(records[part]) + 1:05d}.jpg"
        write_jpeg(folder / f"cars_{part}" / fname, i)
        records[part].append({**_bbox(i), "class": c, "fname": fname})
    devkit = folder / "devkit"
    devkit.mkdir(parents=True)
    savemat(devkit / "cars_train_annos.mat", {"annotations": mat_struct(records["train"])})
    savemat(devkit / "cars_test_annos.mat",  # the devkit's own test list has no classes
            {"annotations": mat_struct([{k: v for k, v in r.items() if k != "class"} for r in records["test"]])})
    savemat(devkit / "cars_meta.mat", {"class_names": CAR_NAMES})
    test_labels = (devkit if labels_in_devkit else folder) / "cars_test_annos_withlabels.mat"
    savemat(test_labels, {"annotations": mat_struct(records["test"])})
    files = {"train": devkit / "cars_train_annos.mat", "test": test_labels}
    return Miniature("cars196", root, folder, paper_labels(items, ["train"], ["train"], ["test"]),
                     folder / "cars_train" / "00001.jpg", files)


def write_cars_annos(path: Path, items, names=CAR_NAMES) -> None:
    records = [{"relative_im_path": f"car_ims/{i:06d}.jpg", **_bbox(i), "class": c, "test": int(p == "test")}
               for i, (c, p) in enumerate(items, 1)]
    savemat(path, {"annotations": mat_struct(records), "class_names": names})


def build_cars196_annos(root: Path, relabel: bool = False) -> Miniature:
    folder = root / "cars196"
    items = [(5, "train")] + CARS_ITEMS[1:] if relabel else CARS_ITEMS
    for i in range(1, len(items) + 1):
        write_jpeg(folder / "car_ims" / f"{i:06d}.jpg", i)
    write_cars_annos(folder / "cars_annos.mat", items)
    return Miniature("cars196", root, folder, paper_labels(items, ["train"], ["train"], ["test"]),
                     folder / "car_ims" / "000001.jpg", {"annos": folder / "cars_annos.mat"})


# --- DeepFashion In-shop --------------------------------------------------------------------

INSHOP_ITEMS = [("WOMEN/Dresses", 2, "train"), ("WOMEN/Dresses", 2, "train"), ("MEN/Denim", 8, "train"),
                ("MEN/Denim", 8, "train"), ("MEN/Denim", 8, "train"), ("WOMEN/Skirts", 80, "query"),
                ("WOMEN/Skirts", 80, "gallery"), ("WOMEN/Skirts", 80, "gallery"), ("MEN/Tees_Tanks", 121, "gallery"),
                ("MEN/Tees_Tanks", 121, "query"), ("MEN/Tees_Tanks", 121, "query")]
INSHOP_HEADER = "image_name item_id evaluation_status"


def inshop_rows(items) -> list[str]:
    views = ("front", "side", "back", "full")
    return [f"img/{cat}/id_{item:08d}/{k:02d}_{k}_{views[k % 4]}.jpg".ljust(60) + f"id_{item:08d}".ljust(13) + status
            for k, (cat, item, status) in enumerate(items, 1)]


def build_inshop(root: Path, relabel: bool = False, subdir: str = "inshop") -> Miniature:
    folder = root / subdir
    items = INSHOP_ITEMS
    rows = inshop_rows(items)
    for k, row in enumerate(rows, 1):
        write_jpeg(folder / row.split()[0], k)
    if relabel:
        rows[0] = rows[0].replace("id_00000002  ", "id_00000008  ")
        items = [("WOMEN/Dresses", 8, "train")] + items[1:]
    partition = write_lines(folder / "Eval" / "list_eval_partition.txt", [str(len(rows)), INSHOP_HEADER] + rows)
    pairs = [(item, status) for _, item, status in items]
    return Miniature("inshop", root, folder, paper_labels(pairs, ["train", "gallery"], ["gallery"], ["query"]),
                     folder / rows[0].split()[0], {"partition": partition})


# --- ImageNet-1k (ILSVRC2012) ---------------------------------------------------------------

WNIDS = ["n01440764", "n01443537", "n01484850", "n01491361"]
IMAGENET_TRAIN = [(w, f"{w}_{k}.JPEG") for w in WNIDS for k in (10026, 10027)]
IMAGENET_VAL = ["n01484850", "n01440764", "n01491361", "n01443537", "n01440764"]  # val 1..5


def build_imagenet(root: Path, relabel: bool = False, val_folders: bool = False) -> Miniature:
    folder = root / "imagenet"
    for k, (w, name) in enumerate(IMAGENET_TRAIN):
        write_jpeg(folder / "train" / w / name, k)
    # relabel: the image the paper protocol picks as its query (val 2) moves to another class
    val = IMAGENET_VAL[:1] + ["n01443537"] + IMAGENET_VAL[2:] if relabel else IMAGENET_VAL
    names = [f"ILSVRC2012_val_{i:08d}" for i in range(1, len(val) + 1)]
    files = {}
    if val_folders:
        for k, (w, n) in enumerate(zip(val, names)):
            write_jpeg(folder / "val" / w / f"{n}.JPEG", 100 + k)
        val_order = sorted(zip(val, names))
        image = folder / "val" / val[1] / f"{names[1]}.JPEG"  # the paper protocol's one query
    else:
        for k, n in enumerate(names):
            write_jpeg(folder / "val" / f"{n}.JPEG", 100 + k)
        rows = [f"{n},{w} 12 30 200 180 {w} 1 2 30 40" for n, w in zip(names, val)]
        files["solution"] = write_lines(folder / "LOC_val_solution.csv",
                                        ["ImageId,PredictionString"] + rows[::-1])  # the real file is unsorted
        val_order = list(zip(val, names))
        image = folder / "val" / f"{names[1]}.JPEG"
    to = remapped(WNIDS)
    train = [to[w] for w, _ in IMAGENET_TRAIN]
    # the paper protocol's queries: every tenth of the val list ordered class by class (the official
    # val[0:50000:10]); of these 5 images, the first of the first class
    official = sorted(val_order)[::10]
    labels = {"train": train, "database": train, "query": [to[w] for w, n in val_order if (w, n) in official]}
    return Miniature("imagenet", root, folder, labels, image, files)


# --- Places365-Standard ---------------------------------------------------------------------

PLACES_CATEGORIES = {0: "/a/airfield", 1: "/a/airplane_cabin", 2: "/a/airport_terminal", 364: "/z/zen_garden"}
PLACES_VAL = [364, 0, 2, 1, 364]


def build_places365(root: Path, relabel: bool = False) -> Miniature:
    folder = root / "places365"
    write_lines(folder / "categories_places365.txt", [f"{n} {c}" for c, n in PLACES_CATEGORIES.items()])
    train = [(f"{n}/{k:08d}.jpg", c) for c, n in PLACES_CATEGORIES.items() for k in (1, 2)]
    val = [(f"Places365_val_{i:08d}.jpg", c) for i, c in enumerate(PLACES_VAL, 1)]
    if relabel:
        val[0] = (val[0][0], 1)
    for k, (name, _) in enumerate(train):
        write_jpeg(folder / "data_256" / name.lstrip("/"), k)
    for k, (name, _) in enumerate(val):
        write_jpeg(folder / "val_256" / name, 100 + k)
    files = {
        "train": write_lines(folder / "places365_train_standard.txt", [f"{n} {c}" for n, c in train]),
        "val": write_lines(folder / "places365_val.txt", [f"{n} {c}" for n, c in val]),
    }
    items = [(c, "train") for _, c in train] + [(c, "val") for _, c in val]
    return Miniature("places365", root, folder, paper_labels(items, ["train"], ["train"], ["val"]),
                     folder / "data_256" / train[0][0].lstrip("/"), files)


BUILDERS = {
    "cub200": build_cub200,
    "cars196-devkit": build_cars196_devkit,
    "cars196-annos": build_cars196_annos,
    "inshop": build_inshop,
    "imagenet-flat": build_imagenet,
    "imagenet-folders": lambda root, relabel=False: build_imagenet(root, relabel, val_folders=True),
    "places365": build_places365,
}


@pytest.fixture(params=sorted(BUILDERS))
def layout_kind(request) -> str:
    return request.param


@pytest.fixture
def miniature(layout_kind, tmp_path) -> Miniature:
    return BUILDERS[layout_kind](tmp_path / "data")


@pytest.fixture
def build(tmp_path):
    """build(kind, **options) -> a fresh Miniature under its own folder of tmp_path."""
    counter = iter(range(1000))

    def _build(kind: str, **options) -> Miniature:
        return BUILDERS[kind](tmp_path / f"data{next(counter)}", **options)
    return _build


@pytest.fixture
def raises_naming():
    """raises_naming(miniature, fragment): loading fails with a one-line DatasetError that
    names ``fragment`` (a file) and the layout's official source; returns the message."""
    def check(m: Miniature, fragment: str | Path, **kw) -> str:
        with pytest.raises(DatasetError) as e:
            m.load(**kw)
        msg = str(e.value)
        assert str(fragment) in msg
        assert "\n" not in msg
        assert LAYOUTS[m.name].source in msg
        return msg
    return check


@pytest.fixture
def tools() -> SimpleNamespace:
    """The file writers above, for tests that build a broken variant by hand."""
    return SimpleNamespace(rewrite=rewrite, write_jpeg=write_jpeg, write_lines=write_lines,
                           mat_struct=mat_struct, write_cars_annos=write_cars_annos, savemat=savemat)
