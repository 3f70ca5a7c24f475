"""Benchmark of the search backends: QPS and recall@10 of each, with build time and index
memory / disk, on 1,000,000 synthetic 128-d vectors and on the embedded dataset's features.

    python benchmarks/bench_backends.py                        # 1M x 128 + embedded smallcnn features
    python benchmarks/bench_backends.py --n 100000 --backends linear,ivfpq,scann
    python benchmarks/bench_backends.py --n 0 --embedded effnet  # only the embedded set, EfficientNet features
    python benchmarks/bench_backends.py --n 0 --embedded none --features feats.npz --metric cosine

A script, not a test. Every backend is built once per dataset and its whole query grid
swept (``bench.sweep``: recall@10 against the exact linear scan; batch QPS = all queries in
one call, the library using its own threads; single-query QPS = one query per call).

* Synthetic: ``datasets.synthetic`` (1,000 classes), measured by ``bench.scaling`` for
  this one size with the IRGen parts left out, so the rows are shared with the scaling
  study: a size ``python -m bench.scaling`` already measured is not built again.
* Embedded: the embedded dataset (Fashion-MNIST, else sklearn digits; ``--limit`` images
  per split, 5,000 by default as in the quick grid, 0 for all) embedded by a feature model
  of the method registry (``smallcnn`` trains for a few minutes on CPU the first time;
  trained weights and features are cached in ``cache/`` as ``bench.run`` caches them), the
  database split indexed and ``--queries`` of the query split searched.

Outputs: every grid point in ``results/bench/sweeps.csv``; per dataset and backend the
summary (build seconds, index MB in RAM / on disk, best recall@10, QPS at the fastest
point reaching ``--target`` recall) in ``results/bench/summary.csv`` and ``summary.json``
(with the hardware and package versions); the tables in ``reports/backends_benchmark.md``
and a recall-versus-QPS plot per dataset in ``reports/pareto-<dataset>.png``.
At 1M points on 2 cores budget about half an hour; SPANN's build is the slowest part.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench import scaling
from bench.manifest import git_version, hardware, package_versions
from bench.sweep import load_features, plot_pareto, save_rows, sweep_dataset
from methods.backends import BACKENDS
from methods.cache import atomic_write

log = logging.getLogger("bench_backends")

QPS_WORDS = ("QPS batch: all queries in one call (the library's own threads); QPS single: one query per call "
             "over the first {single} queries; both from the backend's own search time.")


def summary(table: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per backend: cost of the index, best recall, and the fastest point reaching ``target``."""
    lines = []
    for name, points in table.groupby("backend", sort=False):
        best = points.sort_values(["recall", "qps_batch"], ascending=False).iloc[0]
        reaching = points[points["recall"] >= target]
        fast = reaching.sort_values("qps_batch", ascending=False).iloc[0] if len(reaching) else None
        lines.append({
            "dataset": best["dataset"], "n": best["n"], "dim": best["dim"], "queries": best["n_queries"],
            "backend": name,
            "build_s": best["build_s"],
            "memory_MB": best["memory_bytes"] / 1e6,
            "disk_MB": best["disk_bytes"] / 1e6,
            "best_recall": best["recall"],
            "qps_batch_at_best": best["qps_batch"],
            "qps_single_at_best": best["qps_single"],
            "params_at_best": best["params"],
            "qps_batch_at_target": fast["qps_batch"] if fast is not None else float("nan"),
            "qps_single_at_target": fast["qps_single"] if fast is not None else float("nan"),
            "params_at_target": fast["params"] if fast is not None else "-",
            "grid_points": len(points),
            "note": "",
        })
    return pd.DataFrame(lines)


def not_measured(table: pd.DataFrame, args, reasons: dict[str, str]) -> pd.DataFrame:
    """A summary line, with the reason, for each requested backend that has no rows in ``table``."""
    first = table.iloc[0]
    return pd.DataFrame([{"dataset": first["dataset"], "n": first["n"], "dim": first["dim"],
                          "queries": first["n_queries"], "backend": name,
                          "note": reasons.get(name, "unavailable or failed here (see the log)")}
                         for name in args.backends if name not in set(table["backend"])])


# -- the two datasets -------------------------------------------------------------------


def synthetic_sweep(args) -> tuple[pd.DataFrame, dict[str, str]]:
    """bench.scaling's backend rows for size --n (measured now unless already there), and why
    the backends it skipped were skipped."""
    argv = ["--sizes", str(args.n), "--dim", str(args.dim), "--backends", ",".join(args.backends),
            "--queries", str(args.queries), "--single", str(args.single), "--runs", str(args.runs),
            "--target", str(args.target), "--seed", str(args.seed), "--results", str(args.results), "--no-irgen"]
    scaling.main(argv)
    measured = scaling.read_rows(args.results / scaling.SCALING_CSV)
    skipped = measured[(measured["n"] == args.n) & (measured["dim"] == args.dim) & (measured["seed"] == args.seed)
                       & (measured["queries"] == args.queries) & (measured["measure"] == "skipped")]
    reasons = dict(zip(skipped["component"], "bench.scaling: " + skipped["note"]))
    name = scaling.sweep_name(args.n, args.dim, args.seed)
    path = args.results / scaling.SWEEPS_CSV
    rows = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.exists() else pd.DataFrame()
    if rows.empty:
        return rows, reasons
    mine = (rows["dataset"] == name) & (rows["n_queries"] == args.queries) & rows["backend"].isin(args.backends)
    return rows[mine], reasons


def embedded_features(model_name: str, args) -> tuple[str, np.ndarray, np.ndarray, str]:
    """(name, database features, --queries seeded query features, metric) of the embedded dataset."""
    from datasets import load_dataset
    from methods.base import RunContext
    from methods.features.cache import cached_features
    from methods.registry import MethodOptions, make_method

    dataset = load_dataset("embedded", limit=args.limit or None, seed=args.seed)
    method = make_method(model_name, MethodOptions())
    ctx = RunContext(seed=args.seed, cache_dir=args.cache)
    log.info("%s: fitting %s on %d training images (cached after the first time)", dataset.name, model_name,
             len(dataset.train))
    method.fit(dataset, ctx)
    X, _ = cached_features(method.model, dataset.database, ctx)
    Q, _ = cached_features(method.model, dataset.query, ctx)
    pick = np.sort(np.random.default_rng(args.seed).permutation(len(Q))[:args.queries])
    name = f"{dataset.name}-{model_name}" + (f"-limit{args.limit}" if args.limit else "")
    return name, X.astype(np.float32), Q[pick].astype(np.float32), method.model.metric


def feature_sweep(name: str, X, Q, metric: str, args) -> pd.DataFrame:
    table = sweep_dataset(name, X, Q, args.backends, args.k, metric, args.single, {}, args.runs,
                          progress=not args.no_progress)
    if len(table):
        save_rows(table, args.results / "bench" / "sweeps.csv")
    return table


# -- writing ----------------------------------------------------------------------------


def markdown(summaries: pd.DataFrame, args) -> str:
    hw = hardware()
    out = ["# Search backends: recall@10 and QPS", "",
           f"Written by `python benchmarks/bench_backends.py` on {hw['cpu_model']} ({hw['cpus']} cores, CPU only, "
           f"a machine shared with other work, so timings are indicative). Each backend is built once and its query "
           f"grid swept; recall@10 is against the exact linear scan. "
           + QPS_WORDS.format(single=args.single)
           + f" \"at R>={args.target}\": the fastest grid point reaching that recall (\"-\": none does). Memory: what "
           "the index holds in RAM by the backend's `stats()` (ScaNN: its serialized size; SPANN: head index, its "
           "posting lists are on disk). Raw rows: `results/bench/sweeps.csv`, `results/bench/summary.json`.", ""]
    for dataset, lines in summaries.groupby("dataset", sort=False):
        first = lines.iloc[0]
        unmeasured = lines["note"].fillna("") != ""
        part, missing = lines[~unmeasured], lines[unmeasured]
        out += [f"## {dataset}: {int(first['n']):,} x {int(first['dim'])}-d, {int(first['queries']):,} queries", "",
                "| backend | build s | RAM MB | disk MB | best recall@10 | QPS batch there | QPS single there "
                f"| QPS batch at R>={args.target} | QPS single there | parameters there |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for _, r in part.iterrows():
            out.append(f"| {r['backend']} | {r['build_s']:.3g} | {r['memory_MB']:.4g} | {r['disk_MB']:.4g} "
                       f"| {r['best_recall']:.3f} | {num(r['qps_batch_at_best'])} | {num(r['qps_single_at_best'])} "
                       f"| {num(r['qps_batch_at_target'])} | {num(r['qps_single_at_target'])} "
                       f"| `{r['params_at_target']}` |")
        out += [""] + [f"Not measured: {r['backend']}: {r['note']}." for _, r in missing.iterrows()]
        out.append("")
    return "\n".join(out)


def num(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def write_outputs(summaries: pd.DataFrame, args) -> list[Path]:
    """Merge into the summary of earlier runs (this run's datasets replace theirs) and write it out."""
    out = args.results / "bench"
    if (out / "summary.csv").exists():
        old = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values=[""])
        old = old[~old["dataset"].isin(summaries["dataset"])]
        summaries = pd.concat([old, summaries], ignore_index=True) if len(old) else summaries
    atomic_write(out / "summary.csv", lambda tmp: summaries.to_csv(tmp, index=False))
    meta = {"hardware": hardware(), "packages": package_versions(), "git": git_version(), "k": args.k,
            "target_recall": args.target, "qps": QPS_WORDS.format(single=args.single), "runs": args.runs,
            "backends": summaries.astype(object).where(summaries.notna(), None).to_dict(orient="records")}
    atomic_write(out / "summary.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1, default=str)))
    report = args.reports / "backends_benchmark.md"
    atomic_write(report, lambda tmp: Path(tmp).write_text(markdown(summaries, args)))
    return [out / "summary.csv", out / "summary.json", report]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="synthetic database size (0: skip synthetic)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--embedded", default="smallcnn",
                   help="feature model for the embedded dataset (a method registry name; none: skip)")
    p.add_argument("--limit", type=int, default=5000,
                   help="images per split of the embedded dataset, as the quick grid (0: all of them)")
    p.add_argument("--features", type=Path, help=".npz features file to benchmark as well")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--k", type=int, default=10, help="recall@k (the synthetic part measures k=10)")
    p.add_argument("--metric", default="l2", choices=["l2", "cosine"], help="for --features")
    p.add_argument("--target", type=float, default=0.9, help="recall at which to report QPS")
    p.add_argument("--single", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--cache", type=Path, default=Path("cache"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in args.backends if b not in BACKENDS]
    if unknown:
        print(f"error: unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    tables, reasons = [], {}
    if args.n:
        rows, reasons[scaling.sweep_name(args.n, args.dim, args.seed)] = synthetic_sweep(args)
        if len(rows):
            save_rows(rows, args.results / "bench" / "sweeps.csv")
        tables.append(rows)
    if args.embedded != "none":
        name, X, Q, metric = embedded_features(args.embedded, args)
        tables.append(feature_sweep(name, X, Q, metric, args))
    if args.features is not None:
        X, Q = load_features(args.features, args.queries, args.seed)
        tables.append(feature_sweep(args.features.stem, X, Q, args.metric, args))
    tables = [t for t in tables if len(t)]
    if not tables:
        print("error: no backend could run (see the warnings above)", file=sys.stderr)
        return 1
    for table in tables:
        name = table["dataset"].iloc[0]
        plot_pareto(table, name, args.reports / f"pareto-{name}.png")
    summaries = pd.concat([part for t in tables for part in
                           (summary(t, args.target), not_measured(t, args, reasons.get(t["dataset"].iloc[0], {})))
                           if len(part)], ignore_index=True)
    written = write_outputs(summaries, args)
    print(summaries.drop(columns=["params_at_best"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(QPS_WORDS.format(single=args.single))
    print("\n".join(f"wrote {p}" for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
