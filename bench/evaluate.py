"""Ranked database ids -> metric rows. The ranking is computed once by the method;
every metric is derived from the same relevance matrix, each as a mean over its per-query
values (``per_query``: what bench/uncertainty.py resamples)."""
from __future__ import annotations

import numpy as np

from . import metrics as M

# what evaluate writes: its scalar metrics, then the curves; ``bound_rows`` writes BOUND prefixed "bound_"
SCALAR = ("precision", "precision_official", "precision_released", "recall", "mrr", "map", "map_found",
          "map_released", "map_at_r", "r_precision", "r_beyond_depth")
CURVES = ("curve_precision", "curve_precision_official", "curve_precision_released", "curve_tpr")
BOUND = ("precision", "precision_official", "precision_released", "recall")
EVALUATED = SCALAR + CURVES + tuple(f"bound_{m}" for m in BOUND)


def drop_self(ids: np.ndarray) -> np.ndarray:
    """Metric-learning protocol: each query is also in the database; remove query i's
    own item (id i) from row i, shifting the rest left and padding with -1."""
    own = ids == np.arange(len(ids))[:, None]
    order = np.argsort(own, axis=1, kind="stable")  # the own item (True) moves to the end
    out = np.take_along_axis(ids, order, axis=1)
    out[np.take_along_axis(own, order, axis=1)] = -1
    return out


def curve_points(depth: int, n: int = 60) -> np.ndarray:
    """Ranks at which the precision / TPR curve is kept: all up to 10, then log-spaced."""
    ks = np.unique(np.concatenate([np.arange(1, min(depth, 10) + 1),
                                   np.geomspace(1, depth, n).round().astype(int)]))
    return ks[(ks >= 1) & (ks <= depth)]


def _relevance(ids: np.ndarray, db_labels: np.ndarray, query_labels: np.ndarray,
               query_in_database: bool) -> tuple[np.ndarray, np.ndarray]:
    """(relevance matrix, relevant items per query) of a ranking as searched."""
    if query_in_database:
        ids = drop_self(ids)
    return (M.relevance(ids, db_labels, query_labels),
            M.count_relevant(db_labels, query_labels, exclude_self=query_in_database))


def _per_query(rel: np.ndarray, n_rel: np.ndarray, ks: list[int]) -> list[tuple[str, int, np.ndarray]]:
    depth = rel.shape[1]
    out = []
    for k in ks:
        out += [("precision", k, M.precision_at_k_per_query(rel, k)),
                ("precision_official", k, M.precision_official_at_k_per_query(rel, n_rel, k)),
                ("precision_released", k, M.precision_released_at_k_per_query(rel, n_rel, k)),
                ("recall", k, M.recall_at_k_per_query(rel, k)), ("mrr", k, M.mrr_at_k_per_query(rel, k))]
    for k in ks + ([100] if depth >= 100 and 100 not in ks else []):
        out += [("map", k, M.map_at_k_per_query(rel, n_rel, k)), ("map_found", k, M.map_found_at_k_per_query(rel, k)),
                ("map_released", k, M.map_released_at_k_per_query(rel, n_rel, k))]
    # MAP@R and R-Precision see only the retrieved depth: k records it, r_beyond_depth says for how many
    # queries that cut them short
    out += [("map_at_r", depth, M.map_at_r_per_query(rel, n_rel)),
            ("r_precision", depth, M.r_precision_per_query(rel, n_rel)),
            ("r_beyond_depth", depth, M.beyond_depth_per_query(n_rel, depth))]
    return out


def per_query(ids: np.ndarray, db_labels: np.ndarray, query_labels: np.ndarray, ks: list[int],
              query_in_database: bool = False) -> list[tuple[str, int, np.ndarray]]:
    """(metric, k, per-query values) for every scalar metric ``evaluate`` writes, in its order;
    a value is NaN for a query the metric leaves out (bench.metrics)."""
    return _per_query(*_relevance(ids, db_labels, query_labels, query_in_database), ks)


def evaluate(ids: np.ndarray, db_labels: np.ndarray, query_labels: np.ndarray, ks: list[int],
             query_in_database: bool = False) -> list[tuple[str, int, float]]:
    """(metric, k, value) rows: for each k, P@k under three rules (hits / k, the official IRGen
    rule as its code reads, and as its released code computed it), R@k, MRR@k and MAP@k under
    three conventions (over min(R, k), over the hits found, the released trapezoid AP); MAP@100
    when the depth reaches 100; MAP@R and R-Precision over the retrieved depth with the share of
    queries whose R exceeds it; the PR curve (all three precision rules)."""
    rel, n_rel = _relevance(ids, db_labels, query_labels, query_in_database)
    rows = [(m, k, M.query_mean(v)) for m, k, v in _per_query(rel, n_rel, ks)]
    precision, tpr = M.pr_curve(rel, n_rel)
    official = M.official_precision_curve(rel, n_rel)
    released = M.released_precision_curve(rel, n_rel)
    for k in curve_points(rel.shape[1]):
        rows += [("curve_precision", int(k), float(precision[k - 1])),
                 ("curve_precision_official", int(k), float(official[k - 1])),
                 ("curve_precision_released", int(k), float(released[k - 1])),
                 ("curve_tpr", int(k), float(tpr[k - 1]))]
    return rows


def bound_rows(ids: np.ndarray, db_labels: np.ndarray, query_labels: np.ndarray, ks: list[int],
               query_in_database: bool = False) -> list[tuple[str, int, float]]:
    """P@k (three rules) and R@k of a bound's ranking (IRGen's perfect decoder), named ``bound_<metric>``."""
    rel, n_rel = _relevance(ids, db_labels, query_labels, query_in_database)
    return [(f"bound_{m}", k, M.query_mean(v)) for m, k, v in _per_query(rel, n_rel, ks) if m in BOUND]


def ranking_rows(ranking, items) -> list[tuple[str, int, float]]:
    """Every metric row of a stored ranking (bench.rankings): ``evaluate``'s, and the bound's where
    there is one. bench.run writes these; ``bench.report --recompute`` derives them again."""
    labels = (items.database_labels, items.query_labels)
    rows = evaluate(ranking.ids, *labels, ranking.ks, ranking.query_in_database)
    if ranking.bound_ids is not None:
        rows += bound_rows(ranking.bound_ids, *labels, ranking.ks, ranking.query_in_database)
    return rows
