"""The paper's retrieval examples (Figures 7-9), from the stored rankings alone.

Per section: its queries in one seeded order (``query_order``: the PNG shows its first few, the
site more, so the PNG's queries are the site's first ones); per headline row (``cells.representative``
of each headline series, as the figures draw them: IRGen at its headline beam, each feature
model with each backend), its top K of every query, each answer marked right when it shares the
query's class (``marks``); and where IRGen and the best baseline disagree on the top 1
(``disagree``): the generative headline row against the other headline row with the highest P@1
(the tables' P@1, the mean over seeds; the ranking's own where the cell has no P@1 row).

The ids come from ``results/rankings/`` (bench.rankings), never from running a model. A cell run
with several seeds shows one seed's ranking: seed 0's, else the smallest seed it ran. A headline
row with no ranking stored, or with one over other items than the section's (another data seed),
is left out and named in ``left_out``.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluate import drop_self
from ..metrics import relevance
from ..rankings import RankedItems, ranking_path, read_items, read_ranking
from .cells import Cell, Section, line_label, main_cells, representative, series

log = logging.getLogger(__name__)

K = 10  # answers shown per row
SEED = 0  # of the queries' order
SHOWN_SEED = 0  # the training seed whose ranking a cell of several seeds shows


# ---------------------------------------------------------------- pure functions


def query_order(n: int, seed: int = SEED) -> np.ndarray:
    """Every query index 0..n-1 once, in a seeded order; a sample of m queries is its first m."""
    return np.random.default_rng(seed).permutation(n)


def first_of(order: np.ndarray, wanted: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` queries of ``order`` where the boolean per-query ``wanted`` holds."""
    return order[wanted[order]][:count]


def top_k(ids: np.ndarray, k: int, query_in_database: bool = False) -> np.ndarray:
    """(n_queries, k) int: each query's first k answers (its own item dropped under the
    metric-learning protocol, as the metrics drop it), -1 where fewer were found."""
    ids = drop_self(ids) if query_in_database else np.asarray(ids)
    shown = np.full((len(ids), k), -1, dtype=np.int64)
    shown[:, :min(k, ids.shape[1])] = ids[:, :k]
    return shown


def marks(ids: np.ndarray, database_labels: np.ndarray, query_labels: np.ndarray) -> np.ndarray:
    """(n_queries, k) bool: the answer shares the query's class (a missing answer, -1, does not)."""
    return relevance(ids, database_labels, query_labels)


def disagree(a_top1: np.ndarray, b_top1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a right and b wrong, b right and a wrong): per-query booleans from two top-1 marks."""
    a_top1, b_top1 = np.asarray(a_top1, bool), np.asarray(b_top1, bool)
    return a_top1 & ~b_top1, b_top1 & ~a_top1


# ---------------------------------------------------------------- a section's rows


@dataclass(eq=False)
class Row:
    """One headline cell's answers: its top K per query and their marks."""

    cell: Cell
    seed: int  # the training seed whose ranking is shown
    ids: np.ndarray  # (n_queries, K) database ids, -1 where none
    right: np.ndarray  # (n_queries, K) bool

    @property
    def label(self) -> str:
        """The figures' name for the cell, and the seed shown where it ran several."""
        seeds = f" (seed {self.seed} of {self.cell.seeds} seeds)" if self.cell.seeds > 1 else ""
        return line_label(self.cell) + seeds

    @property
    def p_at_1(self) -> float:
        """The tables' P@1 (mean over seeds); the shown ranking's where the cell has none."""
        stored = self.cell.get("precision", 1)
        return float(self.right[:, 0].mean()) if stored is None else stored


@dataclass
class Disagreement:
    """Where IRGen's headline row and the best baseline disagree on the top 1, over every query."""

    irgen: Row
    baseline: Row
    irgen_only: np.ndarray  # bool per query: IRGen right, the baseline wrong
    baseline_only: np.ndarray  # bool per query: the baseline right, IRGen wrong


@dataclass
class Examples:
    """One section's retrieval examples."""

    section: Section
    items: RankedItems | None  # None: no headline row has a ranking
    rows: list[Row] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # headline rows not shown, each with why
    disagreement: Disagreement | None = None

    @property
    def order(self) -> np.ndarray:
        return query_order(len(self.items.query_labels))

    def sample(self, count: int) -> np.ndarray:
        return self.order[:count]

    def disagreeing(self, irgen_right: bool, count: int) -> np.ndarray:
        """The first ``count`` queries, in the sample's order, where IRGen is right and the baseline
        wrong (``irgen_right``), or the reverse."""
        d = self.disagreement
        return first_of(self.order, d.irgen_only if irgen_right else d.baseline_only, count)

    @property
    def seeds_note(self) -> str:
        """Which seed a row of several seeds shows ("" where every row ran one)."""
        several = [r for r in self.rows if r.cell.seeds > 1]
        if not several:
            return ""
        return (f"{len(several)} of the rows ran with several training seeds and show one seed's ranking "
                f"(seed {SHOWN_SEED} where it ran, else the smallest), as their labels say.")


def shown_cell_id(cell: Cell, rows: pd.DataFrame) -> tuple[int, str] | None:
    """(seed, cell id) of the ranking a cell shows: seed 0's (else the smallest seed's), among the
    cell's own (``Cell.cell_ids``), its latest run's; ``rows``: the section's results rows. None
    where no row matches."""
    mine = rows[rows["cell_id"].astype(str).isin(cell.cell_ids)]
    if mine.empty:
        return None
    seeds = sorted(set(mine["seed"].astype(int)))
    seed = SHOWN_SEED if SHOWN_SEED in seeds else seeds[0]
    return seed, str(mine[mine["seed"].astype(int) == seed].sort_values("run_id", kind="stable")["cell_id"].iloc[-1])


def headline_rows(section: Section) -> list[Cell]:
    """The figures' headline rows: each headline series' representative setting, in paper order."""
    return [representative(g) for g in series(main_cells(section))]


def section_examples(section: Section, rows: pd.DataFrame, results: Path, k: int = K) -> Examples:
    """A section's examples from its results ``rows`` and the rankings under ``results``."""
    found, left_out = [], []
    for cell in headline_rows(section):
        shown = shown_cell_id(cell, rows)
        path = ranking_path(results, shown[1]) if shown else None
        if path is None or not path.exists():
            left_out.append(f"{line_label(cell)}: no ranking stored (run before rankings were kept)")
        else:
            found.append((cell, shown[0], read_ranking(path)))
    if not found:
        return Examples(section, None, left_out=left_out)
    common = Counter(r.items for _, _, r in found).most_common(1)[0][0]
    items = read_items(results, common)
    shown_rows = []
    for cell, seed, ranking in found:
        if ranking.items != common:
            left_out.append(f"{line_label(cell)}: ranked other items than the other rows (another data seed)")
            continue
        ids = top_k(ranking.ids, k, ranking.query_in_database)
        shown_rows.append(Row(cell, seed, ids, marks(ids, items.database_labels, items.query_labels)))
    examples = Examples(section, items, shown_rows, left_out)
    examples.disagreement = disagreement(shown_rows)
    return examples


def disagreement(rows: list[Row]) -> Disagreement | None:
    """IRGen's (the generative) headline row against the other row with the highest P@1; None
    without both."""
    generative = [r for r in rows if r.cell.spec.generative]
    others = [r for r in rows if not r.cell.spec.generative]
    if not generative or not others:
        return None
    irgen, baseline = (max(side, key=lambda r: r.p_at_1) for side in (generative, others))
    return Disagreement(irgen, baseline, *disagree(irgen.right[:, 0], baseline.right[:, 0]))


def build_examples(sections: list[Section], rows: pd.DataFrame, results: Path) -> list[Examples]:
    """Every section's examples (``rows``: the results rows the sections were made from)."""
    out = []
    for s in sections:
        mine = rows[(rows["dataset"] == s.dataset) & (rows["protocol"] == s.protocol) & (rows["limit"] == s.limit)]
        out.append(section_examples(s, mine, Path(results)))
    return out
