"""Where search time goes: milliseconds per query for each stage and queries per second, per
query setting and batch size, the median of repeated runs after warm-up.

    python -m bench.throughput --method irgen --dataset embedded --beam 1,10,20,30 --batch 1,16,128
    python -m bench.throughput --method irgen --db-size 1000000          # 10^6 random identifiers
    python -m bench.throughput --method irgen --set preset=paper --untrained --device cuda --dtype bf16 --batch 256
    python -m bench.throughput --method effnet --backend scann

The model is the one ``python -m bench.run`` trains and caches for the same dataset and
config (trained here if the cache has none); ``--untrained`` times a randomly initialised
model of the configured size (IRGen; the paper's ViT-B/16 needs no CLIP file then).
``--db-size N`` searches a seeded synthetic database of N entries (random identifiers,
or class-structured vectors of the feature width) instead of the dataset's. Rows:
``results/throughput/``; the logic is ``bench.speed.query_timing``.
"""
from __future__ import annotations

import sys

from .cli import add_data, add_method, add_run, guarded, int_list, parser, positive_int
from .speed import query_timing


def build_parser():
    p = parser("python -m bench.throughput", __doc__)
    add_data(p)
    add_method(p)
    p.set_defaults(method="irgen")
    p.add_argument("--batch", type=int_list, default=[1, 16, 128], help="queries per batch")
    p.add_argument("--depth", type=positive_int, default=100, help="results per query (bench.run's ranking depth)")
    p.add_argument("--repeats", type=positive_int, default=5, help="timed runs per cell (the median is kept)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    p.add_argument("--db-size", type=positive_int, help="a synthetic database of N entries")
    p.add_argument("--untrained", action="store_true", help="time a randomly initialised model (no training)")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's)")
    add_run(p)
    return p


def run(args) -> int:
    table = query_timing.run(args)
    print(query_timing.summary(table))
    targets = query_timing.target_lines(table)
    if targets:
        print(targets)
    print(f"\nresults: {args.results / 'throughput' / 'results.csv'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return guarded(run, lambda: build_parser().parse_args(argv),
                   "finished cells are saved in results/throughput/; run again to continue")


if __name__ == "__main__":
    sys.exit(main())
