"""One method on one dataset: ``python -m bench.run --method M --dataset D [...]``.

Loads the dataset, builds the method, trains it (or reuses its cached weights), indexes
the database, then searches the queries once per query setting (a results cell each),
writing each finished cell to ``results/`` atomically before starting the next one: its
ranking (``results/rankings/<cell_id>.npz``, bench/rankings.py), then its rows, every metric
derived from that ranking (``bench.report --recompute`` derives them again). A re-run skips
finished cells; ``--force`` computes them again. ``--seeds 0,1,2`` does all of it once per
training seed over data drawn once (``--data-seed``), a method that trains nothing once.

Every time is measured by the one timer (methods/runtime/timing.py) on the device the cell names
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

from methods.base import setting_label
from methods.runtime import distributed
from methods.runtime.files import digest
from methods.runtime.timing import Measured, device_sync, timed
from methods.runtime.weights import starting_weights

from methods.registry import describe

from .cli import UsageError, add_data, add_method, add_run, check_device, context_from, dataset_from, guarded, \
    int_list, method_from, parser, positive_int, require_backend, seed_list
from .evaluate import ranking_rows
from .rankings import RankedItems, Ranking, write_items, write_ranking
from .report.terminal import metric_table
from .results import CELL_KEYS, ResultStore, cell_identity, cell_record, model_column
from .results.manifest import git_version, hardware, new_run_id, package_versions
from .sharded import sharded_search
from .speed.query_timing import COUNTS, TIMED_BATCHES, query_rows
from .uncertainty import interval_table, section_uncertainty

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
    p.add_argument("--seeds", type=seed_list,
                   help="train and evaluate once per training seed, e.g. 0,1,2, the data drawn once (--data-seed, "
                        "default the first seed); a method that trains nothing runs once")
    add_run(p)
    p.checks.append(check_seeds)
    return p


def check_seeds(p, args) -> None:
    if args.seeds and p.given(args, "seed"):
        raise UsageError("--seed and --seeds: give one (--seeds 3 is --seed 3)")


def training_seeds(args) -> list[int]:
    """``--seeds`` (or ``--seed``); the first alone for a method that trains nothing: its ranking is
    the same for every seed, one sample, not several."""
    seeds = args.seeds or [args.seed]
    if len(seeds) > 1 and not describe(args.method).trains:
        log.info("%s trains nothing: its ranking is the same for every seed, so it runs once, with seed %d "
                 "(one sample: its intervals are over queries, not seeds)", args.method, seeds[0])
        return seeds[:1]
    return seeds


def run(args) -> int:
    check_device(args.device)
    args.device = distributed.init_from_env(args.device)  # torchrun: shard the queries, rank 0 writes
    ds = dataset_from(args)
    ks = sorted(set(args.k or DEFAULT_KS.get(args.dataset, FALLBACK_KS)))
    depth = max(args.depth, max(ks))
    store = ResultStore(args.results)
    cell_ids = set()
    for seed in training_seeds(args):
        method = method_from(args, args.untrained)
        ctx = context_from(args, seed=seed)
        # the pretrained files' checksums: a cell computed from another file is not this cell
        weights = starting_weights(method.pretrained_files(), ctx)
        extra = [weights] if weights else []  # the ids of cells without pretrained files stay as they were
        extra += [f"timed_batches={args.timed_batches}"] if args.timed_batches != TIMED_BATCHES else []  # as above
        cells = []
        for setting in method.settings(len(ds.database)):
            record = cell_record(ds, method, setting_label(setting), args.limit, seed, args.dtype, args.device,
                                 data_seed=ctx.data_seed)
            record["cell_id"] = digest(cell_identity(record), ds.fingerprint, method.describe(), ks, depth,
                                       args.query_batch, *extra)
            record["model"] = model_column(method, args.dtype)
            cells.append((setting, record))
        done = store.finished_cells()
        todo = distributed.broadcast_object([(s, r) for s, r in cells if args.force or r["cell_id"] not in done])
        log.info("%s on %s (%s protocol, seed %d): %d train / %d database / %d query images; %d of %d cells to "
                 "compute", method.name, ds.name, ds.protocol, seed, len(ds.train), len(ds.database), len(ds.query),
                 len(todo), len(cells))
        if todo:
            require_backend(method)
            compute(method, ds, ctx, args, todo, store, ks, depth, weights)
        cell_ids |= {r["cell_id"] for _, r in cells}
    distributed.barrier()  # rank 0's rows are written before any process leaves the group
    if not distributed.is_main():
        return 0
    table = store.load()
    mine = table[table["cell_id"].isin(cell_ids)]
    print(metric_table(mine, ks, group=CELL_KEYS))
    print("\n" + interval_table(section_uncertainty(args.results, mine.dropna(subset=["value"])).intervals))
    print(f"\nresults: {store.table}")
    return 0


def compute(method, ds, ctx, args, todo: list, store: ResultStore, ks: list[int], depth: int, weights: dict) -> None:
    """Fit, index, then search and score every cell of ``todo``, each written when it is done: its
    ranking (bench.rankings) first, then its rows."""
    run_id = new_run_id()
    manifest = {"run_id": run_id, "argv": sys.argv, "dataset": {"name": ds.name, "protocol": ds.protocol,
                "fingerprint": ds.fingerprint, "sizes": [len(ds.train), len(ds.database), len(ds.query)],
                **ds.info}, "seed": ctx.seed, "data_seed": ctx.data_seed, "ks": ks, "depth": depth,
                "dtype": args.dtype, "code": git_version(), "packages": package_versions(),
                "hardware": hardware(args.device), "pretrained_weights": weights,
                "rankings": {"cells": "rankings/<cell_id>.npz", "items": f"rankings/items/{ds.fingerprint}.npz"}}
    main = distributed.is_main()
    items = RankedItems.of(ds)
    if main:
        store.write_manifest(run_id, {**manifest, "method": method.describe()})
        write_items(store.root, items)
    ctx.run_id = run_id  # what this run caches (features, indexes) names it as the run that measured it
    _, fit_s = timed(lambda: method.fit(ds, ctx), device_sync(ctx.device))
    method.index(ds.database, ctx)
    stats = [(name, 0, float(v), timing_word(name, v)) for name, v in method.stats().items()]
    stats.append(("fit_s", 0, fit_s, "measured"))
    if main:
        store.write_manifest(run_id, {**manifest, "method": method.describe()})
    extra_one = 1 if ds.query_in_database else 0  # room for the query's own item, dropped later
    bound = method.bound_ranking(ds.query, depth + extra_one, ctx) if main else None
    for setting, record in todo:
        log.info("searching: %s", record["setting"])
        result = sharded_search(method, ds.query, depth + extra_one, setting, ctx)
        if not main:
            continue
        ranking = Ranking(result.ids, ks, depth, ds.query_in_database, ds.fingerprint, result.scores,
                          result.score_kind, bound, record["cell_id"])
        write_ranking(store.root, ranking)
        metrics = [(m, k, v, "-") for m, k, v in ranking_rows(ranking, items) + method.diagnostics(result, ks)]
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
