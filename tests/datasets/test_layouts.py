"""What every official-layout reader must do, checked on a miniature of each layout."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import LAYOUTS, DatasetError, load_batch


def test_paper_protocol_sizes_and_labels(miniature):
    ds = miniature.load(protocol="paper")
    for split in ("train", "database", "query"):
        assert getattr(ds, split).labels.tolist() == miniature.labels[split], split
    assert not ds.query_in_database
    assert ds.n_classes == 4
    assert set(ds.query.labels) <= set(ds.database.labels)
    # every path is relative to the dataset folder and points at a file
    for split in (ds.train, ds.database, ds.query):
        assert all(not p.startswith("/") and (miniature.folder / p).is_file() for p in split.source.paths)


def test_paper_split_items_are_pil_images(miniature):
    ds = miniature.load()
    img, label = ds.query[0]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (14, 10)
    assert label == miniature.labels["query"][0]
    batch = load_batch(ds.query, np.arange(len(ds.query)), 16)
    assert batch.shape == (len(ds.query), 3, 16, 16) and str(batch.dtype) == "torch.uint8"


def test_dml_protocol_disjoint_classes_query_is_database(miniature):
    ds = miniature.load(protocol="dml")
    assert ds.query_in_database
    assert ds.query.source.paths == ds.database.source.paths
    assert np.array_equal(ds.query.labels, ds.database.labels)
    train, test = set(ds.train.labels.tolist()), set(ds.query.labels.tolist())
    assert train and test and not train & test
    assert train | test == {0, 1, 2, 3} and max(train) < min(test)  # first half of the classes trains
    every_image = {p for part in LAYOUTS[miniature.name].read(miniature.folder).values() for p in part.source.paths}
    assert set(ds.train.source.paths) | set(ds.query.source.paths) == every_image
    assert len(ds.train) + len(ds.query) == len(every_image)


@pytest.mark.parametrize("protocol", ["paper", "dml"])
def test_limit_is_seeded(miniature, protocol):
    a = miniature.load(protocol=protocol, limit=3, seed=1)
    b = miniature.load(protocol=protocol, limit=3, seed=1)
    c = miniature.load(protocol=protocol, limit=3, seed=2)
    full = miniature.load(protocol=protocol)
    assert all(len(s) == min(3, len(f)) for s, f in zip((a.database, a.query), (full.database, full.query)))
    # the limit applies to each part a split is made of (In-shop's train split: train + gallery parts)
    train_parts = len(LAYOUTS[miniature.name].train) if protocol == "paper" else 1
    assert min(3, len(full.train)) <= len(a.train) <= 3 * train_parts
    assert a.fingerprint == b.fingerprint and a.train.source.paths == b.train.source.paths
    assert a.fingerprint != c.fingerprint
    assert set(a.train.source.paths) <= set(full.train.source.paths)
    if protocol == "dml":
        assert a.query.source.paths == a.database.source.paths
    elif full.train.source.paths == full.database.source.paths:  # train = database: one common subset
        assert a.database.source.paths == a.train.source.paths


def same_times(source: Path, copy: Path) -> None:
    """Give the files under ``copy`` the times of their twins under ``source``, as ``cp -a`` does."""
    for path in source.rglob("*"):
        twin = copy / path.relative_to(source)
        if twin.exists():
            stat = path.stat()
            os.utime(twin, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_fingerprint_is_portable_and_follows_labels(layout_kind, build):
    first, same, relabelled = build(layout_kind), build(layout_kind), build(layout_kind, relabel=True)
    same_times(first.root, same.root)
    same_times(first.root, relabelled.root)
    assert first.load().fingerprint == same.load().fingerprint  # another folder, same files and times
    assert first.load().fingerprint != relabelled.load().fingerprint
    assert first.load(protocol="dml").fingerprint != relabelled.load(protocol="dml").fingerprint
    assert first.load().fingerprint != first.load(protocol="dml").fingerprint


def test_fingerprint_sees_an_image_replaced_in_place(miniature):
    before = miniature.load().fingerprint
    stat = miniature.image.stat()
    miniature.image.write_bytes(miniature.image.read_bytes()[:40])  # truncated
    truncated = miniature.load().fingerprint
    assert truncated != before
    os.utime(miniature.image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))  # same size, later time
    assert miniature.load().fingerprint not in (before, truncated)


def test_fingerprint_of_an_image_gone_after_loading_names_it(miniature):
    ds = miniature.load()
    miniature.image.unlink()
    with pytest.raises(DatasetError, match=f"image file .*{miniature.image.name} is missing") as e:
        _ = ds.fingerprint
    assert "\n" not in str(e.value)


def test_unreadable_image_fails_when_read(miniature):
    miniature.image.write_bytes(b"this is not a JPEG")
    ds = miniature.load()  # listed and present, so loading the layout succeeds
    rel = miniature.image.relative_to(miniature.folder).as_posix()
    split = next(s for s in (ds.train, ds.query) if rel in s.source.paths)
    i = split.source.paths.index(rel)
    with pytest.raises(DatasetError, match=miniature.image.name) as e:
        load_batch(split, np.arange(len(split)), 8)
    assert "\n" not in str(e.value)
    with pytest.raises(DatasetError, match=miniature.image.name):
        split[i]


def test_truncated_image_fails_when_read(miniature):
    miniature.image.write_bytes(miniature.image.read_bytes()[:40])
    ds = miniature.load()
    rel = miniature.image.relative_to(miniature.folder).as_posix()
    split = next(s for s in (ds.train, ds.query) if rel in s.source.paths)
    with pytest.raises(DatasetError, match=miniature.image.name):
        split[split.source.paths.index(rel)]


def test_empty_dataset_folder_names_a_missing_file(miniature, raises_naming):
    (miniature.root / "elsewhere").mkdir()
    miniature.root = miniature.root / "elsewhere"  # exists, but holds nothing of the layout
    raises_naming(miniature, miniature.root)


def test_missing_data_root_names_the_folder(miniature, raises_naming):
    miniature.root = miniature.root / "absent"
    raises_naming(miniature, miniature.root)
