"""bench.rankings (the stored rankings and items), the per-query metrics they give, and
bench.recompute: every metric row derived again from them, bit for bit."""
import numpy as np
import pandas as pd
import pytest

from bench import recompute as R
from bench.evaluate import EVALUATED, evaluate, per_query, ranking_rows
from bench.metrics import query_mean
from bench.rankings import RankedItems, Ranking, read_items, read_ranking, ranking_path, write_items, write_ranking
from bench.report.__main__ import main as report_main
from bench.results import ResultStore
from datasets import image_at, load_dataset


def random_ranking(seed: int, n_q: int = 60, n_db: int = 80, depth: int = 25, classes: int = 6, dml: bool = False):
    rng = np.random.default_rng(seed)
    n_db = n_q if dml else n_db  # the metric-learning protocol: the queries are the database
    db = rng.integers(0, classes, n_db)
    q = db.copy() if dml else rng.integers(0, classes + 1, n_q)  # a class the database lacks: R = 0
    ids = np.stack([rng.permutation(n_db)[:depth] for _ in range(n_q)])
    ids[rng.random(ids.shape) < 0.05] = -1
    return ids, db, q


@pytest.mark.parametrize("dml", [False, True])
def test_per_query_means_are_the_metrics_bit_for_bit(dml):
    ids, db, q = random_ranking(0, dml=dml)
    rows = {(m, k): v for m, k, v in evaluate(ids, db, q, [1, 5, 10], dml)}
    values = per_query(ids, db, q, [1, 5, 10], dml)
    assert len(values) == len([m for m, _ in rows if not m.startswith("curve_")])
    for m, k, v in values:
        assert v.shape == (len(q),)
        assert query_mean(v) == rows[(m, k)] or (np.isnan(rows[(m, k)]) and np.isnan(query_mean(v)))
    left_out = dict(((m, k), v) for m, k, v in values)[("map_at_r", 25)]
    assert np.isnan(left_out).any() != dml  # the queries of a class the database lacks


def test_ranking_and_items_round_trip(tmp_path):
    ids, db, q = random_ranking(1)
    scores = np.sort(np.random.default_rng(1).random(ids.shape), axis=1)
    items = RankedItems(q, db, [f"test[{i}]" for i in range(len(q))], [f"images/{i}.jpg" for i in range(len(db))],
                        {"fingerprint": "fp", "dataset": "x"})
    write_items(tmp_path, items)
    ranking = Ranking(ids, [1, 5], 25, False, "fp", scores, "squared L2 distance, smaller is closer", ids[:, :5],
                      "cell1")
    path = write_ranking(tmp_path, ranking)
    assert path == ranking_path(tmp_path, "cell1") and sorted(p.name for p in path.parent.iterdir()) == [
        "cell1.npz", "items"]  # no temporary file left
    back = read_ranking(path)
    assert back.ids.dtype == np.int32 and np.array_equal(back.ids, ids)
    assert back.scores.dtype == np.float16 and np.allclose(back.scores, scores, atol=1e-3)
    assert np.array_equal(back.bound_ids, ids[:, :5]) and back.ks == [1, 5] and back.score_kind.startswith("squared")
    got = read_items(tmp_path, "fp")
    assert got.query_origins == items.query_origins and got.database_origins == items.database_origins
    assert np.array_equal(got.database_labels, db) and got.meta["dataset"] == "x"


def test_origins_open_the_images_of_query_i_and_database_item_j():
    for protocol in ("paper", "dml"):
        ds = load_dataset("digits", limit=40, seed=3, protocol=protocol)
        items = RankedItems.of(ds)
        for split, origins in ((ds.query, items.query_origins), (ds.database, items.database_origins)):
            for i in (0, 17, 39):
                assert np.array_equal(np.asarray(image_at("digits", origins[i])), np.asarray(split[i][0]))
    assert items.query_origins[0].startswith("train[") or items.query_origins[0].startswith("test[")


def store_cells(results, n_cells=2, dml=False):
    """Cells as bench.run writes them: a ranking, then every metric row of it, plus a speed row."""
    rows = []
    for c in range(n_cells):
        ids, db, q = random_ranking(c, dml=dml)
        items = RankedItems(q, db, [str(i) for i in range(len(q))], [str(i) for i in range(len(db))],
                            {"fingerprint": f"fp{c}"})
        write_items(results, items)
        ranking = Ranking(ids, [1, 5], 25 - dml, dml, f"fp{c}", bound_ids=ids[:, ::-1], cell_id=f"cell{c}")
        write_ranking(results, ranking)
        keys = {"run_id": "r1", "cell_id": f"cell{c}", "dataset": "d", "protocol": "paper", "limit": "-", "seed": 0,
                "method": "m", "variant": "-", "features": "-", "backend": "-", "setting": f"s={c}", "device": "cpu",
                "threads": "1", "data_seed": "0"}
        rows += [{**keys, "metric": m, "k": k, "value": v, "timing": "-"} for m, k, v in ranking_rows(ranking, items)]
        rows.append({**keys, "metric": "qps_batch", "k": 0, "value": 123.0, "timing": "measured"})
    ResultStore(results).write_cell(rows)


@pytest.mark.parametrize("dml", [False, True])
def test_recompute_matches_every_stored_row_bit_for_bit(tmp_path, dml):
    store_cells(tmp_path, dml=dml)
    before = (tmp_path / "results.csv").read_bytes()
    found = R.recompute(tmp_path, check=True, progress=False)
    assert found.cells == 2 and found.rows > 100 and found.differences == [] and found.without_ranking == []
    assert R.recompute(tmp_path, progress=False).differences == []
    assert (tmp_path / "results.csv").read_bytes() == before  # nothing to rewrite


def test_check_lists_a_changed_or_missing_row_and_recompute_writes_it_back(tmp_path):
    store_cells(tmp_path)
    store = ResultStore(tmp_path)
    table = store.load()
    original = table.copy()
    p1 = (table.cell_id == "cell0") & (table.metric == "precision") & (table.k == 1)
    table.loc[p1, "value"] += 1e-9
    table = table[~((table.cell_id == "cell1") & (table.metric == "bound_recall") & (table.k == 5))]
    store.rows.write(table)
    tampered = store.table.read_bytes()
    found = R.recompute(tmp_path, check=True, progress=False)
    assert [(c, m, k) for c, m, k, _, _ in found.differences] == [("cell0", "precision", 1),
                                                                  ("cell1", "bound_recall", 5)]
    assert found.differences[1][3] is None  # the table lacks it: a metric added since the run
    assert store.table.read_bytes() == tampered  # --check writes nothing
    R.recompute(tmp_path, progress=False)
    key = ["cell_id", "metric", "k"]
    after = store.load().sort_values(key).reset_index(drop=True)
    expected = original.sort_values(key).reset_index(drop=True)
    assert after[key + ["value", "run_id", "timing"]].equals(expected[key + ["value", "run_id", "timing"]])
    assert sorted(store.finished_cells()) == ["cell0", "cell1"]


def test_a_cell_without_a_ranking_is_named_and_kept(tmp_path):
    store_cells(tmp_path)
    ranking_path(tmp_path, "cell1").unlink()
    found = R.recompute(tmp_path, check=True, progress=False)
    assert found.without_ranking == ["cell1"] and found.cells == 1


def test_report_recompute_check_exit_codes(tmp_path, capsys):
    store_cells(tmp_path / "results")
    args = ["--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "--no-progress"]
    assert report_main([*args, "--recompute", "--check"]) == 0
    assert not (tmp_path / "reports").exists()  # --check builds no report
    store = ResultStore(tmp_path / "results")
    table = store.load()
    table.loc[table.metric == "mrr", "value"] = 0.5
    store.rows.write(table)
    assert report_main([*args, "--recompute", "--check"]) == 1
    assert "mrr@1: stored 0.5" in capsys.readouterr().out
    assert report_main([*args, "--check"]) == 2


def test_every_evaluated_name_is_a_metric_row():
    ids, db, q = random_ranking(2)
    ranking = Ranking(ids, [1], 25, False, "fp", bound_ids=ids)
    names = {m for m, _, _ in ranking_rows(ranking, RankedItems(q, db, [], [], {}))}
    assert names == set(EVALUATED)
    assert pd.Series(list(EVALUATED)).is_unique
