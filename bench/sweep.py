"""Recall-versus-speed sweep of the search backends (ann-benchmarks style).

    python -m bench.sweep --synthetic 100000 --dim 128 --backends linear,ivfpq,scann,spann --k 10
    python -m bench.sweep --features feats.npz --backends faiss-flat,ivfpq --metric cosine
    python -m bench.sweep --method effnet --dataset embedded --limit 5000 --backends ivfpq,scann,spann

Each backend is built once, then searched at every point of its ``query_grid()``.
Per point: recall@k against the exact linear scan, batch QPS (all queries in one
call, the library using its own threads), single-query QPS (one query per call over
the first ``--single`` queries), build seconds and index memory / disk bytes. Search
seconds are the backend's ``last_search_s`` (for SPANN: measured inside its worker).
Rows go to ``results/sweeps.csv`` (a re-run replaces its own rows) and one Pareto plot
per dataset, recall against log QPS, to ``reports/pareto-<name>.png``.

``--method M --dataset D``: the feature model's database and query features for the
dataset, as ``python -m bench.run`` computes and caches them (the model trained or
reused from the cache), with the model's own metric; the plot is ``pareto-<dataset>-M.png``.
``--skip-done`` keeps the rows already stored for the same name, metric, k and backends
and only redraws the plot (the grid uses it, so that a re-run measures nothing).

Features file: an .npz with ``database`` and ``queries`` arrays, or with one array
(``features`` or the only one), from which ``--queries`` seeded rows become the
queries and leave the database.

OpenMP threads wait passively here (``OMP_WAIT_POLICY=PASSIVE`` unless set): torch,
faiss and SPTAG each run their own OpenMP pool, and a pool left spinning after one
library's search stole the cores from the next one (faiss single-query QPS fell
20-fold after a torch scan on 2 cores). The value is recorded in every row.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / faiss load OpenMP

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from methods.backends import BACKENDS, BackendUnavailable, make_backend  # noqa: E402
from methods.cache import atomic_write  # noqa: E402
from methods.base import HarnessError  # noqa: E402
from datasets import DatasetError  # noqa: E402

from . import plots  # noqa: E402

log = logging.getLogger("bench.sweep")

ROW_KEY = ["dataset", "metric", "k", "backend", "build_params", "params"]
TRUTH_BATCH_BYTES = 1 << 28  # distance-matrix budget of the linear scan (256 MB)


# -- data ----------------------------------------------------------------------------


def synthetic(n: int, dim: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Database and queries drawn around the same ~sqrt(n) Gaussian centres, so the data
    has the cluster structure real embeddings have (uniform noise has no neighbours)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(8, int(np.sqrt(n))), dim)).astype(np.float32) * 2

    def draw(m: int) -> np.ndarray:
        out = np.empty((m, dim), np.float32)
        for start in range(0, m, 100_000):  # bounded temporaries at 1M x 128
            stop = min(m, start + 100_000)
            out[start:stop] = centres[rng.integers(0, len(centres), stop - start)]
            out[start:stop] += rng.standard_normal((stop - start, dim), dtype=np.float32)
        return out

    return draw(n), draw(n_queries)


def load_features(path: Path, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        if {"database", "queries"} <= set(z.files):
            return z["database"].astype(np.float32), z["queries"].astype(np.float32)
        name = "features" if "features" in z.files else z.files[0]
        if len(z.files) > 1 and name != "features":
            raise SystemExit(f"{path}: give arrays 'database' and 'queries', or one array 'features' "
                             f"(found {', '.join(z.files)})")
        X = z[name].astype(np.float32)
    pick = np.random.default_rng(seed).permutation(len(X))
    return X[pick[n_queries:]], X[pick[:n_queries]]


# -- measuring -----------------------------------------------------------------------


def exact_neighbours(X: np.ndarray, Q: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Ground-truth ids from the linear scan, in query batches that bound its memory."""
    linear = make_backend("linear", metric=metric, chunk=linear_chunk(len(X)))
    linear.build(X)
    return linear.search(Q, k)[0]


def linear_chunk(n: int) -> int:
    """Queries per matrix product of the linear scan, so (chunk x n) floats fit the budget."""
    return max(1, TRUTH_BATCH_BYTES // (4 * n))


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth)]))


def measure(backend, Q: np.ndarray, k: int, truth: np.ndarray, single: int, runs: int = 3) -> dict:
    """Recall and QPS at the backend's current query parameters; the batch time is the
    best of ``runs`` (the first run doubles as warm-up)."""
    batch_s = np.inf
    for _ in range(max(1, runs)):
        ids, _ = backend.search(Q, k)
        batch_s = min(batch_s, backend.last_search_s)
    single_s = 0.0
    for q in Q[:single]:
        backend.search(q[None, :], k)
        single_s += backend.last_search_s
    n_single = min(single, len(Q))
    return {"recall": recall_at_k(ids, truth), "qps_batch": len(Q) / max(batch_s, 1e-12),
            "qps_single": n_single / single_s if n_single and single_s > 0 else float("nan"),
            "single_queries": n_single}


def backend_for(name: str, n: int, metric: str, build_params: dict):
    """The backend to measure over n vectors; the linear scan's query chunks bounded in memory.
    Raises BackendUnavailable where the library is missing."""
    memory_bound = {"chunk": linear_chunk(n)} if name == "linear" else {}
    return make_backend(name, metric=metric, **memory_bound, **build_params)


def grid_rows(backend, build_params: dict, Q, k: int, truth, single: int, runs: int = 3, progress: bool = True,
              seconds: float = math.inf) -> list[dict]:
    """One row per point of a built backend's query grid: recall, QPS and the index's stats.
    Points reached after ``seconds`` of sweeping (the first one aside) are left out (logged)."""
    stats, grid, rows = backend.stats(), backend.query_grid(), []
    start = time.perf_counter()
    for point in tqdm(grid, desc=backend.name, disable=not progress, leave=False):
        if rows and time.perf_counter() - start > seconds:  # the first point is always measured
            log.warning("%s: sweep stopped after %d of %d grid points (%.0f s budget)", backend.name, len(rows),
                        len(grid), seconds)
            break
        backend.set_query_params(**point)
        rows.append({"backend": backend.name, "build_params": json.dumps(build_params, sort_keys=True),
                     "params": json.dumps(point, sort_keys=True),
                     **measure(backend, Q, k, truth, single, runs), **stats})
    return rows


def sweep_backend(name: str, X, Q, truth, k: int, metric: str, single: int, build_params: dict,
                  runs: int = 3, progress: bool = True) -> list[dict]:
    try:
        backend = backend_for(name, len(X), metric, build_params)
    except BackendUnavailable as err:
        log.warning("skipping %s: %s", name, err)
        return []
    try:
        log.info("%s: building over %d x %d", name, *X.shape)
        backend.build(X)
        stats = backend.stats()
        log.info("%s: built in %.1f s, %.1f MB memory, %.1f MB disk", name, stats["build_s"],
                 stats["memory_bytes"] / 1e6, stats["disk_bytes"] / 1e6)
        return grid_rows(backend, build_params, Q, k, truth, single, runs, progress)
    finally:
        backend.close()


def label_rows(rows: list[dict], dataset: str, metric: str, k: int, n: int, dim: int, n_queries: int) -> pd.DataFrame:
    """Sweep rows as a table, with the dataset and the conditions they were measured under."""
    table = pd.DataFrame(rows)
    if len(table):
        table.insert(0, "dataset", dataset)
        table.insert(1, "metric", metric)
        table.insert(2, "k", k)
        for column, value in (("n", n), ("dim", dim), ("n_queries", n_queries), ("threads", os.cpu_count()),
                              ("omp_wait_policy", os.environ.get("OMP_WAIT_POLICY"))):
            table[column] = value
    return table


def sweep_dataset(dataset: str, X: np.ndarray, Q: np.ndarray, backends: list[str], k: int = 10,
                  metric: str = "l2", single: int = 100, build_params: dict | None = None, runs: int = 3,
                  progress: bool = True) -> pd.DataFrame:
    """Sweep every backend over one dataset; a DataFrame with one row per grid point."""
    build_params = build_params or {}
    log.info("%s: %d database x %d queries, %d-d, exact top-%d from the linear scan", dataset, len(X), len(Q),
             X.shape[1], k)
    truth = exact_neighbours(X, Q, k, metric)
    rows = []
    for name in backends:
        rows += sweep_backend(name, X, Q, truth, k, metric, single, build_params.get(name, {}), runs, progress)
    return label_rows(rows, dataset, metric, k, len(X), X.shape[1], len(Q))


# -- writing -------------------------------------------------------------------------


def load_rows(path: Path) -> pd.DataFrame:
    """The stored sweep rows (empty, with the key columns, when there are none)."""
    if not path.exists():
        return pd.DataFrame(columns=ROW_KEY)
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def save_rows(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Merge into the CSV at ``path``, replacing earlier rows with the same key."""
    if path.exists():
        old = load_rows(path)
        old = old[~old.set_index(ROW_KEY).index.isin(table.set_index(ROW_KEY).index)]
        table = pd.concat([old, table], ignore_index=True)
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return table


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """The points no other point beats on both recall and QPS, by increasing recall."""
    ordered = points.sort_values(["recall", "qps_batch"], ascending=[False, False])
    keep, best_qps = [], -np.inf
    for index, row in ordered.iterrows():
        if row["qps_batch"] > best_qps:
            keep.append(index)
            best_qps = row["qps_batch"]
    return points.loc[keep].sort_values("recall")


@plots.styled
def plot_pareto(table: pd.DataFrame, dataset: str, path: Path):
    """Recall against queries per second, one colour and marker per backend (as in every figure):
    each backend's Pareto front as a line over all its settings as faint points."""
    fig, ax = plots.plt.subplots(figsize=(7, 5))
    for name, points in table.groupby("backend", sort=False):
        marker, linestyle = plots.BACKEND_MARKS.get(name, ("P", "-"))
        color = plots.backend_color(name)
        front = pareto_front(points)
        ax.plot(front["recall"], front["qps_batch"], marker=marker, linestyle=linestyle, color=color, label=name)
        ax.scatter(points["recall"], points["qps_batch"], s=10, alpha=0.35, color=color)
    first = table.iloc[0]
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{first['k']} (vs exact linear scan)")
    ax.set_ylabel(f"queries per second (batch, {first['threads']} threads; log)")
    ax.set_title(f"{dataset}: {first['n']:,} x {first['dim']}-d, {first['metric']}")
    ax.grid(True, which="both", alpha=0.3)
    plots.legend_outside(ax)
    return fig, path


# -- command line --------------------------------------------------------------------


def dataset_features(args) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Database and query features of ``args.method`` on ``args.dataset``, its metric, and the
    dataset's name (``embedded`` resolved to the set it stands for)."""
    from datasets import load_dataset
    from methods.base import RunContext
    from methods.features.cache import cached_features
    from methods.registry import MethodOptions, make_method

    ds = load_dataset(args.dataset, root=args.data_root, limit=args.limit, seed=args.seed)
    from methods.config import parse_sets

    method = make_method(args.method, MethodOptions(backend="linear", overrides=parse_sets(args.sets)))
    if not hasattr(method, "model"):
        raise HarnessError(f"--method {args.method}: not a feature model (IRGen has no vectors to index)")
    ctx = RunContext(device=args.device, seed=args.seed, cache_dir=args.cache, weights_dir=args.weights,
                     progress=not args.no_progress)
    method.fit(ds, ctx)
    X, _ = cached_features(method.model, ds.database, ctx)
    Q, _ = cached_features(method.model, ds.query, ctx)
    return X, Q[:args.queries], method.model.metric, ds.name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--features", type=Path, help=".npz of vectors (see module doc)")
    src.add_argument("--synthetic", type=int, metavar="N", help="N clustered Gaussian vectors")
    src.add_argument("--method", help="a feature model: sweep its features of --dataset")
    p.add_argument("--dataset", default="embedded", help="with --method: the dataset (as bench.run)")
    p.add_argument("--limit", type=int, help="with --method: at most N images per split (seeded)")
    p.add_argument("--data-root", type=Path)
    p.add_argument("--weights", type=Path)
    p.add_argument("--cache", type=Path, default=Path("cache"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="with --method: override a model config value, as bench.run")
    p.add_argument("--skip-done", action="store_true", help="keep stored rows of this sweep, only redraw")
    p.add_argument("--dim", type=int, default=128, help="dimensionality of --synthetic data")
    p.add_argument("--queries", type=int, default=1000, help="number of queries")
    p.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated, from {', '.join(BACKENDS)}")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--metric", default="l2", choices=["l2", "cosine"])
    p.add_argument("--single", type=int, default=100, help="queries timed one at a time (0: skip)")
    p.add_argument("--runs", type=int, default=3, help="batch searches per point, the fastest counts")
    p.add_argument("--build", default="{}", help='build parameters per backend, JSON: {"ivfpq": {"nlist": 300}}')
    p.add_argument("--name", help="dataset name for rows and plot (default: from the source)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        print(f"error: unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}", file=sys.stderr)
        return 2
    try:
        build_params = json.loads(args.build)
    except json.JSONDecodeError as err:
        print(f"error: --build is not JSON ({err}); e.g. '{{\"ivfpq\": {{\"nlist\": 300}}}}'", file=sys.stderr)
        return 2
    if args.method is not None:
        try:
            X, Q, metric, dataset = dataset_features(args)
        except (HarnessError, DatasetError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        args.metric = metric
        name = args.name or f"{dataset}-{args.method}"
        stored = load_rows(args.results / "sweeps.csv")
        done = stored[(stored["dataset"] == name) & (stored["metric"] == args.metric) & (stored["k"] == args.k)]
        if args.skip_done and set(backends) <= set(done["backend"]):
            plot = plot_pareto(done, name, args.reports / f"pareto-{name}.png")
            print(f"{name}: sweep rows already stored for {', '.join(backends)}; plot redrawn: {plot}")
            return 0
    elif args.features is not None:
        X, Q = load_features(args.features, args.queries, args.seed)
        name = args.name or args.features.stem
    else:
        X, Q = synthetic(args.synthetic, args.dim, args.queries, args.seed)
        name = args.name or f"synthetic-{args.synthetic}x{args.dim}"
    table = sweep_dataset(name, X, Q, backends, args.k, args.metric, args.single, build_params, args.runs,
                          progress=not args.no_progress)
    if table.empty:
        print("error: no backend could run (see the warnings above)", file=sys.stderr)
        return 1
    everything = save_rows(table, args.results / "sweeps.csv")
    mine = everything[(everything["dataset"] == name) & (everything["metric"] == args.metric)
                      & (everything["k"] == args.k)]
    plot = plot_pareto(mine, name, args.reports / f"pareto-{name}.png")
    columns = ["backend", "params", "recall", "qps_batch", "qps_single", "build_s", "memory_bytes", "disk_bytes"]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nrows: {args.results / 'sweeps.csv'}\nplot: {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
