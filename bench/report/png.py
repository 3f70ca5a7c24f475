"""A ``chart.Chart`` as a PNG through matplotlib's Agg backend: deterministic (fixed style, no
timestamp or software tag in the file), written atomically, the legend outside the axes (in the
spare cell of a grid of panels), log axes labelled 20, 50, 100 rather than 2x10^1."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib import ticker  # noqa: E402

from methods.runtime.files import atomic_write  # noqa: E402

from .chart import Axis, Chart, Panel, Series  # noqa: E402

STYLE = {"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
         "legend.fontsize": 8, "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 150, "savefig.dpi": 150,
         "svg.hashsalt": "irgen-bench", "axes.spines.top": False, "axes.spines.right": False}
CATEGORICAL = ("bars", "stack", "marks")  # kinds whose x values are categories


def draw(chart: Chart, path: Path) -> Path:
    """Write ``chart`` to ``path`` (a reader never sees half a PNG)."""
    path = Path(path)
    with plt.rc_context(STYLE):
        cells = len(chart.panels) + (len(chart.panels) > 1)  # a grid of panels keeps a cell for the legend
        rows = math.ceil(cells / chart.columns)
        fig, axes = plt.subplots(rows, chart.columns, figsize=chart.size, squeeze=False)
        legend: dict[str, object] = {}
        for ax, panel in zip(axes.flat, chart.panels):
            draw_panel(ax, panel, legend)
        if len(chart.panels) == 1:
            axes.flat[0].set_title(chart.title, pad=16 if chart.panels[0].spans else 6)
            axes.flat[0].legend(legend.values(), legend.keys(), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                                frameon=False, borderaxespad=0.0)
        else:
            for spare in axes.flat[len(chart.panels):]:
                spare.axis("off")
            axes.flat[len(chart.panels)].legend(legend.values(), legend.keys(), loc="upper left", frameon=False,
                                                fontsize=9)
            fig.suptitle(chart.title, fontsize=10)
        if chart.notes:
            fig.text(0.01, -0.01, "\n".join(chart.notes), fontsize=8, va="top")
        if len(chart.panels) > 1:
            fig.tight_layout()
        save(fig, path, bbox_inches="tight")
    return path


def save(fig, path: Path, **options) -> None:
    """Write ``fig`` as a PNG, without a software tag, atomically; then close it."""
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None}, **options))
    finally:
        plt.close(fig)


def draw_panel(ax, panel: Panel, legend: dict) -> None:
    """The panel's series, marks and axes; each legend entry (series label -> artist) once."""
    categories = list(dict.fromkeys(x for s in panel.series if s.kind in CATEGORICAL for x in s.x))
    bars = [s for s in panel.series if s.kind == "bars"]
    bottoms = [0.0] * len(categories)
    for s in panel.series:
        where = [categories.index(x) for x in s.x] if s.kind in CATEGORICAL else s.x
        if s.kind == "bars":
            i, width = bars.index(s), 0.8 / len(bars)
            where = [w + (i - (len(bars) - 1) / 2) * width for w in where]
            artist = ax.bar(where, [0 if v is None else v for v in s.y], width, color=s.color, edgecolor="black",
                            linewidth=0.4, hatch=s.hatch, yerr=errors(s))
        elif s.kind == "stack":
            below = [bottoms[w] for w in where]
            artist = ax.bar(where, s.y, 0.65, bottom=below, color=s.color, edgecolor="white", linewidth=0.5)
            for w, v in zip(where, s.y):
                bottoms[w] += v
        elif s.kind == "marks":
            artist, = ax.plot(where, s.y, marker="_", markersize=22, markeredgewidth=2.5, color=s.color,
                              linestyle="none", zorder=4)
        elif s.kind == "front":
            artist = front(ax, s, legend)
        elif s.kind == "points":
            artist = ax.scatter(where, s.y, s=s.size ** 2, alpha=s.alpha, color=s.color, marker=s.marker)
        else:
            artist, = ax.plot(where, s.y, color=s.color, marker=s.marker, linestyle=s.dash, linewidth=s.width,
                              markersize=s.size, zorder=3 if s.thick else 2, alpha=s.alpha,
                              markevery=max(len(s.x) // 8, 1) if s.sparse else None)
        if s.err and s.kind in ("line", "points"):
            ax.errorbar(where, s.y, yerr=errors(s), fmt="none", ecolor=s.color, elinewidth=1, capsize=2)
        if s.legend and s.x:
            legend.setdefault(s.label, artist)
    for x in panel.dividers:
        ax.axvline(x, color="grey", linestyle="--", linewidth=0.8)
    for first, last, words in panel.spans:
        ax.text((first + last) / 2, 1.0, words, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8)
    if panel.totals:
        for x, total in enumerate(bottoms):
            ax.annotate(panel.totals.format(total), (x, total), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=7)
    if categories:
        pad = (max(len(categories), 3) - len(categories)) / 2 if not bars else 0  # a lone bar stays bar-shaped
        ax.set_xlim(-0.6 - pad, len(categories) - 0.4 + pad)
        ax.set_xticks(range(len(categories)), categories, fontsize=8 if not bars else None)
        ax.grid(axis="x", visible=False)
    else:
        axis(ax.xaxis, panel.x, [v for s in panel.series for v in s.x])
    axis(ax.yaxis, panel.y, [v for s in panel.series for v in s.y if v is not None])
    ax.set_xlabel(panel.x.label)
    ax.set_ylabel(panel.y.label)
    if panel.title:
        ax.set_title(panel.title)


def front(ax, s: Series, legend: dict):
    """A Pareto front: a step line through its points, each circled and numbered, named in the legend."""
    artist, = ax.step(s.x, s.y, where="pre", color=s.color, linestyle=s.dash, linewidth=s.width, zorder=1)
    ax.scatter(s.x, s.y, s=160, facecolors="none", edgecolors=s.color, linewidths=1.0, zorder=4)
    legend.setdefault(s.label, artist)
    for i, (x, y, name) in enumerate(zip(s.x, s.y, s.names), 1):  # numbers on the plot, names in the legend
        ax.annotate(str(i), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=8, fontweight="bold")
        legend.setdefault(f"{i}: {name}", ax.plot([], [], linestyle="none")[0])
    return artist


def errors(s: Series) -> list[list[float]] | None:
    """The series' intervals as matplotlib's (below, above) distances from each value."""
    if not s.err:
        return None
    spans = [(y - e[0], e[1] - y) if e else (0.0, 0.0) for y, e in zip(s.y, s.err)]
    return [[lo for lo, _ in spans], [hi for _, hi in spans]]


def axis(which, spec: Axis, values: list) -> None:
    """Scale, limits and ticks of one axis (``which``: the matplotlib XAxis or YAxis)."""
    set_scale = which.axes.set_xscale if which is which.axes.xaxis else which.axes.set_yscale
    set_lim = which.axes.set_xlim if which is which.axes.xaxis else which.axes.set_ylim
    if spec.log:
        set_scale("log")
    if spec.limits:
        set_lim(*spec.limits)
    if spec.ticks:
        which.set_ticks(spec.ticks, [f"{t:g}" for t in spec.ticks])
        which.set_minor_formatter(ticker.NullFormatter())
    elif spec.log and values:
        low, high = spec.limits if spec.limits and None not in spec.limits else (min(values), max(values))
        which.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        some = ticker.FuncFormatter(lambda v, _: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 5)
                                    else "")
        which.set_minor_formatter(some if high / max(low, 1e-300) < 30 else ticker.NullFormatter())
