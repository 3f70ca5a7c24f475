"""One method on one dataset: ``python -m bench.run --method M --dataset D [...]``.

Loads the dataset, builds the method, trains it (or reuses its cached weights), indexes
the database, then searches the queries once per query setting (a results cell each),
writing each finished cell to ``results/`` atomically before starting the next one.
A re-run skips finished cells; ``--force`` computes them again.

Every time is measured by the one timer (methods/timing.py) on the device the cell names
(device and CPU threads are cell keys). Queries/s (``qps_batch``; ``qps_single`` with
``--query-batch 1``) is measured in this run from the images: the query split in batches of
``--query-batch``, each timed end to end, the batch over the median whole-batch time; the
per-stage milliseconds are a separate, synchronised profile. The fit's, the database's feature
extraction's and the index build's seconds are stats rows; a step reused from the cache keeps
the seconds of the run that measured it, and the row's ``timing`` says ``cached from run <id>``.
"""
from __future__ import annotations

import logging
import sys

from methods import distributed
from methods.base import setting_label
from methods.cache import digest
from methods.features.weights import starting_weights
from methods.timing import Measured, device_sync, timed

from .cli import add_data, add_method, add_run, check_device, context_from, dataset_from, guarded, int_list, \
    method_from, parser, positive_int, require_backend
from .evaluate import evaluate
from .report.terminal import metric_table
from .results import CELL_KEYS, ResultStore, cell_record
from .results.manifest import git_version, hardware, new_run_id, package_versions
from .sharded import sharded_search
from .speed.throughput import COUNTS, TIMED_BATCHES, query_rows

log = logging.getLogger("bench.run")

DEFAULT_KS = {"inshop": [1, 10, 20, 30], "cub200": [1, 2, 4, 8], "cars196": [1, 2, 4, 8],
              "imagenet": [1, 10, 20, 50, 100], "places365": [1, 10, 20, 50, 100]}
FALLBACK_KS = [1, 10, 20, 30]


def build_parser():
    p = parser("python -m bench.run", __doc__)
    add_data(p)
    add_method(p)
    p.add_argument("--sweep", action="store_true", help="one cell per point of the backend's query grid")
    p.add_argument("--k", type=int_list, help="cut-offs K (default: the paper's for the dataset)")
    p.add_argument("--depth", type=positive_int, default=100,
                   help="ranking depth kept for MAP@R / PR curve (>= max K)")
    p.add_argument("--query-batch", type=positive_int, default=128,
                   help="queries per timed batch (queries/s: the batch over the median batch time; 1: single-query)")
    p.add_argument("--timed-batches", type=positive_int, default=TIMED_BATCHES,
                   help=f"at most this many query batches timed, spread over the query split (default "
                        f"{TIMED_BATCHES})")
    p.add_argument("--untrained", action="store_true",
                   help="IRGen: a randomly initialised model of the configured size over random identifiers "
                        "(no training, no weight files): the pipeline end to end, its variant says untrained")
    add_run(p)
    return p


def run(args) -> int:
    check_device(args.device)
    args.device = distributed.init_from_env(args.device)  # torchrun: shard the queries, rank 0 writes
    ds = dataset_from(args)
    ks = sorted(set(args.k or DEFAULT_KS.get(args.dataset, FALLBACK_KS)))
    depth = max(args.depth, max(ks))
    method = method_from(args, args.untrained)
    ctx = context_from(args)
    store = ResultStore(args.results)
    # the pretrained files' checksums: a cell computed from another file is not this cell
    weights = starting_weights(method.pretrained_files(), ctx)
    extra = [weights] if weights else []  # the ids of cells without pretrained files stay as they were
    extra += [f"timed_batches={args.timed_batches}"] if args.timed_batches != TIMED_BATCHES else []  # as above
    cells = []
    for setting in method.settings(len(ds.database)):
        record = cell_record(ds, method, setting_label(setting), args.limit, args.seed, args.dtype, args.device)
        record["cell_id"] = digest(record, ds.fingerprint, method.describe(), ks, depth, args.query_batch, *extra)
        cells.append((setting, record))
    done = store.finished_cells()
    todo = distributed.broadcast_object([(s, r) for s, r in cells if args.force or r["cell_id"] not in done])
    log.info("%s on %s (%s protocol): %d train / %d database / %d query images; %d of %d cells to compute",
             method.name, ds.name, ds.protocol, len(ds.train), len(ds.database), len(ds.query), len(todo), len(cells))
    if todo:
        require_backend(method)
        compute(method, ds, ctx, args, todo, store, ks, depth, weights)
    distributed.barrier()  # rank 0's rows are written before any process leaves the group
    if not distributed.is_main():
        return 0
    table = store.load()
    mine = table[table["cell_id"].isin({r["cell_id"] for _, r in cells})]
    print(metric_table(mine, ks, group=CELL_KEYS))
    print(f"\nresults: {store.table}")
    return 0


def compute(method, ds, ctx, args, todo: list, store: ResultStore, ks: list[int], depth: int, weights: dict) -> None:
    """Fit, index, then search and score every cell of ``todo``, each written when it is done."""
    run_id = new_run_id()
    manifest = {"run_id": run_id, "argv": sys.argv, "dataset": {"name": ds.name, "protocol": ds.protocol,
                "fingerprint": ds.fingerprint, "sizes": [len(ds.train), len(ds.database), len(ds.query)],
                **ds.info}, "seed": args.seed, "ks": ks, "depth": depth, "dtype": args.dtype,
                "code": git_version(), "packages": package_versions(), "hardware": hardware(args.device),
                "pretrained_weights": weights}
    main = distributed.is_main()
    if main:
        store.write_manifest(run_id, {**manifest, "method": method.describe()})
    ctx.run_id = run_id  # what this run caches (features, indexes) names it as the run that measured it
    _, fit_s = timed(lambda: method.fit(ds, ctx), device_sync(ctx.device))
    method.index(ds.database, ctx)
    stats = [(name, 0, float(v), timing_word(name, v)) for name, v in method.stats().items()]
    stats.append(("fit_s", 0, fit_s, "measured"))
    if main:
        store.write_manifest(run_id, {**manifest, "method": method.describe()})
    extra_one = 1 if ds.query_in_database else 0  # room for the query's own item, dropped later
    for setting, record in todo:
        log.info("searching: %s", record["setting"])
        result = sharded_search(method, ds.query, depth + extra_one, setting, ctx)
        if not main:
            continue
        metrics = [(m, k, v, "-") for m, k, v in
                   evaluate(result.ids, ds.database.labels, ds.query.labels, ks, ds.query_in_database)]
        speed = query_rows(method, ds.query, depth + extra_one, setting, ctx, args.query_batch, args.timed_batches)
        metrics += [(m, k, v, "-" if m in COUNTS else "measured") for m, k, v in speed] + stats
        store.write_cell([{**record, "run_id": run_id, "metric": m, "k": k, "value": v, "timing": t}
                          for m, k, v, t in metrics])


def timing_word(name: str, value) -> str:
    """A stats row's ``timing``: a time's source (``Measured``), "-" for what is not a time."""
    return value.source if isinstance(value, Measured) else "-"


def main(argv: list[str] | None = None) -> int:
    return guarded(run, lambda: build_parser().parse_args(argv),
                   "finished cells are saved in results/; run the same command again to continue",
                   cleanup=distributed.shutdown)


if __name__ == "__main__":
    sys.exit(main())
