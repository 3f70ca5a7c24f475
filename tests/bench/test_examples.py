"""The retrieval examples (the paper's Figures 7-9): the seeded sample of queries, the marks, the
disagreement sets from known rankings (tests/bench/example_results.py), the PNG and the site page
built by bench.report, and the page in headless Chromium: paging, hiding a row, the disagree views."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bench.rankings import RankedItems, items_path, read_items, write_items
from bench.report import __main__ as report_command
from bench.report.cells import line_label, read_results, sections_from
from bench.report.example_images import ItemImages, Unreadable, thumbnail
from bench.report.examples import (build_examples, disagree, first_of, headline_rows, marks, query_order,
                                   shown_cell_id, top_k)
from bench.report.examples_figure import png_queries
from bench.report.examples_site import DISAGREE_QUERIES, SITE_QUERIES
from tests.bench.example_results import BASELINE_ONLY, IRGEN_ONLY, N_QUERIES, example_results
from tests.bench.test_site import Watched, chromium  # noqa: F401  (chromium: the browser fixture)

# ---------------------------------------------------------------- pure functions


def test_the_query_order_is_seeded_and_a_smaller_sample_is_the_start_of_a_larger():
    order = query_order(500)
    assert sorted(order) == list(range(500))  # every query once
    assert np.array_equal(order, query_order(500)) and not np.array_equal(order, query_order(500, seed=1))
    assert np.array_equal(order[:8], query_order(500)[:50][:8])  # the PNG's queries are the site's first ones
    assert not np.array_equal(order[:50], np.arange(50))  # drawn, not the first queries of the split


def test_first_of_keeps_the_order_and_takes_only_wanted_queries():
    order = np.array([5, 2, 8, 0, 3])
    wanted = np.zeros(10, bool)
    wanted[[0, 2, 3]] = True
    assert first_of(order, wanted, 2).tolist() == [2, 0] and first_of(order, wanted, 9).tolist() == [2, 0, 3]


def test_a_right_answer_is_marked_right_and_a_wrong_or_missing_one_is_not():
    db = np.array([0, 1, 1, 2])
    queries = np.array([1, 2])
    ids = np.array([[1, 0, -1], [3, 2, 1]])
    assert marks(ids, db, queries).tolist() == [[True, False, False], [True, False, False]]


def test_top_k_drops_the_query_itself_under_the_metric_learning_protocol_and_pads():
    ids = np.array([[0, 2, 1], [2, 1, 0]])
    assert top_k(ids, 2, query_in_database=True).tolist() == [[2, 1], [2, 0]]
    assert top_k(ids, 5).tolist() == [[0, 2, 1, -1, -1], [2, 1, 0, -1, -1]]


def test_disagree_splits_the_queries_where_exactly_one_side_is_right():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    a_only, b_only = disagree(a, b)
    assert a_only.tolist() == [False, True, False, False] and b_only.tolist() == [False, False, True, False]


def test_fewer_queries_in_the_png_where_there_are_many_rows():
    assert png_queries(3) == 8 and png_queries(15) == 2 and png_queries(40) == 2 and png_queries(8) == 4


# ---------------------------------------------------------------- a section from known rankings


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    results, _ = example_results(tmp_path_factory.mktemp("examples") / "results")
    rows = read_results(results)
    return results, rows, sections_from(rows)


def test_the_rows_are_the_headline_cells_irgen_at_its_headline_beam(known):
    results, rows, sections = known
    examples = build_examples(sections, rows, results)[0]
    assert [r.cell for r in examples.rows] == headline_rows(sections[0])
    settings = {(r.cell.method, r.cell.backend): r.cell.setting for r in examples.rows}
    assert settings == {("smallcnn", "linear"): "-", ("smallcnn", "ivfpq"): "-", ("irgen", "beam-search"): "beam=10"}
    assert all(r.ids.shape == (N_QUERIES, 10) for r in examples.rows) and not examples.left_out


def test_a_cell_of_two_seeds_shows_seed_0s_ranking_and_says_so(known):
    results, rows, sections = known
    linear = next(c for c in sections[0].cells if c.backend == "linear")
    assert linear.seeds == 2 and shown_cell_id(linear, rows) == (0, "cell2")
    examples = build_examples(sections, rows, results)[0]
    row = next(r for r in examples.rows if r.cell is linear)
    assert row.seed == 0 and "seed 0" in row.label and examples.seeds_note
    assert np.array_equal(row.right[:, 0], np.arange(N_QUERIES) % 3 != 0)  # seed 0's rule, not seed 1's


def test_the_disagreement_sets_from_known_rankings(known):
    results, rows, sections = known
    examples = build_examples(sections, rows, results)[0]
    d = examples.disagreement
    assert (d.irgen.cell.setting, d.baseline.cell.backend) == ("beam=10", "linear")  # the best baseline by P@1
    i = np.arange(N_QUERIES)
    assert np.array_equal(d.irgen_only, np.isin(i % 12, [3, 6, 9])) and d.irgen_only.sum() == IRGEN_ONLY
    assert np.array_equal(d.baseline_only, np.isin(i % 12, [4, 8])) and d.baseline_only.sum() == BASELINE_ONLY
    shown = examples.disagreeing(True, 10)
    assert len(shown) == 10 and all(q % 12 in (3, 6, 9) for q in shown)
    assert examples.disagreeing(False, 100).tolist() == [q for q in examples.order if q % 12 in (4, 8)]


def test_a_section_without_rankings_shows_nothing_and_says_why(known, tmp_path):
    _, rows, sections = known
    examples = build_examples(sections, rows, tmp_path)[0]  # a results folder with no rankings
    assert examples.rows == [] and len(examples.left_out) == len(headline_rows(sections[0]))


def test_missing_dataset_files_raise_one_error_that_names_them(known, monkeypatch):
    results = known[0]
    monkeypatch.delenv("IRGEN_DATA_ROOT", raising=False)
    items = read_items(results, next(items_path(results, "x").parent.glob("*.npz")).stem)
    items.meta = {**items.meta, "dataset": "cub200", "folder": "/nonexistent/cub200"}
    with pytest.raises(Unreadable, match="cub200"):
        ItemImages(items).query(0)
    assert ItemImages(read_items(results, items.meta["fingerprint"])).query(0).mode == "RGB"


def test_a_thumbnail_is_a_small_jpeg_and_the_same_bytes_each_time(known):
    items = read_items(known[0], next(items_path(known[0], "x").parent.glob("*.npz")).stem)
    image = ItemImages(items).query(0)
    data = thumbnail(image)
    assert data[:2] == b"\xff\xd8" and len(data) < 10_000 and thumbnail(image) == data


# ---------------------------------------------------------------- the report's PNG and page


def build(results: Path, reports: Path) -> dict[str, bytes]:
    assert report_command.main(["--results", str(results), "--reports", str(reports)]) == 0
    return {p.relative_to(reports).as_posix(): p.read_bytes() for p in sorted(reports.rglob("*")) if p.is_file()}


def page_data(page: bytes) -> dict:
    return json.loads(re.search(rb'<script type="application/json" id="examples-data">(.*?)</script>', page,
                                re.DOTALL)[1])


@pytest.fixture(scope="module")
def built(known, tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    return known[0], reports, build(known[0], reports)


@pytest.mark.e2e
def test_the_report_writes_the_png_and_the_page_with_its_thumbnails(built, known):
    _, reports, files = built
    slug = known[2][0].slug
    assert files[f"examples-{slug}.png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert "site/examples.js" in files and "site/examples.css" in files
    for name in (n for n in files if n.startswith("site/") and n.endswith(".html")):
        assert 'href="examples.html"' in files[name].decode(), name  # in every page's navigation
    data = page_data(files["site/examples.html"])
    section = data["sections"][0]
    assert [r["label"] for r in section["rows"]] == [line_label(c) + (" (seed 0 of 2 seeds)" if c.seeds > 1 else "")
                                                     for c in headline_rows(known[2][0])]
    assert section["disagree"]["irgen_only"] == IRGEN_ONLY and section["disagree"]["baseline_only"] == BASELINE_ONLY
    assert [len(v["queries"]) for v in section["views"]] == [SITE_QUERIES, DISAGREE_QUERIES, BASELINE_ONLY]
    thumbs = {n for n in files if n.startswith("site/thumbs/")}
    used = {section["thumbs"][t] for q in section["queries"].values()
            for t in [q["thumb"]] + [a[0] for answers in q["answers"] for a in answers if a[0] >= 0]}
    assert {f"site/{t}" for t in used} == thumbs and len(section["thumbs"]) == len(used)  # each image once
    assert all(len(files[t]) < 10_000 for t in thumbs)


@pytest.mark.e2e
def test_the_same_results_give_the_same_examples_and_stale_thumbnails_go(built, tmp_path):
    results, reports, files = built
    assert build(results, reports) == files
    (reports / "site" / "thumbs" / "digits" / "stale.jpg").write_bytes(b"x")
    assert build(results, reports) == files


@pytest.mark.e2e
def test_a_dataset_not_present_gets_a_note_not_a_crash(known, tmp_path, monkeypatch):
    monkeypatch.delenv("IRGEN_DATA_ROOT", raising=False)
    results = tmp_path / "results"
    example_results(results)
    path = next((results / "rankings" / "items").glob("*.npz"))
    items = read_items(results, path.stem)
    path.unlink()
    write_items(results, RankedItems(items.query_labels, items.database_labels, items.query_origins,
                                     items.database_origins,
                                     {**items.meta, "dataset": "cub200", "folder": str(tmp_path / "gone")}))
    files = build(results, tmp_path / "reports")
    page = files["site/examples.html"].decode()
    assert "examples-data" not in page and "<li>" in page  # a note, no viewer
    assert not [n for n in files if n.startswith("site/thumbs/") or n.startswith("examples-")]


# ---------------------------------------------------------------- in a real browser


@pytest.mark.e2e
def test_the_page_pages_hides_a_row_and_lists_the_disagreements(built, chromium):  # noqa: F811
    _, reports, files = built
    watched = Watched(chromium, (reports / "site").resolve().as_uri() + "/", "examples.html")
    page = watched.page
    position = page.locator("#ex-position")
    first = position.get_attribute("data-query")
    assert position.text_content().startswith(f"query 1 of {SITE_QUERIES}")
    page.click("#ex-next")
    second = position.get_attribute("data-query")
    assert position.text_content().startswith(f"query 2 of {SITE_QUERIES}") and second != first
    page.keyboard.press("ArrowRight")
    assert position.text_content().startswith("query 3 of")
    page.keyboard.press("ArrowLeft")
    assert position.get_attribute("data-query") == second
    rows = page.locator("table.ex-table tbody tr")
    assert rows.count() == 3
    assert watched.images_resolve()
    page.locator('.ex-rows input[data-row="1"]').uncheck()
    assert rows.count() == 2 and page.locator('table.ex-table tbody tr[data-row="1"]').count() == 0
    counts = page.locator(".ex-count").all_text_contents()
    assert counts == [str(IRGEN_ONLY), str(BASELINE_ONLY)]
    for view, rule, count in (("irgen-right", (3, 6, 9), IRGEN_ONLY), ("baseline-right", (4, 8), BASELINE_ONLY)):
        page.locator(f'.ex-view[data-view="{view}"] input').check()
        assert page.locator(f'.ex-view[data-view="{view}"]').get_attribute("data-count") == str(count)
        shown = min(count, DISAGREE_QUERIES)
        assert position.text_content().startswith(f"query 1 of {shown}")
        seen = []
        for _ in range(shown):
            seen.append(int(position.get_attribute("data-query")))
            page.keyboard.press("ArrowRight")
        assert len(set(seen)) == shown and all(q % 12 in rule for q in seen)
        assert rows.count() == 2  # the hidden row stays hidden
    assert watched.trouble == ([], [], [])
    page.close()
