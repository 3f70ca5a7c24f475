"""A results folder whose rankings are known, over sklearn's digits (always present): IRGen at
beams 1 and 10, a feature model with a linear scan (two seeds) and with IVF-PQ. Each cell's top 1
is right exactly where a rule of the query index says, so the disagreements are known:

- IRGen beam 10 (the headline beam): right unless i % 4 == 0; beam 1: never right;
- smallcnn / linear scan: seed 0 right unless i % 3 == 0; seed 1 also wrong where i % 5 == 0
  (P@1 over the seeds: the best baseline);
- smallcnn / IVF-PQ: right where i is even.

With 120 queries, IRGen right and the baseline (seed 0) wrong on i % 12 in {3, 6, 9}: 30 queries;
the reverse on i % 12 in {4, 8}: 20."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bench.evaluate import evaluate
from bench.rankings import RankedItems, Ranking, write_items, write_ranking
from datasets import load_dataset
from tests.bench.test_report import manifest

N_QUERIES = 120
DEPTH = 20
IRGEN_ONLY, BASELINE_ONLY = 30, 20
RUN = "20260101-000000-aaaaaa"
COLUMNS = ["run_id", "cell_id", "dataset", "protocol", "limit", "seed", "method", "variant", "features",
           "backend", "setting", "metric", "k", "value"]


def dataset():
    return load_dataset("digits", limit=N_QUERIES, seed=0)


def ranking_with_top1(right: np.ndarray, db: np.ndarray, queries: np.ndarray, seed: int) -> np.ndarray:
    """(n_queries, DEPTH) ids: the top 1 of query i shares its class exactly where ``right[i]``; the rest random."""
    rng = np.random.default_rng(seed)
    ids = np.empty((len(queries), DEPTH), dtype=np.int64)
    for i, label in enumerate(queries):
        first = rng.choice(np.flatnonzero((db == label) == right[i]))
        rest = rng.permutation(np.setdiff1d(np.arange(len(db)), [first]))[: DEPTH - 1]
        ids[i] = np.concatenate([[first], rest])
    return ids


def cells() -> list[tuple[dict, np.ndarray]]:
    """(the cell's keys, its top-1 rule over the query indices)."""
    i = np.arange(N_QUERIES)
    irgen = dict(method="irgen", variant="preset=small,identifier=rq,T=4", features="irgen-effnet",
                 backend="beam-search")
    cnn = dict(method="smallcnn", variant="-", features="smallcnn")
    return [({**irgen, "setting": "beam=10", "seed": 0}, i % 4 != 0),
            ({**irgen, "setting": "beam=1", "seed": 0}, np.zeros(N_QUERIES, bool)),
            ({**cnn, "backend": "linear", "setting": "-", "seed": 0}, i % 3 != 0),
            ({**cnn, "backend": "linear", "setting": "-", "seed": 1}, (i % 3 != 0) & (i % 5 != 0)),
            ({**cnn, "backend": "ivfpq", "setting": "-", "seed": 0}, i % 2 == 0)]


def example_results(root) -> tuple:
    """Write the folder; returns (its path, the dataset)."""
    ds = dataset()
    items = RankedItems.of(ds)
    write_items(root, items)
    db, queries = ds.database.labels, ds.query.labels
    rows = []
    for n, (keys, right) in enumerate(cells()):
        cell_id = f"cell{n}"
        ids = ranking_with_top1(right, db, queries, n)
        write_ranking(root, Ranking(ids, [1, 10], DEPTH, False, ds.fingerprint, cell_id=cell_id))
        key = {"run_id": RUN, "cell_id": cell_id, "dataset": "digits", "protocol": "paper", "limit": str(N_QUERIES),
               **keys}
        rows += [{**key, "metric": m, "k": k, "value": v} for m, k, v in evaluate(ids, db, queries, [1, 10])]
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(root / "results.csv", index=False)
    (root / "manifests" / f"{RUN}.json").write_text(json.dumps(manifest(RUN)))
    return root, ds
