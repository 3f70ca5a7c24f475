"""The report's intervals, on results with stored rankings: each accuracy in the tables is its value
± half its 95% interval, the interval bench/uncertainty.py gives; several seeds give their mean and
a t-interval; a column whose paired test is not significant carries the mark on the two rows it
compares; the tables beside Table 3 hold the stored id_ and bound_ rows; the plane's points carry
their intervals."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.definitions import NOT_SIGNIFICANT, label
from bench.evaluate import ranking_rows
from bench.rankings import RankedItems, Ranking, write_items, write_ranking
from bench.report.cells import read_results, sections_from
from bench.report.figures import plane
from bench.report.paper import load_paper
from bench.report.tables import build_tables, text
from bench.results import ResultStore
from bench.uncertainty import all_sections, t_interval

N_QUERIES, N_DATABASE, N_CLASSES, DEPTH, KS = 300, 400, 5, 20, [1, 10]
RQ, RANDOM = {"identifier": "rq", "T": 4}, {"identifier": "random", "T": 4}
IDENTIFIER_ROWS = [("id_images_mean", 0, 1.5), ("id_images_max", 0, 4.0), ("id_share_over_k", 1, 0.25),
                   ("id_share_over_k", 10, 0.0), ("id_fanout_mean", 1, 3.5), ("id_fanout_max", 1, 5.0),
                   ("id_beams_invalid", 0, 0.0), ("id_beams_repeated", 0, 0.0), ("id_own_found", 0, 0.4)]


def answers(rng, skill: float, same: list[np.ndarray], query_labels: np.ndarray) -> np.ndarray:
    """(queries, DEPTH) ids: each result of the query's class with probability ``skill``."""
    right = rng.random((len(query_labels), DEPTH)) < skill
    relevant = np.stack([rng.choice(same[c], DEPTH) for c in query_labels])
    return np.where(right, relevant, rng.integers(0, N_DATABASE, right.shape)).astype(np.int32)


def store_dataset(results, dataset: str, irgen_skill: float, baseline_skill: float, seed: int) -> None:
    """A SmallCNN linear scan (one seed), IRGen at beams 1 and 10 (three seeds each, with identifier
    rows and the perfect-decoder bound) and IRGen with random identifiers (one seed), all answering
    the same queries."""
    rng = np.random.default_rng(seed)
    db_labels, query_labels = rng.integers(0, N_CLASSES, N_DATABASE), rng.integers(0, N_CLASSES, N_QUERIES)
    items = RankedItems(query_labels, db_labels, [f"test[{i}]" for i in range(N_QUERIES)],
                        [f"train[{i}]" for i in range(N_DATABASE)], {"fingerprint": dataset})
    write_items(results, items)
    same = [np.flatnonzero(db_labels == c) for c in range(N_CLASSES)]
    cells = [("smallcnn", "linear", "-", {}, 0, baseline_skill)]
    cells += [("irgen", "beam-search", f"beam={beam}", RQ, s, irgen_skill - 0.1 * (beam == 1) + 0.01 * s)
              for beam in (1, 10) for s in (0, 1, 2)]
    cells += [("irgen", "beam-search", "beam=10", RANDOM, 0, 0.3)]
    for n, (method, backend, setting, model, training_seed, skill) in enumerate(cells):
        generative = method == "irgen"
        ranking = Ranking(answers(rng, skill, same, query_labels), KS, DEPTH, False, dataset,
                          bound_ids=answers(rng, 0.9, same, query_labels) if generative else None,
                          cell_id=f"{dataset}-{n}")
        write_ranking(results, ranking)
        keys = {"run_id": "20260101-000000-aaaaaa", "cell_id": ranking.cell_id, "dataset": dataset,
                "protocol": "paper", "limit": "-", "seed": training_seed, "method": method,
                "variant": ",".join(f"{k}={v}" for k, v in model.items()) or "-", "features": "-", "backend": backend,
                "setting": setting, "device": "cpu", "threads": "2", "timing": "-",
                "model": json.dumps(model, sort_keys=True), "data_seed": "0"}
        rows = ranking_rows(ranking, items) + [("qps_batch", 0, 1000.0 / (n + 1))]
        rows += [(m, k, v + 0.1 * training_seed * (m == "id_images_mean")) for m, k, v in IDENTIFIER_ROWS] \
            if generative else []
        ResultStore(results).write_cell([{**keys, "metric": m, "k": k, "value": v} for m, k, v in rows])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("intervals") / "results"
    store_dataset(root, "digits", irgen_skill=0.8, baseline_skill=0.4, seed=1)  # IRGen far ahead
    store_dataset(root, "fashion-mnist", irgen_skill=0.5, baseline_skill=0.5, seed=2)  # no telling them apart
    return root


@pytest.fixture(scope="module")
def report(results):
    rows = read_results(results)
    sections = sections_from(rows, {}, results)
    return rows, sections, {t.name: t for t in build_tables(sections, load_paper())}


def blocks(table) -> dict[str, pd.DataFrame]:
    return {section.dataset: df for section, df, _ in table.blocks}


def metric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if f"{c}_low" in df.columns]


def test_each_accuracy_is_its_value_plus_minus_half_its_interval(results, report):
    _, sections, tables = report
    intervals = all_sections(results).intervals.set_index(["dataset", "setting", "model", "metric", "k"])
    df = blocks(tables["table1_precision"])["digits"]
    assert {"P@1", "P@1_low", "P@1_high", "R@1"} - set(df.columns) == {"R@1"}
    for row in df.to_dict("records"):
        model = json.dumps(RQ if row["Setting"].startswith("beam") else {}, sort_keys=True)
        setting = "-" if row["Setting"] == "default" else row["Setting"]
        for column in metric_columns(df):
            metric = next(m for m in ("precision_official", "precision_released", "precision")
                          if label(m, int(column.split("@")[1])) == column)
            found = intervals.loc[("digits", setting, model, metric, int(column.split("@")[1]))]
            low, high = 100 * found["low"], 100 * found["high"]
            assert (row[column], row[f"{column}_low"], row[f"{column}_high"]) == pytest.approx(
                (100 * found["value"], low, high))
            assert text(row, column).startswith(f"{row[column]:.1f} ± {(high - low) / 2:.1f}")


def test_several_seeds_give_their_mean_and_a_t_interval(report):
    rows, _, tables = report
    df = blocks(tables["table1_precision"])["digits"].set_index("Setting")
    assert df.loc["beam=10", "Seeds"] == 3 and df.loc["default", "Seeds"] == 1
    stored = rows[(rows.dataset == "digits") & (rows.setting == "beam=10") & (rows.model == json.dumps(RQ, sort_keys=True))
                  & (rows.metric == "precision") & (rows.k == 10)]["value"]
    mean, half = t_interval(stored.to_numpy())
    assert len(stored) == 3 and df.loc["beam=10", "P@10"] == pytest.approx(100 * mean)
    assert df.loc["beam=10", "P@10_high"] - df.loc["beam=10", "P@10"] == pytest.approx(100 * half)


def test_the_mark_is_on_the_two_rows_of_each_column_whose_test_is_not_significant(report):
    _, _, tables = report
    marked = {}
    for dataset, df in blocks(tables["table1_precision"]).items():
        tested = [c for c in metric_columns(df) if f"{c}_p" in df.columns]
        assert tested == metric_columns(df)  # every column has its test
        for column in tested:
            p = df[f"{column}_p"]
            assert p.notna().sum() == 2  # IRGen's best row and the best other row
            for row in df.to_dict("records"):
                assert (NOT_SIGNIFICANT in text(row, column)) == (row[f"{column}_p"] is not None
                                                                  and row[f"{column}_p"] >= 0.05)
            marked[dataset] = marked.get(dataset, 0) + int(p.dropna().iloc[0] >= 0.05)
    assert marked["digits"] == 0 and marked["fashion-mnist"] > 0
    assert blocks(tables["table3_identifier"])["digits"].filter(like="_p").empty  # IRGen against IRGen: no test


def test_the_identifier_tables_hold_the_stored_rows(report):
    rows, _, tables = report
    bound = blocks(tables["table3_bound"])["digits"]
    what = blocks(tables["table3_identifiers"])["digits"]
    assert list(bound["Setting"]).count("beam=10") == 2 and len(bound) == 3  # every beam of RQ, random's one
    assert list(what["Setting"]) == ["beam=10", "beam=10"]  # one row per identifier kind, at its largest beam
    rq = bound[bound["Seeds"] == 3].set_index("Setting")
    for setting in ("beam=1", "beam=10"):
        for metric, k in (("bound_precision", 1), ("bound_recall", 10), ("precision", 1), ("recall", 10)):
            stored = rows[(rows.dataset == "digits") & (rows.setting == setting) & (rows.metric == metric)
                          & (rows.model == json.dumps(RQ, sort_keys=True)) & (rows.k == k)]["value"]
            assert len(stored) == 3 and rq.loc[setting, label(metric, k)] == pytest.approx(100 * stored.mean())
            assert rq.loc[setting, f"{label(metric, k)}_low"] <= rq.loc[setting, label(metric, k)]
    row = what[what["Seeds"] == 3].iloc[0]
    assert row[label("id_images_mean", 0)] == pytest.approx(1.6)  # the mean of 1.5, 1.6, 1.7 over the seeds
    assert row[label("id_share_over_k", 1)] == pytest.approx(25.0) and row[label("id_fanout_mean", 1)] == 3.5
    assert f"{label('id_fanout_mean', 1)}_low" not in what.columns  # a count, not an accuracy: no interval


def test_each_point_of_the_plane_carries_its_interval(report):
    _, sections, _ = report
    section = sections[[s.dataset for s in sections].index("digits")]
    chart = plane(section, [c for c in section.cells if c.qps], "precision", 10, {})
    lines = [s for s in chart.panels[0].series if s.kind != "front"]
    assert lines and all(s.err and len(s.err) == len(s.y) for s in lines)
    for s in lines:
        assert all(low < y < high for y, (low, high) in zip(s.y, s.err))
    assert chart.notes  # what the bars are


@pytest.mark.e2e
def test_the_report_files_carry_the_intervals(results, tmp_path):
    from bench.report.build import build

    build(results, tmp_path)
    table1 = pd.read_csv(tmp_path / "table1_precision.csv")
    assert {"P@1", "P@1_low", "P@1_high", "P@1_p", "Seeds"} <= set(table1.columns)
    assert (table1["P@1_low"] <= table1["P@1"]).all() and (table1["P@1"] <= table1["P@1_high"]).all()
    assert table1["P@1_p"].notna().sum() == 4  # two rows a dataset
    markdown = (tmp_path / "table1_precision.md").read_text()
    assert " ± " in markdown and NOT_SIGNIFICANT in markdown
    bound = pd.read_csv(tmp_path / "table3_bound.csv")
    assert {"bound P@1", "bound P@1_low", "P@1"} <= set(bound.columns) and len(bound) == 6  # 3 beams a set
    assert (tmp_path / "table3_identifiers.md").exists() and (tmp_path / "intervals.csv").exists()
