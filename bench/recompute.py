"""Metric rows derived again from the stored rankings (bench.rankings), no model run:
``python -m bench.report --recompute [--check]``.

For every cell of the results table with a ranking file, ``ranking_rows`` (bench/evaluate.py,
what bench.run writes) computes every metric row from the ranking and the items file's labels.
``--check`` compares them with the stored rows, value for value (bit for bit, NaN equal to NaN),
and lists each difference, each row the table lacks (a metric added since the cell ran) and each
stored metric row no longer derived; it writes nothing. Without ``--check`` the recomputed rows
replace the cells' metric rows (those ``EVALUATED`` names), atomically, the run id and the other
rows (speed, stats, diagnostics) kept; the report is then built from them. A cell without a ranking
file (run before rankings were kept) is named and left as it is.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from .evaluate import EVALUATED, ranking_rows
from .rankings import ranking_path, read_items, read_ranking
from .results import COLUMNS, ResultStore

log = logging.getLogger(__name__)


@dataclass
class Recomputed:
    """What a recompute found: cells recomputed, cells without a ranking, and the rows that differ
    (cell id, metric, k, stored value or None, recomputed value or None)."""

    cells: int = 0
    rows: int = 0
    without_ranking: list[str] = field(default_factory=list)
    differences: list[tuple[str, str, int, float | None, float | None]] = field(default_factory=list)

    def lines(self, limit: int = 20) -> list[str]:
        out = [f"{cell} {metric}@{k}: stored {_text(old)}, recomputed {_text(new)}"
               for cell, metric, k, old, new in self.differences[:limit]]
        if len(self.differences) > limit:
            out.append(f"... and {len(self.differences) - limit} more")
        return out


def _text(value: float | None) -> str:
    return "(none)" if value is None else repr(value)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def recompute(results: Path, check: bool = False, progress: bool = True) -> Recomputed:
    """Derive every cell's metric rows from its stored ranking; compare (``check``) or write them."""
    results = Path(results)
    store = ResultStore(results)
    table = store.load()
    found, replacement, items = Recomputed(), [], {}
    for cell_id, stored in tqdm(table.groupby("cell_id", sort=True), desc="recompute", disable=not progress,
                                leave=False):
        path = ranking_path(results, str(cell_id))
        if not path.exists():
            found.without_ranking.append(str(cell_id))
            continue
        ranking = read_ranking(path)
        if ranking.items not in items:
            items[ranking.items] = read_items(results, ranking.items)
        new = {(m, int(k)): float(v) for m, k, v in ranking_rows(ranking, items[ranking.items])}
        metric_rows = stored[stored["metric"].isin(EVALUATED)]
        old = {(m, int(k)): float(v) for m, k, v in zip(metric_rows["metric"], metric_rows["k"], metric_rows["value"])}
        changed = [(str(cell_id), m, k, old.get((m, k)), new.get((m, k))) for m, k in sorted(old.keys() | new.keys())
                   if (m, k) not in old or (m, k) not in new or not _same(old[(m, k)], new[(m, k)])]
        found.cells += 1
        found.rows += len(new)
        found.differences += changed
        if changed and not check:
            replacement.append(_cell_rows(stored, new))
    if replacement:
        store.write_cell(pd.concat(replacement, ignore_index=True).to_dict("records"))
    if found.without_ranking:
        log.warning("%d cell(s) have no stored ranking (run before rankings were kept) and keep their rows: %s",
                    len(found.without_ranking), ", ".join(found.without_ranking[:5]))
    return found


def _cell_rows(stored: pd.DataFrame, new: dict[tuple[str, int], float]) -> pd.DataFrame:
    """A cell's rows with its metric rows replaced by ``new`` (its keys and run id kept)."""
    kept = stored[~stored["metric"].isin(EVALUATED)]
    first = stored.iloc[0]
    metric_rows = pd.DataFrame([{**{c: first[c] for c in COLUMNS if c in stored}, "metric": m, "k": k, "value": v,
                                 "timing": "-"} for (m, k), v in new.items()])
    return pd.concat([metric_rows, kept], ignore_index=True)[[c for c in COLUMNS if c in stored]]
