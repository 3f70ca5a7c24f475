"""The figure against the database size (the scaling figure), described from
``results/scaling/scaling.csv`` alone (written by ``bench.scaling``) and drawn as
``reports/scaling.png``: against the database size n, log-log, one line per IRGen part and
per search backend: build / assignment time, search time per query, recall@10 of the
backends' operating points, index size, and the peak memory of building. Components that
were skipped are named under the figure with the reason.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..results import scaling_table
from . import names, png
from .chart import Axis, Chart, Panel, Series, look_style
from .names import SCALING_PARTS

FIGURE = "scaling.png"
CONFIG = ["dim", "queries", "seed"]
# panel: (title, y label, {component or kind: measure}, y scale, unit divisor)
PANELS = [("Build / assignment time", "seconds (log)", {"identifiers": "assign_s", "*": "build_s"}, "log", 1),
          ("Search time per query", "ms per query (log)", {"*": "search_ms"}, "log", 1),
          ("Recall@10 of the backend's operating point", "recall@10 vs exact scan", {"backend": "recall@10"},
           "linear", 1),
          ("Index size in memory", "MB (log)", {"*": "index_bytes"}, "log", 1e6),
          ("Peak memory while building / assigning", "peak RSS rise, MB (log)", {"*": "peak_rss_bytes"}, "log", 1e6)]


def label(component: str) -> str:
    return SCALING_PARTS[component].label if component in SCALING_PARTS else f"{names.backend(component).label} (backend)"


def latest_config(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the (dim, queries, seed) configuration reaching the largest n."""
    largest = table.sort_values("n").iloc[-1]
    return table[(table[CONFIG] == largest[CONFIG]).all(axis=1)]


def series(rows: pd.DataFrame, panel: dict) -> dict[str, pd.Series]:
    """component -> values indexed by n, for the measure each component shows in this panel."""
    out = {}
    for component, own in rows.groupby("component", sort=False):
        kind = "part" if component in SCALING_PARTS else "backend"
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


def chart(rows: pd.DataFrame) -> Chart:
    """The five panels against n, a line per part or backend (one legend entry for all panels),
    the raw vectors' bytes beside the index sizes, the components skipped named under it."""
    known = list(SCALING_PARTS) + list(names.BACKENDS)
    order = known + [c for c in dict.fromkeys(rows["component"]) if c not in known]
    panels = []
    for title, ylabel, measures, yscale, divisor in PANELS:
        lines = series(rows, measures)
        drawn = [Series(label(c), list(lines[c].index), list(lines[c].values / divisor), group=c, width=1.6, size=6,
                        **look_style(SCALING_PARTS.get(c) or names.backend(c))) for c in order if c in lines]
        if title.startswith("Index size"):
            words, sizes, sizes_bytes = raw_vectors(rows)
            drawn.append(Series(words, sizes, [b / divisor for b in sizes_bytes], color="black", dash=":", width=1,
                                marker="", group="raw"))
        panels.append(Panel(title, Axis("database size n (items, log)", log=True), Axis(ylabel, log=yscale == "log"),
                            drawn))
    return Chart(caption(rows), panels, (15, 8.6), columns=3, notes=skipped_lines(rows))


def write_scaling_figures(results: Path, reports: Path) -> list[Path]:
    """Draw ``reports/scaling.png`` from the scaling rows; without rows, remove a figure left
    from earlier results and return []."""
    table, figure = scaling_table(results).load(), Path(reports) / FIGURE
    if table.empty:
        figure.unlink(missing_ok=True)
        return []
    return [png.draw(chart(latest_config(table)), figure)]
