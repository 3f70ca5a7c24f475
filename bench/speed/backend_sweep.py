"""Each search backend's recall against queries per second over its query grid, on one set
of vectors: a feature method's features of a dataset (through ``Method.vectors``), seeded
class-structured synthetic vectors (``datasets.synthetic``), or an .npz file. The rows go to
``results/sweeps.csv`` (one per backend x build parameters x query point); the report draws
each set's recall-QPS plane with every backend's Pareto front (``reports/pareto-<set>.png``)
and the backends table. A backend already swept on the same set with the build parameters
given is not measured again unless ``--force``. Each backend's index comes from the index cache
(``<--cache>/indexes``, the one ``bench.run`` uses) when it holds one for these vectors and build
parameters, else it is built and saved there; so ``--force`` on a set swept before re-times the
searches alone, and its rows' ``build_timing`` names the run whose build they report."""
from __future__ import annotations

import inspect
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bench.cli import check_device, context_from, dataset_from, method_from
from bench.results import SWEEP_SET, ResultStore, sweeps_table
from bench.results.store import SWEEP_COLUMNS
from bench.results.manifest import git_version, hardware, new_run_id, package_versions
from datasets.synthetic import synthetic_features
from methods.backends import KINDS, backend_class
from methods.base import HarnessError
from methods.runtime.timing import Timer, threads

from .ann import exact_neighbours, sweep_backend

log = logging.getLogger(__name__)


def set_rows(rows: list[dict], dataset: str, metric: str, recall_at: int, n: int, dim: int, n_queries: int,
             run_id: str) -> pd.DataFrame:
    """Grid rows labelled with the set and the conditions they were measured under."""
    labels = {"dataset": dataset, "n": n, "dim": dim, "n_queries": n_queries, "metric": metric, "recall_at": recall_at,
              "threads": threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "run_id": run_id}
    return pd.DataFrame([{**labels, **row} for row in rows], columns=SWEEP_COLUMNS)


def stored(table: pd.DataFrame, dataset: str, n: int, dim: int, n_queries: int, metric: str,
           recall_at: int) -> pd.DataFrame:
    """The rows of one set in the sweeps table."""
    if table.empty:
        return table
    same = ((table["dataset"] == dataset) & (table["n"] == n) & (table["dim"] == dim)
            & (table["n_queries"] == n_queries) & (table["metric"] == metric) & (table["recall_at"] == recall_at))
    return table[same]


def swept(rows: pd.DataFrame, backend: str, given: dict) -> bool:
    """Whether ``rows`` hold a sweep of ``backend`` built with the ``given`` build parameters and
    its defaults for the others. Rows record them as built: a default the build resolves from
    the data (None in the signature) matches any value, one the build left out matches too."""
    wanted = {**build_defaults(backend), **given}
    mine = rows[rows["backend"] == backend] if len(rows) else rows
    for built in map(json.loads, set(mine["build_params"])):
        if all(value is None or built.get(key, value) == value for key, value in wanted.items()):
            return True
    return False


def backend_of(entry: str) -> tuple[str, dict]:
    """(backend, the build parameter its kind implies) of an entry of ``--backends``: a backend's
    name, or a kind of index (``KINDS``: ``diskann-disk`` is diskann with disk=True)."""
    if entry in KINDS:
        backend, key, value = KINDS[entry]
        return backend, {key: value}
    return entry, {}


def build_defaults(backend: str) -> dict:
    """The build parameters' defaults in ``backend``'s signature (metric and device aside)."""
    parameters = inspect.signature(backend_class(backend).__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.name not in ("self", "metric", "device")
            and p.default is not inspect.Parameter.empty}


def vectors(args) -> tuple[str, np.ndarray, np.ndarray, str]:
    """(set name, database vectors, query vectors, metric) of the source the flags name."""
    if args.features is not None:
        X, Q = load_features(args.features, args.queries, args.seed)
        return args.name or args.features.stem, X, Q, args.metric
    if args.synthetic is not None:
        X, _ = synthetic_features(args.synthetic, args.dim, seed=args.seed, split="database")
        Q, _ = synthetic_features(args.queries, args.dim, seed=args.seed, split="query")
        return args.name or f"synthetic-{args.synthetic}x{args.dim}", X, Q, args.metric
    check_device(args.device)
    ds = dataset_from(args)
    method = method_from(args)
    ctx = context_from(args)
    method.fit(ds, ctx)
    X, metric = method.vectors(ds.database, ctx)
    Q, _ = method.vectors(ds.query, ctx)
    pick = np.sort(np.random.default_rng(args.seed).permutation(len(Q))[:args.queries])
    name = args.name or f"{ds.name}-{method.name}" + (f"-limit{args.limit}" if args.limit else "")
    return name, X.astype(np.float32), Q[pick].astype(np.float32), metric


def load_features(path: Path, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An .npz with arrays ``database`` and ``queries``, or one array (``features``) whose seeded
    ``n_queries`` rows become the queries and the rest the database."""
    if not path.is_file():
        raise HarnessError(f"--features {path}: file not found")
    with np.load(path, allow_pickle=False) as z:
        if {"database", "queries"} <= set(z.files):
            return z["database"].astype(np.float32), z["queries"].astype(np.float32)
        if len(z.files) != 1 and "features" not in z.files:
            raise HarnessError(f"--features {path}: give arrays 'database' and 'queries', or one array 'features' "
                               f"(found {', '.join(z.files)})")
        X = z["features" if "features" in z.files else z.files[0]].astype(np.float32)
    pick = np.random.default_rng(seed).permutation(len(X))
    return X[pick[n_queries:]], X[pick[:n_queries]]


def run(args) -> tuple[pd.DataFrame, dict[str, str]]:
    """Sweep every backend of ``args.backends`` on the source's vectors: the set's rows, and the
    backends skipped with why (unavailable here, or failed: ``ann.attempt``); the others go on."""
    name, X, Q, metric = vectors(args)
    table = sweeps_table(args.results)
    labels = (name, len(X), X.shape[1], len(Q), metric, args.recall_at)
    have = stored(table.load(), *labels)
    todo = [b for b in args.backends if args.force or not swept(have, backend_of(b)[0], args.build_params[b])]
    log.info("%s: %d database x %d queries, %d-d; %s", name, len(X), len(Q), X.shape[1],
             f"sweeping {', '.join(todo)}" if todo else "every backend already swept (--force measures again)")
    skipped: dict[str, str] = {}
    if todo:
        run_id = new_run_id()
        manifest = {
            "run_id": run_id, "kind": "sweep", "set": dict(zip(SWEEP_SET, labels)), "backends": todo,
            "build_params": args.build_params, "repeats": args.repeats, "warmup": args.warmup, "single": args.single,
            "max_points": args.max_points,
            "code": git_version(), "packages": package_versions(), "hardware": hardware(args.device)}
        ResultStore(args.results).write_manifest(run_id, manifest)
        truth = exact_neighbours(X, Q, args.recall_at, metric)
        timer = Timer(args.repeats, args.warmup)
        for entry in todo:
            rows, why = sweep_backend(backend_of(entry)[0], X, Q, truth, args.recall_at, metric,
                                      args.build_params[entry], timer, args.single, args.cache / "indexes", run_id,
                                      progress=not args.no_progress, points=args.max_points)
            if rows:
                table.merge(set_rows(rows, name, metric, args.recall_at, len(X), X.shape[1], len(Q), run_id),
                            on=SWEEP_SET + ["backend", "build_params"])
            else:
                log.warning("skipping %s: %s", entry, why)
                skipped[entry] = why
        if skipped:
            ResultStore(args.results).write_manifest(run_id, {**manifest, "skipped": skipped})
    return stored(table.load(), *labels), skipped


def per_backend_params(pairs: list[str]) -> dict[str, dict]:
    """``["ivfpq.nlist=300"]`` -> {"ivfpq": {"nlist": 300}}: a sweep builds several backends."""
    from bench.cli import backend_params

    out: dict[str, dict] = {}
    for pair in pairs:
        backend, dot, rest = pair.partition(".")
        if not dot or "=" not in rest:
            raise HarnessError(f"--backend-param {pair!r}: with several backends name the one it is for, "
                               f"e.g. ivfpq.nlist=300")
        out.setdefault(backend, {}).update(backend_params([rest]))
    return out


def summary(rows: pd.DataFrame) -> str:
    columns = ["backend", "params", "recall", "qps_batch", "qps_single", "build_s", "memory_bytes", "disk_bytes"]
    return rows[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}") if len(rows) else "(no rows)"
