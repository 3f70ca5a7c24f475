"""DeepFashion In-shop Clothes Retrieval: ``Eval/list_eval_partition.txt`` (a count line, a
header line, then ``img/... id_XXXXXXXX train|query|gallery``) and ``img/``. The class is the
item id. Parts ``train`` (25,882), ``query`` (14,218) and ``gallery`` (12,612)."""
from __future__ import annotations

import re
from pathlib import Path

from . import Layout, register
from ._text import Checker
from .base import Split

PARTITION = "Eval/list_eval_partition.txt"
EXPECTED = (
    "a count line, the header 'image_name item_id evaluation_status', "
    "then lines 'img/<...>.jpg id_<8 digits> train|query|gallery'"
)
PARTS = ("train", "query", "gallery")
ALIASES = ("In-shop", "DeepFashion-InShop")  # other names the folder is often given


def _item_id(s: str) -> int:
    if not re.fullmatch(r"id_\d+", s):
        raise ValueError(s)
    return int(s[3:])


def _status(s: str) -> str:
    if s not in PARTS:
        raise ValueError(s)
    return s


def read_inshop(folder: Path) -> dict[str, Split]:
    check = Checker(LAYOUT)
    if not (folder / PARTITION).is_file():
        folder = next((folder / a for a in ALIASES if (folder / a / PARTITION).is_file()), folder)
    path = folder / PARTITION
    names, items, status = check.columns(path, EXPECTED, (str, _item_id, _status), skip=2)
    count, header = (path.read_text(encoding="utf-8").splitlines() + ["", ""])[:2]
    if header.split() != ["image_name", "item_id", "evaluation_status"]:
        raise check.error(path, f"line 2 is not the header: {header[:100]!r}", EXPECTED)
    if count.strip() != str(len(names)):
        raise check.error(path, f"line 1 says {count.strip()[:20]!r} images but {len(names)} are listed", EXPECTED)
    check.images_exist(folder, names, path)
    return check.parts(folder, {
        part: ([n for n, s in zip(names, status) if s == part], [i for i, s in zip(items, status) if s == part])
        for part in PARTS
    }, path)


LAYOUT = register(Layout(
    name="inshop",
    subdir="inshop",
    expected=f"{PARTITION} and img/ (In-shop Clothes Retrieval Benchmark, img.zip extracted)",
    source="DeepFashion In-shop Clothes Retrieval Benchmark, "
           "https://mmlab.ie.cuhk.edu.hk/projects/DeepFashion/InShopRetrieval.html",
    read=read_inshop,
    train=("train", "gallery"), database=("gallery",), query=("query",),
))
