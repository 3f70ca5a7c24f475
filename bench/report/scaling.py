"""The scaling figure, from ``results/scaling/scaling.csv`` alone (written by ``bench.scaling``):
``reports/scaling.png``: against the database size n, log-log, one line per IRGen part and
per search backend: build / assignment time, search time per query, recall@10 of the
backends' operating points, index size, and the peak memory of building. Components that
were skipped are named under the figure with the reason.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..results import scaling_table
from . import names, plots
from .names import IRGEN_PARTS
from .plots import plt

FIGURE = "scaling.png"
CONFIG = ["dim", "queries", "seed"]
# panel: (title, y label, {component or kind: measure}, y scale, unit divisor)
PANELS = [("Build / assignment time", "seconds (log)", {"identifiers": "assign_s", "*": "build_s"}, "log", 1),
          ("Search time per query", "ms per query (log)", {"*": "search_ms"}, "log", 1),
          ("Recall@10 of the backend's operating point", "recall@10 vs exact scan", {"backend": "recall@10"},
           "linear", 1),
          ("Index size in memory", "MB (log)", {"*": "index_bytes"}, "log", 1e6),
          ("Peak memory while building / assigning", "peak RSS rise, MB (log)", {"*": "peak_rss_bytes"}, "log", 1e6)]


def style(component: str) -> tuple[str, dict]:
    look = IRGEN_PARTS.get(component) or names.backend(component)
    label = look.label if component in IRGEN_PARTS else f"{look.label} (backend)"
    return label, {"color": look.color, "marker": look.marker, "linestyle": look.line, "linewidth": 1.6,
                   "markersize": 6}


def latest_config(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the (dim, queries, seed) configuration reaching the largest n."""
    largest = table.sort_values("n").iloc[-1]
    return table[(table[CONFIG] == largest[CONFIG]).all(axis=1)]


def series(rows: pd.DataFrame, panel: dict) -> dict[str, pd.Series]:
    """component -> values indexed by n, for the measure each component shows in this panel."""
    out = {}
    for component, own in rows.groupby("component", sort=False):
        kind = "irgen" if component in IRGEN_PARTS else "backend"
        measure = panel.get(component) or panel.get(kind) or panel.get("*")
        values = own[own["measure"] == measure].set_index("n")["value"].dropna().sort_index()
        if measure and len(values):
            out[component] = values
    return out


def skipped_lines(rows: pd.DataFrame) -> list[str]:
    skipped = rows[rows["measure"] == "skipped"].sort_values(["n", "component"])
    return [f"{r['component']} at n={int(r['n']):,} skipped: {r['note']}" for _, r in skipped.iterrows()]


def raw_vectors(rows: pd.DataFrame) -> tuple[str, list, list]:
    """The index-size panel's reference: (label, sizes n, bytes of the raw float32 vectors)."""
    sizes = sorted(rows["n"].unique())
    dim = int(rows["dim"].iloc[0])
    return f"raw float32 vectors ({dim}-d)", sizes, [4 * dim * n for n in sizes]


def caption(rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    return (f"Scaling with the database size: synthetic {int(first['dim'])}-d features, 1,000 classes "
            f"(bench.scaling); backends over {int(first['queries']):,} queries, at the fastest point with "
            f"recall@10 >= 0.9 (else their best)\n{first['hardware']}, CPU only; timings on a shared machine")


@plots.styled
def draw(rows: pd.DataFrame, path: Path):
    known = list(IRGEN_PARTS) + list(names.BACKENDS)
    order = known + [c for c in dict.fromkeys(rows["component"]) if c not in known]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.6))
    handles = {}
    for ax, (title, ylabel, panel, yscale, divisor) in zip(axes.flat, PANELS):
        lines = series(rows, panel)
        for component in (c for c in order if c in lines):
            label, kw = style(component)
            handles[label], = ax.plot(lines[component].index, lines[component].values / divisor, **kw)
        if title.startswith("Index size"):
            label, sizes, sizes_bytes = raw_vectors(rows)
            handles[label], = ax.plot(sizes, [b / divisor for b in sizes_bytes], color="black", linestyle=":",
                                      linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale(yscale)
        ax.set_title(title)
        ax.set_xlabel("database size n (items, log)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.25)
    legend = axes.flat[-1]
    legend.axis("off")
    legend.legend(handles.values(), handles.keys(), loc="upper left", frameon=False, fontsize=9)
    fig.suptitle(caption(rows), fontsize=10)
    notes = skipped_lines(rows)
    if notes:
        fig.text(0.01, -0.01, "\n".join(notes), fontsize=8, va="top")
    fig.tight_layout()
    return fig, path


def write_scaling_figures(results: Path, reports: Path) -> list[Path]:
    """Draw ``reports/scaling.png`` from the scaling rows; without rows, remove a figure left
    from earlier results and return []."""
    table, figure = scaling_table(results).load(), Path(reports) / FIGURE
    if table.empty:
        figure.unlink(missing_ok=True)
        return []
    return [draw(latest_config(table), figure)]
