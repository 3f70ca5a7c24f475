"""The results site (reports/site/) built by bench.report from synthetic results: its pages and
assets, the same bytes for the same results, files others can read, metrics shown by the names
the results hold; then opened in headless Chromium (Debian's, driven by Playwright): no console
error, a plane series per method + backend, hover, the metric axis, legend toggles, sorting, and
every link and image resolving with no request leaving the file system."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import stat
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

from bench.definitions import short
from bench.report import __main__ as report_command
from bench.report import names
from bench.report.cells import line_label, read_results, sections_from, series
from bench.report.paper import load_paper
from bench.report.screenshot import CHARTS_DRAWN, browser, open_page, screenshot, unavailable
from bench.report.screenshot import main as screenshot_command
from bench.report.site import inline
from bench.report.tables import build_tables
from bench.results import COLUMNS
from tests.bench.test_report import cell, synthetic_results

EXTRA_METRIC = "precision_custom"  # a metric no code names: it must reach the plane's axis menu as is
SWEEP = {"dataset": "synthetic-5000x32", "n": 5000, "dim": 32, "n_queries": 100, "metric": "l2", "recall_at": 10,
         "single_queries": 10, "build_s": 0.5, "memory_bytes": 2e6, "disk_bytes": 0, "threads": 2,
         "omp_wait_policy": "PASSIVE", "run_id": "20260101-000004-eeeeee"}


def throughput_rows() -> list[dict]:
    """bench.throughput's rows for digits: a feature method and IRGen, each at two batch sizes."""
    rows = []
    for method, backend, beam, ms in (("smallcnn", "linear", None, 2.0), ("irgen", "-", 10, 40.0)):
        for batch in (1, 16):
            setting = ",".join(f"{k}={v}" for k, v in sorted({"batch": batch, "db": "dataset", "device": "cpu",
                                                                "dtype": "fp32", "model": "trained",
                                                                **({"beam": beam} if beam else {})}.items()))
            key = {"run_id": "20260101-000005-ffffff", "cell_id": f"t-{method}-{batch}", "dataset": "digits",
                   "protocol": "paper", "limit": "-", "seed": 0, "method": method, "variant": "-",
                   "features": "-" if method == "irgen" else method, "backend": backend, "setting": setting, "k": 0}
            per_query = ms / batch ** 0.5
            rows += [{**key, "metric": "qps_single" if batch == 1 else "qps_batch", "value": 1000 / per_query},
                     {**key, "metric": "ms_per_query_search", "value": per_query}]
    return rows


def scaling_rows() -> pd.DataFrame:
    lines = [(n, component, measure, value * n / 1000) for n in (1000, 4000)
             for component, measure, value in (("identifiers", "assign_s", 0.1), ("beam10", "search_ms", 5.0),
                                               ("ivfpq", "build_s", 0.2), ("ivfpq", "search_ms", 0.05),
                                               ("ivfpq", "recall@10", 0.2), ("ivfpq", "index_bytes", 1e5))]
    return pd.DataFrame([{"n": n, "dim": 32, "queries": 100, "seed": 0, "component": c, "measure": m, "value": v,
                          "unit": "", "note": "", "hardware": "Test CPU (2 CPUs)", "run_id": "20260101-000006-gggggg"}
                         for n, c, m, v in lines])


def site_results(root: Path) -> Path:
    """test_report's synthetic results (In-shop, digits), plus a metric no code names, throughput
    timings, a backend sweep, scaling rows and a failed cell."""
    results = synthetic_results(root)
    table = pd.read_csv(results / "results.csv", dtype={"limit": str, "variant": str, "setting": str})
    extra = table[(table.metric == "precision") & (table.k == 10)].assign(metric=EXTRA_METRIC)
    pd.concat([table, extra]).to_csv(results / "results.csv", index=False)
    (results / "throughput" / "manifests").mkdir(parents=True)
    pd.DataFrame(throughput_rows(), columns=COLUMNS).to_csv(results / "throughput" / "results.csv", index=False)
    (results / "throughput" / "manifests" / "20260101-000005-ffffff.json").write_text(json.dumps(
        {"run_id": "20260101-000005-ffffff", "kind": "throughput", "hardware": {"cpu_model": "Test CPU", "cpus": 2}}))
    pd.DataFrame([{**SWEEP, "backend": backend, "build_params": "{}", "params": json.dumps(params), "recall": recall,
                   "qps_batch": qps, "qps_single": qps / 3}
                  for backend, params, recall, qps in (("linear", {}, 1.0, 300.0),
                                                       ("ivfpq", {"nprobe": 1}, 0.4, 9000.0),
                                                       ("ivfpq", {"nprobe": 4}, 0.8, 5000.0),
                                                       ("ivfpq", {"nprobe": 16}, 0.95, 1500.0))]
                 ).to_csv(results / "sweeps.csv", index=False)
    (results / "scaling").mkdir()
    scaling_rows().to_csv(results / "scaling" / "scaling.csv", index=False)
    pd.DataFrame([{"cell": "python -m bench.run --dataset digits --method smallcnn --backend spann",
                   "status": "unavailable", "seconds": 9.0, "reason": "unavailable: SPTAG is not installed here",
                   "log": "results/logs/x.log", "finished_at": "2026-01-01 00:00:00"}]).to_csv(
        results / "failures.csv", index=False)
    return results


def build(results: Path, reports: Path) -> dict[str, bytes]:
    """The reports under umask 022, as a new file of anyone's would be; the site's files by name."""
    umask = os.umask(0o022)
    try:
        assert report_command.main(["--results", str(results), "--reports", str(reports)]) == 0
    finally:
        os.umask(umask)
    return {p.name: p.read_bytes() for p in sorted((reports / "site").iterdir())}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    results = site_results(root / "results")
    files = build(results, root / "reports")
    return results, root / "reports", files


def charts(page: bytes) -> dict:
    return json.loads(re.search(rb'<script type="application/json" id="charts">(.*?)</script>', page, re.DOTALL)[1])


def plane_series(results: Path, dataset: str) -> list[tuple[str, dict]]:
    """The plane's expected series, (name, model fields): one per method x model x backend
    with a speed, runs with held-out data aside, named as the figures name them."""
    section = next(s for s in sections_from(read_results(results)) if s.dataset == dataset)
    cells = [c for c in section.cells if c.qps and not c.fields["fresh"]]
    return [(line_label(g[0], with_setting=False), g[0].fields) for g in series(cells)]


def plane_labels(results: Path, dataset: str) -> list[str]:
    return [label for label, _ in plane_series(results, dataset)]


@pytest.mark.e2e
def test_pages_and_assets_are_written_and_the_plotting_library_once(site):
    files = site[2]
    assert {"index.html", "dataset-inshop.html", "dataset-digits.html", "backends.html", "runs.html", "site.js",
            "site.css", "plotly.min.js"} <= set(files)
    # the plotting library once, beside the pages, not inside them
    assert len(files["plotly.min.js"]) > 1e6 and all(len(data) < 1e6 for name, data in files.items()
                                                     if name != "plotly.min.js")
    for name in (n for n in files if n.endswith(".html")):
        page = files[name].decode()
        targets = re.findall(r'(?:src|href)="([^"]*)"', page)
        assert targets and not [t for t in targets if re.match(r"//|[a-z]+:(?!,$)", t)], name  # nothing off the site
        assert '<script src="site.js">' in page


@pytest.mark.e2e
def test_each_table_block_is_on_its_dataset_page_with_its_notes_and_the_paper_marked(site):
    results, _, files = site
    blocks = [(t, s, df, notes) for t in build_tables(sections_from(read_results(results)), load_paper())
              for s, df, notes in t.blocks]
    assert {s.dataset for _, s, _, _ in blocks} == {"inshop", "digits"}
    assert any(notes for _, _, _, notes in blocks)
    for table, section, df, notes in blocks:
        page = files[f"dataset-{section.slug}.html"].decode()
        assert f'<h3 id="{table.name}">{html.escape(table.caption)}</h3>' in page
        assert all(inline(note) in page for note in notes)
        for column in (c for c in df.columns if c.startswith("paper ")):
            assert re.search(f'<th class="paper"[^>]*>{re.escape(html.escape(column))}</th>', page)
    assert 'class="paper"' not in files["dataset-digits.html"].decode()  # not one of the paper's sets


@pytest.mark.e2e
def test_plane_offers_every_metric_the_results_hold_and_marks_the_front(site):
    results, _, files = site
    plane = charts(files["dataset-inshop.html"])["chart-1"]
    labels = [v["label"] for v in plane["views"]]
    expected = [f"{short(m)}@{k}" for m, k in (("precision", 1), ("precision", 30), ("recall", 10), ("mrr", 20),
                                               ("map", 100))]
    assert set(expected + [f"{EXTRA_METRIC}@10"]) <= set(labels)
    assert labels[plane["selected"]] == f"{short('precision')}@10"
    for view in plane["views"]:
        names = [t["name"] for t in view["data"]]
        assert names == plane_labels(results, "inshop") + ["Pareto front"]
    front = plane["views"][plane["selected"]]["data"][-1]
    assert front["x"] == sorted(front["x"]) and front["y"] == sorted(front["y"], reverse=True)


@pytest.mark.e2e
def test_same_results_give_the_same_site(site, tmp_path):
    results, _, files = site
    assert build(results, tmp_path / "elsewhere") == files


@pytest.mark.e2e
def test_report_files_are_readable_by_everyone(site):
    reports = site[1]
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in files) and any(p.parent.name == "site" for p in files)
    assert {p.relative_to(reports).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
            if stat.S_IMODE(p.stat().st_mode) != 0o644} == {}
    assert stat.S_IMODE((reports / "site").stat().st_mode) == 0o755


@pytest.mark.e2e
def test_runs_page_shows_every_manifest_and_the_failed_cells(site):
    page = site[2]["runs.html"].decode()
    for run_id in ("20260101-000000-aaaaaa", "20260101-000002-cccccc", "20260101-000005-ffffff"):
        assert f'id="run-{run_id}"' in page
    assert "code.commit" in page and "abc123" in page and "hardware.cpu_model" in page
    assert "unavailable: SPTAG is not installed here" in page


@pytest.mark.e2e
def test_one_dataset_is_on_the_index_and_stale_pages_go(site, tmp_path):
    shutil.copytree(site[1] / "site", tmp_path / "reports" / "site")
    alone = tmp_path / "results"
    (alone / "manifests").mkdir(parents=True)
    pd.DataFrame(cell("20260101-000002-cccccc", "digits", "smallcnn", "linear"), columns=COLUMNS).to_csv(
        alone / "results.csv", index=False)
    files = build(alone, tmp_path / "reports")
    assert "dataset-inshop.html" not in files and "dataset-digits.html" not in files
    assert "backends.html" not in files and "chart-1" in files["index.html"].decode()


# --- in a real browser --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    why = unavailable()
    if why:
        pytest.skip(why)
    with browser() as context:
        yield context


class Watched:
    """The page at ``base + name`` once its charts are drawn, with what went wrong while it loaded:
    console errors, requests anywhere but ``base``, failed requests."""

    def __init__(self, context, base: str, name: str):
        self.errors, self.off_site, self.failed = [], [], []
        page = context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(base) else self.off_site.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(r.url))
        page.goto(base + name)
        page.wait_for_function(CHARTS_DRAWN)
        self.page = page

    @property
    def trouble(self) -> tuple[list, list, list]:
        return self.errors, self.off_site, self.failed

    def images_resolve(self) -> bool:
        """Whether every image on the page, once each has finished loading (a script may have just
        added them), was read: one that failed finishes too, with no width."""
        self.page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=15_000)
        return self.page.evaluate("Array.from(document.images).every(i => i.naturalWidth > 0)")


def pages(site) -> list[str]:
    return sorted(name for name in site[2] if name.endswith(".html"))


@pytest.mark.e2e
def test_every_page_loads_cleanly_and_its_links_and_images_resolve(site, chromium):
    base = (site[1] / "site").resolve().as_uri() + "/"
    for name in pages(site):
        watched = Watched(chromium, base, name)
        assert watched.trouble == ([], [], []), name
        page = watched.page
        buttons = page.locator(".modebar-btn").evaluate_all("bs => bs.map(b => b.getAttribute('data-title'))")
        assert not [b for b in buttons if "share" in b.lower() or "cloud" in b.lower()]  # nothing uploads a chart
        assert watched.images_resolve()
        for url in page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
            target = urlparse(url)
            assert target.scheme == "file" and Path(unquote(target.path)).is_file(), (name, url)
            if target.fragment:
                assert f'id="{target.fragment}"' in Path(unquote(target.path)).read_text(), (name, url)
        watched.page.close()


@pytest.mark.e2e
def test_the_site_loads_from_a_static_web_server(site, chromium):
    handler = partial(SimpleHTTPRequestHandler, directory=site[1] / "site")
    handler.log_message = lambda *args: None
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        Thread(target=server.serve_forever, daemon=True).start()
        try:
            watched = Watched(chromium, f"http://127.0.0.1:{server.server_port}/", "index.html")
            assert watched.trouble == ([], [], [])
            watched.page.close()
        finally:
            server.shutdown()


@pytest.mark.e2e
def test_plane_series_hover_axis_and_legend(site, chromium):
    results, reports, _ = site
    page = open_page(chromium, reports / "site" / "dataset-inshop.html")
    plane = page.locator(".chart").first
    expected = plane_series(results, "inshop")
    assert len(expected) == 7  # FT-CLIP x 3 backends, CGD / SPANN, IRGen's RQ T=4, T=2 and random identifiers
    legend = plane.locator(".legend .traces .legendtext").evaluate_all("texts => texts.map(t => t.textContent)")
    assert legend == [label for label, _ in expected] + ["Pareto front"]

    irgen = next(i for i, (_, f) in enumerate(expected)
                 if (f["method"], f.get("preset"), f.get("identifier"), f.get("T")) == ("irgen", "paper", "rq", 4))
    seen = set()
    for point in plane.locator(".scatterlayer .trace").nth(irgen).locator("path.point").all():
        point.scroll_into_view_if_needed()
        box = point.bounding_box()  # where the mouse goes: Plotly's drag layer, above the point, takes it
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector(".hoverlayer .hovertext")
        seen.add(plane.locator(".hoverlayer .hovertext tspan.line").evaluate_all(
            "lines => lines.map(l => l.textContent).join('\\n')"))
        page.mouse.move(0, 0)
    assert [any(f"setting: beam={b}\n" in text for text in seen) for b in (1, 10, 30)] == [True] * 3
    shown = ("\nbatched queries/s: ", f"\n{short('precision')}@10: ", f"\nbackend: {names.backend('beam-search').label}\n")
    assert all(words in text for text in seen for words in shown)

    drawn = plane.locator(".scatterlayer .trace").count()
    plane.locator(".legend .traces .legendtoggle").first.click()
    # Plotly waits out the double-click delay before it hides the series
    page.wait_for_function("document.querySelector('.chart').data[0].visible === 'legendonly'")
    assert plane.locator(".scatterlayer .trace").count() == drawn - 1
    page.select_option("select[data-chart]", label=f"{short('recall')}@1")
    assert f"{short('recall')}@1" in plane.locator(".g-ytitle").text_content()
    assert page.evaluate("document.querySelector('.chart').data[0].visible") == "legendonly"  # still hidden
    page.close()


def column(table, index: int) -> list[str]:
    """A column's sort values, top to bottom ('' where missing)."""
    return table.locator(f"tbody tr td:nth-child({index + 1})").evaluate_all(
        "cells => cells.map(c => c.getAttribute('data-sort'))")


@pytest.mark.e2e
def test_clicking_a_heading_sorts_the_rows(site, chromium):
    page = open_page(chromium, site[1] / "site" / "dataset-inshop.html")
    table = page.locator("table.sortable").first  # Table 1
    index = table.locator("thead th").all_inner_texts().index(f"{short('precision')}@1")
    heading = table.locator("thead th").nth(index)
    before = column(table, index)
    heading.click()
    after = column(table, index)
    ours = [float(v) for v in after if v]
    assert after != before and sorted(after, key=lambda v: v == "") == after and ours == sorted(ours, reverse=True)
    heading.click()
    ours = [float(v) for v in column(table, index) if v]
    assert len(ours) > 2 and ours == sorted(ours)
    page.close()


@pytest.mark.e2e
def test_screenshot_of_the_index(site, chromium, tmp_path):
    shot = screenshot(site[1] / "site", tmp_path / "shot.png", chromium)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_screenshot_command_names_a_missing_site(tmp_path, capsys):
    assert screenshot_command(["--site", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.e2e
def test_plane_points_draw_their_intervals_and_hover_them(tmp_path, chromium):
    from tests.bench.test_report_intervals import store_dataset

    store_dataset(tmp_path / "results", "digits", irgen_skill=0.8, baseline_skill=0.4, seed=1)
    build(tmp_path / "results", tmp_path / "reports")
    page = open_page(chromium, tmp_path / "reports" / "site" / "index.html")
    plane = page.locator(".chart").first
    bars = page.evaluate("document.querySelector('.chart').data.filter(t => t.error_y).map(t => t.error_y.array)")
    assert bars and all(len(b) and all(v > 0 for v in b) for b in bars)
    assert plane.locator(".scatterlayer .errorbar path").count() >= sum(map(len, bars))  # drawn, one a point
    point = plane.locator(".scatterlayer .trace").first.locator("path.point").first
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(".hoverlayer .hovertext")
    hover = plane.locator(".hoverlayer .hovertext tspan.line").evaluate_all("ls => ls.map(l => l.textContent)")
    assert any(line.startswith("95% interval: ") for line in hover) and any(" ± " in line for line in hover)
    page.close()
