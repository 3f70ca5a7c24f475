"""Retrieval metrics on a relevance matrix: pure, vectorised numpy.

``rel`` is a boolean matrix (n_queries x ranked results): ``rel[q, i]`` says whether the
result at rank ``i + 1`` for query ``q`` has the query's class. A missing result (the method
returned fewer results than asked, id -1) is False, and ranks past ``rel``'s last column count
as missing too, so every cut-off K may exceed what was retrieved or the database size.
``n_relevant`` is an int array: the number of relevant database items per query (the query's
own item excluded when the query set is the database). Each row of ``rel`` must list a
database item at most once, or the counts below overstate.

Each metric is computed per query and averaged over queries (a Python float; NaN when no
query counts). Each has its per-query form, ``<metric>_per_query``: an array of one value per
query, NaN for a query the metric leaves out, whose mean over the queries that count is the
metric, bit for bit (what bootstrap intervals and paired tests resample, bench/uncertainty.py).
Queries with ``n_relevant == 0``:

* precision_at_k, recall_at_k, mrr_at_k: no special case (nothing relevant can be found, so
  they score 0) and they stay in the mean.
* map_at_k, map_found_at_k: score 0 and stay in the mean (their divisors would be 0).
* precision_official_at_k, precision_released_at_k, map_released_at_k and their curves: left
  out of the mean, as the official IRGen evaluation does (``compute_map`` skips a query with no
  positive image).
* map_at_r, r_precision: left out of the mean, as pytorch-metric-learning does (R = 0 has no
  first R ranks to look at).
* pr_curve: left out of the true-positive rate, kept in the precision.

Two precision rules, named apart: ``precision_at_k`` divides the hits in the top K by K;
``precision_official_at_k`` is the rule of the official IRGen evaluation
(``utils/evaluate.py``, ``compute_map`` with ``kappas``), which the paper's tables report: a
query whose relevant images were all returned, the last of them at 1-based rank r < K, has
its hits divided by r instead of K. With 30-40 relevant images per query and K <= 8 (CUB200,
Cars196) the rules agree; with about 3 (In-shop) hits/K cannot pass 3/K while the official
rule reaches 1. Likewise two conventions of MAP@K, which the paper does not define:
``map_at_k`` divides by min(n_relevant, K), ``map_found_at_k`` by the relevant results found
in the top K.

The rule as released: ``precision_released_at_k`` and ``map_released_at_k`` are what the
official code's ``compute_map`` returns when it runs, on the numpy of its environment (Python
3.7, numpy <= 1.24). Its test ``pos != np.array([]) and ...`` is False for a query with exactly
one relevant image found (a length-1 array against an empty one broadcasts to an empty array,
and an empty array is False), so that query scores hits / K even with its one image at rank 1;
with two or more found the elementwise comparison fails and numpy returns True, so the n / r
rule applies. (On numpy >= 2 the line raises.) Its AP (``compute_ap``) sums trapezoids of the
PR plot over the positives' 0-based ranks and divides by min(n_relevant, 10), the 10 fixed
whatever K is: a query with more than 10 relevant images found scores above 1.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "precision_at_k",
    "precision_at_k_per_query",
    "precision_official_at_k",
    "precision_official_at_k_per_query",
    "precision_released_at_k",
    "precision_released_at_k_per_query",
    "recall_at_k",
    "recall_at_k_per_query",
    "mrr_at_k",
    "mrr_at_k_per_query",
    "map_at_k",
    "map_at_k_per_query",
    "map_found_at_k",
    "map_found_at_k_per_query",
    "map_released_at_k",
    "map_released_at_k_per_query",
    "map_at_r",
    "map_at_r_per_query",
    "r_precision",
    "r_precision_per_query",
    "beyond_depth",
    "beyond_depth_per_query",
    "query_mean",
    "pr_curve",
    "official_precision_curve",
    "released_precision_curve",
    "relevance",
    "count_relevant",
]


def _as_rel(rel) -> np.ndarray:
    """``rel`` as a 2-D boolean array."""
    rel = np.asarray(rel, dtype=bool)
    if rel.ndim != 2:
        raise ValueError(f"rel must be 2-D (n_queries x ranked results), got shape {rel.shape}")
    return rel


def _as_n_relevant(n_relevant, n_queries: int) -> np.ndarray:
    """``n_relevant`` as a 1-D int64 array of length ``n_queries``, checked non-negative."""
    n = np.asarray(n_relevant)
    if n.shape != (n_queries,):
        raise ValueError(f"n_relevant must have shape ({n_queries},), got {n.shape}")
    if n.size and not np.issubdtype(n.dtype, np.integer):
        if not np.all(n == np.round(n)):
            raise ValueError("n_relevant must hold whole numbers")
    n = n.astype(np.int64)
    if np.any(n < 0):
        raise ValueError("n_relevant must be >= 0")
    return n


def _check_k(k) -> int:
    """``k`` as a positive int."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _mean(values: np.ndarray) -> float:
    """Mean as a Python float; NaN (without a warning) for no values."""
    return float(values.mean()) if values.size else float("nan")


def _hits_in_top(rel: np.ndarray, k: int) -> np.ndarray:
    """Number of relevant results in the top ``k`` per query (missing ranks are False)."""
    return rel[:, :k].sum(axis=1, dtype=np.int64)


def _cut_at_r(rel: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``rel`` restricted to the first ``r[q]`` ranks of each row, as wide as it needs to be."""
    width = min(int(r.max(initial=0)), rel.shape[1])
    return rel[:, :width] & (np.arange(width) < r[:, None])


def _sum_precision_at_hits(rel: np.ndarray) -> np.ndarray:
    """Per row, the sum over relevant ranks i of precision@i (the AP numerator)."""
    if rel.shape[1] == 0:
        return np.zeros(rel.shape[0])
    cum = np.cumsum(rel, axis=1, dtype=np.int64)
    ranks = np.arange(1, rel.shape[1] + 1, dtype=np.float64)
    return np.where(rel, cum / ranks, 0.0).sum(axis=1)


def query_mean(values: np.ndarray) -> float:
    """A per-query form's metric: the mean over the queries that count (the others are NaN)."""
    return _mean(values[~np.isnan(values)])


def _left_out(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(n_queries,) with the queries not kept marked NaN (``values``: the kept queries' values)."""
    out = np.full(len(keep), np.nan)
    out[keep] = values
    return out


def precision_at_k_per_query(rel, k) -> np.ndarray:
    """Per query, the share of the top k that is relevant, always divided by k (missing = not relevant)."""
    rel, k = _as_rel(rel), _check_k(k)
    return _hits_in_top(rel, k) / k


def precision_at_k(rel, k) -> float:
    """Mean share of the top k that is relevant, always divided by k (missing = not relevant)."""
    return query_mean(precision_at_k_per_query(rel, k))


def _official_precision(rel: np.ndarray, n: np.ndarray, ks: np.ndarray, min_found: int = 1) -> np.ndarray:
    """(n_queries, len(ks)) precision under the official IRGen rule (module doc); n > 0 per row.
    The n / r rule needs ``min_found`` relevant results found: 1 as the code reads, 2 as it ran."""
    cum = np.cumsum(rel, axis=1, dtype=np.int64)
    hits = cum[:, np.minimum(ks, rel.shape[1]) - 1] if rel.shape[1] else np.zeros((len(rel), len(ks)), np.int64)
    found = cum[:, -1] if rel.shape[1] else np.zeros(len(rel), np.int64)
    found_all = (found == n) & (found >= min_found)
    # 1-based rank of the last relevant result: the width minus the run of misses after it
    last = rel.shape[1] - np.argmax(rel[:, ::-1], axis=1) if rel.shape[1] else np.zeros(len(rel), np.int64)
    early = found_all[:, None] & (last[:, None] < ks[None, :])
    return np.where(early, n[:, None] / np.maximum(last, 1)[:, None], hits / ks[None, :])


def _rule_per_query(rel, n_relevant, k, min_found: int) -> np.ndarray:
    rel, k = _as_rel(rel), _check_k(k)
    n = _as_n_relevant(n_relevant, rel.shape[0])
    keep = n > 0
    return _left_out(_official_precision(rel[keep], n[keep], np.array([k]), min_found)[:, 0], keep)


def precision_official_at_k_per_query(rel, n_relevant, k) -> np.ndarray:
    """Per query, precision@k under the official IRGen rule (``precision_official_at_k``); NaN
    where n_relevant is 0 (left out of the mean)."""
    return _rule_per_query(rel, n_relevant, k, min_found=1)


def precision_official_at_k(rel, n_relevant, k) -> float:
    """Mean precision@k under the official IRGen rule: hits / r where every relevant image was
    returned, the last at rank r < k, else hits / k; queries with n_relevant 0 left out."""
    return query_mean(precision_official_at_k_per_query(rel, n_relevant, k))


def precision_released_at_k_per_query(rel, n_relevant, k) -> np.ndarray:
    """Per query, precision@k as the released evaluation computes it (``precision_released_at_k``);
    NaN where n_relevant is 0."""
    return _rule_per_query(rel, n_relevant, k, min_found=2)


def precision_released_at_k(rel, n_relevant, k) -> float:
    """Mean precision@k as the released evaluation computes it on numpy <= 1.24: the official
    rule, except that a query with exactly one relevant image found scores hits / k (module doc);
    queries with n_relevant 0 left out."""
    return query_mean(precision_released_at_k_per_query(rel, n_relevant, k))


def recall_at_k_per_query(rel, k) -> np.ndarray:
    """Per query, 1 if any of the top k is relevant else 0."""
    rel, k = _as_rel(rel), _check_k(k)
    return rel[:, :k].any(axis=1).astype(np.float64)


def recall_at_k(rel, k) -> float:
    """Mean of 1 if any of the top k is relevant else 0 (the IRGen paper's Recall@K)."""
    return query_mean(recall_at_k_per_query(rel, k))


def mrr_at_k_per_query(rel, k) -> np.ndarray:
    """Per query, 1/rank of the first relevant result within the top k, 0 if there is none."""
    rel, k = _as_rel(rel), _check_k(k)
    top = rel[:, :k]
    if top.shape[1] == 0:
        return np.zeros(rel.shape[0])
    first = top.argmax(axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)


def mrr_at_k(rel, k) -> float:
    """Mean of 1/rank of the first relevant result within the top k, 0 if there is none."""
    return query_mean(mrr_at_k_per_query(rel, k))


def map_at_k_per_query(rel, n_relevant, k) -> np.ndarray:
    """Per query, AP@k over min(n_relevant, k) (``map_at_k``); n_relevant 0 scores 0."""
    rel, k = _as_rel(rel), _check_k(k)
    n = _as_n_relevant(n_relevant, rel.shape[0])
    summed = _sum_precision_at_hits(rel[:, :k])
    denom = np.minimum(n, k)
    return np.where(denom > 0, summed / np.maximum(denom, 1), 0.0)


def map_at_k(rel, n_relevant, k) -> float:
    """Mean AP@k: sum of precision@i at relevant ranks i <= k over min(n_relevant, k); n_relevant 0 scores 0."""
    return query_mean(map_at_k_per_query(rel, n_relevant, k))


def map_found_at_k_per_query(rel, k) -> np.ndarray:
    """Per query, AP@k over the relevant results found in the top k (0 where none is found)."""
    rel, k = _as_rel(rel), _check_k(k)
    found = _hits_in_top(rel, k)
    summed = _sum_precision_at_hits(rel[:, :k])
    return np.where(found > 0, summed / np.maximum(found, 1), 0.0)


def map_found_at_k(rel, k) -> float:
    """Mean AP@k over the relevant results found in the top k (0 where none is found)."""
    return query_mean(map_found_at_k_per_query(rel, k))


def map_released_at_k_per_query(rel, n_relevant, k) -> np.ndarray:
    """Per query, AP@k as the released ``compute_ap`` computes it (``map_released_at_k``); NaN
    where n_relevant is 0."""
    rel, k = _as_rel(rel), _check_k(k)
    n = _as_n_relevant(n_relevant, rel.shape[0])
    keep = n > 0
    top, n_kept = rel[keep, :k], n[keep]
    j = np.cumsum(top, axis=1, dtype=np.int64) - 1  # at a relevant rank: its 0-based index among the hits
    r = np.arange(top.shape[1], dtype=np.float64)
    before = np.where(r == 0, 1.0, j / np.maximum(r, 1))
    trapezoids = np.where(top, (before + (j + 1) / (r + 1)) / 2, 0.0)
    return _left_out(trapezoids.sum(axis=1) / np.minimum(n_kept, 10), keep)


def map_released_at_k(rel, n_relevant, k) -> float:
    """Mean AP@k as the released ``compute_ap`` computes it: over each relevant result in the top
    k, the j-th (0-based) at 0-based rank r, the trapezoid (j / r + (j + 1) / (r + 1)) / 2 (j / r
    read as 1 at r = 0), summed and divided by min(n_relevant, 10). The 10 is fixed, so a query
    with more than 10 relevant results in the top k scores above 1 (20 at ranks 1-20 score 2).
    Queries with n_relevant 0 left out, as the official code does."""
    return query_mean(map_released_at_k_per_query(rel, n_relevant, k))


def map_at_r_per_query(rel, n_relevant) -> np.ndarray:
    """Per query, MAP@R (``map_at_r``); NaN where R = 0."""
    rel = _as_rel(rel)
    n = _as_n_relevant(n_relevant, rel.shape[0])
    keep = n > 0
    return _left_out(_sum_precision_at_hits(_cut_at_r(rel[keep], n[keep])) / n[keep], keep)


def map_at_r(rel, n_relevant) -> float:
    """Mean MAP@R (Musgrave et al.): precision@i at relevant ranks i <= R summed, over R; queries with R = 0 left out."""
    return query_mean(map_at_r_per_query(rel, n_relevant))


def r_precision_per_query(rel, n_relevant) -> np.ndarray:
    """Per query, relevant results in the top R over R; NaN where R = 0."""
    rel = _as_rel(rel)
    n = _as_n_relevant(n_relevant, rel.shape[0])
    keep = n > 0
    return _left_out(_cut_at_r(rel[keep], n[keep]).sum(axis=1, dtype=np.int64) / n[keep], keep)


def r_precision(rel, n_relevant) -> float:
    """Mean R-Precision: relevant results in the top R over R, R = n_relevant; queries with R = 0 left out."""
    return query_mean(r_precision_per_query(rel, n_relevant))


def pr_curve(rel, n_relevant) -> tuple[np.ndarray, np.ndarray]:
    """(precision@k, TPR@k) for k = 1..rel's width, each a mean over queries; TPR leaves out n_relevant 0."""
    rel = _as_rel(rel)
    n = _as_n_relevant(n_relevant, rel.shape[0])
    cum = np.cumsum(rel, axis=1, dtype=np.int64)
    ranks = np.arange(1, rel.shape[1] + 1, dtype=np.float64)
    keep = n > 0
    if rel.shape[0]:
        precision = (cum / ranks).mean(axis=0)
    else:
        precision = np.full(rel.shape[1], np.nan)
    if keep.any():
        tpr = (cum[keep] / n[keep, None].astype(np.float64)).mean(axis=0)
    else:
        tpr = np.full(rel.shape[1], np.nan)
    return precision, tpr


def _rule_curve(rel, n_relevant, min_found: int) -> np.ndarray:
    rel = _as_rel(rel)
    n = _as_n_relevant(n_relevant, rel.shape[0])
    keep = n > 0
    if not keep.any():
        return np.full(rel.shape[1], np.nan)
    return _official_precision(rel[keep], n[keep], np.arange(1, rel.shape[1] + 1), min_found).mean(axis=0)


def official_precision_curve(rel, n_relevant) -> np.ndarray:
    """precision@k under the official IRGen rule for k = 1..rel's width, a mean over the queries
    with n_relevant > 0 (NaN where there are none)."""
    return _rule_curve(rel, n_relevant, min_found=1)


def released_precision_curve(rel, n_relevant) -> np.ndarray:
    """precision@k as the released evaluation computes it (precision_released_at_k) for
    k = 1..rel's width, a mean over the queries with n_relevant > 0 (NaN where there are none)."""
    return _rule_curve(rel, n_relevant, min_found=2)


def beyond_depth_per_query(n_relevant, depth: int) -> np.ndarray:
    """Per query, 1 where it has more relevant images than the ranking ``depth``, else 0."""
    return (np.asarray(n_relevant, dtype=np.int64) > depth).astype(np.float64)


def beyond_depth(n_relevant, depth: int) -> float:
    """Share of the queries with more relevant images than the ranking ``depth``: for them MAP@R
    and R-Precision, computed from the ranking cut at that depth, are lower bounds."""
    return query_mean(beyond_depth_per_query(n_relevant, depth))


def relevance(ranked_ids, db_labels, query_labels) -> np.ndarray:
    """Boolean matrix: ranked database id has the query's label; id -1 (missing result) is False."""
    ids = np.asarray(ranked_ids)
    db_labels, query_labels = np.asarray(db_labels), np.asarray(query_labels)
    if ids.ndim != 2 or ids.shape[0] != len(query_labels):
        raise ValueError(f"ranked_ids must have shape ({len(query_labels)}, K), got {ids.shape}")
    if ids.size and (ids.min() < -1 or ids.max() >= len(db_labels)):
        raise ValueError(f"ranked ids must lie in [-1, {len(db_labels)}), got {ids.min()}..{ids.max()}")
    present = ids >= 0
    if len(db_labels) == 0:
        return np.zeros(ids.shape, dtype=bool)
    return present & (db_labels[np.where(present, ids, 0)] == query_labels[:, None])


def count_relevant(db_labels, query_labels, exclude_self=False) -> np.ndarray:
    """Per query, how many database items share its label (minus its own item when exclude_self)."""
    db_labels, query_labels = np.asarray(db_labels), np.asarray(query_labels)
    # Labels -> dense codes so bincount works for any label values (negative, large, strings).
    _, codes = np.unique(np.concatenate([db_labels, query_labels]), return_inverse=True)
    codes = codes.reshape(-1)
    per_label = np.bincount(codes[: len(db_labels)], minlength=int(codes.max(initial=-1)) + 1)
    counts = per_label[codes[len(db_labels):]].astype(np.int64)
    if exclude_self:
        if np.any(counts < 1):
            raise ValueError("exclude_self: a query's label is not in the database, so it cannot be in it")
        counts -= 1
    return counts
