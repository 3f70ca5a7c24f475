"""Check a results store: ``python -m bench.results --check [--results DIR]``.

Lists, one line each, damaged lines in the tables (they are left out of every read and
dropped, the file moved aside, at the next write), cells missing some of their rows (the
next run computes them again), duplicated rows and missing or unreadable manifests, for
``results/`` and ``results/throughput/``. Exit code 0 when nothing is wrong, 1 otherwise."""
from __future__ import annotations

import sys
from pathlib import Path

from bench.cli import guarded, parser

from .store import ResultStore


def build_parser():
    p = parser("python -m bench.results", __doc__)
    p.add_argument("--check", action="store_true", required=True, help="list what is wrong with the store")
    p.add_argument("--results", type=Path, default=Path("results"))
    return p


def main(argv: list[str] | None = None) -> int:
    return guarded(check, lambda: build_parser().parse_args(argv), "run it again")


def check(args) -> int:
    stores = [ResultStore(args.results), ResultStore(args.results / "throughput")]
    problems = [line for store in stores if store.root.exists() for line in store.problems()]
    for line in problems:
        print(line)
    print(f"{args.results}: {'nothing wrong' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
