"""The paper's Figures 3-6 and the accuracy-versus-throughput plane, per dataset, from the
cells and the throughput timings; drawn by ``plots``."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..results.manifest import device_words
from . import names, plots, timings as timing_rows
from .cells import Cell, Section, line_label, main_cells, representative, series
from .names import LARGE_SETS
from .tables import pct


@dataclass
class Figure:
    kind: str  # what the figure shows, for the README
    path: Path | None = None
    skipped: str = ""
    chart: plots.Chart | None = None  # the data drawn, for the site


def hardware_label(cells: list[Cell], manifests: dict) -> str:
    """``on NVIDIA H100`` / ``on AMD EPYC (2 CPUs)`` when every cell ran on the same machine."""
    labels = {device_words(manifests[r].get("hardware", {})) for c in cells for r in c.run_ids if r in manifests}
    if not labels:
        return "hardware unknown (no manifest)"
    return f"on {labels.pop()}" if len(labels) == 1 else "on several machines (see README)"


def fig3(section: Section) -> plots.Chart | None:
    """Precision under the official IRGen rule (the paper's) against the true-positive rate."""
    lines = []
    for group in series(main_cells(section)):
        cell = representative(group)
        ks = [k for k in cell.ks("curve_precision_official") if cell.get("curve_tpr", k) is not None]
        if ks:
            lines.append(plots.Line(line_label(cell), cell.fields["features"], cell.fields["backend"],
                                    [100 * cell.get("curve_tpr", k) for k in ks],
                                    [100 * cell.get("curve_precision_official", k) for k in ks]))
    if not lines:
        return None
    return plots.Chart(plots.pr_curves, {"lines": lines, "title": f"Figure 3: precision (official rule, P_off) vs "
                                                                  f"true-positive rate, {section.title}"})


def fig4(section: Section) -> plots.Chart | None:
    cells = [representative(g) for g in series(main_cells(section))]
    ks = section.ks("mrr", cells)
    bars = [plots.Line(line_label(c), c.fields["features"], c.fields["backend"], ks,
                       [pct(c.get("mrr", k)) for k in ks]) for c in cells if c.ks("mrr")]
    if not bars:
        return None
    return plots.Chart(plots.grouped_bars, {"lines": bars, "groups": ks, "xlabel": "K", "ylabel": "MRR@K (%)",
                                            "title": f"Figure 4: mean reciprocal rank, {section.title}"})


def stage_times(cell: Cell) -> dict[str, float]:
    """Seconds per 100 queries, per stage, from the ms_per_query_<stage> rows."""
    return {m[len("ms_per_query_"):]: v / 10.0 for (m, _), v in sorted(cell.values.items())
            if m.startswith("ms_per_query_")}


def fig5(section: Section, paper: dict, manifests: dict, timings: list | None = None,
         timing_hw: str = "") -> plots.Chart | None:
    """From ``bench.throughput``'s timings of this dataset where there are any (warm-up, median
    of repeats, one batch size), else from the timings ``bench.run`` recorded while searching."""
    measured = timing_rows.fig5_bars(timing_rows.for_section(timings or [], section.dataset,
                                           section.protocol, section.limit), timing_bar_label)
    if measured:
        bars, n_beams, words = measured
        source = f"bench.throughput: {words}, median of repeats, {timing_hw}"
    else:
        cells = main_cells(section)
        beams = sorted((c for c in cells if c.irgen and stage_times(c)), key=lambda c: c.fields["beam"])
        ann = [c for c in (representative(g) for g in series([c for c in cells if not c.irgen])) if stage_times(c)]
        if not beams and not ann:
            return None
        bars = [(f"beam {c.fields['beam']}", stage_times(c)) for c in beams]
        bars += [(timing_bar_label(c), stage_times(c)) for c in ann]
        n_beams = len(beams)
        source = f"bench.run search timings, {hardware_label(beams + ann, manifests)}"
    refs = []
    if section.paper:
        hardware = paper["throughput"]["hardware"]
        refs = [(f"beam {b}", 100 * s, f"paper, total on one {hardware}")
                for b, s in sorted(paper["throughput"]["seconds_per_query"].items())
                if any(label == f"beam {b}" for label, _ in bars)]
    what = ("IRGen search time vs beam size, beside feature + ANN search" if n_beams
            else "feature + ANN search time (no IRGen timings yet)")
    title = f"Figure 5: {what}\n{section.title}; {source}"
    return plots.Chart(plots.stage_bars, {"bars": bars, "n_irgen": n_beams, "refs": refs, "title": title})


def timing_bar_label(t) -> str:
    """A feature method's bar in Figure 5: its model's name wrapped to the bar's width, then its backend
    (and the side of its input images, where the timing recorded it)."""
    model = "\n".join(textwrap.wrap(names.model(t.features).label, 12))
    px = getattr(t, "input_px", None)
    return f"{model}\n{names.backend(t.backend).label}" + (f"\n{px} px" if px else "")


def throughput_fig(section: Section, timings: list, timing_hw: str) -> plots.Chart | None:
    mine = [t for t in timings if (t.dataset, t.protocol, t.limit) == (section.dataset, section.protocol, section.limit)]
    lines = timing_rows.qps_lines(mine, lambda t: f"{names.model(t.features).label} / {names.backend(t.backend).label}")
    if not lines:
        return None
    return plots.Chart(plots.qps_vs_batch, {"lines": lines, "title": f"Queries per second vs batch size: "
                                                                    f"{section.title}\n{timing_hw}"})


def fig6_sections(sections: list[Section]) -> list[Section]:
    """The million-scale sets where they ran, else every set ranked to depth 100 or more."""
    large = [s for s in sections if s.dataset in LARGE_SETS and s.ks("precision")]
    deep = [s for s in sections if max(s.ks("curve_precision") + s.ks("precision"), default=0) >= 100]
    return large or deep


def fig6(section: Section) -> plots.Chart | None:
    lines = []
    for group in series(main_cells(section)):
        cell = representative(group)
        values = {k: cell.get("curve_precision", k) for k in cell.ks("curve_precision")}
        values.update({k: cell.get("precision", k) for k in cell.ks("precision")})
        ks = sorted(values)
        lines.append(plots.Line(line_label(cell), cell.fields["features"], cell.fields["backend"], ks,
                                [100 * values[k] for k in ks]))
    return plots.Chart(plots.precision_vs_k, {"lines": lines, "title": f"Figure 6: precision vs K, {section.title}"})


def tradeoff_k(section: Section) -> int | None:
    return max((k for k in section.ks("precision") if k <= 10), default=None)


def tradeoff(section: Section, manifests: dict) -> plots.Chart | None:
    k = tradeoff_k(section)
    cells = [c for c in main_cells(section) if c.qps and k and c.get("precision", k) is not None]
    if not cells:
        return None
    groups = [sorted(g, key=lambda c: c.qps) for g in series(cells)]
    lines = [plots.Line(line_label(g[0], with_setting=False), g[0].fields["features"], g[0].fields["backend"],
                        [c.qps for c in g], [100 * c.get("precision", k) for c in g],
                        [c.setting for c in g]) for g in groups]
    title = (f"Accuracy vs throughput, every method: {section.title}\n"
             f"{hardware_label(cells, manifests)}")
    return plots.Chart(plots.tradeoff, {"lines": lines, "k": k, "title": title})


def build_figures(sections: list[Section], paper: dict, manifests: dict, out: Path,
                  results: Path | None = None) -> list[tuple[str, list[Figure]]]:
    """Per kind of figure, one Figure per dataset (path and the data drawn, or why it was not drawn)."""
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
            path = chart.draw(out / f"{stem}_{s.slug}.png") if chart else None
            figures.append(Figure(f"{kind}, {s.title}", path, "" if path else f"{s.title}: {why}", chart))
        built.append((kind, figures))
    return built
