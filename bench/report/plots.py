"""Drawing for bench.report: PNG through matplotlib's Agg backend, deterministic (fixed style,
no timestamp or software tag in the file), one colour per model and one marker / line style per
search backend in every figure (``names``), legends outside the axes."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib import ticker  # noqa: E402

from methods.runtime.files import atomic_write  # noqa: E402

from ..pareto import pareto_front  # noqa: E402
from . import names  # noqa: E402

STYLE = {"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
         "legend.fontsize": 8, "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 150, "savefig.dpi": 150,
         "svg.hashsalt": "irgen-bench", "axes.spines.top": False, "axes.spines.right": False}
# (x, y) axis labels of the drawings that fix their own; the site labels its axes the same way
PR_AXES = ("true-positive rate: share of the query's class retrieved (%)", "precision (%)")
STAGE_AXIS = "seconds per 100 queries"
PRECISION_K_AXES = ("K (number of results returned, log scale)", "Precision@K (%)")
TRADEOFF_X = "batched queries per second (a batch over its median whole-batch time, log scale)"
BATCH_AXES = ("queries per batch (log scale)", "queries per second (batch 1: single-query; log scale)")


@dataclass
class Line:
    """One method's series: its legend label, model and backend (for the style), x and y."""

    label: str
    model: str
    backend: str
    x: list
    y: list
    notes: list[str] = field(default_factory=list)  # per point, e.g. the setting

    @property
    def style(self) -> dict:
        backend = names.backend(self.backend)
        thick = self.model == "irgen"
        return {"color": names.model(self.model).color, "marker": backend.marker, "linestyle": backend.line,
                "linewidth": 2.2 if thick else 1.4, "markersize": 9 if thick else 5, "zorder": 3 if thick else 2}


@dataclass
class Chart:
    """A figure's data before it is drawn: ``draw`` writes it as a PNG; the site
    (``bench.report.site``) draws the same data interactively."""

    plot: Callable[..., Path]  # one of this module's drawing functions
    args: dict  # its arguments, all but the path

    def draw(self, path: Path) -> Path:
        return self.plot(**self.args, path=path)


def styled(draw):
    """Run a drawing function under the fixed style and save what it returns to its path."""

    @wraps(draw)
    def wrapper(*args, **kwargs) -> Path:
        with plt.rc_context(STYLE):
            fig, path = draw(*args, **kwargs)
            path = Path(path)
            try:  # a reader never sees half a PNG
                atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip("."),
                                                           metadata={"Software": None}, bbox_inches="tight"))
            finally:
                plt.close(fig)
        return path

    return wrapper


def legend_outside(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0)


@styled
def pr_curves(lines: list[Line], title: str, path: Path):
    """Figure 3: precision against true-positive rate as K grows, one line per method."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for line in lines:
        style = line.style
        ax.plot(line.x, line.y, label=line.label, markevery=max(len(line.x) // 8, 1), **style)
    ax.set(xlabel=PR_AXES[0], ylabel=PR_AXES[1], title=title, ylim=(0, 101))
    ax.set_xlim(left=0)
    legend_outside(ax)
    return fig, path


def hatch(line: Line) -> str | None:
    """A bar's hatching: the backend's line style as a pattern (IRGen's bars plain)."""
    return None if line.model == "irgen" else {"--": "//", "-.": "..", ":": "xx"}.get(line.style["linestyle"])


@styled
def grouped_bars(lines: list[Line], groups: list[int], xlabel: str, ylabel: str, title: str, path: Path):
    """Figure 4: one group of bars per K, one bar per method."""
    fig, ax = plt.subplots(figsize=(max(6.5, min(12.0, 2 + 0.3 * len(groups) * len(lines))), 4.5))
    width = 0.8 / len(lines)
    for i, line in enumerate(lines):
        style = line.style
        xs = [g + (i - (len(lines) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, [v if v is not None else 0 for v in line.y], width, label=line.label, color=style["color"],
               edgecolor="black", linewidth=0.4, hatch=hatch(line))
    ax.set_xticks(range(len(groups)), [f"K={g}" for g in groups])
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, ylim=(0, 105))
    ax.grid(axis="x", visible=False)
    legend_outside(ax)
    return fig, path


def stage_order(bars: list[tuple[str, dict]]) -> list[str]:
    return names.ordered({s for _, times in bars for s in times}, names.STAGES)


@styled
def stage_bars(bars: list[tuple[str, dict[str, float]]], n_irgen: int, refs: list[tuple[str, float, str]],
               title: str, path: Path):
    """Figure 5: seconds per 100 queries, stacked by stage, IRGen's beams first, then the
    feature + ANN methods; ``refs`` are (bar label, seconds, legend label) marks (the paper's)."""
    fig, ax = plt.subplots(figsize=(max(6.5, 0.8 * len(bars) + 3), 4.8))
    labels = [label for label, _ in bars]
    bottoms = [0.0] * len(bars)
    for stage in stage_order(bars):
        look = names.stage(stage)
        name, color = look.label, look.color
        heights = [times.get(stage, 0.0) for _, times in bars]
        ax.bar(range(len(bars)), heights, 0.65, bottom=bottoms, label=name, color=color, edgecolor="white",
               linewidth=0.5)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    top = max(bottoms + [v for _, v, _ in refs])
    for x, total in enumerate(bottoms):
        ax.annotate(f"{total:.3g} s", (x, total), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7)
    for i, (label, seconds, ref_label) in enumerate(refs):
        ax.plot([labels.index(label)], [seconds], marker="_", markersize=22, markeredgewidth=2.5, color="black",
                linestyle="none", label=ref_label if i == 0 else None, zorder=4)
    if 0 < n_irgen < len(bars):
        ax.axvline(n_irgen - 0.5, color="grey", linestyle="--", linewidth=0.8)
    if n_irgen:
        ax.text((n_irgen - 1) / 2, 1.0, "IRGen, beam search", transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=8)
    if n_irgen < len(bars):
        ax.text((n_irgen + len(bars) - 1) / 2, 1.0, "feature model + search backend",
                transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=8)
    pad = (max(len(bars), 3) - len(bars)) / 2  # a lone bar stays bar-shaped
    ax.set_xlim(-0.6 - pad, len(bars) - 0.4 + pad)
    ax.set_xticks(range(len(bars)), labels, fontsize=8)
    ax.set(ylabel=STAGE_AXIS, ylim=(0, top * 1.15 or 1))
    ax.set_title(title, pad=16)
    ax.grid(axis="x", visible=False)
    legend_outside(ax)
    return fig, path


@styled
def precision_vs_k(lines: list[Line], title: str, path: Path):
    """Figure 6: precision@K against K (log), one line per method."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for line in lines:
        ax.plot(line.x, line.y, label=line.label, markevery=max(len(line.x) // 8, 1), **line.style)
    ax.set_xscale("log")
    top = max((max(line.x) for line in lines if line.x), default=100)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= top]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set(xlabel=PRECISION_K_AXES[0], ylabel=PRECISION_K_AXES[1], title=title, ylim=(0, 101))
    legend_outside(ax)
    return fig, path


def plain_log_x(ax, low: float, high: float) -> None:
    """Log x axis labelled 20, 50, 100 rather than 2x10^1; minor ticks named only within a decade or so."""
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    some = ticker.FuncFormatter(lambda v, _: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else "")
    ax.xaxis.set_minor_formatter(some if high / low < 30 else ticker.NullFormatter())


@styled
def tradeoff(lines: list[Line], k: int, title: str, path: Path):
    """Every method on one accuracy-versus-throughput plane, the Pareto front marked and named."""
    fig, ax = plt.subplots(figsize=(8.5, 5.0))
    points = []
    for line in lines:
        ax.plot(line.x, line.y, label=line.label, **{**line.style, "linewidth": 1.0})
        points += [(x, y, f"{line.label} {note}" if note != "-" else line.label)
                   for x, y, note in zip(line.x, line.y, line.notes)]
    front = pareto_front(points)
    ax.step([p[0] for p in front], [p[1] for p in front], where="pre", color="black", linestyle="--",
            linewidth=1.0, label="Pareto front, by throughput:", zorder=1)
    ax.scatter([p[0] for p in front], [p[1] for p in front], s=160, facecolors="none", edgecolors="black",
               linewidths=1.0, zorder=4)
    for i, (x, y, label) in enumerate(front, 1):  # numbers on the plot, names in the legend: no text over data
        ax.annotate(str(i), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=8, fontweight="bold")
        ax.plot([], [], linestyle="none", label=f"{i}: {label}")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    plain_log_x(ax, min(xs) / 3, max(xs) * 3)
    ax.set_ylim(max(0.0, min(ys) - 10), min(101.0, max(ys) + 5))
    ax.set(xlabel=TRADEOFF_X, ylabel=f"Precision@{k} (%)", title=title)
    legend_outside(ax)
    return fig, path


def batch_style(i: int, line: Line) -> dict:
    """The i-th line of the QPS-vs-batch figure: the lines are method x setting x database, more
    than the registry's colours tell apart, so they take the default colour cycle in turn."""
    return {"marker": "os^vDP*"[i % 7], "color": matplotlib.colors.to_hex(f"C{i % 10}"),
            "linestyle": "-" if line.model == "irgen" else "--"}


@styled
def qps_vs_batch(lines: list[Line], title: str, path: Path):
    """Queries per second against queries per batch, log-log, one line per method x setting."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for i, line in enumerate(lines):
        ax.plot(line.x, line.y, label=line.label, **batch_style(i, line))
    ax.set_xscale("log")
    ax.set_yscale("log")
    batches = sorted({b for line in lines for b in line.x})
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "25" else ""))
    ax.set(xlabel=BATCH_AXES[0], ylabel=BATCH_AXES[1], title=title)
    legend_outside(ax)
    return fig, path


@styled
def recall_qps(points: dict[str, list[tuple[float, float, str]]], title: str, xlabel: str, ylabel: str, path: Path):
    """A set's recall against queries per second, one colour and marker per backend (as in every
    figure): each backend's Pareto front as a line over all its grid points as faint points.
    ``points``: backend -> [(qps, recall, parameters)]."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for backend, pts in points.items():
        look = names.backend(backend)
        front = pareto_front(pts)
        ax.plot([p[1] for p in front], [p[0] for p in front], marker=look.marker, linestyle=look.line,
                color=look.color, label=look.label)
        ax.scatter([p[1] for p in pts], [p[0] for p in pts], s=10, alpha=0.35, color=look.color)
    ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(True, which="both", alpha=0.3)
    legend_outside(ax)
    return fig, path
