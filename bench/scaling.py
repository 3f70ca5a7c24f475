"""How IRGen's parts and each search backend scale with the database size, on seeded,
class-structured synthetic features (1,000 classes), each component written when it
finishes and skipped by a re-run:

    python -m bench.scaling --sizes 1e4,1e5,1e6 [--dim 128] [--backends linear,faiss-flat,ivfpq,scann,spann,hnsw,diskann]

Rows: ``results/scaling/scaling.csv`` (and every backend grid point in ``results/sweeps.csv``);
``python -m bench.report`` draws ``reports/scaling.png``. What is measured, and how, is in
``bench.speed.database_scaling``'s docstring.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from methods.backends import BACKENDS

from .cli import add_run, guarded, name_list, parser, positive_int
from .speed import database_scaling


def parse_sizes(text: str) -> list[int]:
    """``1e4,1e5,3e5`` -> [10000, 100000, 300000]; whole numbers of at least 2 only."""
    sizes = []
    for part in (p.strip() for p in text.split(",")):
        try:
            value = float(part)
        except ValueError:
            value = float("nan")
        if not (np.isfinite(value) and value == int(value) and value >= 2):
            raise argparse.ArgumentTypeError(f"bad size {part!r} in {text!r}: give whole numbers of at "
                                             f"least 2, comma-separated, e.g. 1e4,1e5,1e6")
        sizes.append(int(value))
    return sorted(set(sizes))


def build_parser():
    p = parser("python -m bench.scaling", __doc__)
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1e4,1e5,1e6"),
                   help="database sizes, comma-separated (1e4,1e5,1e6)")
    p.add_argument("--dim", type=positive_int, default=128)
    p.add_argument("--backends", type=name_list(list(BACKENDS)), default=list(BACKENDS),
                   help=f"comma-separated, from {', '.join(BACKENDS)}")
    p.add_argument("--queries", type=positive_int, default=1000, help="queries per backend search (recall, QPS)")
    p.add_argument("--single", type=int, default=100, help="of those, queries timed one per call")
    p.add_argument("--repeats", type=positive_int, default=3, help="batch searches per grid point (median kept)")
    p.add_argument("--target", type=float, default=0.9, help="recall@10 of the backend operating point")
    p.add_argument("--beam-batch", type=positive_int, default=64, help="queries per beam search batch")
    p.add_argument("--max-seconds", type=float, default=1800.0,
                   help="skip a component projected to take longer (and cut a backend's sweep there)")
    p.add_argument("--no-irgen", action="store_true", help="measure the backends only")
    add_run(p)
    return p


def run(args) -> int:
    table = database_scaling.run(args)
    done = table[table["n"].isin(args.sizes) & (table["dim"] == args.dim)]
    skipped = done[done["measure"] == "skipped"]
    print(f"rows: {args.results / database_scaling.SCALING_CSV} ({len(done)} for these sizes; "
          f"{len(skipped)} component(s) skipped)")
    for _, row in skipped.iterrows():
        print(f"  skipped n={row['n']:,} {row['component']}: {row['note']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return guarded(run, lambda: build_parser().parse_args(argv), "finished components are saved; run again to continue")


if __name__ == "__main__":
    sys.exit(main())
