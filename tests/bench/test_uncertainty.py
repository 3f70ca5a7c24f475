"""bench.uncertainty: intervals and tests on cases with known answers, and a section's intervals
read from stored rankings (cached by the files' digests)."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bench.uncertainty as U
from bench.definitions import interval_words
from bench.evaluate import ranking_rows
from bench.rankings import RankedItems, Ranking, write_items, write_ranking
from bench.results import ResultStore

B = 1000


def test_resample_counts_draw_n_queries_per_resample_and_are_seeded():
    counts = U.resample_counts(50, B, 0)
    assert counts.shape == (B, 50) and (counts.sum(axis=1) == 50).all()
    assert np.array_equal(counts, U.resample_counts.__wrapped__(50, B, 0))
    assert not np.array_equal(counts, U.resample_counts.__wrapped__(50, B, 1))


def test_resampled_means_are_the_means_of_the_resampled_queries():
    rng = np.random.default_rng(0)
    values = rng.random(30)
    index = np.random.default_rng(3).integers(0, 30, size=(B, 30))
    expected = values[index].mean(axis=1)
    assert np.allclose(U.resampled_means(values, U.resample_counts.__wrapped__(30, B, 3))[:, 0], expected)


def test_a_constant_metric_has_zero_width():
    low, high = U.bootstrap_interval(np.full((200, 2), 0.75), U.resample_counts(200))
    assert np.array_equal(low, [0.75, 0.75]) and np.array_equal(high, [0.75, 0.75])


def test_interval_holds_the_mean_and_narrows_with_more_queries():
    rng = np.random.default_rng(1)
    small, large = (rng.random(100) < 0.8).astype(float), (rng.random(4000) < 0.8).astype(float)
    (lo_s,), (hi_s,) = U.bootstrap_interval(small, U.resample_counts(100))
    (lo_l,), (hi_l,) = U.bootstrap_interval(large, U.resample_counts(4000))
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 3  # about 1 / sqrt(40) as wide
    # the normal approximation's 95% half-width for a share of 0.8 over 4,000 queries: 0.0124
    assert (hi_l - lo_l) / 2 == pytest.approx(1.96 * np.sqrt(0.8 * 0.2 / 4000), rel=0.15)


def test_left_out_queries_stay_out_of_the_interval():
    values = np.array([1.0] * 50 + [np.nan] * 50)
    low, high = U.bootstrap_interval(values, U.resample_counts(100))
    assert low[0] == 1.0 and high[0] == 1.0


def test_identical_rankings_are_not_significantly_different():
    values = (np.random.default_rng(2).random(500) < 0.6).astype(float)
    test = U.paired_test(values, values.copy(), U.resample_counts(500), U.sign_flips(500))
    assert test.difference == 0 and test.p_value == 1.0 and not test.significant
    assert test.low == 0 and test.high == 0


def test_a_large_systematic_difference_is_significant():
    rng = np.random.default_rng(3)
    b = (rng.random(500) < 0.5).astype(float)
    a = np.maximum(b, (rng.random(500) < 0.4).astype(float))  # a finds all b finds, and more
    test = U.paired_test(a, b, U.resample_counts(500), U.sign_flips(500))
    assert test.significant and test.p_value == pytest.approx(1 / (B + 1))
    assert 0 < test.low < test.difference < test.high
    assert test.difference == pytest.approx(a.mean() - b.mean())


def test_a_small_difference_is_not_significant():
    a = (np.random.default_rng(4).random(300) < 0.7).astype(float)
    b = a.copy()
    b[np.flatnonzero(a == 1)[:6]] = 0  # b misses 6 queries a finds and finds 4 that a misses
    b[np.flatnonzero(a == 0)[:4]] = 1
    test = U.paired_test(a, b, U.resample_counts(300), U.sign_flips(300))
    assert test.difference == pytest.approx(2 / 300)
    assert not test.significant and test.p_value > 0.5 and test.low <= 0 <= test.high


def test_paired_test_needs_the_same_queries():
    with pytest.raises(ValueError, match="same queries"):
        U.paired_test(np.zeros(3), np.zeros(4), U.resample_counts(3), U.sign_flips(3))


def test_t_interval_matches_scipy():
    samples = [0.861, 0.874, 0.869]
    mean, half = U.t_interval(samples)
    low, high = stats.t.interval(0.95, 2, loc=np.mean(samples), scale=stats.sem(samples))
    assert mean == pytest.approx(np.mean(samples)) and mean - half == pytest.approx(low)
    assert mean + half == pytest.approx(high)
    assert half == pytest.approx(4.302652729911275 * np.std(samples, ddof=1) / np.sqrt(3))


def test_one_seed_has_no_t_interval():
    mean, half = U.t_interval([0.9])
    assert mean == 0.9 and np.isnan(half)


# ---------------------------------------------------------------- a section from stored rankings

def store_section(results, seeds_of_irgen=(0,), n=400):
    """A baseline cell and an IRGen group of ``seeds_of_irgen`` cells over the same n queries; IRGen's
    ranking finds the class more often."""
    rng = np.random.default_rng(0)
    db_labels, q_labels = rng.integers(0, 4, 300), rng.integers(0, 4, n)
    items = RankedItems(q_labels, db_labels, [f"test[{i}]" for i in range(n)], [f"train[{i}]" for i in range(300)],
                        {"fingerprint": "fp"})
    write_items(results, items)
    same = [np.flatnonzero(db_labels == c) for c in range(4)]
    rows = []
    cells = [("effnet", 0, 0.3)] + [("irgen", s, 0.8) for s in seeds_of_irgen]
    for method, seed, skill in cells:
        right = rng.random((n, 20)) < skill
        ids = np.where(right, np.stack([rng.choice(same[q], 20) for q in q_labels]), rng.integers(0, 300, (n, 20)))
        ranking = Ranking(ids, [1, 5], 20, False, "fp", cell_id=f"{method}{seed}")
        write_ranking(results, ranking)
        keys = {"run_id": "r", "cell_id": ranking.cell_id, "dataset": "d", "protocol": "paper", "limit": "-",
                "seed": seed, "method": method, "variant": "-", "features": "-", "backend": "-", "setting": "-",
                "device": "cpu", "threads": "1", "timing": "-", "data_seed": "0"}
        rows += [{**keys, "metric": m, "k": k, "value": v} for m, k, v in ranking_rows(ranking, items)]
    ResultStore(results).write_cell(rows)
    return ResultStore(results).load()


def test_section_gives_bootstrap_intervals_and_the_paired_test(tmp_path):
    rows = store_section(tmp_path)
    found = U.section_uncertainty(tmp_path, rows, resamples=200)
    p1 = found.intervals[(found.intervals.metric == "precision") & (found.intervals.k == 1)].set_index("method")
    stored = rows[(rows.metric == "precision") & (rows.k == 1)].set_index("method")["value"]
    for method in ("irgen", "effnet"):
        assert p1.loc[method, "value"] == stored[method]  # the interval's value is the stored one
        assert p1.loc[method, "low"] < p1.loc[method, "value"] < p1.loc[method, "high"]
        assert (p1.loc[method, "kind"], p1.loc[method, "n"]) == ("bootstrap", 400)
    test = found.tests.set_index(["metric", "k"]).loc[("precision", 1)]
    assert test["irgen"] == "irgen" and test["baseline"] == "effnet" and bool(test["significant"])
    assert test["difference"] == pytest.approx(stored["irgen"] - stored["effnet"])


def test_several_seeds_give_the_mean_and_a_t_interval(tmp_path):
    rows = store_section(tmp_path, seeds_of_irgen=(0, 1, 2))
    found = U.section_uncertainty(tmp_path, rows, resamples=200)
    irgen = found.intervals[(found.intervals.method == "irgen") & (found.intervals.metric == "recall")
                            & (found.intervals.k == 5)].iloc[0]
    per_seed = rows[(rows.method == "irgen") & (rows.metric == "recall") & (rows.k == 5)]["value"]
    mean, half = U.t_interval(per_seed.to_numpy())
    assert (irgen["kind"], irgen["n"]) == ("t", 3) and irgen["value"] == pytest.approx(mean)
    assert irgen["high"] - irgen["value"] == pytest.approx(half)
    assert interval_words("t", 3) in U.interval_table(found.intervals)


def test_a_second_section_reads_the_cache(tmp_path, monkeypatch):
    rows = store_section(tmp_path)
    first = U.section_uncertainty(tmp_path, rows, resamples=200)
    monkeypatch.setattr(U, "query_values", lambda *a: pytest.fail("computed again, not read from the cache"))
    again = U.section_uncertainty(tmp_path, rows, resamples=200)
    pd.testing.assert_frame_equal(first.intervals, again.intervals)
    pd.testing.assert_frame_equal(first.tests, again.tests)


def test_write_intervals_writes_both_tables(tmp_path):
    store_section(tmp_path / "results")
    written = U.write_intervals(tmp_path / "results", tmp_path / "reports")
    assert [p.name for p in written] == ["intervals.csv", "paired_tests.csv"]
    intervals = pd.read_csv(tmp_path / "reports" / "intervals.csv")
    assert {"value", "low", "high", "interval", "n"} <= set(intervals.columns)
    assert (intervals["low"] <= intervals["value"] + 1e-12).all()


def test_a_cell_run_again_is_one_seed_not_two(tmp_path):
    import shutil

    from bench.rankings import ranking_path

    rows = store_section(tmp_path)
    shutil.copy(ranking_path(tmp_path, "irgen0"), ranking_path(tmp_path, "irgen0b"))
    again = rows[rows.method == "irgen"].assign(run_id="r2", cell_id="irgen0b")  # a later run of the same keys
    found = U.section_uncertainty(tmp_path, pd.concat([rows, again]), resamples=200)
    irgen = found.intervals[found.intervals.method == "irgen"]
    assert set(irgen["kind"]) == {"bootstrap"} and set(irgen["cells"]) == {"irgen0b"}
