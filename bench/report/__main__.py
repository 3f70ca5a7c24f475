"""Reports from results alone: ``python -m bench.report [--results DIR] [--reports DIR]``.

Rewrites ``reports/`` from ``results/`` without running any model (``bench.report.build``);
the same results give byte-identical reports."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..cli import guarded, parser
from .build import build

log = logging.getLogger("bench.report")


def build_parser():
    p = parser("python -m bench.report", __doc__)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    return p


def main(argv: list[str] | None = None) -> int:
    return guarded(run, lambda: build_parser().parse_args(argv), "run it again: reports are rebuilt whole")


def run(args) -> int:
    if not (args.results / "results.csv").exists():
        log.warning("%s has no results.csv yet: the reports will say so (run ./run_all.sh --quick)", args.results)
    written = build(args.results, args.reports)
    log.info("wrote %d files to %s (see %s)", len(written), args.reports, args.reports / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
