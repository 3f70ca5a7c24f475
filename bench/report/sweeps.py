"""The backend sweeps (``results/sweeps.csv``, written by ``bench.sweep`` and ``bench.scaling``)
as a recall-QPS plane per set (``pareto-<set>.png``: every backend's grid points and Pareto
front) and one table (``backends.md`` / ``.csv``): per set and backend, the build time,
memory, the best recall@k reached, and the queries per second at the fastest grid point
reaching the target recall."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from methods.runtime.files import atomic_write

from ..pareto import operating_point, pareto_front
from ..results import SWEEP_SET, sweeps_table
from . import names, png
from .chart import Axis, Chart, Panel, Series, look_style
from .tables import markdown_table

TARGET, HIGH_TARGET = 0.9, 0.99
ABOUT = ("From `results/sweeps.csv` (`python -m bench.sweep`, `python -m bench.scaling`). Each backend is built "
         "once and its query grid swept; QPS is a whole batch of queries per call (the median of the repeats), "
         f"single-query QPS one query per call. \"at recall>={TARGET}\" (and {HIGH_TARGET}): the fastest grid point "
         "reaching it (- where none does). \"build timed\": `measured` in the run that swept, or `cached from run "
         "<id>` for an index from the index cache. Memory: what the index holds in RAM by the backend's own account.")


def sets(rows: pd.DataFrame) -> list[pd.DataFrame]:
    """The rows of each swept set (its name, size, dimension, queries, metric and k), in name order."""
    if rows.empty:
        return []
    return [group for _, group in rows.groupby(SWEEP_SET, sort=True)]


def slug(rows: pd.DataFrame) -> str:
    """A set's file name part: its name, and its size where one name was swept at several."""
    first = rows.iloc[0]
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(first["dataset"]))


def with_series(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with the column ``series``: the backend, or the kind of index its build made
    (``names.series``: DiskANN's disk index apart from its memory index)."""
    kinds = [names.series(b, json.loads(p) if isinstance(p, str) and p else {})
             for b, p in zip(rows["backend"], rows["build_params"])]
    return rows.assign(series=kinds)


def plane(rows: pd.DataFrame) -> Chart:
    """A set's recall against queries per second, one colour and marker per backend (or kind of
    index): its Pareto front as a line over all its grid points as faint points, hovered with the
    query parameters; the two share a legend entry."""
    first = rows.iloc[0]
    points = {backend: [(q, r, p) for q, r, p in zip(g["qps_batch"], g["recall"], g["params"])]
              for backend, g in with_series(rows).groupby("series")}
    lines = []
    for backend in names.ordered(points, names.BACKENDS):
        look = names.backend(backend)
        for shown, faint in ((pareto_front(points[backend]), False), (points[backend], True)):
            lines.append(Series(look.label, [r for _, r, _ in shown], [q for q, _, _ in shown],
                                kind="points" if faint else "line", group=backend, legend=not faint,
                                alpha=0.35 if faint else 1.0, size=3.2 if faint else 5.0,
                                hover=[[("parameters", p), ("recall", f"{r:.3f}"), ("queries/s", cell(q))]
                                       for q, r, p in shown], **look_style(look)))
    title = (f"{first['dataset']}: {int(first['n']):,} x {int(first['dim'])}-d, {first['metric']}, "
             f"{int(first['n_queries']):,} queries")
    threads = int(first["threads"]) if pd.notna(first["threads"]) else "?"
    return Chart(title, [Panel("", Axis(f"recall@{int(first['recall_at'])} (vs the exact linear scan)"),
                               Axis(f"queries per second (batch, {threads} threads; log)", log=True), lines)], (7, 5))


def summary(rows: pd.DataFrame, target: float = TARGET) -> pd.DataFrame:
    """One line per set and backend."""
    lines = []
    for group in sets(rows):
        first, group = group.iloc[0], with_series(group)
        for backend in names.ordered(set(group["series"]), names.BACKENDS):
            mine = group[group["series"] == backend].to_dict("records")
            best = max(mine, key=lambda r: (r["recall"], r["qps_batch"]))
            at, high = reaching(mine, target), reaching(mine, HIGH_TARGET)
            timing = best.get("build_timing")
            lines.append({"set": first["dataset"], "n": int(first["n"]), "dim": int(first["dim"]),
                          "backend": backend, "build_params": best["build_params"], "build_s": best["build_s"],
                          "build timed": timing if isinstance(timing, str) else "-",
                          "memory_MB": best["memory_bytes"] / 1e6, "disk_MB": best["disk_bytes"] / 1e6,
                          f"best recall@{int(first['recall_at'])}": best["recall"], "QPS there": best["qps_batch"],
                          f"QPS at recall>={target}": at["qps_batch"] if at else np.nan,
                          "single-query QPS there": at["qps_single"] if at else np.nan,
                          "parameters there": at["params"] if at else "-",
                          f"QPS at recall>={HIGH_TARGET}": high["qps_batch"] if high else np.nan,
                          f"parameters at {HIGH_TARGET}": high["params"] if high else "-"})
    return pd.DataFrame(lines)


def reaching(rows: list[dict], target: float) -> dict | None:
    """The fastest of ``rows`` reaching ``target`` recall; None where none does."""
    at = operating_point(rows, target)
    return at if at["recall"] >= target else None


def markdown(table: pd.DataFrame) -> str:
    out = ["# Search backends: recall against the exact scan, and queries per second", "", ABOUT, ""]
    for name, group in table.groupby("set", sort=False):
        out += [f"## {name}", "", markdown_table(group.drop(columns="set"), lambda row, c: cell(row[c])), ""]
    return "\n".join(out)


def cell(value) -> str:
    if isinstance(value, float):
        if not np.isfinite(value):
            return "-"
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"`{value}`" if isinstance(value, str) and value.startswith("{") else str(value)


def write(results: Path, reports: Path) -> list[Path]:
    """Every set's plane and the backends table; [] without sweep rows."""
    rows = sweeps_table(results).load()
    if rows.empty:
        return []
    written = [png.draw(plane(group), reports / f"pareto-{slug(group)}.png") for group in sets(rows)]
    table = summary(rows)
    for suffix, text in ((".md", markdown(table)), (".csv", table.to_csv(index=False, lineterminator="\n",
                                                                         float_format="%.4g"))):
        path = reports / f"backends{suffix}"
        atomic_write(path, lambda tmp, text=text: Path(tmp).write_text(text))
        written.append(path)
    return written
