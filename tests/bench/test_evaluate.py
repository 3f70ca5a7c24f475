import numpy as np
import pytest

from bench.evaluate import curve_points, drop_self, evaluate


def test_drop_self_removes_own_item_and_pads():
    ids = np.array([[0, 3, 1], [2, 1, 0], [4, 5, 6]])
    assert drop_self(ids).tolist() == [[3, 1, -1], [2, 0, -1], [4, 5, 6]]


def test_evaluate_rows_on_a_hand_worked_ranking():
    db = np.array([0, 0, 1, 1])
    queries = np.array([0, 1])
    ids = np.array([[0, 2, 1, -1], [0, 1, 2, 3]])
    rows = {(m, k): v for m, k, v in evaluate(ids, db, queries, [1, 2])}
    assert rows[("precision", 1)] == 0.5  # query 0 hits, query 1 misses
    assert rows[("precision", 2)] == 0.25
    assert rows[("recall", 2)] == 0.5
    assert rows[("mrr", 2)] == 0.5
    # MAP@R over depth 4: q0 AP = (1/1 + 0)/2 at R=2 -> hits at ranks 1 only within R; q1: no hit in top 2
    assert rows[("map_at_r", 4)] == 0.25
    assert ("curve_precision", 4) in rows and ("curve_tpr", 4) in rows
    # official rule: the last relevant image of q0 is at rank 3, of q1 at rank 4, both past K <= 2: hits / K
    assert rows[("precision_official", 1)] == 0.5
    assert rows[("precision_official", 2)] == 0.25
    assert rows[("map_found", 2)] == 0.5  # q0: its one hit at rank 1; q1: none
    assert rows[("r_beyond_depth", 4)] == 0.0


def test_evaluate_official_precision_divides_by_the_last_relevant_rank():
    db = np.array([0, 0, 1, 1, 1, 1])
    ids = np.array([[1, 0, 2, 3, 4]])  # both relevant images at ranks 1 and 2
    rows = {(m, k): v for m, k, v in evaluate(ids, db, np.array([0]), [1, 5])}
    assert rows[("precision", 5)] == 0.4 and rows[("precision_official", 5)] == 1.0
    assert rows[("r_beyond_depth", 5)] == 0.0
    assert rows[("curve_precision_official", 2)] == 1.0 and rows[("curve_precision", 3)] == 2 / 3


def test_three_precision_rules_part_on_an_inshop_like_layout():
    """1 to 3 gallery images per item (In-shop has about 3): P@10 is capped by the few relevant
    images, the official rule divides by the last one's rank, and as released a query with one
    image found scores hits / 10. With hundreds of relevant images per query (Fashion-MNIST) all
    three agree."""
    gallery = np.array([0, 1, 1, 2, 2, 2, 3, 4, 4, 5, 6, 7])  # item of each gallery image
    queries = np.array([0, 1, 2, 3, 4])
    ids = np.array([
        [0, 9, 10, 11, 1, 2, 3, 4, 5, 6],  # item 0: its one image at rank 1
        [1, 2, 0, 9, 10, 11, 3, 4, 5, 6],  # item 1: both at ranks 1-2
        [3, 0, 4, 9, 5, 10, 11, 1, 2, 6],  # item 2: all three at ranks 1, 3, 5
        [0, 9, 10, 11, 1, 2, 3, 4, 5, 6],  # item 3: its one image last, at rank 10
        [7, 0, 9, 10, 11, 1, 2, 3, 4, 5],  # item 4: one of two found
    ])
    rows = {(m, k): v for m, k, v in evaluate(ids, gallery, queries, [1, 10])}
    assert rows[("precision", 10)] == pytest.approx((1 + 2 + 3 + 1 + 1) / 10 / 5)
    assert rows[("precision_official", 10)] == pytest.approx((1 / 1 + 2 / 2 + 3 / 5 + 1 / 10 + 1 / 10) / 5)
    assert rows[("precision_released", 10)] == pytest.approx((1 / 10 + 2 / 2 + 3 / 5 + 1 / 10 + 1 / 10) / 5)
    assert len({rows[(m, 10)] for m in ("precision", "precision_official", "precision_released")}) == 3
    assert rows[("precision", 1)] == rows[("precision_official", 1)] == rows[("precision_released", 1)]
    assert rows[("curve_precision_released", 10)] == rows[("precision_released", 10)]
    # trapezoids: item 2's images at 0-based 0, 2, 4 -> 1 + (1/2 + 2/3) / 2 + (2/4 + 3/5) / 2, over 3
    item2 = (1 + (1 / 2 + 2 / 3) / 2 + (2 / 4 + 3 / 5) / 2) / 3
    item3 = (0 / 9 + 1 / 10) / 2
    item4 = (1 + 0) / 2  # one of its two found, at rank 1, over min(2, 10)
    assert rows[("map_released", 10)] == pytest.approx((1 + 1 + item2 + item3 + item4) / 5)


def test_evaluate_metric_learning_protocol_excludes_the_query():
    labels = np.array([0, 0, 1, 1])
    # every query's nearest neighbour is itself; without drop_self P@1 would be 1.0
    ids = np.array([[0, 1, 2, 3], [1, 0, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0]])
    rows = {(m, k): v for m, k, v in evaluate(ids, labels, labels, [1], query_in_database=True)}
    assert rows[("precision", 1)] == 0.75
    assert rows[("r_precision", 4)] == 0.75  # R = 1 per query after excluding itself


def test_curve_points_are_increasing_and_bounded():
    ks = curve_points(100)
    assert ks[0] == 1 and ks[-1] == 100 and np.all(np.diff(ks) > 0)
    assert curve_points(3).tolist() == [1, 2, 3]

