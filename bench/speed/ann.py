"""A search backend measured as ann-benchmarks measures one: built once, then searched at
every point of its query grid; at each point its recall@k against the exact linear scan
and its queries per second, a whole batch per call (``qps_batch``, the median of the timer's
repeats) and one query per call (``qps_single``). Pure functions of arrays and backends,
shared by ``bench.sweep`` and ``bench.scaling``. Each row carries the index's build seconds and
where they were measured (``build_timing``: ``measured``, or ``cached from run <id>`` for an
index the index cache held, ``methods.backends.index_cache``)."""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from methods.backends import BackendUnavailable, cached_build, make_backend
from methods.runtime.timing import Timer

log = logging.getLogger(__name__)


def exact_neighbours(X: np.ndarray, Q: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Ground-truth ids from the linear scan (it streams over database blocks: bounded memory)."""
    linear = make_backend("linear", metric=metric)
    linear.build(X)
    return linear.search(Q, k)[0]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true k nearest neighbours among the ids found."""
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth)]))


def measure(backend, Q: np.ndarray, k: int, truth: np.ndarray, timer: Timer, single: int) -> dict:
    """Recall and queries per second at the backend's current query parameters. The backend's
    own clock counts (a worker-process backend leaves the hand-over out)."""
    found = {}

    def batch(watch):
        found["ids"], _ = backend.search(Q, k)
        watch.add("search", backend.last_search_s)

    def one_at_a_time(watch):
        for q in Q[:single]:
            backend.search(q[None, :], k)
            watch.add("search", backend.last_search_s)

    batch_s = timer.profile(batch)["search"]
    n_single = min(single, len(Q))
    single_s = Timer(repeats=1, warmup=0).profile(one_at_a_time)["search"] if n_single else 0.0
    return {"recall": recall_at_k(found["ids"], truth), "qps_batch": len(Q) / max(batch_s, 1e-12),
            "qps_single": n_single / single_s if n_single and single_s > 0 else float("nan"),
            "single_queries": n_single}


def grid_rows(backend, Q: np.ndarray, k: int, truth: np.ndarray, timer: Timer, single: int,
              progress: bool = True, seconds: float = math.inf, points: int | None = None) -> list[dict]:
    """One row per point of a built backend's query grid: recall, QPS and the index's stats.
    Points reached after ``seconds`` of sweeping (the first one aside) are left out (logged);
    ``points``: the grid's first ``points`` only (a grid goes from its cheapest point up)."""
    built = backend.stats()
    stats = {**{name: float(v) for name, v in built.items()}, "build_timing": built["build_s"].source}
    grid, rows = backend.query_grid(), []
    if points is not None and points < len(grid):
        log.info("%s: the first %d of %d grid points (--max-points)", backend.name, points, len(grid))
        grid = grid[:points]
    start = time.perf_counter()
    for point in tqdm(grid, desc=backend.name, disable=not progress, leave=False):
        if rows and time.perf_counter() - start > seconds:  # the first point is always measured
            log.warning("%s: sweep stopped after %d of %d grid points (%.0f s budget)", backend.name, len(rows),
                        len(grid), seconds)
            break
        backend.set_query_params(**point)
        rows.append({"backend": backend.name, "build_params": json.dumps(backend.built_with(), sort_keys=True),
                     "params": json.dumps(point, sort_keys=True), **measure(backend, Q, k, truth, timer, single),
                     **stats})
    return rows


def attempt(what: str, work):
    """(work(), "") or (None, why it could not run): ``unavailable: ...`` for a backend this machine
    lacks or cannot run, ``failed: <error>: <first line>`` for one that broke (e.g. a worker process
    that died). The one rule by which a tool measuring several backends goes on without one."""
    try:
        return work(), ""
    except BackendUnavailable as err:
        return None, f"unavailable: {err}"
    except (RuntimeError, MemoryError) as err:
        log.exception("%s failed", what)
        return None, f"failed: {type(err).__name__}: {(str(err).splitlines() or [''])[0]}"


def sweep_backend(name: str, X: np.ndarray, Q: np.ndarray, truth: np.ndarray, k: int, metric: str,
                  build_params: dict, timer: Timer, single: int, index_cache: Path, run_id: str,
                  progress: bool = True, points: int | None = None) -> tuple[list[dict], str]:
    """(grid rows of backend ``name`` over X, "") or ([], why it could not run here: ``attempt``). The
    index is the one ``index_cache`` holds for X and these build parameters, else built (in run
    ``run_id``) and saved there: a later sweep re-times the searches alone. ``points``: as ``grid_rows``."""
    def build_and_sweep() -> list[dict]:
        backend = make_backend(name, metric=metric, **build_params)
        try:
            log.info("%s: index over %d x %d (from the index cache, or built)", name, *X.shape)
            cached_build(backend, X, index_cache, run_id)
            stats = backend.stats()
            log.info("%s: build %.1f s (%s), %.1f MB memory, %.1f MB disk", name, stats["build_s"],
                     stats["build_s"].source, stats["memory_bytes"] / 1e6, stats["disk_bytes"] / 1e6)
            return grid_rows(backend, Q, k, truth, timer, single, progress, points=points)
        finally:
            backend.close()

    rows, why = attempt(name, build_and_sweep)
    return rows or [], why
