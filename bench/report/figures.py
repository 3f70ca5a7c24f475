"""The paper's Figures 3-6, queries per second against batch size and the accuracy-versus-
throughput plane, per dataset, described as ``chart.Chart``s from the cells and the throughput
timings; ``png`` draws each as a PNG, the site (``plotly_json``) draws the same descriptions."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib.colors

from methods.base import parse_setting

from ..definitions import ERROR_BARS, METRICS, interval_words, label as metric_label, short
from ..pareto import pareto_front
from ..results.manifest import device_words
from . import names, png, timings as timing_rows
from .cells import Cell, Section, cell_label, line_label, main_cells, natural_key, representative, series
from .chart import Axis, Chart, Panel, Series, style
from .names import LARGE_SETS
from .plotly_json import number
from .tables import interval, pct, plus_minus, setting_words

PR_AXES = ("true-positive rate: share of the query's class retrieved (%)", "precision (%)")
STAGE_AXIS = "seconds per 100 queries"
TRADEOFF_X = "batched queries per second (a batch over its median whole-batch time, log scale)"


@dataclass
class Figure:
    kind: str  # what the figure shows, for the README
    path: Path | None = None
    skipped: str = ""
    chart: Chart | None = None  # the description drawn, for the site too
    on_site: bool = True  # False: the site shows more of the same in a chart of its own (the plane)


def hardware_label(cells: list[Cell], manifests: dict) -> str:
    """``on NVIDIA H100`` / ``on AMD EPYC (2 CPUs)`` when every cell ran on the same machine."""
    labels = {device_words(manifests[r].get("hardware", {})) for c in cells for r in c.run_ids if r in manifests}
    if not labels:
        return "hardware unknown (no manifest)"
    return f"on {labels.pop()}" if len(labels) == 1 else "on several machines (see README)"


def single(title: str, x: Axis, y: Axis, lines: list[Series], size=(7.5, 4.5), label: str = "", **panel) -> Chart:
    """A figure of one panel; where a series has intervals, a note says what its error bars are."""
    return Chart(title, [Panel("", x, y, lines, **panel)], size, notes=[ERROR_BARS] if any(s.err for s in lines) else [],
                 label=label)


def curves(section: Section, points, err=lambda cell, x: None) -> list[Series]:
    """A line per headline series (its representative setting) of the ``points(cell)`` it has, (x, y)
    each, and the interval ``err(cell, x)`` of each point where it has one."""
    lines = []
    for cell in (representative(g) for g in series(main_cells(section))):
        xy = points(cell)
        if xy:
            bars = [err(cell, x) for x, _ in xy]
            lines.append(Series(line_label(cell), [x for x, _ in xy], [y for _, y in xy], sparse=True,
                                err=bars if any(bars) else None, **style(cell.method, cell.kind)))
    return lines



def fig3(section: Section) -> Chart | None:
    """Precision under the official IRGen rule (the paper's) against the true-positive rate."""
    lines = curves(section, lambda c: [(100 * c.get("curve_tpr", k), 100 * c.get("curve_precision_official", k))
                                       for k in c.ks("curve_precision_official") if c.get("curve_tpr", k) is not None])
    if not lines:
        return None
    return single(f"Figure 3: precision (official rule, {short('precision_official')}) vs true-positive rate, "
                  f"{section.title}", Axis(PR_AXES[0], limits=(0, None)), Axis(PR_AXES[1], limits=(0, 101)), lines)


def fig4(section: Section) -> Chart | None:
    cells = [representative(g) for g in series(main_cells(section))]
    ks = section.ks("mrr", cells)
    bars = [Series(line_label(c), [f"K={k}" for k in ks], [pct(c.get("mrr", k)) for k in ks], kind="bars",
                   err=[interval(c, "mrr", k) for k in ks], **style(c.method, c.kind)) for c in cells if c.ks("mrr")]
    if not bars:
        return None
    width = max(6.5, min(12.0, 2 + 0.3 * len(ks) * len(bars)))
    return single(f"Figure 4: mean reciprocal rank, {section.title}", Axis("K"),
                  Axis(f"{short('mrr')}@K (%)", limits=(0, 105)), bars, (width, 4.5))


def stage_times(cell: Cell) -> dict[str, float]:
    return timing_rows.seconds_per_100({m: v for (m, k), v in cell.values.items() if k == 0})


def run_bars(section: Section) -> list[timing_rows.Bar]:
    """Figure 5's bars from the timings ``bench.run`` recorded while searching: a generative method's
    headline model per setting, then each feature method's representative setting."""
    cells = main_cells(section)
    gen = sorted((c for c in cells if c.spec.generative and stage_times(c)), key=lambda c: natural_key(c.setting))
    ann = [c for c in (representative(g) for g in series([c for c in cells if not c.spec.generative]))
           if stage_times(c)]
    bars = [timing_rows.Bar(timing_rows.setting_words(parse_setting(c.setting)), stage_times(c), c.method, c.backend,
                            parse_setting(c.setting)) for c in gen]
    return bars + [timing_rows.Bar(bar_label(c.method, c.kind, c.values.get(("input_px", 0))), stage_times(c),
                                   c.method, c.backend, {}) for c in ann]


def fig5(section: Section, paper: dict, manifests: dict, timings: list | None = None,
         timing_hw: str = "") -> Chart | None:
    """From ``bench.throughput``'s timings of this dataset where there are any (warm-up, median
    of repeats, one batch size), else from the timings ``bench.run`` recorded while searching."""
    measured = timing_rows.fig5_bars(timing_rows.for_section(timings or [], section.dataset, section.protocol,
                                                             section.limit),
                                     lambda t: bar_label(t.method, t.backend, t.input_px))
    if measured:
        bars, words = measured
        source = f"bench.throughput: {words}, median of repeats, {timing_hw}"
    else:
        bars = run_bars(section)
        if not bars:
            return None
        source = f"bench.run search timings, {hardware_label(main_cells(section), manifests)}"
    refs = paper_marks(bars, paper["throughput"]) if section.paper else []
    n_gen = sum(names.spec(b.method).generative for b in bars)
    gen_names = ", ".join(dict.fromkeys(names.model(b.method).label for b in bars[:n_gen]))
    gen_search = ", ".join(dict.fromkeys(names.backend(b.backend).label for b in bars[:n_gen]))
    what = (f"{gen_names} search time vs beam size, beside feature + ANN search" if n_gen
            else "feature + ANN search time (no generative method's timings yet)")
    labels = [b.label for b in bars]
    stages = names.ordered({s for b in bars for s in b.seconds}, names.STAGES)
    panel = Panel("", Axis(""), Axis(STAGE_AXIS), totals="{:.3g} s",
                  dividers=[n_gen - 0.5] if 0 < n_gen < len(bars) else [],
                  spans=([(0, n_gen - 1, f"{gen_names}, {gen_search}")] if n_gen else [])
                  + ([(n_gen, len(bars) - 1, "feature model + search backend")] if n_gen < len(bars) else []))
    for stage in stages:
        look = names.stage(stage)
        heights = [b.seconds.get(stage, 0.0) for b in bars]
        panel.series.append(Series(look.label, labels, heights, kind="stack", color=look.color,
                                   hover=[[("bar", b.replace("\n", " ")), (STAGE_AXIS, f"{h:.3g}")]
                                          for b, h in zip(labels, heights)]))
    if refs:
        panel.series.append(Series(refs[0][2], [label for label, _, _ in refs], [s for _, s, _ in refs],
                                   kind="marks", color="black"))
    top = max([sum(b.seconds.values()) for b in bars] + [s for _, s, _ in refs])
    panel.y.limits = (0, top * 1.15 or 1)
    return Chart(f"Figure 5: {what}\n{section.title}; {source}", [panel], (max(6.5, 0.8 * len(bars) + 3), 4.8))


def paper_marks(bars: list[timing_rows.Bar], throughput: dict) -> list[tuple[str, float, str]]:
    """(bar label, seconds per 100 queries, legend label): the paper's totals beside the bars of the
    method its key names, at the beams it gives."""
    key, per_beam = throughput["key"], throughput["seconds_per_query"]
    return [(b.label, 100 * per_beam[int(b.setting["beam"])], f"paper, total on one {throughput['hardware']}")
            for b in bars if (b.method, b.backend) == (key["method"], key["backend"])
            and "beam" in b.setting and int(b.setting["beam"]) in per_beam]


def bar_label(method: str, backend: str, px: float | None) -> str:
    """A feature method's bar in Figure 5: its model's name, then its backend's, each wrapped to the
    bar's width (and the side of its input images, where the timing recorded it)."""
    model, search = ("\n".join(textwrap.wrap(label, 12)) for label in (names.model(method).label,
                                                                       names.backend(backend).label))
    return f"{model}\n{search}" + (f"\n{int(px)} px" if px else "")


def throughput_fig(section: Section, timings: list, timing_hw: str) -> Chart | None:
    """Queries per second against batch size, log-log, one line per method x setting x database: more
    lines than the registry's colours tell apart, so they take the default colour cycle in turn."""
    mine = [t for t in timings if (t.dataset, t.protocol, t.limit) == (section.dataset, section.protocol, section.limit)]
    lines = []
    for i, group in enumerate(timing_rows.qps_groups(mine)):
        t = group[0]
        what = (f"{names.model(t.method).label} {timing_rows.setting_words(t.query_setting)}" if t.generative
                else f"{names.model(t.method).label} / {names.backend(t.backend).label}")
        db = t.setting.get("db")
        db_words = "" if db == "dataset" else f", {int(float(db)):,} synthetic ids"
        lines.append(Series(f"{what}{db_words} ({t.where[0]} {t.where[1]})", [t.batch for t in group],
                            [t.values.get("qps_batch", t.values.get("qps_single")) for t in group],
                            marker="os^vDP*"[i % 7], color=matplotlib.colors.to_hex(f"C{i % 10}"),
                            dash="-" if t.generative else "--"))
    if not lines:
        return None
    batches = sorted({b for line in lines for b in line.x})
    return single(f"Queries per second vs batch size: {section.title}\n{timing_hw}",
                  Axis("queries per batch (log scale)", log=True, ticks=batches),
                  Axis("queries per second (batch 1: single-query; log scale)", log=True), lines)


def fig6_sections(sections: list[Section]) -> list[Section]:
    """The million-scale sets where they ran, else every set ranked to depth 100 or more."""
    large = [s for s in sections if s.dataset in LARGE_SETS and s.ks("precision")]
    deep = [s for s in sections if max(s.ks("curve_precision") + s.ks("precision"), default=0) >= 100]
    return large or deep


def fig6(section: Section) -> Chart:
    def points(cell):
        values = {k: cell.get("curve_precision", k) for k in cell.ks("curve_precision")}
        values.update({k: cell.get("precision", k) for k in cell.ks("precision")})
        return [(k, 100 * values[k]) for k in sorted(values)]

    lines = curves(section, points, lambda cell, k: interval(cell, "precision", k))
    top = max((max(line.x) for line in lines), default=100)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= top]
    return single(f"Figure 6: precision vs K, {section.title}", Axis("K (number of results returned, log scale)",
                  log=True, ticks=ticks), Axis(f"{short('precision')}@K (%)", limits=(0, 101)), lines)


def tradeoff_k(section: Section) -> int | None:
    return max((k for k in section.ks("precision") if k <= 10), default=None)


def plane(section: Section, cells: list[Cell], metric: str, k: int, manifests: dict) -> Chart:
    """Accuracy (``metric``@``k``) against batched queries per second, a line per model x backend
    (a generative method's settings along its line), the Pareto front over every series numbered;
    a series that is not a headline one (an ablation) keeps its backend's marker and takes a colour
    of its own. A series lacking the metric stays, empty, so that series keep their places across
    the site's views of the plane."""
    groups = [sorted(g, key=lambda c: c.qps) for g in series(cells)]
    headline = {id(c) for c in main_cells(section)}
    lines, points = [], []
    for g in groups:
        look = {**style(g[0].method, g[0].kind), "width": 1.0}
        if id(g[0]) not in headline:
            look["color"] = spare_color(line_label(g[0]), {line.color for line in lines})
        mine = [c for c in g if c.get(metric, k) is not None]
        lines.append(Series(line_label(g[0], with_setting=False), [c.qps for c in mine],
                            [pct(c.get(metric, k)) for c in mine], hover=[point_hover(c, metric, k) for c in mine],
                            err=[interval(c, metric, k) for c in mine], **look))
        points += [(c.qps, pct(c.get(metric, k)), line_label(c)) for c in mine]
    front = pareto_front(points)
    lines.append(Series("Pareto front", [p[0] for p in front], [p[1] for p in front], kind="front", color="black",
                        dash="--", width=1.0, names=[p[2] for p in front]))
    xs = [p[0] for p in points]
    ys = [v for line in lines for y, e in zip(line.y, line.err or [None] * len(line.y)) for v in (e or (y,))]
    name = metric_label(metric, k)
    return single(f"Accuracy vs batched queries per second, every method: {section.title}\n"
                  f"{hardware_label(cells, manifests)}", Axis(TRADEOFF_X, log=True, limits=(min(xs) / 3, max(xs) * 3)),
                  Axis(f"{name} (%)", limits=(max(0.0, min(ys) - 10), min(101.0, max(ys) + 5))), lines, (8.5, 5.0),
                  label=name)


def axis_metrics(cells: list[Cell]) -> list[tuple[str, int]]:
    """Every ranking metric the cells hold at a cut-off K, in the definitions' order: rows with k > 0
    (timings, sizes and speeds have k = 0), less the PR curve's points (Figure 3's data)."""
    found = {(m, k) for c in cells for m, k in c.values if k > 0 and not m.startswith(("curve_", "id_", "bound_"))}
    order = names.ordered({m for m, _ in found}, METRICS)
    return sorted(found, key=lambda mk: (order.index(mk[0]), mk[1]))


def plane_views(section: Section, manifests: dict) -> tuple[list[Chart], int] | None:
    """The site's plane: every cell with a speed but those run with part of the database held out of
    training (Table 6's subject), a view per accuracy metric present; (views, the default one)."""
    cells = [c for c in section.cells if c.qps and not c.fields.get("fresh")]
    metrics = axis_metrics(cells)
    if not metrics:
        return None
    default = ("precision", tradeoff_k(section))
    return ([plane(section, cells, m, k, manifests) for m, k in metrics],
            metrics.index(default) if default in metrics else 0)


def point_hover(cell: Cell, metric: str, k: int) -> list[tuple[str, str]]:
    """A point of the plane: what ran, its accuracy ``86.8 ± 0.9 %`` with its interval's kind, its speed."""
    value, (low, high) = pct(cell.get(metric, k)), interval(cell, metric, k) or (None, None)
    return [("method", names.model(cell.method).label), ("model", cell_label(cell)),
            ("backend", names.backend(cell.kind).label), ("setting", setting_words(cell.setting)),
            (metric_label(metric, k), f"{value:.1f}{plus_minus(value, low, high)} %"),
            *([("interval", interval_words(*cell.interval))] if cell.interval else []),
            ("batched queries/s", number(cell.qps))]


def spare_color(name: str, taken: set[str]) -> str:
    """``names.spare_color``, or the next spare colour no other series of the chart has."""
    first = names.SPARE_COLORS.index(names.spare_color(name))
    turns = names.SPARE_COLORS[first:] + names.SPARE_COLORS[:first]
    return next((c for c in turns if c not in taken), turns[0])


def tradeoff(section: Section, manifests: dict) -> Chart | None:
    """The plane's PNG: the headline cells, P@10 (or the largest K <= 10)."""
    k = tradeoff_k(section)
    cells = [c for c in main_cells(section) if c.qps and k and c.get("precision", k) is not None]
    return plane(section, cells, "precision", k, manifests) if cells else None


def build_figures(sections: list[Section], paper: dict, manifests: dict, out: Path,
                  results: Path | None = None) -> list[tuple[str, list[Figure]]]:
    """Per kind of figure, one Figure per dataset (path and the description drawn, or why it was not drawn)."""
    deep = fig6_sections(sections)
    timings = timing_rows.load_timings(results) if results is not None else []
    timing_hw = timing_rows.hardware(results, timings) if timings else ""
    kinds = [("Figure 3: precision (official rule) vs true-positive rate", "fig3_pr",
              "no curve_precision_official / curve_tpr rows", fig3),
             ("Figure 4: MRR@K", "fig4_mrr", "no mrr rows", fig4),
             ("Figure 5: search time per 100 queries vs beam size", "fig5_speed", "no timings (ms_per_query_<stage>)",
              lambda s: fig5(s, paper, manifests, timings, timing_hw)),
             ("Queries per second vs batch size (bench.throughput)", "throughput", "no bench.throughput rows",
              lambda s: throughput_fig(s, timings, timing_hw)),
             ("Figure 6: precision vs K", "fig6_precision", "not a million-scale set, nor ranked to depth 100",
              lambda s: fig6(s) if any(s is d for d in deep) else None),
             ("Accuracy (P@10 or the largest K <= 10) vs queries per second, Pareto front marked", "tradeoff",
              "no cell with both batched queries/s (qps_batch) and P@K for a K <= 10", lambda s: tradeoff(s, manifests))]
    built = []
    for kind, stem, why, chart_of in kinds:
        figures = []
        for s in sections:
            chart = chart_of(s)
            path = png.draw(chart, out / f"{stem}_{s.slug}.png") if chart else None
            figures.append(Figure(f"{kind}, {s.title}", path, "" if path else f"{s.title}: {why}", chart,
                                  stem != "tradeoff"))
        built.append((kind, figures))
    return built
