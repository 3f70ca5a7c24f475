"""How IRGen's parts and each search backend scale with the database size, on seeded,
class-structured synthetic features (``datasets.synthetic``: 1,000 classes, 128-d).

    python -m bench.scaling --sizes 1e4,1e5,1e6 [--dim 128] [--backends linear,faiss-flat,ivfpq,scann,spann]
                            [--results results] [--max-seconds 1800] [--force]

Per database size n, one component at a time (each written when it finishes):

* ``identifiers``: IRGen's residual-quantization tokenizer (M = 4 codebooks of L = 256,
  fitted by k-means on the first min(n, 100 L) rows: ``fit_s``) assigning all n
  identifiers, 65,536 rows at a time (``assign_s``).
* ``prefix_tree``: ``PrefixTree.build`` over those identifiers (``build_s``) and the
  finished tree's arrays (``index_bytes``).
* ``beam10`` / ``beam30``: constrained beam search over that tree by a randomly
  initialised decoder (``DecoderConfig`` defaults, 50 random memory tokens a query), in
  batches of ``--beam-batch`` queries: ``search_ms`` per query, the median of 3 batches.
* each backend: ``build_s``, ``index_bytes`` (the backend's ``stats()``: what it holds in
  RAM) and ``disk_bytes``, then its query grid swept as ``bench.sweep`` does (recall@10
  against the exact linear scan over ``--queries`` queries; every point goes to
  ``sweeps.csv``); the scaling rows keep the fastest point reaching ``--target`` recall, or
  the most accurate one when none does: ``search_ms`` (batch: all queries in one call),
  ``search_ms_single`` (one query per call), ``recall``, the point's parameters in ``note``.

Memory, ``peak_rss_bytes``: the rise of this process's peak resident set (VmHWM, reset
before the step) over its resident set before it: what the step allocated at its peak,
inputs not counted. SPANN builds in its worker process: its row is the worker's peak.

Rows: ``<results>/scaling/scaling.csv``, one per (n, component, measure), with the unit,
the CPU and the run id (its manifest: ``<results>/scaling/manifests/<run_id>.json``). A
re-run skips finished components unless ``--force``. A component whose time, projected
from the smaller sizes already measured, exceeds ``--max-seconds`` is recorded as
``skipped`` with the projection (a backend that is unavailable or fails, with its error),
and is tried again by the next run.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / faiss load OpenMP (see bench.sweep)

import argparse  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from functools import cached_property  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.manifest import git_version, hardware, new_run_id, package_versions  # noqa: E402
from bench.sweep import backend_for, exact_neighbours, grid_rows, label_rows, save_rows  # noqa: E402
from datasets.synthetic import synthetic_features  # noqa: E402
from methods.backends import BACKENDS, BackendUnavailable  # noqa: E402
from methods.cache import atomic_write  # noqa: E402
from methods.irgen.beam_search import beam_search  # noqa: E402
from methods.irgen.decoder import Decoder, DecoderConfig  # noqa: E402
from methods.irgen.identifiers import SemanticIdentifiers  # noqa: E402
from methods.irgen.prefix_tree import PrefixTree  # noqa: E402
from methods.irgen.tokenizer import ResidualQuantizer  # noqa: E402

log = logging.getLogger("bench.scaling")

CODE_LEVELS, CODEBOOK = 4, 256  # M, L: the paper's identifiers
FIT_ROWS_PER_CODE = 100  # k-means sample: 100 rows per centroid
FIT_ITERS = 10
ASSIGN_CHUNK = 1 << 16
MEMORY_TOKENS = 50  # encoder tokens per query (7 x 7 + cls)
BEAMS = (10, 30)
K = 10
METRIC = "l2"
KEY = ["n", "dim", "queries", "seed", "component", "measure"]
COLUMNS = KEY + ["value", "unit", "note", "hardware", "run_id"]
SCALING_CSV = Path("scaling") / "scaling.csv"
SWEEPS_CSV = Path("scaling") / "sweeps.csv"  # every grid point of every backend, bench.sweep's columns


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
        identifiers = SemanticIdentifiers(self.quantizer)
        codes = np.empty((self.n, CODE_LEVELS), dtype=np.int64)
        with peak_rss() as peak:
            start = time.perf_counter()
            for lo in tqdm(range(0, self.n, ASSIGN_CHUNK), desc=f"identifiers n={self.n}", leave=False,
                           disable=self.n <= ASSIGN_CHUNK):
                codes[lo:lo + ASSIGN_CHUNK] = identifiers.assign(torch.from_numpy(self.database[lo:lo + ASSIGN_CHUNK]))
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
            ("index_bytes", tree.nbytes(), "bytes", "PrefixTree.nbytes"),
            ("nodes", len(tree.edge_key), "nodes", f"max children per level {tree.max_children}")]


def measure_beam(beam: int):
    def measure(w: Workload, args) -> list[tuple]:
        tree = w.tree
        torch.manual_seed(w.seed)
        decoder = Decoder(DecoderConfig(vocab_size=CODEBOOK, seq_len=CODE_LEVELS)).eval()
        memory = torch.randn(args.beam_batch, MEMORY_TOKENS, decoder.config.width)
        beam_search(decoder, memory, tree, beam)  # warm-up
        rounds = []
        for _ in range(3):
            start = time.perf_counter()
            beam_search(decoder, memory, tree, beam)
            rounds.append(time.perf_counter() - start)
        ms = 1e3 * float(np.median(rounds)) / args.beam_batch
        note = f"batch {args.beam_batch}, random decoder {decoder.config.depth}x{decoder.config.width}"
        return [("search_ms", ms, "ms/query", note), ("qps_batch", 1e3 / ms, "queries/s", note)]

    return measure


def sweep_name(n: int, dim: int, seed: int = 0) -> str:
    """The dataset name of a size's rows in ``sweeps.csv``."""
    return f"synthetic-classes-{n}x{dim}" + (f"-seed{seed}" if seed else "")


def operating_point(rows: list[dict], target: float) -> dict:
    """The fastest grid point reaching ``target`` recall, else the most accurate one."""
    reaching = [r for r in rows if r["recall"] >= target]
    if reaching:
        return max(reaching, key=lambda r: r["qps_batch"])
    return max(rows, key=lambda r: (r["recall"], r["qps_batch"]))


def measure_backend(name: str):
    def measure(w: Workload, args) -> list[tuple]:
        backend = backend_for(name, w.n, METRIC, {})  # BackendUnavailable: recorded as skipped
        try:
            X, truth = w.database, w.truth
            log.info("n=%d: %s building", w.n, name)
            with peak_rss() as peak:
                backend.build(X)
            rss, rss_note = peak["bytes"], "build, this process"
            if name == "spann":
                rss, rss_note = 1024.0 * _status_kib("VmHWM", backend.worker.proc.pid), "build, SPTAG worker process"
            stats = backend.stats()
            log.info("n=%d: %s built in %.1f s; sweeping its query grid", w.n, name, stats["build_s"])
            rows = grid_rows(backend, {}, w.queries, K, truth, args.single, args.runs, seconds=args.max_seconds)
        finally:
            backend.close()
        save_rows(label_rows(rows, sweep_name(w.n, w.dim, w.seed), METRIC, K, w.n, w.dim, w.n_queries),
                  args.results / SWEEPS_CSV)
        best = operating_point(rows, args.target)
        params = f"{best['params']} (of {len(rows)} grid points)"
        return [("build_s", stats["build_s"], "s", ""),
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


def read_rows(path: Path) -> pd.DataFrame:
    if path.exists():
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    return pd.DataFrame(columns=COLUMNS)


def write_rows(path: Path, rows: pd.DataFrame) -> pd.DataFrame:
    """Replace the rows of the same (n, ..., component) in the CSV at ``path``, atomically."""
    old = read_rows(path)
    same = ["n", "dim", "queries", "seed", "component"]
    old = old[~old.set_index(same).index.isin(rows.set_index(same).index)]
    table = pd.concat([old, rows], ignore_index=True) if len(old) else rows
    table = table.sort_values(["dim", "queries", "seed", "n"], kind="stable")
    atomic_write(path, lambda tmp: table[COLUMNS].to_csv(tmp, index=False))
    return table


def finished(table: pd.DataFrame, w: Workload, component: str) -> bool:
    mine = rows_of(table, w, component)
    return len(mine) > 0 and not (mine["measure"] == "skipped").any()


def rows_of(table: pd.DataFrame, w: Workload, component: str) -> pd.DataFrame:
    return table[(table["n"] == w.n) & (table["dim"] == w.dim) & (table["queries"] == w.n_queries)
                 & (table["seed"] == w.seed) & (table["component"] == component)]


def projected_seconds(table: pd.DataFrame, w: Workload, component: str) -> tuple[float, int] | None:
    """(seconds, from size) this component should take at w.n, from the two largest smaller
    sizes measured (power-law slope clamped to [1, 2]; slope 1 from a single size)."""
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


def run_component(name: str, measure, w: Workload, table: pd.DataFrame, args, context: dict) -> pd.DataFrame:
    projection = projected_seconds(table, w, name)
    if projection and projection[0] > args.max_seconds:
        reason = (f"projected {projection[0]:.0f} s from n={projection[1]:,} exceeds --max-seconds "
                  f"{args.max_seconds:.0f}")
        log.warning("n=%d: %s skipped: %s", w.n, name, reason)
        measured = [("skipped", float("nan"), "", reason)]
    else:
        log.info("n=%d: %s", w.n, name)
        start = time.perf_counter()
        try:
            measured = measure(w, args)
            measured.append(("wall_s", time.perf_counter() - start, "s", "the whole component, sweep included"))
        except BackendUnavailable as err:
            log.warning("n=%d: %s skipped: %s", w.n, name, err)
            measured = [("skipped", float("nan"), "", f"unavailable: {err}")]
        except (RuntimeError, MemoryError) as err:  # e.g. a worker process that died: the other sizes go on
            log.exception("n=%d: %s failed", w.n, name)
            first_line = (str(err).splitlines() or [""])[0]
            measured = [("skipped", float("nan"), "", f"failed: {type(err).__name__}: {first_line}")]
    rows = pd.DataFrame([{"n": w.n, "dim": w.dim, "queries": w.n_queries, "seed": w.seed, "component": name,
                          "measure": m, "value": float(v), "unit": unit, "note": note, **context}
                         for m, v, unit, note in measured])
    return write_rows(args.results / SCALING_CSV, rows)


def run(args) -> pd.DataFrame:
    path = args.results / SCALING_CSV
    run_id = new_run_id()
    hw = hardware()
    context = {"hardware": f"{hw['cpu_model']}, {hw['cpus']} cores", "run_id": run_id}
    write_manifest(args, run_id, hw)
    table = read_rows(path)
    parts = components(args.backends, irgen=not args.no_irgen)
    for n in args.sizes:
        w = Workload(n, args.dim, args.queries, args.seed)
        todo = [name for name in parts if args.force or not finished(table, w, name)]
        log.info("n=%d: %s", n, f"measuring {', '.join(todo)}" if todo else "every component already measured")
        for name in todo:
            table = run_component(name, parts[name], w, table, args, context)
        del w  # frees this size's arrays before the next size makes its own
    write_manifest(args, run_id, hw, finished_at=True)
    return table


def write_manifest(args, run_id: str, hw: dict, finished_at: bool = False) -> None:
    manifest = {"run_id": run_id, "command": "python -m bench.scaling " + " ".join(args.argv),
                "config": {"sizes": args.sizes, "dim": args.dim, "queries": args.queries, "seed": args.seed,
                           "backends": args.backends, "target_recall": args.target, "single": args.single,
                           "runs": args.runs, "max_seconds": args.max_seconds, "beam_batch": args.beam_batch,
                           "irgen": not args.no_irgen,
                           "identifiers": {"M": CODE_LEVELS, "L": CODEBOOK, "fit_iters": FIT_ITERS},
                           "k": K, "metric": METRIC, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")},
                "hardware": hw, "packages": package_versions(), "git": git_version(),
                "finished": finished_at}
    path = args.results / "scaling" / "manifests" / f"{run_id}.json"
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1, sort_keys=True)))


# -- command line -------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    """``1e4,1e5,3e5`` -> [10000, 100000, 300000]; whole numbers of at least 2 only."""
    sizes = []
    for part in (p.strip() for p in text.split(",")):
        try:
            value = float(part)
        except ValueError:
            value = float("nan")
        if not (np.isfinite(value) and value == int(value) and value >= 2):
            raise argparse.ArgumentTypeError(f"bad size {part!r} in --sizes {text!r}: give whole numbers of at "
                                             f"least 2, comma-separated, e.g. 1e4,1e5,1e6")
        sizes.append(int(value))
    return sorted(set(sizes))


def parse_backends(text: str) -> list[str]:
    names = [b.strip() for b in text.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown backend(s) {', '.join(unknown)}: choose from {', '.join(BACKENDS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1e4,1e5,1e6"),
                   help="database sizes, comma-separated (1e4,1e5,1e6)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--backends", type=parse_backends, default=list(BACKENDS),
                   help=f"comma-separated, from {', '.join(BACKENDS)}; empty for none")
    p.add_argument("--queries", type=int, default=1000, help="queries per backend search (recall, QPS)")
    p.add_argument("--single", type=int, default=100, help="of those, queries timed one per call")
    p.add_argument("--runs", type=int, default=3, help="batch searches per grid point, the fastest counts")
    p.add_argument("--target", type=float, default=0.9, help="recall@10 of the backend operating point")
    p.add_argument("--beam-batch", type=int, default=64, help="queries per beam search batch")
    p.add_argument("--max-seconds", type=float, default=1800.0,
                   help="skip a component projected to take longer (and cut a backend's sweep there)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--no-irgen", action="store_true", help="measure the backends only")
    p.add_argument("--force", action="store_true", help="measure finished components again")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    table = run(args)
    done = table[table["n"].isin(args.sizes) & (table["dim"] == args.dim)]
    skipped = done[done["measure"] == "skipped"]
    print(f"rows: {args.results / SCALING_CSV} ({len(done)} for these sizes; "
          f"{len(skipped)} component(s) skipped)")
    for _, row in skipped.iterrows():
        print(f"  skipped n={row['n']:,} {row['component']}: {row['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
