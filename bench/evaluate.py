"""Ranked database ids -> metric rows. The ranking is computed once by the method;
every metric is derived from the same relevance matrix."""
from __future__ import annotations

import numpy as np

from . import metrics as M


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


def evaluate(ids: np.ndarray, db_labels: np.ndarray, query_labels: np.ndarray, ks: list[int],
             query_in_database: bool = False) -> list[tuple[str, int, float]]:
    """(metric, k, value) rows: for each k, P@k under three rules (hits / k, the official IRGen
    rule as its code reads, and as its released code computed it), R@k, MRR@k and MAP@k under
    three conventions (over min(R, k), over the hits found, the released trapezoid AP); MAP@100
    when the depth reaches 100; MAP@R and R-Precision over the retrieved depth with the share of
    queries whose R exceeds it; the PR curve (all three precision rules)."""
    if query_in_database:
        ids = drop_self(ids)
    depth = ids.shape[1]
    rel = M.relevance(ids, db_labels, query_labels)
    n_rel = M.count_relevant(db_labels, query_labels, exclude_self=query_in_database)
    rows = []
    for k in ks:
        rows += [("precision", k, M.precision_at_k(rel, k)),
                 ("precision_official", k, M.precision_official_at_k(rel, n_rel, k)),
                 ("precision_released", k, M.precision_released_at_k(rel, n_rel, k)),
                 ("recall", k, M.recall_at_k(rel, k)), ("mrr", k, M.mrr_at_k(rel, k))]
    for k in ks + ([100] if depth >= 100 and 100 not in ks else []):
        rows += [("map", k, M.map_at_k(rel, n_rel, k)), ("map_found", k, M.map_found_at_k(rel, k)),
                 ("map_released", k, M.map_released_at_k(rel, n_rel, k))]
    # MAP@R and R-Precision see only the retrieved depth: k records it, r_beyond_depth says for how many
    # queries that cut them short
    rows += [("map_at_r", depth, M.map_at_r(rel, n_rel)), ("r_precision", depth, M.r_precision(rel, n_rel)),
             ("r_beyond_depth", depth, M.beyond_depth(n_rel, depth))]
    precision, tpr = M.pr_curve(rel, n_rel)
    official = M.official_precision_curve(rel, n_rel)
    released = M.released_precision_curve(rel, n_rel)
    for k in curve_points(depth):
        rows += [("curve_precision", int(k), float(precision[k - 1])),
                 ("curve_precision_official", int(k), float(official[k - 1])),
                 ("curve_precision_released", int(k), float(released[k - 1])),
                 ("curve_tpr", int(k), float(tpr[k - 1]))]
    return rows

