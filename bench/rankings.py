"""Every cell's ranking, kept: ``results/rankings/<cell_id>.npz``, and the items it ranks, kept
once per dataset fingerprint: ``results/rankings/items/<fingerprint>.npz``.

A cell's file (compressed ``.npz``, written atomically before the cell's rows, so a finished
cell always has it):

- ``ids`` int32 (n_queries, width): the ranked database ids of every query, best first, -1 where
  fewer were found, *as searched*: ``width`` is the depth, or depth + 1 under the
  metric-learning protocol, whose query's own item is still in its row (``drop_self`` runs on
  reading, as it runs on searching, so the metrics recomputed are the metrics stored);
- ``scores`` float16 (same shape), where the method has scores: what ranked each result
  (``score_kind`` says what it is; the feature backends' distances, IRGen's log-probability of
  the identifier that returned the item, every item of one identifier sharing it), +-inf at -1;
- ``bound_ids`` int32 (n_queries, depth), where the method has a bound (IRGen: each query
  answered by the identifier its own tokenizer gives it, no decoder);
- ``meta``: JSON text: the format version, the cell id, the items file's fingerprint, ``ks``,
  ``depth``, ``query_in_database``, ``score_kind``.

The items file: per split (``query``, ``database``) its labels (int64) and its origins, where
each image sits in the dataset's files (``datasets.image_at(dataset, origin)`` opens it: a path
under the dataset's folder, or ``<part>[<index>]`` for an array dataset), as UTF-8 lines; and
``meta`` (dataset, protocol, folder, fingerprint). So metrics are recomputed from ``results/``
alone, and a later tool finds query i's and database item j's images.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from methods.runtime.files import atomic_write

FORMAT = 1
FOLDER = "rankings"


@dataclass
class RankedItems:
    """The query and database items of one dataset fingerprint: labels and origins."""

    query_labels: np.ndarray
    database_labels: np.ndarray
    query_origins: list[str]
    database_origins: list[str]
    meta: dict = field(default_factory=dict)

    @classmethod
    def of(cls, dataset) -> "RankedItems":
        return cls(dataset.query.labels, dataset.database.labels, dataset.query.source.origins(),
                   dataset.database.source.origins(),
                   {"dataset": dataset.name, "protocol": dataset.protocol, "fingerprint": dataset.fingerprint,
                    "folder": dataset.info.get("folder"), "query_in_database": dataset.query_in_database})


@dataclass
class Ranking:
    """One cell's stored ranking (module doc)."""

    ids: np.ndarray
    ks: list[int]
    depth: int
    query_in_database: bool
    items: str  # the items file's fingerprint
    scores: np.ndarray | None = None
    score_kind: str = ""
    bound_ids: np.ndarray | None = None
    cell_id: str = ""


def folder(results: Path) -> Path:
    return Path(results) / FOLDER


def ranking_path(results: Path, cell_id: str) -> Path:
    return folder(results) / f"{cell_id}.npz"


def items_path(results: Path, fingerprint: str) -> Path:
    return folder(results) / "items" / f"{fingerprint}.npz"


def _lines(texts: list[str]) -> np.ndarray:
    return np.frombuffer("\n".join(texts).encode(), dtype=np.uint8)


def _unlines(data: np.ndarray, n: int) -> list[str]:
    return data.tobytes().decode().split("\n") if n else []


def _save(path: Path, **arrays) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    atomic_write(path, write)


def write_items(results: Path, items: RankedItems) -> Path:
    """The items file of ``items``' fingerprint, written once (the fingerprint fixes its content)."""
    path = items_path(results, items.meta["fingerprint"])
    if not path.exists():
        _save(path, query_labels=np.asarray(items.query_labels, np.int64),
              database_labels=np.asarray(items.database_labels, np.int64),
              query_origins=_lines(items.query_origins), database_origins=_lines(items.database_origins),
              meta=np.str_(json.dumps(items.meta, sort_keys=True)))
    return path


def read_items(results: Path, fingerprint: str) -> RankedItems:
    with np.load(items_path(results, fingerprint), allow_pickle=False) as z:
        q, db = z["query_labels"], z["database_labels"]
        return RankedItems(q, db, _unlines(z["query_origins"], len(q)), _unlines(z["database_origins"], len(db)),
                           json.loads(str(z["meta"])))


def write_ranking(results: Path, ranking: Ranking) -> Path:
    meta = {"format": FORMAT, "cell_id": ranking.cell_id, "items": ranking.items, "ks": list(ranking.ks),
            "depth": ranking.depth, "query_in_database": ranking.query_in_database, "score_kind": ranking.score_kind}
    arrays = {"ids": np.asarray(ranking.ids).astype(np.int32), "meta": np.str_(json.dumps(meta, sort_keys=True))}
    if ranking.scores is not None:
        arrays["scores"] = np.asarray(ranking.scores).astype(np.float16)
    if ranking.bound_ids is not None:
        arrays["bound_ids"] = np.asarray(ranking.bound_ids).astype(np.int32)
    path = ranking_path(results, ranking.cell_id)
    _save(path, **arrays)
    return path


def ranking_meta(path: Path) -> dict:
    """A ranking file's ``meta`` alone (its arrays left unread)."""
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta"]))


def read_ranking(path: Path) -> Ranking:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return Ranking(ids=z["ids"], ks=meta["ks"], depth=meta["depth"], query_in_database=meta["query_in_database"],
                       items=meta["items"], scores=z["scores"] if "scores" in z.files else None,
                       score_kind=meta["score_kind"], bound_ids=z["bound_ids"] if "bound_ids" in z.files else None,
                       cell_id=meta["cell_id"])

