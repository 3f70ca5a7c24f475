"""``reports/site/``: the reports as a static site a researcher opens in a browser, from the file
system or any static web server, with no request leaving it. Built from the same data as the
Markdown tables and the PNG figures (the ``Table``s, the figures' ``plots.Chart``s, the sweeps and
scaling rows, the manifests, ``results/failures.csv``), so it shows whatever metrics and labels
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

from methods.cache import atomic_write

from ..pareto import pareto_front
from ..results import ResultStore, scaling_table, sweeps_table
from ..results.manifest import device_words
from . import names, plots, scaling, sweeps
from .cells import Cell, Section, line_label, main_cells, model_label, series
from .figures import hardware_label, tradeoff_k
from .readme import METRIC_WORDS, PAPER_WORDS, dataset_lines
from .tables import METRIC_COLUMN, Table, fmt, pct, setting_words

ASSETS = Path(__file__).with_name("site_assets")
PLOTLY = "plotly.min.js"
SYMBOLS = {"o": "circle", "s": "square", "^": "triangle-up", "v": "triangle-down", "D": "diamond", "*": "star",
           "P": "cross", "X": "x", "p": "pentagon", "h": "hexagon"}  # matplotlib marker -> Plotly symbol
DASHES = {"-": "solid", "--": "dash", "-.": "dashdot", ":": "dot"}
MARKERS_SHOWN = 12  # markers drawn along a long line (every point still hovers), as the PNGs' markevery


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


def number(value: float) -> str:
    """A speed or size in words: thousands separated, small values to 3 digits."""
    return sweeps.cell(float(value))


def sortable(df: pd.DataFrame, show=lambda column, value: fmt(value, False), paper_columns: bool = False) -> str:
    """A table the reader sorts by clicking a heading (``site.js``): numbers carry their value in
    ``data-sort``, a missing one an empty ``data-sort`` (sorted last either way)."""
    def th(column: str) -> str:
        paper = paper_columns and column.startswith("paper ")
        return tag("th", esc(column), class_="paper" if paper else None,
                   title="the IRGen paper's number, copied from the paper, not measured here" if paper else None)

    def td(column: str, value) -> str:
        missing = value is None or value == names.MISSING or (isinstance(value, float) and math.isnan(value))
        numeric = missing or (isinstance(value, (int, float)) and not isinstance(value, bool))
        paper = paper_columns and column.startswith("paper ")
        return tag("td", esc(show(column, value)), data_sort="" if missing else (repr(float(value)) if numeric else None),
                   class_=" ".join(c for c in ("num" if numeric else "", "paper" if paper else "") if c) or None)

    head = tag("thead", tag("tr", "".join(th(c) for c in df.columns)))
    rows = "".join(tag("tr", "".join(td(c, v) for c, v in zip(df.columns, row)))
                   for row in df.astype(object).itertuples(index=False))
    return tag("div", tag("table", head + tag("tbody", rows), class_="sortable"), class_="scroll")


# --- charts (Plotly figures as JSON) ------------------------------------------------------------

def num(value) -> float | None:
    """A number as the page stores it: 6 significant digits (the same bytes on every run), NaN as null."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(f"{float(value):.6g}")


def text(words: str) -> str:
    """Words for a Plotly title, label or hover: escaped, line breaks as <br>."""
    return esc(words).replace("\n", "<br>")


def axis(label: str, log: bool) -> dict:
    """An axis, log or Plotly's guess ("-"); log ticks labelled 20, 50 rather than 2, 5."""
    return {"title": {"text": text(label)}, **({"type": "log", "minorloglabels": "complete"} if log else {"type": "-"})}


def layout(title: str, xlabel: str, ylabel: str, xlog: bool = False, ylog: bool = False, **extra) -> dict:
    return {"title": {"text": text(title), "font": {"size": 14}}, "hovermode": "closest",
            "xaxis": axis(xlabel, xlog), "yaxis": axis(ylabel, ylog), "legend": {"font": {"size": 11}},
            "margin": {"t": 70}, **extra}


def hover(title: str, pairs: list[tuple[str, str]]) -> str:
    return f"<b>{text(title)}</b>" + "".join(f"<br>{text(k)}: {text(v)}" for k, v in pairs)


def line_trace(line: plots.Line, style: dict, hovers: list[str], **extra) -> dict:
    """One ``plots.Line`` as a Plotly trace in its matplotlib style (``names``' colour and marker)."""
    return {"type": "scatter", "mode": "lines+markers", "name": text(line.label), "x": [num(v) for v in line.x],
            "y": [num(v) for v in line.y], "text": hovers, "hovertemplate": "%{text}<extra></extra>",
            "line": {"color": style["color"], "dash": DASHES.get(style["linestyle"], "solid"),
                     "width": style.get("linewidth", 1.5)},
            "marker": {"symbol": SYMBOLS.get(style["marker"], "circle"), "size": style.get("markersize", 6) + 3,
                       "color": style["color"], "maxdisplayed": MARKERS_SHOWN}, **extra}


def xy_chart(lines: list[plots.Line], title: str, xlabel: str, ylabel: str, xlog=False, ylog=False, styles=None) -> dict:
    """Lines of points, each hovered with its series, x, y and note (the setting, where there is one)."""
    traces = []
    for i, line in enumerate(lines):
        notes = line.notes or [""] * len(line.x)
        hovers = [hover(line.label, [(xlabel, number(x)), (ylabel, names.MISSING if y is None else number(y))]
                        + ([("setting", n)] if n else [])) for x, y, n in zip(line.x, line.y, notes)]
        traces.append(line_trace(line, styles(i, line) if styles else line.style, hovers))
    return {"views": [{"data": traces, "layout": layout(title, xlabel, ylabel, xlog, ylog)}]}


def bars_chart(lines: list[plots.Line], groups: list, xlabel: str, ylabel: str, title: str) -> dict:
    """Figure 4: a group of bars per K, a bar per method, hatched by backend as in the PNG."""
    traces = []
    for line in lines:
        pattern = plots.hatch(line)
        traces.append({"type": "bar", "name": text(line.label), "x": [f"K={g}" for g in groups],
                       "y": [num(v) for v in line.y], "hovertemplate": f"<b>{text(line.label)}</b><br>%{{x}}: "
                       "%{y:.1f} %<extra></extra>",
                       "marker": {"color": line.style["color"], "line": {"color": "black", "width": 0.5},
                                  "pattern": {"shape": pattern[0] if pattern else ""}}})
    return {"views": [{"data": traces, "layout": layout(title, xlabel, ylabel, barmode="group")}]}


def stages_chart(bars: list[tuple[str, dict]], n_irgen: int, refs: list[tuple[str, float, str]], title: str) -> dict:
    """Figure 5: seconds per 100 queries stacked by stage, the paper's totals as black marks."""
    labels = [text(label) for label, _ in bars]
    traces = [{"type": "bar", "name": text(names.stage(s).label), "x": labels,
               "y": [num(times.get(s, 0.0)) for _, times in bars], "marker": {"color": names.stage(s).color},
               "hovertemplate": f"%{{x}}<br>{text(names.stage(s).label)}: %{{y:.3g}} s<extra></extra>"}
              for s in plots.stage_order(bars)]
    totals = [sum(times.values()) for _, times in bars]
    traces.append({"type": "scatter", "mode": "text", "x": labels, "y": [num(t) for t in totals], "showlegend": False,
                   "text": [f"{t:.3g} s" for t in totals], "textposition": "top center", "hoverinfo": "skip"})
    if refs:
        traces.append({"type": "scatter", "mode": "markers", "name": text(refs[0][2]),
                       "x": [text(label) for label, _, _ in refs], "y": [num(s) for _, s, _ in refs],
                       "marker": {"symbol": "line-ew-open", "size": 34, "color": "black", "line": {"width": 3}},
                       "hovertemplate": "%{x}<br>paper: %{y:.3g} s<extra></extra>"})
    split = [{"type": "line", "xref": "x", "yref": "paper", "x0": n_irgen - 0.5, "x1": n_irgen - 0.5, "y0": 0,
              "y1": 1, "line": {"color": "grey", "dash": "dash", "width": 1}}] if 0 < n_irgen < len(bars) else []
    return {"views": [{"data": traces, "layout": layout(title, "", plots.STAGE_AXIS, barmode="stack", shapes=split)}]}


def sweep_chart(points: dict[str, list[tuple[float, float, str]]], title: str, xlabel: str, ylabel: str) -> dict:
    """A set's recall against queries per second: each backend's Pareto front as a line over all
    its grid points (faint), hovered with the query parameters; the legend toggles both."""
    traces = []
    for backend, pts in points.items():
        look = names.backend(backend)
        for shown, faint in ((pareto_front(pts), False), (pts, True)):
            traces.append({"type": "scatter", "mode": "markers" if faint else "lines+markers", "name": text(look.label),
                           "legendgroup": backend, "showlegend": not faint,
                           "x": [num(r) for _, r, _ in shown], "y": [num(q) for q, _, _ in shown],
                           "text": [hover(look.label, [("parameters", p), ("recall", f"{r:.3f}"),
                                                       ("queries/s", number(q))]) for q, r, p in shown],
                           "hovertemplate": "%{text}<extra></extra>", "opacity": 0.35 if faint else 1.0,
                           "line": {"color": look.color, "dash": DASHES[look.line]},
                           "marker": {"color": look.color, "symbol": SYMBOLS[look.marker], "size": 6 if faint else 9}})
    return {"views": [{"data": traces, "layout": layout(title, xlabel, ylabel, ylog=True)}]}


# Each drawing of ``plots`` the site redraws, from the arguments the PNG was drawn with. The
# trade-off plane is left out: the site's own plane (``plane_chart``) shows more of the same.
REDRAWN = {
    plots.pr_curves: lambda a: xy_chart(a["lines"], a["title"], *plots.PR_AXES),
    plots.precision_vs_k: lambda a: xy_chart(a["lines"], a["title"], *plots.PRECISION_K_AXES, xlog=True),
    plots.qps_vs_batch: lambda a: xy_chart(a["lines"], a["title"], *plots.BATCH_AXES, xlog=True, ylog=True,
                                           styles=plots.batch_style),
    plots.grouped_bars: lambda a: bars_chart(a["lines"], a["groups"], a["xlabel"], a["ylabel"], a["title"]),
    plots.stage_bars: lambda a: stages_chart(a["bars"], a["n_irgen"], a["refs"], a["title"]),
    plots.recall_qps: lambda a: sweep_chart(a["points"], a["title"], a["xlabel"], a["ylabel"]),
}


def axis_metrics(cells: list[Cell]) -> list[tuple[str, int]]:
    """Every ranking metric the cells hold at a cut-off K, in the registry's order: rows with k > 0
    (timings, sizes and speeds have k = 0), less the PR curve's points (Figure 3's data) and IRGen's
    identifier rows (``id_*``, ``bound_*``: no operating point of a search)."""
    found = {(m, k) for c in cells for m, k in c.values if k > 0 and not m.startswith(("curve_", "id_", "bound_"))}
    order = names.ordered({m for m, _ in found}, names.SHORT)
    return sorted(found, key=lambda mk: (order.index(mk[0]), mk[1]))


def metric_label(metric: str, k: int) -> str:
    return f"{names.SHORT.get(metric, metric)}@{k}"


def plane_cells(section: Section) -> list[Cell]:
    """Every cell with a speed, but those run with part of the database held out of training
    (Table 6's subject): one series per method x backend x variant, IRGen's beams along its line."""
    return [c for c in section.cells if c.qps and not c.fields["fresh"]]


def point_hover(cell: Cell, metric: str, k: int, on_front: bool) -> str:
    f = cell.fields
    pairs = [("method", names.model(cell.method).label), ("model", model_label(f, cell.variant)),
             ("backend", names.backend(f["backend"]).label), ("setting", setting_words(cell.setting)),
             (metric_label(metric, k), f"{pct(cell.get(metric, k)):.1f} %"),
             ("batched queries/s", number(cell.qps))]
    pairs += [("seeds", f"mean of {cell.seeds}")] if cell.seeds > 1 else []
    return hover(line_label(cell, with_setting=False), pairs + ([("Pareto front", "yes")] if on_front else []))


def plane_view(groups: list[list[Cell]], styles: list[dict], metric: str, k: int, title: str) -> dict:
    """The plane with one accuracy metric on the y axis: a trace per series (empty where the series
    lacks the metric, so traces keep their places across views), then the Pareto front."""
    points = [(c.qps, pct(c.get(metric, k)), line_label(c)) for g in groups for c in g
              if c.get(metric, k) is not None]
    front = pareto_front(points)
    on_front = {p[2] for p in front}
    traces = []
    for group, style in zip(groups, styles):
        cells = [c for c in group if c.get(metric, k) is not None]
        line = plots.Line(line_label(group[0], with_setting=False), group[0].fields["features"],
                          group[0].fields["backend"], [c.qps for c in cells],
                          [pct(c.get(metric, k)) for c in cells])
        traces.append(line_trace(line, style, [point_hover(c, metric, k, line_label(c) in on_front) for c in cells]))
    traces.append({"type": "scatter", "mode": "lines+markers", "name": "Pareto front", "hoverinfo": "skip",
                   "x": [num(p[0]) for p in front], "y": [num(p[1]) for p in front],
                   "line": {"color": "black", "dash": "dash", "width": 1, "shape": "vh"},
                   "marker": {"symbol": "circle-open", "size": 18, "color": "black"}})
    label = metric_label(metric, k)
    return {"label": label, "data": traces,
            "layout": layout(title, plots.TRADEOFF_X, f"{label} (%)", xlog=True)}


def spare_color(name: str, taken: set[str]) -> str:
    """``names.spare_color``, or the next spare colour no other series of the chart has."""
    first = names.SPARE_COLORS.index(names.spare_color(name))
    turns = names.SPARE_COLORS[first:] + names.SPARE_COLORS[:first]
    return next((c for c in turns if c not in taken), turns[0])


def plane_chart(section: Section, manifests: dict) -> dict | None:
    """Accuracy against queries per second, every method, the metric on the y axis selectable
    among those present; the Pareto front of the shown metric marked; the device named."""
    cells = plane_cells(section)
    metrics = axis_metrics(cells)
    if not metrics:
        return None
    groups = [sorted(g, key=lambda c: c.qps) for g in series(cells)]
    headline = {id(c) for c in main_cells(section)}
    styles = [plots.Line("", g[0].fields["features"], g[0].fields["backend"], [], []).style for g in groups]
    for style, g in zip(styles, groups):  # an ablation keeps its backend's marker, takes a colour of its own
        if id(g[0]) not in headline:
            style["color"] = spare_color(line_label(g[0]), {s["color"] for s in styles})
    title = f"Accuracy vs batched queries per second: {section.title}\n{hardware_label(cells, manifests)}"
    default = ("precision", tradeoff_k(section))
    return {"views": [plane_view(groups, styles, m, k, title) for m, k in metrics],
            "selected": metrics.index(default) if default in metrics else 0}


def scaling_chart(rows: pd.DataFrame) -> dict:
    """The scaling figure's five panels in one figure (``layout.grid``), a legend entry per part
    or backend that toggles it in every panel."""
    known = list(names.IRGEN_PARTS) + list(names.BACKENDS)
    order = known + [c for c in dict.fromkeys(rows["component"]) if c not in known]
    traces, axes, titles, legend = [], {}, [], set()
    for i, (title, ylabel, panel, yscale, divisor) in enumerate(scaling.PANELS, 1):
        suffix = "" if i == 1 else str(i)
        lines = scaling.series(rows, panel)
        drawn = [(c, *scaling.style(c), lines[c].index, lines[c].values / divisor) for c in order if c in lines]
        if title.startswith("Index size"):
            label, sizes, sizes_bytes = scaling.raw_vectors(rows)
            drawn.append(("raw", label, {"color": "black", "linestyle": ":", "marker": "o", "linewidth": 1},
                          sizes, [b / divisor for b in sizes_bytes]))
        for component, label, style, ns, values in drawn:
            line = plots.Line(label, "", "", list(ns), list(values))
            hovers = [hover(label, [("n", f"{int(n):,}"), (ylabel, number(v))]) for n, v in zip(ns, values)]
            traces.append(line_trace(line, style, hovers, xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                                     legendgroup=component, showlegend=component not in legend,
                                     mode="lines" if component == "raw" else "lines+markers"))
            legend.add(component)
        # few ticks: a panel is a third of the page wide
        axes[f"xaxis{suffix}"] = {**axis("database size n (log)", True), "nticks": 5}
        axes[f"yaxis{suffix}"] = {**axis(ylabel, yscale == "log"), "nticks": 6}
        titles.append({"text": f"<b>{text(title)}</b>", "xref": f"x{suffix} domain", "yref": f"y{suffix} domain",
                       "x": 0.5, "y": 1.12, "showarrow": False, "font": {"size": 12}})
    view = {"data": traces, "layout": {"title": {"text": text(scaling.caption(rows)), "font": {"size": 13}},
                                       "grid": {"rows": 2, "columns": 3, "pattern": "independent"},
                                       "height": 800, "hovermode": "closest", "annotations": titles,
                                       "margin": {"t": 110}, **axes}}
    return {"views": [view]}


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
        return tag("figure", picker + tag("div", "", id=chart_id, class_="chart")
                   + (tag("figcaption", inline(caption)) if caption else ""))

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
                out.append(tag("h3", esc(table.caption), id=table.name) + sortable(
                    df, lambda c, v: fmt(v, bool(METRIC_COLUMN.match(c))), paper_columns=True) + bullets(notes))
    return "\n".join(out)


def figure_blocks(section: Section, sections: list[Section], figures, page: Page) -> str:
    """Figures 3-6 and the throughput figure of this dataset, from the data their PNGs were drawn
    from; the kinds not drawn here, with the reason."""
    index = next(i for i, s in enumerate(sections) if s is section)
    drawn, missing = [], []
    for _, figs in figures:
        figure = figs[index]
        if figure.chart is not None and figure.chart.plot in REDRAWN:
            drawn.append(page.chart(REDRAWN[figure.chart.plot](figure.chart.args)))
        elif figure.chart is None:
            missing.append(f"{figure.kind}: {figure.skipped.removeprefix(section.title + ': ')}.")
    return "\n".join(drawn) + (tag("h3", "Not drawn for this dataset") + bullets(missing) if missing else "")


PLANE_CAPTION = ("Hover a point for its method, model, backend, setting, accuracy and speed; click a legend entry to "
                 "hide or show its series (double-click: only it). The Pareto front is that of the metric shown, over "
                 "every series.")


def dataset_part(section: Section, sections, tables, figures, manifests, page: Page) -> str:
    """One dataset: its plane, its blocks of Tables 1-6, its figures."""
    plane = plane_chart(section, manifests)
    return "\n".join([
        tag("h2", esc(section.title), id=section.slug), tag("h3", "Accuracy against queries per second"),
        page.chart(plane, PLANE_CAPTION) if plane else tag("p", "No cell with both a speed and an accuracy metric."),
        tag("h3", "Tables", class_="group"), table_blocks(section, tables) or tag("p", "No table holds this dataset."),
        tag("h3", "Figures", class_="group"), figure_blocks(section, sections, figures, page)])


def not_generated(tables: list[Table], figures) -> list[str]:
    lines = [f"{t.caption}: {t.skipped}." for t in tables if not t.blocks]
    return lines + [f"{kind}: not drawn for any dataset." for kind, figs in figures if not any(f.path for f in figs)]


def index_page(sections, tables, figures, manifests, pages: list[tuple[Section, Page]]) -> Page:
    page = Page("index.html", "Results")
    page.add(tag("h1", "irgen-bench results"),
             tag("p", "Generative image retrieval (IRGen) beside feature models + nearest-neighbour search. Rebuilt "
                      "from <code>results/</code> alone by <code>python -m bench.report</code> (no model is run); "
                      "the same results give the same files."),
             tag("p", inline(METRIC_WORDS)), tag("blockquote", inline(PAPER_WORDS)))
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
            chart = sweeps.plane(group)
            page.add(tag("h3", esc(name)), page.chart(REDRAWN[chart.plot](chart.args)),
                     sortable(summary[summary["set"] == name].drop(columns="set"),
                              lambda c, v: sweeps.cell(v) if isinstance(v, float) else str(v)))
    if not scale.empty:
        latest = scaling.latest_config(scale)
        page.add(tag("h2", "Scaling with the database size"), page.chart(scaling_chart(latest)),
                 bullets(scaling.skipped_lines(latest)))
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
               failures: pd.DataFrame) -> dict[str, bytes]:
    """File name -> bytes of every file of the site."""
    per_dataset = dataset_pages(sections, tables, figures, manifests)
    index = index_page(sections, tables, figures, manifests, per_dataset)
    pages = [index, *(p for _, p in per_dataset), backends_page(Path(results)), runs_page(Path(results), failures)]
    pages = [p for p in pages if p is not None]
    nav = [(p.name, p.title) for p in pages]
    files = {p.name: p.render(nav).encode() for p in pages}
    files.update({name: (ASSETS / name).read_bytes() for name in ("site.js", "site.css")})
    files[PLOTLY] = (resources.files("plotly") / "package_data" / PLOTLY).read_bytes()
    return files


def write_site(site: Path, sections: list[Section], tables: list[Table], figures, manifests: dict, results: Path,
               failures: pd.DataFrame) -> list[Path]:
    """Rewrite ``site`` (pages of datasets no longer in results/ removed); returns the files written."""
    files = site_files(sections, tables, figures, manifests, results, failures)
    site.mkdir(parents=True, exist_ok=True)
    for stale in sorted(site.glob("*.html")):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, data in files.items():
        atomic_write(site / name, lambda tmp, data=data: Path(tmp).write_bytes(data))
        written.append(site / name)
    return written
