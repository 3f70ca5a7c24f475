"""bench.metrics: hand-worked cases, a loop-per-query reference, pytorch-metric-learning
cross-checks and hypothesis properties."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench import metrics as M

T, F = True, False


# ---------------------------------------------------------------- hand-worked cases

# Three queries, five ranked results each.
REL = np.array([
    [T, F, T, F, F],  # first hit at 1, hits at 1 and 3
    [F, F, T, T, F],  # first hit at 3, hits at 3 and 4
    [F, F, F, F, F],  # nothing found
])
N_REL = np.array([3, 2, 4])


def test_precision_at_k_hand_worked():
    assert M.precision_at_k(REL, 1) == pytest.approx((1 + 0 + 0) / 3)
    assert M.precision_at_k(REL, 3) == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert M.precision_at_k(REL, 5) == pytest.approx((2 / 5 + 2 / 5 + 0) / 3)


def test_precision_official_hand_worked():
    """The official IRGen rule (utils/evaluate.py): hits / r when every relevant image came back,
    the last at rank r < K; else hits / K. Queries without relevant images are left out."""
    rel = np.array([
        [T, T, F, F, F],  # all 2 relevant found early (last at rank 2)
        [T, F, F, T, F],  # 2 of 3 found
        [F, F, F, F, F],  # none of 2 found
        [F, T, F, T, F],  # all 2 found, the last at rank 4
    ])
    n = np.array([2, 3, 2, 2])
    per_query = {4: [2 / 2, 2 / 4, 0, 2 / 4], 3: [2 / 2, 1 / 3, 0, 1 / 3], 5: [1, 2 / 5, 0, 2 / 4]}
    for k, values in per_query.items():
        assert M.precision_official_at_k(rel, n, k) == pytest.approx(np.mean(values))
        assert M.precision_at_k(rel, k) <= M.precision_official_at_k(rel, n, k)
    # hits / K alone would give (2 + 2 + 0 + 2) / 4 / 4 at K = 4
    assert M.precision_at_k(rel, 4) == pytest.approx(6 / 16)


def test_precision_official_with_k_larger_than_the_list_and_no_relevant_images():
    rel = np.array([[F, T, T], [T, F, F], [T, T, F]])
    n = np.array([2, 2, 0])  # the third query has no relevant image: left out, as the official code does
    # q0: both found, last at 3 < 10 -> 2/3; q1: one of two found -> 1/10
    assert M.precision_official_at_k(rel, n, 10) == pytest.approx((2 / 3 + 1 / 10) / 2)
    assert math.isnan(M.precision_official_at_k(rel, np.zeros(3, int), 10))
    assert M.precision_official_at_k(np.zeros((2, 0), bool), np.array([1, 1]), 3) == 0.0


def test_official_precision_curve_is_the_rule_at_every_k():
    curve = M.official_precision_curve(REL, N_REL)
    assert curve.shape == (5,)
    for k in range(1, 6):
        assert curve[k - 1] == pytest.approx(M.precision_official_at_k(REL, N_REL, k))


# One relevant image at rank 1, two at ranks 1-2, none: each at K = 1 and K = 10.
ONE_TWO_NONE = np.array([
    [T, F, F, F, F, F, F, F, F, F],
    [T, T, F, F, F, F, F, F, F, F],
    [F, F, F, F, F, F, F, F, F, F],
])
N_ONE_TWO_NONE = np.array([1, 2, 0])


def test_three_precision_rules_on_one_two_and_no_relevant_images():
    """P@K divides by K; the official rule as the code reads divides both queries' hits by the
    rank of their last image (1 and 2); as released (numpy <= 1.24), the query with one image
    found scores hits / K. Both official rules leave out the query with no relevant image."""
    rel, n = ONE_TWO_NONE, N_ONE_TWO_NONE
    assert M.precision_at_k(rel, 10) == pytest.approx((1 / 10 + 2 / 10 + 0) / 3)
    assert M.precision_official_at_k(rel, n, 10) == pytest.approx((1 / 1 + 2 / 2) / 2)
    assert M.precision_released_at_k(rel, n, 10) == pytest.approx((1 / 10 + 2 / 2) / 2)
    # at K = 1 no last rank is below K: every rule is hits / K (the third query out of the last two)
    assert M.precision_at_k(rel, 1) == pytest.approx(2 / 3)
    assert M.precision_official_at_k(rel, n, 1) == M.precision_released_at_k(rel, n, 1) == 1.0
    np.testing.assert_allclose(M.released_precision_curve(rel, n)[[0, 1, 9]], [1.0, (1 / 2 + 1) / 2, (1 / 10 + 1) / 2])


def test_map_released_is_the_trapezoid_ap_over_min_r_10():
    rel, n = ONE_TWO_NONE, N_ONE_TWO_NONE
    # an image at rank 1 (0-based 0) is a trapezoid of (1 + 1/1) / 2; the second at rank 2 (1 + 2/2) / 2
    assert M.map_released_at_k(rel, n, 10) == pytest.approx((1 / 1 + 2 / 2) / 2)
    # two at 0-based ranks 1 and 3: (0/1 + 1/2) / 2 + (1/3 + 2/4) / 2 over 2, where ordinary AP gives 1/2
    gaps = np.array([[F, T, F, T, F]])
    assert M.map_released_at_k(gaps, np.array([2]), 5) == pytest.approx((1 / 4 + 5 / 12) / 2)
    assert M.map_at_k(gaps, np.array([2]), 5) == pytest.approx(1 / 2)
    assert M.map_released_at_k(gaps, np.array([2]), 3) == pytest.approx(1 / 8)  # the top 3 hold one of them
    assert math.isnan(M.map_released_at_k(rel[2:], n[2:], 10))


def test_map_released_exceeds_one_with_more_than_ten_relevant_found():
    """The released code divides by min(R, 10) whatever K is: 20 relevant images at ranks 1-20
    are 20 trapezoids of 1, over 10."""
    rel = np.ones((1, 20), dtype=bool)
    assert M.map_released_at_k(rel, np.array([20]), 100) == pytest.approx(2.0)
    assert M.map_at_k(rel, np.array([20]), 100) == pytest.approx(1.0)


def test_map_found_divides_by_the_hits_in_the_top_k():
    # q0: hits at 1 and 3 -> (1 + 2/3) / 2; q1: hits at 3 and 4 -> (1/3 + 2/4) / 2; q2: none -> 0
    assert M.map_found_at_k(REL, 5) == pytest.approx(((1 + 2 / 3) / 2 + (1 / 3 + 2 / 4) / 2) / 3)
    assert M.map_found_at_k(REL, 2) == pytest.approx((1 + 0 + 0) / 3)
    assert M.map_found_at_k(REL, 5) >= M.map_at_k(REL, N_REL, 5)


def test_beyond_depth_counts_queries_whose_r_exceeds_the_ranking():
    assert M.beyond_depth(np.array([3, 100, 101, 5000]), 100) == 0.5
    assert M.beyond_depth(np.array([3, 4]), 100) == 0.0


def test_recall_at_k_hand_worked():
    assert M.recall_at_k(REL, 1) == pytest.approx(1 / 3)
    assert M.recall_at_k(REL, 2) == pytest.approx(1 / 3)
    assert M.recall_at_k(REL, 3) == pytest.approx(2 / 3)
    assert M.recall_at_k(REL, 5) == pytest.approx(2 / 3)


def test_mrr_at_k_hand_worked():
    assert M.mrr_at_k(REL, 1) == pytest.approx(1 / 3)
    assert M.mrr_at_k(REL, 2) == pytest.approx(1 / 3)
    assert M.mrr_at_k(REL, 3) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert M.mrr_at_k(REL, 5) == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_map_at_k_hand_worked():
    # q0: P@1 = 1, P@3 = 2/3 at its hits; q1: P@3 = 1/3, P@4 = 2/4; q2: 0.
    # k=5: divisors min(3,5)=3, min(2,5)=2, min(4,5)=4.
    ap0 = (1 + 2 / 3) / 3
    ap1 = (1 / 3 + 2 / 4) / 2
    assert M.map_at_k(REL, N_REL, 5) == pytest.approx((ap0 + ap1 + 0) / 3)
    # k=2: q0 has one hit (P@1 = 1) over min(3,2)=2; q1 none.
    assert M.map_at_k(REL, N_REL, 2) == pytest.approx((1 / 2 + 0 + 0) / 3)
    # k=1: q0 P@1 = 1 over min(3,1)=1.
    assert M.map_at_k(REL, N_REL, 1) == pytest.approx(1 / 3)


def test_map_at_r_hand_worked():
    # q0: R=3, hits within first 3 at ranks 1, 3 -> (1 + 2/3)/3.
    # q1: R=2, no hit within first 2 -> 0.   q2: R=4 -> 0.
    assert M.map_at_r(REL, N_REL) == pytest.approx(((1 + 2 / 3) / 3 + 0 + 0) / 3)
    # Bigger R for q1 brings its hits at 3, 4 in: (1/3 + 2/4)/4.
    assert M.map_at_r(REL, np.array([3, 4, 4])) == pytest.approx(((1 + 2 / 3) / 3 + (1 / 3 + 2 / 4) / 4) / 3)


def test_r_precision_hand_worked():
    assert M.r_precision(REL, N_REL) == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert M.r_precision(REL, np.array([3, 4, 4])) == pytest.approx((2 / 3 + 2 / 4 + 0) / 3)


def test_pr_curve_hand_worked():
    precision, tpr = M.pr_curve(REL, N_REL)
    assert precision.shape == tpr.shape == (5,)
    cum = np.array([[1, 1, 2, 2, 2], [0, 0, 1, 2, 2], [0, 0, 0, 0, 0]])
    np.testing.assert_allclose(precision, (cum / np.arange(1, 6)).mean(axis=0))
    np.testing.assert_allclose(tpr, (cum / N_REL[:, None]).mean(axis=0))
    np.testing.assert_allclose(tpr, [(1 / 3) / 3, (1 / 3) / 3, (2 / 3 + 1 / 2) / 3, (2 / 3 + 1) / 3, (2 / 3 + 1) / 3])


def test_fewer_results_than_k_and_k_beyond_width():
    # A method returned 2 results for q0 (the rest are id -1 -> False), the matrix is 4 wide,
    # and k = 10 is beyond both: missing ranks are not relevant, precision still divides by k.
    rel = np.array([[T, T, F, F], [F, T, F, T]])
    n = np.array([5, 2])
    assert M.precision_at_k(rel, 10) == pytest.approx((2 / 10 + 2 / 10) / 2)
    assert M.recall_at_k(rel, 10) == 1.0
    assert M.mrr_at_k(rel, 10) == pytest.approx((1 + 1 / 2) / 2)
    # AP@10: q0 (1 + 1)/min(5,10)=2/5; q1 (1/2 + 2/4)/min(2,10) = 1/2.
    assert M.map_at_k(rel, n, 10) == pytest.approx((2 / 5 + 1 / 2) / 2)
    # R=5 for q0 is wider than the matrix: ranks 5.. are missing -> (1 + 1)/5.
    assert M.map_at_r(rel, n) == pytest.approx((2 / 5 + 1 / 2 * (1 / 2)) / 2)
    assert M.r_precision(rel, n) == pytest.approx((2 / 5 + 1 / 2) / 2)


def test_k_larger_than_database():
    # Database of 3 items, all ranked; k = 100.
    ids = np.array([[2, 0, 1], [1, 2, 0]])
    db = np.array([7, 7, 8])
    q = np.array([7, 8])
    rel = M.relevance(ids, db, q)
    np.testing.assert_array_equal(rel, [[F, T, T], [F, T, F]])
    n = M.count_relevant(db, q)
    np.testing.assert_array_equal(n, [2, 1])
    assert M.precision_at_k(rel, 100) == pytest.approx((2 / 100 + 1 / 100) / 2)
    assert M.map_at_k(rel, n, 100) == pytest.approx(((1 / 2 + 2 / 3) / 2 + (1 / 2) / 1) / 2)
    assert M.map_at_r(rel, n) == pytest.approx(((1 / 2) / 2 + 0) / 2)
    assert M.r_precision(rel, n) == pytest.approx((1 / 2 + 0) / 2)


def test_zero_width_rel():
    rel = np.zeros((2, 0), dtype=bool)
    n = np.array([1, 0])
    assert M.precision_at_k(rel, 3) == 0.0
    assert M.recall_at_k(rel, 3) == 0.0
    assert M.mrr_at_k(rel, 3) == 0.0
    assert M.map_at_k(rel, n, 3) == 0.0
    assert M.map_at_r(rel, n) == 0.0
    assert M.r_precision(rel, n) == 0.0
    precision, tpr = M.pr_curve(rel, n)
    assert precision.shape == tpr.shape == (0,)


def test_query_with_no_relevant_item():
    # q1 has n_relevant 0 (its class is not in the database): nothing relevant was ranked.
    rel = np.array([[T, F, T], [F, F, F]])
    n = np.array([2, 0])
    # Kept (scoring 0) in precision / recall / MRR / MAP@k ...
    assert M.precision_at_k(rel, 3) == pytest.approx((2 / 3 + 0) / 2)
    assert M.recall_at_k(rel, 3) == pytest.approx(1 / 2)
    assert M.mrr_at_k(rel, 3) == pytest.approx(1 / 2)
    assert M.map_at_k(rel, n, 3) == pytest.approx(((1 + 2 / 3) / 2 + 0) / 2)
    # ... left out of MAP@R and R-Precision (pytorch-metric-learning's choice) ...
    assert M.map_at_r(rel, n) == pytest.approx((1 + 0) / 2)  # R=2: hit at 1 only
    assert M.r_precision(rel, n) == pytest.approx(1 / 2)
    # ... and out of the TPR, but not the precision, of the curve.
    precision, tpr = M.pr_curve(rel, n)
    np.testing.assert_allclose(tpr, [1 / 2, 1 / 2, 1])
    np.testing.assert_allclose(precision, [(1 + 0) / 2, (1 / 2) / 2, (2 / 3) / 2])


def test_all_queries_without_relevant_items_give_nan():
    rel = np.zeros((2, 3), dtype=bool)
    n = np.zeros(2, dtype=int)
    assert math.isnan(M.map_at_r(rel, n))
    assert math.isnan(M.r_precision(rel, n))
    assert np.isnan(M.pr_curve(rel, n)[1]).all()
    assert M.map_at_k(rel, n, 2) == 0.0


def test_returns_python_floats():
    for value in (M.precision_at_k(REL, 2), M.recall_at_k(REL, 2), M.mrr_at_k(REL, 2),
                  M.map_at_k(REL, N_REL, 2), M.map_at_r(REL, N_REL), M.r_precision(REL, N_REL)):
        assert type(value) is float


@pytest.mark.parametrize("k", [0, -1, 1.5, True, None])
def test_bad_k(k):
    with pytest.raises(ValueError):
        M.precision_at_k(REL, k)


def test_bad_shapes():
    with pytest.raises(ValueError):
        M.precision_at_k(np.array([T, F]), 1)
    with pytest.raises(ValueError):
        M.map_at_r(REL, np.array([1, 2]))
    with pytest.raises(ValueError):
        M.r_precision(REL, np.array([1, -2, 3]))


def test_relevance_missing_ids_and_bounds():
    db = np.array([0, 1, 1, 2])
    q = np.array([1, 2])
    ids = np.array([[1, 0, -1], [3, -1, -1]])
    np.testing.assert_array_equal(M.relevance(ids, db, q), [[T, F, F], [T, F, F]])
    # -1 must not wrap round to the last database item (label 2 here).
    np.testing.assert_array_equal(M.relevance(np.array([[-1]]), db, np.array([2])), [[F]])
    with pytest.raises(ValueError):
        M.relevance(np.array([[4]]), db, np.array([2]))
    with pytest.raises(ValueError):
        M.relevance(np.array([[-2]]), db, np.array([2]))
    assert M.relevance(np.full((1, 2), -1), np.array([], dtype=int), np.array([0])).tolist() == [[F, F]]


def test_count_relevant():
    db = np.array([5, 3, 5, 5, 9])
    np.testing.assert_array_equal(M.count_relevant(db, np.array([5, 3, 4, 9])), [3, 1, 0, 1])
    np.testing.assert_array_equal(M.count_relevant(db, db, exclude_self=True), [2, 0, 2, 2, 0])
    # Label values need not be small non-negative ints.
    np.testing.assert_array_equal(M.count_relevant(np.array([-7, 10**12, -7]), np.array([-7, 10**12, 1])), [2, 1, 0])
    np.testing.assert_array_equal(M.count_relevant(np.array(["cat", "dog", "cat"]), np.array(["cat", "emu"])), [2, 0])
    with pytest.raises(ValueError):
        M.count_relevant(db, np.array([4]), exclude_self=True)


# ---------------------------------------------------------------- loop-per-query reference

def _ref_metrics(rel, n_rel, k):
    """Straightforward per-query definitions, for comparison."""
    p, r, mrr, ap_k, ap_r, rp = [], [], [], [], [], []
    for row, n in zip(rel.tolist(), n_rel.tolist()):
        row_k = (row + [False] * k)[:k]
        p.append(sum(row_k) / k)
        r.append(float(any(row_k)))
        mrr.append(next((1 / (i + 1) for i, x in enumerate(row_k) if x), 0.0))
        s, hits = 0.0, 0
        for i, x in enumerate(row_k):
            if x:
                hits += 1
                s += hits / (i + 1)
        ap_k.append(s / min(n, k) if n > 0 else 0.0)
        if n > 0:
            row_r = (row + [False] * n)[:n]
            s, hits = 0.0, 0
            for i, x in enumerate(row_r):
                if x:
                    hits += 1
                    s += hits / (i + 1)
            ap_r.append(s / n)
            rp.append(sum(row_r) / n)
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    return dict(p=mean(p), r=mean(r), mrr=mean(mrr), ap_k=mean(ap_k), ap_r=mean(ap_r), rp=mean(rp),
                p_off=mean(_official_ref(rel, n_rel, k)), p_rel=mean(_official_ref(rel, n_rel, k, released=True)),
                ap_rel=mean(_trapezoid_ref(rel, n_rel, k)))


def _official_ref(rel, n_rel, k, released=False) -> list[float]:
    """Per query with relevant images, the official rule as utils/evaluate.py states it: the
    1-based positions of the relevant results; if all were returned and the last is < k, divide
    the hits up to it by it, else the hits up to k by k. ``released``: as numpy <= 1.24 ran it,
    where the test that positions were found is True only for two or more."""
    out = []
    for row, n in zip(rel.tolist(), n_rel.tolist()):
        if n == 0:
            continue
        pos = [i + 1 for i, x in enumerate(row) if x]
        found = len(pos) >= 2 if released else len(pos) >= 1
        kq = pos[-1] if found and len(pos) == n and pos[-1] < k else k
        out.append(sum(p <= kq for p in pos) / kq)
    return out


def _trapezoid_ref(rel, n_rel, k) -> list[float]:
    """Per query with relevant images, the released compute_ap over the top k: a trapezoid of
    the PR plot per relevant result, over min(n, 10)."""
    out = []
    for row, n in zip(rel.tolist(), n_rel.tolist()):
        if n == 0:
            continue
        ranks = [i for i, x in enumerate(row[:k]) if x]
        ap = 0.0
        for j, rank in enumerate(ranks):
            before = 1.0 if rank == 0 else j / rank
            ap += (before + (j + 1) / (rank + 1)) / 2 / min(n, 10)
        out.append(ap)
    return out


@st.composite
def rel_and_n(draw, max_queries=8, max_width=12):
    """A relevance matrix and consistent n_relevant (>= the hits in each row)."""
    n_q = draw(st.integers(1, max_queries))
    width = draw(st.integers(0, max_width))
    rel = draw(arrays(bool, (n_q, width)))
    extra = draw(arrays(np.int64, (n_q,), elements=st.integers(0, 6)))
    return rel, rel.sum(axis=1) + extra


@settings(max_examples=200, deadline=None)
@given(rel_and_n(), st.integers(1, 15))
def test_matches_loop_reference(data, k):
    rel, n = data
    ref = _ref_metrics(rel, n, k)
    assert M.precision_at_k(rel, k) == pytest.approx(ref["p"])
    assert M.recall_at_k(rel, k) == pytest.approx(ref["r"])
    assert M.mrr_at_k(rel, k) == pytest.approx(ref["mrr"])
    assert M.map_at_k(rel, n, k) == pytest.approx(ref["ap_k"])
    assert M.precision_official_at_k(rel, n, k) == pytest.approx(ref["p_off"], nan_ok=True)
    assert M.precision_released_at_k(rel, n, k) == pytest.approx(ref["p_rel"], nan_ok=True)
    assert M.map_released_at_k(rel, n, k) == pytest.approx(ref["ap_rel"], nan_ok=True)
    assert M.map_at_r(rel, n) == pytest.approx(ref["ap_r"], nan_ok=True)
    assert M.r_precision(rel, n) == pytest.approx(ref["rp"], nan_ok=True)
    precision, tpr = M.pr_curve(rel, n)
    for kk in range(1, rel.shape[1] + 1):
        assert precision[kk - 1] == pytest.approx(M.precision_at_k(rel, kk))


# ---------------------------------------------------------------- properties

@settings(max_examples=200, deadline=None)
@given(rel_and_n(), st.integers(1, 15))
def test_properties(data, k):
    rel, n = data
    p, r, mrr = M.precision_at_k(rel, k), M.recall_at_k(rel, k), M.mrr_at_k(rel, k)
    eps = 1e-12
    assert 0 <= p <= 1 and 0 <= r <= 1 and 0 <= mrr <= 1
    assert r >= p - eps  # any hit >= share of hits
    assert r / k - eps <= mrr <= r + eps  # a first hit within k is worth 1/k .. 1
    assert M.recall_at_k(rel, k + 1) >= r - eps  # recall is monotone in k
    assert M.precision_at_k(rel, k + 1) * (k + 1) >= p * k - eps  # hits are monotone in k
    assert 0 <= M.map_at_k(rel, n, k) <= 1 + eps
    if np.any(n > 0):
        ap_r, rp = M.map_at_r(rel, n), M.r_precision(rel, n)
        assert 0 <= ap_r <= rp + eps <= 1 + 2 * eps  # j/p_j <= 1 at the j-th hit p_j
        _, tpr = M.pr_curve(rel, n)
        assert np.all(np.diff(tpr) >= -eps) and np.all((tpr >= 0) & (tpr <= 1 + eps))


# ---------------------------------------------------------------- pytorch-metric-learning

pml_ac = pytest.importorskip("pytorch_metric_learning.utils.accuracy_calculator")
torch = pytest.importorskip("torch")

PML_METRICS = ("precision_at_1", "r_precision", "mean_average_precision_at_r",
               "mean_average_precision", "mean_reciprocal_rank")


def _knn_ids(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Exact L2 ranking of the whole reference set per query (no ties allowed)."""
    q, r = query.astype(np.float64), reference.astype(np.float64)
    d = (q * q).sum(1)[:, None] + (r * r).sum(1)[None, :] - 2 * q @ r.T
    order = np.argsort(d, axis=1, kind="stable")
    assert np.diff(np.take_along_axis(d, order, axis=1), axis=1).min() > 0, "tie in the ranking: change the seed"
    # pml ranks with faiss in float32; on these grid points its arithmetic is exact, so the same.
    import faiss

    index = faiss.IndexFlatL2(reference.shape[1])
    index.add(np.ascontiguousarray(reference, dtype=np.float32))
    _, faiss_ids = index.search(np.ascontiguousarray(query, dtype=np.float32), len(reference))
    np.testing.assert_array_equal(order, faiss_ids)
    return order


def _drop_own(ids: np.ndarray) -> np.ndarray:
    """Remove query i's own item (id i) from row i (the query set is the reference's head)."""
    own = ids == np.arange(len(ids))[:, None]
    assert own.sum(axis=1).tolist() == [1] * len(ids)
    return ids[~own].reshape(len(ids), -1)


def _pml(query, q_labels, reference, r_labels, ref_includes_query, k=None):
    calc = pml_ac.AccuracyCalculator(include=PML_METRICS, k=k, device=torch.device("cpu"))
    return calc.get_accuracy(query, q_labels, reference, r_labels, ref_includes_query=ref_includes_query)


def _embeddings(rng, n, dim=3):
    """Random float32 embeddings on a 1/64 grid in [-16, 16): every squared distance, dot
    product and norm is a multiple of 1/4096 below 2**24 of them, so float32 (faiss) and
    float64 (numpy) distances are both exact and the rankings agree on any machine."""
    return (rng.integers(-1024, 1024, (n, dim)) / 64).astype(np.float32)


def _compare(ours_rel, n_rel, pml, width):
    """Our metrics over the full ranking against pml's (which drops queries with nothing relevant)."""
    kept = n_rel > 0
    assert M.r_precision(ours_rel, n_rel) == pytest.approx(pml["r_precision"], abs=1e-6)
    assert M.map_at_r(ours_rel, n_rel) == pytest.approx(pml["mean_average_precision_at_r"], abs=1e-6)
    # pml also drops them from precision@1, MAP and MRR; ours keeps them (scoring 0).
    assert M.precision_at_k(ours_rel[kept], 1) == pytest.approx(pml["precision_at_1"], abs=1e-6)
    assert M.map_at_k(ours_rel[kept], n_rel[kept], width) == pytest.approx(pml["mean_average_precision"], abs=1e-6)
    assert M.mrr_at_k(ours_rel[kept], width) == pytest.approx(pml["mean_reciprocal_rank"], abs=1e-5)  # pml: float32


@pytest.mark.parametrize("seed", [0, 1])
def test_against_pml_separate_query_and_reference(seed):
    rng = np.random.default_rng(seed)
    n_ref, n_q = 120, 40
    r_labels = rng.integers(0, 6, n_ref)
    q_labels = rng.integers(0, 7, n_q)  # label 6 is not in the reference: nothing relevant
    q_labels[:2] = 6
    query, reference = _embeddings(rng, n_q), _embeddings(rng, n_ref)
    ids = _knn_ids(query, reference)
    rel = M.relevance(ids, r_labels, q_labels)
    n_rel = M.count_relevant(r_labels, q_labels)
    assert np.any(n_rel == 0) and np.array_equal(rel.sum(axis=1), n_rel)
    pml = _pml(query, q_labels, reference, r_labels, ref_includes_query=False)
    _compare(rel, n_rel, pml, n_ref)
    # Our 0-scoring of queries with nothing relevant, written out:
    kept = n_rel > 0
    assert M.precision_at_k(rel, 1) == pytest.approx(pml["precision_at_1"] * kept.mean(), abs=1e-6)


@pytest.mark.parametrize("n_q", [150, 60])
def test_against_pml_ref_includes_query(n_q):
    # The query set is the reference (n_q = all) or its head; each query's own item is
    # dropped from its ranking and from its count (exclude_self).
    rng = np.random.default_rng(n_q + 3)
    n_ref = 150
    r_labels = rng.integers(0, 8, n_ref)
    r_labels[0] = 99  # a class of one: after dropping itself, nothing relevant
    reference = _embeddings(rng, n_ref)
    query, q_labels = reference[:n_q], r_labels[:n_q]
    ids = _drop_own(_knn_ids(query, reference))
    rel = M.relevance(ids, r_labels, q_labels)
    n_rel = M.count_relevant(r_labels, q_labels, exclude_self=True)
    assert n_rel[0] == 0 and np.array_equal(rel.sum(axis=1), n_rel)
    pml = _pml(query, q_labels, reference, r_labels, ref_includes_query=True)
    _compare(rel, n_rel, pml, n_ref - 1)


def test_pml_with_k_max_bin_count():
    # k="max_bin_count": pml retrieves only as deep as the largest class; MAP@R and R-Precision
    # are unchanged when our rel is cut to that depth too.
    rng = np.random.default_rng(7)
    n_ref = 100
    r_labels = rng.integers(0, 5, n_ref)
    reference = _embeddings(rng, n_ref)
    ids = _drop_own(_knn_ids(reference, reference))
    n_rel = M.count_relevant(r_labels, r_labels, exclude_self=True)
    depth = int(n_rel.max())
    rel = M.relevance(ids[:, :depth], r_labels, r_labels)
    pml = _pml(reference, r_labels, reference, r_labels, ref_includes_query=True, k="max_bin_count")
    assert M.r_precision(rel, n_rel) == pytest.approx(pml["r_precision"], abs=1e-6)
    assert M.map_at_r(rel, n_rel) == pytest.approx(pml["mean_average_precision_at_r"], abs=1e-6)


def test_pml_map_at_small_k_divides_by_r_not_min_r_k():
    # pml's "mean_average_precision" with k < R divides by R; our MAP@K divides by min(R, K).
    rng = np.random.default_rng(3)
    n_ref, n_q, k = 80, 30, 5
    r_labels = rng.integers(0, 3, n_ref)
    q_labels = rng.integers(0, 3, n_q)
    query, reference = _embeddings(rng, n_q), _embeddings(rng, n_ref)
    rel = M.relevance(_knn_ids(query, reference), r_labels, q_labels)
    n_rel = M.count_relevant(r_labels, q_labels)
    assert n_rel.min() > k
    pml = _pml(query, q_labels, reference, r_labels, ref_includes_query=False, k=k)
    ap_over_r = np.array([M.map_at_k(rel[i:i + 1], n_rel[i:i + 1], k) * k / n_rel[i] for i in range(n_q)])
    assert ap_over_r.mean() == pytest.approx(pml["mean_average_precision"], abs=1e-6)
    assert M.map_at_k(rel, n_rel, k) > pml["mean_average_precision"]
