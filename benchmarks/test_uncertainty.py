"""The report's intervals and paired tests over a quick-grid-like section: 20 cells of 5,000
queries ranked to depth 100 (half of them IRGen's), first with nothing cached, then again
(every bootstrap and test read back from the cache)."""
import shutil

import numpy as np
import pytest

from bench.evaluate import ranking_rows
from bench.rankings import RankedItems, Ranking, folder, write_items, write_ranking
from bench.results import ResultStore
from bench.uncertainty import all_sections

CELLS, QUERIES, DATABASE, DEPTH, CLASSES = 20, 5_000, 10_000, 100, 10


def section(results):
    """Rankings and rows of CELLS cells: each query's top DEPTH, right in proportion to the cell's skill."""
    rng = np.random.default_rng(0)
    db_labels, q_labels = rng.integers(0, CLASSES, DATABASE), rng.integers(0, CLASSES, QUERIES)
    by_class = [np.flatnonzero(db_labels == c) for c in range(CLASSES)]
    items = RankedItems(q_labels, db_labels, [f"test[{i}]" for i in range(QUERIES)],
                        [f"train[{i}]" for i in range(DATABASE)], {"fingerprint": "bench"})
    write_items(results, items)
    rows = []
    for c in range(CELLS):
        right = rng.random((QUERIES, DEPTH)) < 0.5 + 0.02 * c
        ids = np.where(right, rng.choice(by_class[0], (QUERIES, DEPTH)), rng.integers(0, DATABASE, (QUERIES, DEPTH)))
        ids = np.where(right, np.stack([rng.choice(by_class[q], DEPTH) for q in q_labels]), ids)
        ranking = Ranking(ids, [1, 10, 20, 30], DEPTH, False, "bench", cell_id=f"cell{c:02d}")
        write_ranking(results, ranking)
        keys = {"run_id": "r", "cell_id": ranking.cell_id, "dataset": "d", "protocol": "paper", "limit": "-", "seed": 0,
                "method": "irgen" if c % 2 else "effnet", "variant": "-", "features": "-", "backend": "-",
                "setting": f"s={c}", "device": "cpu", "threads": "1", "timing": "-", "data_seed": "0"}
        rows += [{**keys, "metric": m, "k": k, "value": v} for m, k, v in ranking_rows(ranking, items)]
    ResultStore(results).write_cell(rows)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("uncertainty") / "results"
    section(path)
    return path


def test_intervals_nothing_cached(benchmark, results):
    def cold():
        shutil.rmtree(folder(results) / "derived", ignore_errors=True)
        return all_sections(results)

    found = benchmark.pedantic(cold, rounds=3, iterations=1)
    assert len(found.tests) > 0


def test_intervals_cached(benchmark, results):
    all_sections(results)
    found = benchmark.pedantic(lambda: all_sections(results), rounds=3, iterations=1)
    assert len(found.tests) > 0
