"""How sure a number is: intervals over queries and over training seeds, and paired tests.

Pure functions first, over per-query values (bench/evaluate.py ``per_query``; NaN marks a query
a metric leaves out, which every function here leaves out too):

- ``resample_counts``: the bootstrap's one resample matrix for n queries, (B, n) counts, drawn
  from one seeded (B, n) index matrix. One matrix serves every metric and every cell over the
  same n queries, so comparisons are paired: the same resamples for both sides.
- ``bootstrap_interval``: the 95% percentile interval of a metric's mean over B resamples, every
  metric of a cell in one matrix product.
- ``paired_test``: two cells over the same queries: the bootstrap interval of the difference of
  their means (the same resamples), and a sign-flip permutation test of the per-query differences
  (B seeded flips): p = (1 + #{|flipped mean| >= |observed|}) / (B + 1), significant below 0.05.
- ``t_interval``: the mean over S training seeds, half-width t(0.975, S - 1) * sd / sqrt(S), as
  powerful-benchmarker reports; one seed has no interval (NaN).

Then what a report calls: ``latest_per_seed`` picks the rows a report reads (per cell group, the
cell's keys and model but the seed, the latest run's cell of each seed: the report's tables and
these intervals average the same cells). ``Section(results, rows)`` reads the rankings of a
section's cells (bench.rankings): ``group`` gives a group's value per metric@k with its interval
and its kind (``bootstrap`` over N queries for one seed; ``t`` over S seeds for several, the mean
of the seeds' values; bench.definitions words them), ``best_test`` the paired test of a
generative method's best group against the best other group among those it is given (several
seeds compared by their per-query mean over the seeds). ``section_uncertainty(results, rows)``
gives every group's intervals and the section-wide tests. Each cell's bootstrap intervals and
each test are cached under ``results/rankings/derived/``, keyed by the ranking files' digests, so
a second report is fast. ``write_intervals`` writes them for every section:
``reports/intervals.csv`` and ``reports/paired_tests.csv``.
"""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from methods.registry import METHODS, load_plugins
from methods.runtime.files import atomic_write, digest, file_checksum

from . import metrics as M
from .definitions import interval_words
from .evaluate import BOUND, SCALAR, per_query
from .rankings import folder, items_path, ranking_meta, ranking_path, read_items, read_ranking
from .results import CELL_KEYS, ResultStore

log = logging.getLogger(__name__)

RESAMPLES = 1000
LEVEL = 0.95
SEED = 0
VERSION = 2  # of what the cache holds: bump when a metric or the procedure changes
SECTION = ["dataset", "protocol", "limit"]  # a section's cells answer the same kind of queries
GROUP = [c for c in CELL_KEYS if c != "seed"] + ["model"]  # a cell over its training seeds: the report's cell
# accuracies (r_beyond_depth is a property of the data), and the perfect-decoder bound's where a cell has one
INTERVAL_METRICS = tuple(m for m in SCALAR if m != "r_beyond_depth") + tuple(f"bound_{m}" for m in BOUND)


# ---------------------------------------------------------------- pure functions


@functools.lru_cache(maxsize=4)
def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, n) float64: how often each of n queries is drawn in each bootstrap resample."""
    index = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    flat = (index + n * np.arange(resamples)[:, None]).ravel()
    counts = np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(np.float64)
    counts.flags.writeable = False
    return counts


@functools.lru_cache(maxsize=4)
def sign_flips(n: int, resamples: int = RESAMPLES, seed: int = SEED + 1) -> np.ndarray:
    """(resamples, n) float64 of +-1: the permutations of a paired sign-flip test."""
    flips = np.where(np.random.default_rng(seed).random((resamples, n)) < 0.5, -1.0, 1.0)
    flips.flags.writeable = False
    return flips


def _as_columns(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v[:, None] if v.ndim == 1 else v


def resampled_means(values, counts: np.ndarray) -> np.ndarray:
    """(B, m) means of each column of ``values`` (n, m) (NaN: left out) under each resample."""
    v = _as_columns(values)
    counted = ~np.isnan(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ np.where(counted, v, 0.0)) / (counts @ counted.astype(np.float64))


def bootstrap_interval(values, counts: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per column of ``values`` (n, m): the percentile interval of the mean over the
    resamples of ``counts`` (``resample_counts``); NaN where a column has no query that counts."""
    means = resampled_means(values, counts)
    tail = (1 - level) / 2 * 100
    with np.errstate(invalid="ignore"):
        low, high = np.nanpercentile(means, [tail, 100 - tail], axis=0) if np.isfinite(means).any() \
            else (np.full(means.shape[1], np.nan),) * 2
    return np.asarray(low), np.asarray(high)


@dataclass(frozen=True)
class PairedTest:
    """a - b over the same queries: the difference of the means, its bootstrap interval, the
    sign-flip test's p-value and whether it is below 1 - level."""

    difference: float
    low: float
    high: float
    p_value: float
    significant: bool


def paired_test(a, b, counts: np.ndarray, flips: np.ndarray, level: float = LEVEL) -> PairedTest:
    """``a`` and ``b``: one metric's per-query values of two cells over the same n queries."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a paired test needs the same queries on both sides, got {a.shape} and {b.shape}")
    d = a - b  # NaN where either leaves the query out (the same queries, as both share the labels)
    counted = ~np.isnan(d)
    if not counted.any():
        return PairedTest(float("nan"), float("nan"), float("nan"), float("nan"), False)
    observed = M.query_mean(a) - M.query_mean(b)
    low, high = bootstrap_interval(d, counts, level)
    flipped = np.abs(flips @ np.where(counted, d, 0.0)) / counted.sum()
    tolerance = 1e-12 * max(1.0, abs(observed))  # a flip that gives the observed sum back counts
    p = (1 + int((flipped >= abs(observed) - tolerance).sum())) / (len(flips) + 1)
    return PairedTest(float(observed), float(low[0]), float(high[0]), p, significant(p, level))


def significant(p_value: float, level: float = LEVEL) -> bool:
    """Whether a test's p-value is below 1 - level (5%)."""
    return p_value < 1 - level


def t_interval(samples, level: float = LEVEL) -> tuple[float, float]:
    """(mean, half-width) over seeds with Student's t, S - 1 degrees of freedom; one seed: (its value, NaN)."""
    s = np.asarray(samples, dtype=np.float64)
    if len(s) < 2:
        return (float(s[0]) if len(s) else float("nan")), float("nan")
    half = stats.t.ppf(1 - (1 - level) / 2, len(s) - 1) * s.std(ddof=1) / np.sqrt(len(s))
    return float(s.mean()), float(half)


# ---------------------------------------------------------------- a section's cells


def query_values(results: Path, cell_id: str) -> tuple[list[tuple[str, int]], np.ndarray]:
    """A cell's per-query values of ``INTERVAL_METRICS`` from its stored ranking (and its bound's):
    (metric, k) names, (n_queries, m) values."""
    ranking = read_ranking(ranking_path(results, cell_id))
    items = read_items(results, ranking.items)
    labels = (items.database_labels, items.query_labels, ranking.ks, ranking.query_in_database)
    rows = per_query(ranking.ids, *labels)
    if ranking.bound_ids is not None:
        rows += [(f"bound_{m}", k, v) for m, k, v in per_query(ranking.bound_ids, *labels)]
    rows = [(m, k, v) for m, k, v in rows if m in INTERVAL_METRICS]
    return [(m, int(k)) for m, k, _ in rows], np.stack([v for _, _, v in rows], axis=1)


def latest_per_seed(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows a report reads: per cell group (``GROUP``) and training seed, those of the cell its
    latest run wrote (another data seed's cell of that seed, written earlier, left out)."""
    if rows.empty:
        return rows
    ids = rows["cell_id"].astype(str)
    cells = rows.assign(cell_id=ids, last_run=rows.groupby(ids)["run_id"].transform("max").astype(str))
    cells = cells.drop_duplicates("cell_id").sort_values(["last_run", "cell_id"], kind="stable")
    kept = set(cells.drop_duplicates(GROUP + ["seed"], keep="last")["cell_id"])
    return rows[ids.isin(kept)]


def generative(method: str) -> bool:
    """Whether the method's description says it generates identifiers (IRGen): the side a paired test takes."""
    load_plugins()
    spec = METHODS.get(method)
    return bool(spec and spec.generative)


class Cache:
    """JSON entries under ``results/rankings/derived/``, keyed by what they were computed from."""

    def __init__(self, results: Path):
        self.folder = folder(results) / "derived"

    def get(self, key: str, compute):
        path = self.folder / f"{key}.json"
        if path.exists():
            try:
                return json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                log.warning("%s cannot be read; computing it again", path)
        value = compute()
        text = json.dumps(value)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))
        return value


@dataclass
class Uncertainty:
    """``intervals``: per cell group and metric@k, value, low, high, kind, n, interval (its kind in
    words); ``tests``: per metric@k, a generative method's best group against the best other one."""

    intervals: pd.DataFrame
    tests: pd.DataFrame


def _label(keys) -> str:
    shown = [keys[c] for c in ("method", "variant", "backend", "setting") if str(keys[c]) != "-"]
    return " ".join(map(str, shown))


@dataclass(frozen=True)
class Candidate:
    """A side a paired test may take: a group's cells (one per seed), its value, whether its method is generative."""

    cell_ids: tuple[str, ...]
    value: float
    generative: bool
    label: str = ""


NO_TEST = {"difference": np.nan, "low": np.nan, "high": np.nan, "p_value": np.nan, "significant": False}


class Section:
    """One section's cells (``latest_per_seed`` of its rows), their ranking files and what is derived from them."""

    def __init__(self, results: Path, rows: pd.DataFrame, resamples: int = RESAMPLES, seed: int = SEED):
        self.results, self.resamples, self.seed = Path(results), resamples, seed
        self.cache = Cache(results)
        self.rows = latest_per_seed(rows)
        self.groups = {tuple(sorted(set(group["cell_id"].astype(str)))): dict(zip(GROUP, keys))
                       for keys, group in self.rows.groupby(GROUP, sort=True, dropna=False)} if len(self.rows) else {}
        self._values: dict[str, tuple] = {}
        self._digests: dict[str, str | None] = {}

    def digest_of(self, cell_id: str) -> str | None:
        """The ranking file's digest, with its items file's (None: no ranking stored)."""
        if cell_id not in self._digests:
            path = ranking_path(self.results, cell_id)
            if not path.exists():
                self._digests[cell_id] = None
            else:
                items = items_path(self.results, ranking_meta(path)["items"])
                self._digests[cell_id] = digest(file_checksum(path), file_checksum(items), VERSION)
        return self._digests[cell_id]

    def values(self, cell_id: str) -> tuple[list[tuple[str, int]], np.ndarray]:
        if cell_id not in self._values:
            self._values[cell_id] = query_values(self.results, cell_id)
        return self._values[cell_id]

    def bootstrap(self, cell_id: str) -> dict:
        """A cell's value and bootstrap interval per metric@k (cached)."""
        def compute():
            names, v = self.values(cell_id)
            low, high = bootstrap_interval(v, resample_counts(len(v), self.resamples, self.seed))
            return {"n": len(v), "rows": [[m, k, M.query_mean(v[:, i]), float(low[i]), float(high[i])]
                                          for i, (m, k) in enumerate(names)]}

        key = digest("bootstrap", self.digest_of(cell_id), self.resamples, self.seed, LEVEL)
        return self.cache.get(key, compute)

    def group(self, cell_ids) -> list[dict]:
        """A group's (its cells, one per seed) value per metric@k with its interval, of kind ``bootstrap``
        over its n queries (one cell), ``t`` over its n seeds (several), ``none`` (one cell, no ranking)."""
        cell_ids = sorted(cell_ids)
        if len(cell_ids) == 1 and self.digest_of(cell_ids[0]) is not None:
            found = self.bootstrap(cell_ids[0])
            return [{"metric": m, "k": k, "value": v, "low": lo, "high": hi, "kind": "bootstrap", "n": found["n"],
                     "cells": cell_ids[0]} for m, k, v, lo, hi in found["rows"]]
        rows = self.rows[self.rows["cell_id"].astype(str).isin(cell_ids) & self.rows["metric"].isin(INTERVAL_METRICS)]
        out = []
        for (m, k), per_seed in rows.groupby(["metric", "k"], sort=True):
            mean, half = t_interval(per_seed["value"].to_numpy())
            out.append({"metric": m, "k": int(k), "value": mean, "low": mean - half, "high": mean + half,
                        "kind": "t" if len(cell_ids) > 1 else "none", "n": len(per_seed), "cells": " ".join(cell_ids)})
        return out

    def intervals(self) -> list[dict]:
        return [{**where, **row, "interval": interval_words(row["kind"], row["n"])}
                for cell_ids, where in self.groups.items() for row in self.group(cell_ids)]

    def best_test(self, candidates: list[Candidate], metric: str, k: int) -> dict | None:
        """The paired test of the best generative candidate against the best other one (the first of
        equals) over the same queries: ``PairedTest``'s fields, ``note``, and the two candidates as ``a``
        and ``b``; None where a side has no candidate."""
        sides = [[c for c in candidates if c.generative == g and np.isfinite(c.value)] for g in (True, False)]
        if not all(sides):
            return None
        a, b = (max(side, key=lambda c: c.value) for side in sides)
        return {"a": a, "b": b, **self.paired(list(a.cell_ids), list(b.cell_ids), metric, k)}

    def tests(self, intervals: pd.DataFrame) -> list[dict]:
        """Per metric@k (the bound's left out), the section's best generative group against its best other group."""
        out = []
        if intervals.empty:
            return out
        for (m, k), column in intervals.dropna(subset=["value"]).groupby(["metric", "k"], sort=True):
            candidates = [Candidate(tuple(r["cells"].split()), r["value"], generative(r["method"]), _label(r))
                          for _, r in column.iterrows()]
            found = None if m.startswith("bound_") else self.best_test(candidates, m, int(k))
            if found:
                a, b = found.pop("a"), found.pop("b")
                out.append({"metric": m, "k": int(k), "irgen": a.label, "irgen_value": a.value,
                            "baseline": b.label, "baseline_value": b.value, **found})
        return out

    def paired(self, a: list[str], b: list[str], metric: str, k: int) -> dict:
        """Two groups (their cells, one per seed) compared on metric@k over the same queries (cached)."""
        digests = [self.digest_of(c) for c in a + b]
        if None in digests:
            return {**NO_TEST, "note": "no ranking stored"}

        def compute():
            va, vb = self._group_values(a, metric, k), self._group_values(b, metric, k)
            if va is None or vb is None or va.shape != vb.shape:
                return {**dict.fromkeys(NO_TEST), "significant": False, "note": "not the same queries"}
            t = paired_test(va, vb, resample_counts(len(va), self.resamples, self.seed),
                            sign_flips(len(va), self.resamples, self.seed + 1))
            return {**t.__dict__, "note": f"paired over {len(va)} queries"}

        key = digest("paired", digests[:len(a)], digests[len(a):], metric, k, self.resamples, self.seed, LEVEL)
        found = self.cache.get(key, compute)
        return {name: (np.nan if value is None else value) for name, value in found.items()}

    def _group_values(self, cell_ids: list[str], metric: str, k: int) -> np.ndarray | None:
        """A group's per-query values of metric@k: its one cell's, or the mean over its seeds' cells
        (None where they did not answer the same queries: another data seed's draw)."""
        if len({ranking_meta(ranking_path(self.results, c))["items"] for c in cell_ids}) > 1:
            return None
        columns = []
        for cell_id in cell_ids:
            names, v = self.values(cell_id)
            columns.append(v[:, names.index((metric, k))])
        return columns[0] if len(columns) == 1 else np.mean(columns, axis=0)


def section_uncertainty(results: Path, rows: pd.DataFrame, resamples: int = RESAMPLES,
                        seed: int = SEED) -> Uncertainty:
    """Intervals and paired tests of one section's results ``rows`` (module doc)."""
    section = Section(results, rows, resamples, seed)
    intervals = pd.DataFrame(section.intervals())
    return Uncertainty(intervals, pd.DataFrame(section.tests(intervals)))


def all_sections(results: Path, sections: list[Section] | None = None) -> Uncertainty:
    """The intervals and section-wide tests of every section, stacked (tests name their section):
    of ``sections`` (those a report has read already), else of every section of the results table."""
    if sections is None:
        rows = ResultStore(results).load().dropna(subset=["value"])
        sections = [Section(results, s) for _, s in rows.groupby(SECTION, sort=True)] if not rows.empty else []
    intervals, tests = [], []
    for section in sections:
        found = pd.DataFrame(section.intervals())
        intervals.append(found)
        tested = pd.DataFrame(section.tests(found))
        if not tested.empty:
            tests.append(tested.assign(**{c: section.rows[c].iloc[0] for c in SECTION}))
    return Uncertainty(pd.concat(intervals, ignore_index=True) if intervals else pd.DataFrame(),
                       pd.concat(tests, ignore_index=True) if tests else pd.DataFrame())


def interval_table(intervals: pd.DataFrame, metric: str = "precision", label: str = "P") -> str:
    """One line per cell group: ``metric``@k with its 95% interval at every k, and the interval's kind."""
    rows = intervals[intervals["metric"] == metric] if not intervals.empty else intervals
    if rows.empty:
        return "(no intervals)"
    lines = []
    for keys, group in rows.groupby(["method", "variant", "backend", "setting", "model"], sort=False):
        line = dict(zip(["method", "variant", "backend", "setting"], keys[:4]))
        for k, v, lo, hi in zip(group["k"], group["value"], group["low"], group["high"]):
            line[f"{label}@{k}"] = f"{v:.4f} [{lo:.4f}, {hi:.4f}]" if np.isfinite(lo) else f"{v:.4f}"
        line["95% interval"] = group["interval"].iloc[0]
        lines.append(line)
    table = pd.DataFrame(lines)
    shown = [c for c in ("variant", "backend") if table[c].nunique() > 1]
    return table[["method", *shown, "setting", *[c for c in table.columns if "@" in c], "95% interval"]].to_string(
        index=False)


def write_intervals(results: Path, reports: Path, sections: list[Section] | None = None) -> list[Path]:
    """``reports/intervals.csv`` and ``reports/paired_tests.csv`` for every section (``all_sections``;
    none without results)."""
    found = all_sections(results, sections)
    written = []
    for name, table in (("intervals.csv", found.intervals), ("paired_tests.csv", found.tests)):
        path = Path(reports) / name
        if table.empty:
            path.unlink(missing_ok=True)
            continue
        atomic_write(path, lambda tmp, t=table: t.to_csv(tmp, index=False, lineterminator="\n"))
        written.append(path)
    return written
