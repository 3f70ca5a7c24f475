"""Each search backend's recall@k against the exact linear scan versus queries per second,
over its query grid (ann-benchmarks style), on one set of vectors:

    python -m bench.sweep --method effnet --dataset embedded --limit 5000   # a feature method's features
    python -m bench.sweep --synthetic 100000 --dim 128                       # seeded class-structured vectors
    python -m bench.sweep --features my.npz --metric cosine                  # arrays database + queries

Each backend is built once (``--backend-param ivfpq.nlist=300`` sets a build parameter of
one backend of ``--backends``, checked and typed by that backend's declared ones; a kind of index
such as ``diskann-disk``, DiskANN's disk index, is named there as a backend of its own), or its
index is taken from the index cache (``<--cache>/indexes``, bench.run's), then searched at every
point of its query grid, a whole batch per call (the median of ``--repeats`` after ``--warmup``)
and ``--single`` queries one per call. ``--force`` on a set swept before re-times the searches over
the cached indexes; each row's ``build_timing`` says which run built its index. Rows:
``results/sweeps.csv``; ``python -m bench.report`` draws ``reports/pareto-<set>.png`` and the
backends table from them. A backend unavailable here (spann where SPTAG cannot run) is
skipped with its reason, printed and in the run's manifest; the others are swept. The logic is
``bench.speed.backend_sweep``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from methods.backends import BACKENDS, KINDS, checked_build_params
from methods.base import HarnessError

from .cli import add_data, add_run, guarded, name_list, parser, positive_int
from .speed import backend_sweep


def build_parser():
    p = parser("python -m bench.sweep", __doc__)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--method", help="a feature method: sweep its features of --dataset")
    source.add_argument("--synthetic", type=positive_int, metavar="N", help="N class-structured synthetic vectors")
    source.add_argument("--features", type=Path, help=".npz of vectors: arrays database and queries, or one array")
    add_data(p)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="with --method: override a config value, as bench.run")
    p.add_argument("--config", type=Path, help="with --method: YAML file of config overrides")
    p.add_argument("--weights", type=Path, help="with --method: pretrained weights folder")
    p.add_argument("--backends", type=name_list([*BACKENDS, *KINDS]), default=list(BACKENDS),
                   help=f"comma-separated, from {', '.join([*BACKENDS, *KINDS])} (a kind of index: "
                        f"{', '.join(f'{k} is {b} with {key}={v}' for k, (b, key, v) in KINDS.items())})")
    p.add_argument("--backend-param", dest="sweep_params", action="append", default=[], metavar="BACKEND.KEY=VALUE",
                   help="a build parameter of one backend, e.g. ivfpq.nlist=300 (repeatable)")
    p.add_argument("--dim", type=positive_int, default=128, help="dimensionality of --synthetic vectors")
    p.add_argument("--metric", default="l2", choices=["l2", "cosine"], help="for --synthetic and --features")
    p.add_argument("--queries", type=positive_int, default=1000, help="number of queries")
    p.add_argument("--recall-at", type=positive_int, default=10, help="k of recall@k against the exact top k")
    p.add_argument("--single", type=int, default=100, help="queries timed one per call (0: none)")
    p.add_argument("--repeats", type=positive_int, default=3, help="batch searches per grid point (median kept)")
    p.add_argument("--warmup", type=int, default=1, help="untimed batch searches first")
    p.add_argument("--max-points", type=positive_int,
                   help="sweep only the first N points of each backend's query grid (a grid goes from its cheapest "
                        "point up; default: every point)")
    p.add_argument("--name", help="the set's name in the rows and plots (default: from the source)")
    add_run(p)
    p.checks.append(check_build_params)
    return p


def check_build_params(p, args) -> None:
    """``args.build_params``: for each entry of ``--backends``, its ``--backend-param`` values, checked
    and typed, with the one its kind implies (``KINDS``); a value for a backend not in ``--backends``
    would be ignored, and one that contradicts its kind would change it, so both are refused."""
    given = backend_sweep.per_backend_params(args.sweep_params)
    for entry in given:
        if entry not in args.backends:
            raise HarnessError(f"--backend-param {entry}.*: {entry} is not among --backends "
                               f"{','.join(args.backends)}; add it there or drop the parameter")
    args.build_params = {}
    for entry in args.backends:
        backend, implied = backend_sweep.backend_of(entry)
        for key, value in implied.items():
            if key in given.get(entry, {}):
                raise HarnessError(f"--backend-param {entry}.{key}: {entry} is {backend} with {key}={value}; "
                                   f"drop the parameter, or sweep {backend} with {backend}.{key}=...")
        args.build_params[entry] = checked_build_params(backend, {**given.get(entry, {}), **implied},
                                                        f"--backend-param {entry}.")


def run(args) -> int:
    rows, skipped = backend_sweep.run(args)
    print(backend_sweep.summary(rows))
    for backend, why in skipped.items():
        print(f"skipped {backend}: {why}")
    print(f"\nrows: {args.results / 'sweeps.csv'}; plot: python -m bench.report")
    broke = any(why.startswith("failed:") for why in skipped.values())
    return 1 if broke or not len(rows) else 0  # a backend unavailable here is noted, not a failure


def main(argv: list[str] | None = None) -> int:
    return guarded(run, lambda: build_parser().parse_args(argv), "swept backends are saved; run again to continue")


if __name__ == "__main__":
    sys.exit(main())
