"""How IRGen's parts and each search backend scale with the database size, on seeded,
class-structured synthetic features (``datasets.synthetic``: 1,000 classes, 128-d). The
command is ``python -m bench.scaling``.

Per database size n, one component at a time (each written when it finishes):

* ``identifiers``: IRGen's residual-quantization tokenizer (M = 4 codebooks of L = 256,
  fitted by k-means on the first min(n, 100 L) rows: ``fit_s``) assigning all n
  identifiers, 65,536 rows at a time (``assign_s``).
* ``prefix_tree``: ``PrefixTree.build`` over those identifiers (``build_s``) and the
  bytes its arrays serialise to (``index_bytes``, as a backend's saved index is measured).
* ``beam10`` / ``beam30``: constrained beam search over that tree by a randomly
  initialised decoder (``DecoderConfig`` defaults, 50 random memory tokens a query), in
  batches of ``--beam-batch`` queries: ``search_ms`` per query, the median whole-batch time.
* each backend: ``build_s``, ``index_bytes`` (the backend's ``stats()``: its saved index
  less what it reads from disk) and ``disk_bytes``, then its query grid swept as ``bench.sweep`` does (recall@10
  against the exact linear scan over ``--queries`` queries; every point goes to
  ``results/sweeps.csv``, set ``synthetic-classes-<n>x<dim>``); the scaling rows keep the fastest point reaching ``--target`` recall, or
  the most accurate one when none does: ``search_ms`` (batch: all queries in one call),
  ``search_ms_single`` (one query per call), ``recall``, the point's parameters in ``note``.

Memory, ``peak_rss_bytes``: the rise of this process's peak resident set (VmHWM, reset
before the step) over its resident set before it: what the step allocated at its peak,
inputs not counted. A backend that builds in a worker process (SPANN): the worker's peak.

Rows: ``<results>/scaling/scaling.csv``, one per (n, component, measure), with the unit,
the CPU and the run id (its manifest: ``<results>/manifests/<run_id>.json``). A
re-run skips finished components unless ``--force``. A component whose time, projected
from the smaller sizes already measured, exceeds ``--max-seconds`` is recorded as
``skipped`` with the projection (a backend that is unavailable or fails, with its error),
and is tried again by the next run.
"""
from __future__ import annotations

import ctypes
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from bench.results import SCALING_COMPONENT, SWEEP_SET, KeyedTable, ResultStore, scaling_table, sweeps_table
from bench.results.manifest import git_version, hardware, new_run_id, package_versions
from datasets.synthetic import synthetic_features
from methods.backends import make_backend
from methods.irgen.beam_search import beam_search
from methods.irgen.decoder import Decoder, DecoderConfig
from methods.irgen.identifiers import IdentifierSpec, Items, make_identifiers
from methods.irgen.method import tree_bytes
from methods.irgen.prefix_tree import PrefixTree
from methods.irgen.tokenizer import ResidualQuantizer
from methods.runtime.timing import Timer

from ..pareto import operating_point
from .ann import attempt, exact_neighbours, grid_rows
from .backend_sweep import set_rows

log = logging.getLogger("bench.scaling")

CODE_LEVELS, CODEBOOK = 4, 256  # M, L: the paper's identifiers
FIT_ROWS_PER_CODE = 100  # k-means sample: 100 rows per centroid
FIT_ITERS = 10
ASSIGN_CHUNK = 1 << 16
MEMORY_TOKENS = 50  # encoder tokens per query (7 x 7 + cls)
BEAMS = (10, 30)
K = 10
METRIC = "l2"
SCALING_CSV = Path("scaling") / "scaling.csv"


# -- memory -----------------------------------------------------------------------------


def _status_kib(field_name: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


LIBC = _libc()


@contextmanager
def peak_rss():
    """``with peak_rss() as peak: ...`` then ``peak["bytes"]``: the rise of this process's
    peak RSS over its RSS at the start (Linux: VmHWM reset through /proc/self/clear_refs)."""
    result = {"bytes": float("nan")}
    if LIBC is not None:
        # glibc keeps freed memory resident for reuse; handed back, a step's own allocations
        # show in its peak instead of hiding in memory an earlier step freed
        LIBC.malloc_trim(0)
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kib("VmRSS")
    except (OSError, KeyError):
        before = None  # not Linux, or not allowed: leave it NaN
    yield result
    if before is not None:
        result["bytes"] = 1024.0 * (_status_kib("VmHWM") - before)


# -- the data of one size -----------------------------------------------------------------


@dataclass
class Workload:
    """One database size's inputs, made when first asked for and kept for its components."""

    n: int
    dim: int
    n_queries: int
    seed: int
    progress: bool = True
    cache: dict = field(default_factory=dict)

    @cached_property
    def database(self) -> np.ndarray:
        log.info("n=%d: generating %d x %d synthetic features", self.n, self.n, self.dim)
        return synthetic_features(self.n, self.dim, seed=self.seed, split="database")[0]

    @cached_property
    def queries(self) -> np.ndarray:
        return synthetic_features(self.n_queries, self.dim, seed=self.seed, split="query")[0]

    @cached_property
    def truth(self) -> np.ndarray:
        log.info("n=%d: exact top-%d of %d queries by the linear scan", self.n, K, self.n_queries)
        return exact_neighbours(self.database, self.queries, K, METRIC)

    @cached_property
    def quantizer(self) -> ResidualQuantizer:
        quantizer = ResidualQuantizer(CODE_LEVELS, CODEBOOK, self.dim)
        sample = torch.from_numpy(self.database[:min(self.n, FIT_ROWS_PER_CODE * CODEBOOK)])
        start = time.perf_counter()
        quantizer.fit(sample, iters=FIT_ITERS, seed=self.seed)
        self.cache["fit_s"] = time.perf_counter() - start
        return quantizer

    @cached_property
    def codes(self) -> np.ndarray:
        """(n, M) identifiers, the assignment timed and its memory measured."""
        identifiers = make_identifiers(IdentifierSpec("rq", CODE_LEVELS, CODEBOOK, self.seed, quantizer=self.quantizer))
        codes = np.empty((self.n, CODE_LEVELS), dtype=np.int64)
        with peak_rss() as peak:
            start = time.perf_counter()
            for lo in tqdm(range(0, self.n, ASSIGN_CHUNK), desc=f"identifiers n={self.n}", leave=False,
                           disable=self.n <= ASSIGN_CHUNK or not self.progress):
                chunk = torch.from_numpy(self.database[lo:lo + ASSIGN_CHUNK])
                codes[lo:lo + ASSIGN_CHUNK] = identifiers.assign(Items.of_features(chunk))
            self.cache["assign_s"] = time.perf_counter() - start
        self.cache["assign_rss"] = peak["bytes"]
        return codes

    @cached_property
    def tree(self) -> PrefixTree:
        codes = self.codes
        with peak_rss() as peak:
            start = time.perf_counter()
            tree = PrefixTree.build(codes, CODEBOOK)
            self.cache["tree_s"] = time.perf_counter() - start
        self.cache["tree_rss"] = peak["bytes"]
        return tree


# -- components: each returns [(measure, value, unit, note)] ---------------------------------


def measure_identifiers(w: Workload, args) -> list[tuple]:
    codes = w.codes
    return [("fit_s", w.cache["fit_s"], "s", f"k-means on {min(w.n, FIT_ROWS_PER_CODE * CODEBOOK)} rows"),
            ("assign_s", w.cache["assign_s"], "s", f"M={CODE_LEVELS} L={CODEBOOK}, {ASSIGN_CHUNK} rows a call"),
            ("peak_rss_bytes", w.cache["assign_rss"], "bytes", "assignment"),
            ("distinct", len(np.unique(codes, axis=0)), "identifiers", "")]


def measure_prefix_tree(w: Workload, args) -> list[tuple]:
    tree = w.tree
    return [("build_s", w.cache["tree_s"], "s", ""),
            ("peak_rss_bytes", w.cache["tree_rss"], "bytes", "build"),
            ("index_bytes", tree_bytes(tree), "bytes", "its arrays serialised (as a backend's saved index)"),
            ("nodes", len(tree.edge_key), "nodes", f"max children per level {tree.max_children}")]


def measure_beam(beam: int):
    def measure(w: Workload, args) -> list[tuple]:
        tree = w.tree
        torch.manual_seed(w.seed)
        decoder = Decoder(DecoderConfig(vocab_size=CODEBOOK, seq_len=CODE_LEVELS)).eval()
        memory = torch.randn(args.beam_batch, MEMORY_TOKENS, decoder.config.width)
        seconds = Timer(repeats=3, warmup=1).total(lambda watch: beam_search(decoder, memory, tree, beam,
                                                                           stopwatch=watch))
        ms = 1e3 * seconds / args.beam_batch
        note = f"batch {args.beam_batch}, random decoder {decoder.config.depth}x{decoder.config.width}"
        return [("search_ms", ms, "ms/query", note), ("qps_batch", 1e3 / ms, "queries/s", note)]

    return measure


def sweep_name(n: int, dim: int, seed: int = 0) -> str:
    """The set name of a size's rows in ``sweeps.csv``."""
    return f"synthetic-classes-{n}x{dim}" + (f"-seed{seed}" if seed else "")


def measure_backend(name: str):
    def measure(w: Workload, args) -> list[tuple]:
        backend = make_backend(name, metric=METRIC)  # BackendUnavailable: recorded as skipped
        try:
            X, truth = w.database, w.truth
            log.info("n=%d: %s building", w.n, name)
            with peak_rss() as peak:
                backend.build(X)
            rss, rss_note = peak["bytes"], "build, this process"
            if backend.worker_peak_bytes() is not None:
                rss, rss_note = backend.worker_peak_bytes(), "build, the backend's worker process"
            stats = backend.stats()
            log.info("n=%d: %s built in %.1f s; sweeping its query grid", w.n, name, stats["build_s"])
            rows = grid_rows(backend, w.queries, K, truth, Timer(args.repeats, 1), args.single,
                             progress=not args.no_progress, seconds=args.max_seconds)
        finally:
            backend.close()
        sweeps_table(args.results).merge(
            set_rows(rows, sweep_name(w.n, w.dim, w.seed), METRIC, K, w.n, w.dim, w.n_queries, args.run_id),
            on=SWEEP_SET + ["backend", "build_params"])
        best = operating_point(rows, args.target)
        params = f"{best['params']} (of {len(rows)} grid points)"
        return [("build_s", float(stats["build_s"]), "s", ""),
                ("peak_rss_bytes", rss, "bytes", rss_note),
                ("index_bytes", stats["memory_bytes"], "bytes", "stats()['memory_bytes']"),
                ("disk_bytes", stats["disk_bytes"], "bytes", "stats()['disk_bytes']"),
                ("search_ms", 1e3 / best["qps_batch"], "ms/query", f"batch of {w.n_queries}, {params}"),
                ("search_ms_single", 1e3 / best["qps_single"], "ms/query",
                 f"one query a call, {best['single_queries']} queries, {params}"),
                (f"recall@{K}", best["recall"], "fraction", f"vs linear, {params}")]

    return measure


def components(backends: list[str], irgen: bool = True) -> dict:
    """Component name -> its measuring function, in the order they run."""
    parts = {"identifiers": measure_identifiers, "prefix_tree": measure_prefix_tree} if irgen else {}
    parts.update({f"beam{b}": measure_beam(b) for b in BEAMS} if irgen else {})
    parts.update({name: measure_backend(name) for name in backends})
    return parts


# -- the results file ---------------------------------------------------------------------


def finished(table: pd.DataFrame, w: Workload, component: str) -> bool:
    mine = rows_of(table, w, component)
    return len(mine) > 0 and not (mine["measure"] == "skipped").any()


def rows_of(table: pd.DataFrame, w: Workload, component: str) -> pd.DataFrame:
    if table.empty:
        return table
    return table[(table["n"] == w.n) & (table["dim"] == w.dim) & (table["queries"] == w.n_queries)
                 & (table["seed"] == w.seed) & (table["component"] == component)]


def projected_seconds(table: pd.DataFrame, w: Workload, component: str) -> tuple[float, int] | None:
    """(seconds, from size) this component should take at w.n, from the two largest smaller
    sizes measured (power-law slope clamped to [1, 2]; slope 1 from a single size)."""
    if table.empty:
        return None
    wall = table[(table["component"] == component) & (table["measure"] == "wall_s") & (table["dim"] == w.dim)
                 & (table["queries"] == w.n_queries) & (table["seed"] == w.seed) & (table["n"] < w.n)]
    wall = wall.sort_values("n").tail(2)
    if wall.empty:
        return None
    n1, t1 = float(wall["n"].iloc[-1]), float(wall["value"].iloc[-1])
    slope = 1.0
    if len(wall) == 2:
        n0, t0 = float(wall["n"].iloc[0]), float(wall["value"].iloc[0])
        slope = float(np.clip(np.log(max(t1, 1e-3) / max(t0, 1e-3)) / np.log(n1 / n0), 1.0, 2.0))
    return t1 * (w.n / n1) ** slope, int(n1)


def run_component(name: str, measure, w: Workload, table: KeyedTable, args, context: dict) -> pd.DataFrame:
    projection = projected_seconds(table.load(), w, name)
    if projection and projection[0] > args.max_seconds:
        reason = (f"projected {projection[0]:.0f} s from n={projection[1]:,} exceeds --max-seconds "
                  f"{args.max_seconds:.0f}")
        log.warning("n=%d: %s skipped: %s", w.n, name, reason)
        measured = [("skipped", float("nan"), "", reason)]
    else:
        log.info("n=%d: %s", w.n, name)
        start = time.perf_counter()
        measured, why = attempt(f"n={w.n}: {name}", lambda: measure(w, args))  # the other sizes and components go on
        if why:
            log.warning("n=%d: %s skipped: %s", w.n, name, why)
            measured = [("skipped", float("nan"), "", why)]
        else:
            measured.append(("wall_s", time.perf_counter() - start, "s", "the whole component, sweep included"))
    rows = pd.DataFrame([{"n": w.n, "dim": w.dim, "queries": w.n_queries, "seed": w.seed, "component": name,
                          "measure": m, "value": float(v), "unit": unit, "note": note, **context}
                         for m, v, unit, note in measured])
    return table.merge(rows, on=SCALING_COMPONENT)


def run(args) -> pd.DataFrame:
    args.run_id = new_run_id()
    hw = hardware()
    context = {"hardware": f"{hw['cpu_model']}, {hw['cpus']} cores", "run_id": args.run_id}
    write_manifest(args, hw)
    table = scaling_table(args.results)
    parts = components(args.backends, irgen=not args.no_irgen)
    for n in args.sizes:
        w = Workload(n, args.dim, args.queries, args.seed, progress=not args.no_progress)
        stored = table.load()
        todo = [name for name in parts if args.force or not finished(stored, w, name)]
        log.info("n=%d: %s", n, f"measuring {', '.join(todo)}" if todo else "every component already measured")
        for name in todo:
            run_component(name, parts[name], w, table, args, context)
        del w  # frees this size's arrays before the next size makes its own
    write_manifest(args, hw, finished_at=True)
    return table.load()


def write_manifest(args, hw: dict, finished_at: bool = False) -> None:
    ResultStore(args.results).write_manifest(args.run_id, {
        "run_id": args.run_id, "kind": "scaling",
        "config": {"sizes": args.sizes, "dim": args.dim, "queries": args.queries, "seed": args.seed,
                   "backends": args.backends, "target_recall": args.target, "single": args.single,
                   "repeats": args.repeats, "max_seconds": args.max_seconds, "beam_batch": args.beam_batch,
                   "irgen": not args.no_irgen, "identifiers": {"M": CODE_LEVELS, "L": CODEBOOK, "fit_iters": FIT_ITERS},
                   "k": K, "metric": METRIC, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")},
        "hardware": hw, "packages": package_versions(), "code": git_version(), "finished": finished_at})
