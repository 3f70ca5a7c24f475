"""``reports/site/``: the reports as a static site a researcher opens in a browser, from the file
system or any static web server, with no request leaving it. Built from the same data as the
Markdown tables and the PNG figures (the ``Table``s, the figures' ``chart.Chart`` descriptions, drawn
by ``plotly_json``; the sweeps and scaling rows, the manifests, ``results/failures.csv``), so it shows whatever metrics and labels
they hold.

Pages: ``index.html`` (what the numbers are, the datasets, what could not be drawn; with one
dataset also its page), ``dataset-<slug>.html`` per dataset when there are several (the
accuracy-against-queries/s plane with a selectable metric and the Pareto front, Tables 1-6
sortable with the paper's columns marked and their notes, Figures 3-6 and the throughput
figure), ``backends.html`` (the backend sweeps and the scaling figure), ``runs.html`` (each run's
manifest, the failed or unavailable grid cells).

Plotly draws the charts: its ``plotly.min.js`` (4.8 MB, from the ``plotly`` package) is copied
once beside the pages; each page holds its charts' data as JSON, so no page reads another file.
The same results give the same bytes: no timestamps, stable order, numbers rounded to 6 digits."""
from __future__ import annotations

import html
import json
import math
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from methods.runtime.files import atomic_write

from ..results import ResultStore, scaling_table, sweeps_table
from ..results.manifest import device_words
from . import db_size, names, plotly_json, sweeps
from .cells import Section
from .figures import plane_views
from .readme import PAPER_WORDS, dataset_lines, metric_words, not_generated
from .tables import Table, fmt, shown, text

ASSETS = Path(__file__).with_name("site_assets")
PLOTLY = "plotly.min.js"


# --- HTML ---------------------------------------------------------------------------------------

def esc(text) -> str:
    return html.escape(str(text), quote=True)


def tag(name: str, content: str = "", **attrs) -> str:
    """``<name attrs>content</name>``; ``content`` is HTML already, attribute values are escaped
    (``class_`` for class, ``data_x`` for data-x; None leaves an attribute out)."""
    words = "".join(f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in attrs.items() if v is not None)
    return f"<{name}{words}>{content}</{name}>"


def inline(markdown: str) -> str:
    """The Markdown the reports' sentences use (``code``, **bold**) as HTML."""
    escaped = esc(markdown)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)


def bullets(lines: list[str]) -> str:
    return tag("ul", "".join(tag("li", inline(line)) for line in lines)) if lines else ""


def sortable(df: pd.DataFrame, show=lambda row, column: fmt(row[column], False), paper_columns: bool = False) -> str:
    """A table the reader sorts by clicking a heading (``site.js``): its ``tables.shown`` columns, each
    value as ``show(row, column)`` writes it; numbers carry their value in ``data-sort``, a missing one
    an empty ``data-sort`` (sorted last either way)."""
    columns = shown(df)

    def th(column: str) -> str:
        paper = paper_columns and column.startswith("paper ")
        return tag("th", esc(column), class_="paper" if paper else None,
                   title="the IRGen paper's number, copied from the paper, not measured here" if paper else None)

    def td(column: str, row: dict) -> str:
        value = row[column]
        missing = value is None or value == names.MISSING or (isinstance(value, float) and math.isnan(value))
        numeric = missing or (isinstance(value, (int, float)) and not isinstance(value, bool))
        paper = paper_columns and column.startswith("paper ")
        return tag("td", esc(show(row, column)), data_sort="" if missing else (repr(float(value)) if numeric else None),
                   class_=" ".join(c for c in ("num" if numeric else "", "paper" if paper else "") if c) or None)

    head = tag("thead", tag("tr", "".join(th(c) for c in columns)))
    rows = "".join(tag("tr", "".join(td(c, row) for c in columns)) for row in df.astype(object).to_dict("records"))
    return tag("div", tag("table", head + tag("tbody", rows), class_="sortable"), class_="scroll")


def plane_chart(section: Section, manifests: dict) -> dict | None:
    views = plane_views(section, manifests)
    return plotly_json.views(*views) if views else None


# --- pages --------------------------------------------------------------------------------------

class Page:
    """One HTML page: its sections of HTML and the charts it draws (element id -> chart)."""

    def __init__(self, name: str, title: str):
        self.name, self.title, self.parts, self.charts = name, title, [], {}

    def add(self, *parts: str) -> None:
        self.parts += parts

    def chart(self, chart: dict, caption: str = "") -> str:
        """A placeholder the page's script draws ``chart`` in; a metric selector where it has several views."""
        chart_id = f"chart-{len(self.charts) + 1}"
        self.charts[chart_id] = chart
        views = chart["views"]
        picker = ""
        if len(views) > 1:
            options = "".join(tag("option", esc(v["label"]), selected="selected" if i == chart["selected"] else None)
                              for i, v in enumerate(views))
            picker = tag("label", "accuracy axis: " + tag("select", options, data_chart=chart_id), class_="picker")
        notes = bullets(chart.get("notes", []))
        return tag("figure", picker + tag("div", "", id=chart_id, class_="chart")
                   + (tag("figcaption", inline(caption) + notes) if caption or notes else ""))

    def render(self, nav: list[tuple[str, str]]) -> str:
        links = "".join(tag("a", esc(label), href=href, class_="here" if href == self.name else None)
                        for href, label in nav)
        data = json.dumps(self.charts, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
        scripts = (tag("script", data, type="application/json", id="charts") + tag("script", src=PLOTLY)
                   if self.charts else "") + tag("script", src="site.js")
        return ("<!DOCTYPE html>\n" + tag("html", tag("head", '<meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                + tag("title", esc(f"{self.title} - irgen-bench")) + '<link rel="stylesheet" href="site.css">'
                '<link rel="icon" href="data:,">')  # no icon: a static server would answer /favicon.ico with 404
                + tag("body", tag("header", tag("nav", links)) + tag("main", "\n".join(self.parts)) + scripts),
                lang="en") + "\n")


def table_blocks(section: Section, tables: list[Table]) -> str:
    """Tables 1-6 as far as they hold this dataset: sortable, the paper's columns shaded, their notes below."""
    out = []
    for table in tables:
        for s, df, notes in table.blocks:
            if s is section:
                out.append(tag("h3", esc(table.caption), id=table.name) + sortable(df, text, paper_columns=True)
                           + bullets(notes))
    return "\n".join(out)


def figure_blocks(section: Section, sections: list[Section], figures, page: Page) -> str:
    """Figures 3-6 and the throughput figure of this dataset, from the descriptions their PNGs were
    drawn from; the kinds not drawn here, with the reason."""
    index = next(i for i, s in enumerate(sections) if s is section)
    drawn, missing = [], []
    for _, figs in figures:
        figure = figs[index]
        if figure.chart is not None and figure.on_site:
            drawn.append(page.chart(plotly_json.views([figure.chart])))
        elif figure.chart is None:
            missing.append(f"{figure.kind}: {figure.skipped.removeprefix(section.title + ': ')}.")
    return "\n".join(drawn) + (tag("h3", "Not drawn for this dataset") + bullets(missing) if missing else "")


PLANE_CAPTION = ("Hover a point for its method, model, backend, setting, accuracy with its 95% interval (the error "
                 "bar) and speed; click a legend entry to hide or show its series (double-click: only it). The Pareto "
                 "front is that of the metric shown, over every series.")


def dataset_part(section: Section, sections, tables, figures, manifests, page: Page) -> str:
    """One dataset: its plane, its blocks of Tables 1-6, its figures."""
    plane = plane_chart(section, manifests)
    return "\n".join([
        tag("h2", esc(section.title), id=section.slug), tag("h3", "Accuracy against queries per second"),
        page.chart(plane, PLANE_CAPTION) if plane else tag("p", "No cell with both a speed and an accuracy metric."),
        tag("h3", "Tables", class_="group"), table_blocks(section, tables) or tag("p", "No table holds this dataset."),
        tag("h3", "Figures", class_="group"), figure_blocks(section, sections, figures, page)])


def index_page(sections, tables, figures, manifests, pages: list[tuple[Section, Page]]) -> Page:
    page = Page("index.html", "Results")
    page.add(tag("h1", "irgen-bench results"),
             tag("p", "Generative image retrieval (IRGen) beside feature models + nearest-neighbour search. Rebuilt "
                      "from <code>results/</code> alone by <code>python -m bench.report</code> (no model is run); "
                      "the same results give the same files."),
             tag("p", inline(metric_words())), tag("blockquote", inline(PAPER_WORDS)))
    links = {id(s): p.name for s, p in pages}
    items = [tag("li", inline(line.removeprefix("- "))
                 + (" " + tag("a", "open its page", href=links[id(s)]) if id(s) in links else ""))
             for s, line in zip(sections, dataset_lines(sections))]
    page.add(tag("h2", "Datasets"),
             tag("ul", "".join(items)) if items else tag("p", inline("No results yet: run `./run_all.sh --quick`.")))
    if len(sections) == 1:
        page.add(dataset_part(sections[0], sections, tables, figures, manifests, page))
    lines = not_generated(tables, figures)
    page.add(tag("h2", "Not generated yet"), bullets(lines) or tag("p", "Nothing: every table and figure has its inputs."))
    return page


def backends_page(results: Path) -> Page | None:
    """The backends' recall-QPS sweeps and their table, and the scaling figure; None without either."""
    rows, scale = sweeps_table(results).load(), scaling_table(results).load()
    if rows.empty and scale.empty:
        return None
    page = Page("backends.html", "Search backends and scaling")
    page.add(tag("h1", "Search backends and scaling"))
    if not rows.empty:
        summary = sweeps.summary(rows)
        page.add(tag("h2", "Recall against queries per second, per swept set"), tag("p", inline(sweeps.ABOUT)))
        for group in sweeps.sets(rows):
            name = str(group.iloc[0]["dataset"])
            page.add(tag("h3", esc(name)), page.chart(plotly_json.views([sweeps.plane(group)])),
                     sortable(summary[summary["set"] == name].drop(columns="set"),
                              lambda row, c: sweeps.cell(row[c]) if isinstance(row[c], float) else str(row[c])))
    if not scale.empty:
        latest = db_size.latest_config(scale)
        page.add(tag("h2", "Scaling with the database size"), page.chart(plotly_json.views([db_size.chart(latest)])))
    return page


def manifest_rows(manifest: dict, prefix: str = "") -> list[tuple[str, str]]:
    """A manifest flattened to (dotted key, value) lines, in its own order."""
    out = []
    for key, value in manifest.items():
        if isinstance(value, dict) and value:
            out += manifest_rows(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value if isinstance(value, str) else json.dumps(value)))
    return out


def all_manifests(results: Path) -> dict[str, dict]:
    """Every run's manifest: bench.run, bench.sweep and bench.scaling's, then bench.throughput's."""
    found = {}
    for store in (ResultStore(results), ResultStore(results / "throughput")):
        found.update(store.read_manifests(p.stem for p in store.manifests.glob("*.json")))
    return dict(sorted(found.items()))


def run_words(manifest: dict) -> list[str]:
    """What a run was, in a few words: its kind or method, its dataset, its device."""
    def name(value) -> str:
        return str(value.get("name", "")) if isinstance(value, dict) else str(value or "")

    words = [manifest.get("kind") or name(manifest.get("method")), name(manifest.get("dataset")),
             device_words(manifest.get("hardware", {}), threads=True)]
    return [w for w in words if w]


def runs_page(results: Path, failures: pd.DataFrame) -> Page:
    page = Page("runs.html", "Runs")
    page.add(tag("h1", "Runs"), tag("h2", "Failed or unavailable grid cells"),
             tag("p", inline("From `results/failures.csv` (`python -m bench.grid`): the cells that failed, timed out "
                             "or could not run here, with the last line of their error.")))
    page.add(sortable(failures.sort_values("cell")) if not failures.empty
             else tag("p", "Every grid cell run so far finished."))
    manifests = all_manifests(results)
    page.add(tag("h2", f"Manifests ({len(manifests)})"),
             tag("p", inline("From `results/manifests/` and `results/throughput/manifests/`: what each run depended on "
                             "(command, code commit, config, seed, dataset fingerprint, packages, hardware, weights).")))
    for run_id, m in manifests.items():
        summary = " · ".join([tag("code", esc(run_id))] + [esc(w) for w in run_words(m)])
        rows = "".join(tag("tr", tag("th", esc(k)) + tag("td", esc(v))) for k, v in manifest_rows(m))
        page.add(tag("details", tag("summary", summary) + tag("table", tag("tbody", rows), class_="manifest"),
                     id=f"run-{run_id}"))
    return page


def dataset_pages(sections, tables, figures, manifests) -> list[tuple[Section, Page]]:
    """A page per dataset where there are several (with one, the index holds it)."""
    pages = []
    for s in sections if len(sections) > 1 else []:
        page = Page(f"dataset-{re.sub(r'[^A-Za-z0-9._-]+', '_', s.slug)}.html", s.title)
        page.add(dataset_part(s, sections, tables, figures, manifests, page))
        pages.append((s, page))
    return pages


def site_files(sections: list[Section], tables: list[Table], figures, manifests: dict, results: Path,
               failures: pd.DataFrame, extra: list[Page] = ()) -> dict[str, bytes]:
    """File name -> bytes of every file of the site (``extra``: pages made elsewhere, before the runs page)."""
    per_dataset = dataset_pages(sections, tables, figures, manifests)
    index = index_page(sections, tables, figures, manifests, per_dataset)
    pages = [index, *(p for _, p in per_dataset), backends_page(Path(results)), *extra,
             runs_page(Path(results), failures)]
    pages = [p for p in pages if p is not None]
    nav = [(p.name, p.title) for p in pages]
    files = {p.name: p.render(nav).encode() for p in pages}
    files.update({name: (ASSETS / name).read_bytes() for name in ("site.js", "site.css")})
    files[PLOTLY] = (resources.files("plotly") / "package_data" / PLOTLY).read_bytes()
    return files


def write_site(site: Path, sections: list[Section], tables: list[Table], figures, manifests: dict, results: Path,
               failures: pd.DataFrame, extra: list[Page] = ()) -> list[Path]:
    """Rewrite ``site`` (pages of datasets no longer in results/ removed); returns the files written."""
    files = site_files(sections, tables, figures, manifests, results, failures, extra)
    site.mkdir(parents=True, exist_ok=True)
    for stale in sorted(site.glob("*.html")):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, data in files.items():
        atomic_write(site / name, lambda tmp, data=data: Path(tmp).write_bytes(data))
        written.append(site / name)
    return written
