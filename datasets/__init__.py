"""Dataset registry: ``load_dataset(name, root, protocol, limit, seed)``.

Each dataset module reads its official on-disk layout into named *parts*
(e.g. ``train`` / ``test``, or In-shop's ``train`` / ``query`` / ``gallery``) and
declares which parts form the paper protocol's train, database and query splits.
The protocols themselves live here, once, for every dataset:

- ``paper``: the splits of the IRGen paper (MISSION.md): models train on ``train``,
  the database and the queries are the parts the layout names. Where the layout picks its
  queries (ImageNet), it picks them as the official IRGen code does: every tenth image of
  the validation list ordered class by class (``val[0:50000:10]``, 5 per class).
- ``paper-random``: the same, but the queries drawn at random (a fixed seed), as the paper's
  text says ("we randomly sample 5,000 images as queries"); only for a layout that draws
  queries.
- ``dml``: the metric-learning protocol: all parts pooled, the first half of the
  classes (sorted by id) for training, the second half as both query and gallery,
  each query's own item excluded from its ranking (``Dataset.query_in_database``).
"""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .base import ArraySource, Dataset, DatasetError, FileSource, Split, iter_batches, load_batch, parse_array_origin

__all__ = [
    "Dataset", "DatasetError", "Split", "Layout", "load_dataset", "register", "LAYOUTS",
    "load_batch", "iter_batches", "concat_splits", "resolve_name", "PROTOCOLS", "image_at",
]

log = logging.getLogger(__name__)

PROTOCOLS = ("paper", "paper-random", "dml")


@dataclass(frozen=True)
class Layout:
    """How one dataset sits on disk and which of its parts the paper protocol uses."""

    name: str
    subdir: str  # folder under the data root
    expected: str  # the files that must be there, for error messages
    source: str  # where the official dataset is published
    read: Callable[[Path], dict[str, Split]]  # official parts, labels remapped to 0..C-1
    train: tuple[str, ...]
    database: tuple[str, ...]
    query: tuple[str, ...]
    query_every: int | None = None  # paper: every n-th query, class by class (ImageNet: 10, as the official code)
    query_sample: int | None = None  # paper-random: this many queries drawn at random (ImageNet: 5,000 val)
    default_root: str | None = None  # where it lives when no data root is given


LAYOUTS: dict[str, Layout] = {}


def register(layout: Layout) -> Layout:
    LAYOUTS[layout.name] = layout
    return layout


def concat_splits(name: str, splits: list[Split]) -> Split:
    """One split made of several, in order (same kind of source required)."""
    if len(splits) == 1:
        return Split(name, splits[0].source, splits[0].labels)
    sources = [s.source for s in splits]
    labels = np.concatenate([s.labels for s in splits])
    if all(isinstance(s, ArraySource) for s in sources):
        origins = np.array([o for s in sources for o in s.origins()])
        return Split(name, ArraySource(np.concatenate([s.array for s in sources]), origins), labels)
    if all(isinstance(s, FileSource) for s in sources) and len({str(s.root) for s in sources}) == 1:
        return Split(name, FileSource(sources[0].root, [p for s in sources for p in s.paths]), labels)
    raise ValueError(f"cannot concatenate sources of different kinds for split {name}")


def _resolve_dir(layout: Layout, root: str | Path | None) -> Path:
    if root is None:
        root = os.environ.get("IRGEN_DATA_ROOT")
    if root is None:
        if layout.default_root is not None:
            return Path(layout.default_root)
        root = "data"
    root = Path(root)
    nested = root / layout.subdir
    return nested if nested.is_dir() else root


def _pick(parts: dict[str, Split], names: tuple[str, ...], split_name: str) -> Split:
    return concat_splits(split_name, [parts[n] for n in names])


def _sample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=limit, replace=False))


def _limited(split: Split, limit: int | None, rng: np.random.Generator) -> Split:
    """At most ``limit`` images of ``split``, drawn with ``rng`` (all of them without a limit)."""
    if limit is None or len(split) <= limit:
        return split
    return split.subset(_sample(len(split), limit, rng))


def _paper_queries(layout: Layout, query: Split, protocol: str) -> Split:
    """The queries of the paper protocols: the layout's official pick (``paper``), or its
    seeded random draw (``paper-random``); the whole part where the layout picks none."""
    if protocol == "paper-random":
        if layout.query_sample is None:
            raise DatasetError(f"--protocol paper-random: {layout.name} takes every image of its query part, "
                               f"there is nothing to draw at random; use --protocol paper")
        return _limited(query, layout.query_sample, np.random.default_rng(0))
    if layout.query_every is None:
        return query
    by_class = np.argsort(query.labels, kind="stable")  # the official list is built class by class
    return query.subset(np.sort(by_class[:: layout.query_every]))


def _paper(layout: Layout, parts: dict[str, Split], protocol: str, limit: int | None,
           rng: np.random.Generator) -> tuple[Split, Split, Split]:
    """The paper protocols' splits. ``limit`` applies to each part the models train on or search
    before the splits are made of them, so a part in two splits (CUB's train part is the train
    split and the database; In-shop's gallery is the database and half of the train split) keeps
    one subset: a limited run keeps the full protocol's overlap between training and database."""
    for name in dict.fromkeys(layout.train + layout.database):
        parts = {**parts, name: _limited(parts[name], limit, rng)}
    query = _limited(_paper_queries(layout, _pick(parts, layout.query, "query"), protocol), limit, rng)
    return _pick(parts, layout.train, "train"), _pick(parts, layout.database, "database"), query


def _dml(parts: dict[str, Split], limit: int | None, rng: np.random.Generator) -> tuple[Split, Split, Split]:
    """The metric-learning protocol's splits (module doc); ``limit`` applies to each split."""
    pooled = concat_splits("all", list(parts.values()))
    classes = np.unique(pooled.labels)
    train_classes = classes[: len(classes) // 2]
    is_train = np.isin(pooled.labels, train_classes)
    train = _limited(pooled.subset(np.flatnonzero(is_train)), limit, rng)
    test = _limited(pooled.subset(np.flatnonzero(~is_train)), limit, rng)
    return train, Split("database", test.source, test.labels), Split("query", test.source, test.labels)


def load_dataset(
    name: str,
    root: str | Path | None = None,
    protocol: str = "paper",
    limit: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load ``name`` from its official layout under ``root`` and split it by ``protocol``.

    ``limit`` (at least 1) keeps at most that many images of each part a split is made of,
    drawn with ``seed``; a part shared by two roles (train and database in the paper protocols,
    database and query in ``dml``) keeps one common subset.
    """
    _import_layouts()
    name = resolve_name(name)
    if name not in LAYOUTS:
        raise DatasetError(f"unknown dataset {name!r}: choose one of {', '.join(sorted(LAYOUTS))}")
    if protocol not in PROTOCOLS:
        raise DatasetError(f"unknown protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    if limit is not None and limit < 1:
        raise DatasetError(f"--limit {limit}: give a positive number of images per split, e.g. --limit 1000")
    layout = LAYOUTS[name]
    folder = _resolve_dir(layout, root)
    if not folder.is_dir():
        raise DatasetError(
            f"dataset {name}: folder {folder} not found; put {layout.expected} there "
            f"(official source: {layout.source}) or pass --data-root"
        )
    parts = layout.read(folder)
    rng = np.random.default_rng(seed)
    in_db = protocol == "dml"
    train, database, query = _dml(parts, limit, rng) if in_db else _paper(layout, parts, protocol, limit, rng)
    train.name, database.name, query.name = "train", "database", "query"
    return Dataset(name, protocol, train, database, query, query_in_database=in_db,
                   info={"folder": str(folder), "limit": limit, "seed": seed})


def image_at(name: str, origin: str, root: str | Path | None = None):
    """The image an ``ImageSource.origins()`` entry of dataset ``name`` names, read again from the
    dataset's files under ``root`` (as ``load_dataset`` finds them): a stored ranking's query i
    and database item j, without the run that made it."""
    _import_layouts()
    layout = LAYOUTS[resolve_name(name)]
    folder = _resolve_dir(layout, root)
    part, index = parse_array_origin(origin) if origin.endswith("]") else (None, None)
    if part is None:
        return FileSource(folder, [origin]).pil(0)
    parts = _read_parts(layout.name, str(folder))
    if part not in parts:
        raise DatasetError(f"dataset {name}: no part {part!r} (origin {origin}); it has {', '.join(parts)}")
    return parts[part].source.pil(index)


@functools.lru_cache(maxsize=2)
def _read_parts(name: str, folder: str) -> dict[str, Split]:
    return LAYOUTS[name].read(Path(folder))


def resolve_name(name: str) -> str:
    """``embedded`` is Fashion-MNIST where Debian's package is installed, else sklearn's digits."""
    if name != "embedded":
        return name
    from .embedded import fashion_mnist_available

    if fashion_mnist_available():
        return "fashion-mnist"
    log.warning("embedded default: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); "
                "using scikit-learn's digits instead")
    return "digits"


def _import_layouts() -> None:
    """Import every dataset module so that each registers its layout."""
    from . import cars196, cub200, embedded, imagenet, inshop, places365  # noqa: F401
