"""Benchmark of the search backends: QPS and recall@k of each, with build time and
index memory / disk, on synthetic vectors (1,000,000 x 128-d by default) and,
optionally, on a features file.

    python benchmarks/bench_backends.py                       # 1M x 128, all backends
    python benchmarks/bench_backends.py --n 100000 --backends linear,ivfpq,scann
    python benchmarks/bench_backends.py --n 0 --features feats.npz --metric cosine

A script, not a test: it sweeps every backend's query grid through ``bench.sweep``
(same measurements, rows appended to results/sweeps.csv, Pareto plots in reports/)
and prints one summary line per backend. At 1M points budget minutes per backend
on a few cores: SPANN's build (head graph + posting lists) is the slowest part.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd

from bench.sweep import load_features, plot_pareto, save_rows, sweep_dataset, synthetic
from methods.backends import BACKENDS

log = logging.getLogger("bench_backends")


def summary(table: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per backend: cost of the index, best recall, and the fastest point reaching ``target``."""
    lines = []
    for name, points in table.groupby("backend", sort=False):
        best = points.sort_values(["recall", "qps_batch"], ascending=False).iloc[0]
        reaching = points[points["recall"] >= target]
        fast = reaching.sort_values("qps_batch", ascending=False).iloc[0] if len(reaching) else None
        lines.append({
            "backend": name,
            "build_s": best["build_s"],
            "memory_MB": best["memory_bytes"] / 1e6,
            "disk_MB": best["disk_bytes"] / 1e6,
            "best_recall": best["recall"],
            "qps_at_best": best["qps_batch"],
            f"qps@recall>={target}": fast["qps_batch"] if fast is not None else float("nan"),
            "single_qps_there": fast["qps_single"] if fast is not None else float("nan"),
            "params_there": fast["params"] if fast is not None else "-",
        })
    return pd.DataFrame(lines)


def run(name: str, X, Q, args) -> None:
    table = sweep_dataset(name, X, Q, args.backends, args.k, args.metric, args.single, json.loads(args.build),
                          args.runs, progress=not args.no_progress)
    if table.empty:
        log.error("%s: no backend could run", name)
        return
    everything = save_rows(table, args.results / "sweeps.csv")
    mine = everything[(everything["dataset"] == name) & (everything["metric"] == args.metric)
                      & (everything["k"] == args.k)]
    plot = plot_pareto(mine, name, args.reports / f"pareto-{name}.png")
    print(f"\n== {name}: {len(X):,} x {X.shape[1]}-d, {len(Q)} queries, recall@{args.k}, {args.metric} ==")
    print(summary(table, args.target).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"(batch QPS = all queries in one call; single = one query per call over {args.single} queries; "
          f"plot: {plot})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="synthetic database size (0: skip synthetic)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--features", type=Path, help=".npz features file to benchmark as well")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--metric", default="l2", choices=["l2", "cosine"])
    p.add_argument("--target", type=float, default=0.9, help="recall at which to report QPS")
    p.add_argument("--single", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--build", default="{}", help='build parameters per backend, JSON')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    if args.n:
        X, Q = synthetic(args.n, args.dim, args.queries, args.seed)
        run(f"synthetic-{args.n}x{args.dim}", X, Q, args)
    if args.features is not None:
        X, Q = load_features(args.features, args.queries, args.seed)
        run(args.features.stem, X, Q, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
