"""Reports from results alone: ``python -m bench.report [--results DIR] [--reports DIR]``.

Rewrites ``reports/`` from ``results/`` without running any model (``bench.report.build``);
the same results give byte-identical reports. ``--recompute`` first derives every metric row
again from the stored rankings and writes them (bench/recompute.py); ``--recompute --check``
only compares them with the stored rows, lists the differences and exits 1 on any."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..cli import UsageError, guarded, parser
from ..recompute import recompute
from .build import build

log = logging.getLogger("bench.report")


def build_parser():
    p = parser("python -m bench.report", __doc__)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--reports", type=Path, default=Path("reports"))
    p.add_argument("--recompute", action="store_true", help="derive every metric row again from the stored rankings")
    p.add_argument("--check", action="store_true", help="with --recompute: compare only, write nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.checks.append(check_flags)
    return p


def check_flags(p, args) -> None:
    if args.check and not args.recompute:
        raise UsageError("--check compares recomputed metric rows with the stored ones: use it with --recompute")


def main(argv: list[str] | None = None) -> int:
    return guarded(run, lambda: build_parser().parse_args(argv), "run it again: reports are rebuilt whole")


def run(args) -> int:
    if not (args.results / "results.csv").exists():
        log.warning("%s has no results.csv yet: the reports will say so (run ./run_all.sh --quick)", args.results)
    if args.recompute:
        found = recompute(args.results, check=args.check, progress=not args.no_progress)
        for line in found.lines():
            print(line)
        verb = "differ from the stored rows" if args.check else "rewritten"
        print(f"recomputed {found.rows} metric rows of {found.cells} cells from their rankings: "
              f"{len(found.differences)} {verb}; {len(found.without_ranking)} cells without a ranking")
        if args.check:
            return 1 if found.differences else 0
    written = build(args.results, args.reports)
    log.info("wrote %d files to %s (see %s)", len(written), args.reports, args.reports / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
