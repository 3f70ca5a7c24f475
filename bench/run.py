"""One cell row of the grid: ``python -m bench.run --method M --dataset D [...]``.

Loads the dataset, builds the method, trains it (or reuses its cached weights),
indexes the database, then searches the queries once per query setting, writing
each finished cell to ``results/`` atomically before starting the next one.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from datasets import load_dataset
from methods import distributed
from methods.base import HarnessError, RunContext, setting_label
from methods.cache import digest
from methods.config import parse_sets, read_overrides_file
from methods.features.weights import starting_weights
from methods.registry import MethodOptions, make_method, method_names

from .cli import guarded
from .evaluate import evaluate, timing_rows
from .manifest import git_version, hardware, new_run_id, package_versions
from .results import CELL_KEYS, ResultStore
from .sharded import sharded_search
from .tables import metric_table

log = logging.getLogger("bench.run")

DEFAULT_KS = {"inshop": [1, 10, 20, 30], "cub200": [1, 2, 4, 8], "cars196": [1, 2, 4, 8],
              "imagenet": [1, 10, 20, 50, 100], "places365": [1, 10, 20, 50, 100]}
FALLBACK_KS = [1, 10, 20, 30]


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive integers, e.g. 1,10,20")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--method", default="smallcnn", help=f"one of: {', '.join(method_names())}")
    p.add_argument("--dataset", default="embedded",
                   help="cub200, cars196, inshop, imagenet, places365, fashion-mnist, digits, or embedded "
                        "(Fashion-MNIST where installed, else digits)")
    p.add_argument("--protocol", default="paper", choices=["paper", "dml"])
    p.add_argument("--backend", default="linear", help="search backend for feature methods")
    p.add_argument("--sweep", action="store_true", help="sweep the backend's query parameters")
    p.add_argument("--k", type=int_list, help="cut-offs K (default: the paper's for the dataset)")
    p.add_argument("--depth", type=int, default=100, help="ranking depth kept for MAP@R / PR curve (>= max K)")
    p.add_argument("--beam", type=int_list, default=[1, 10, 20, 30], help="IRGen beam sizes")
    add_model_arguments(p)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="keep at most N images per split (seeded)")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--cache", type=Path, default=Path("cache"))
    p.add_argument("--force", action="store_true", help="recompute cells already in results/")
    p.add_argument("--no-progress", action="store_true")
    return p


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """What picks and configures the model, and where its data and weights are (bench.run, bench.train)."""
    p.add_argument("--identifier", default="rq", help="IRGen identifiers: rq|random|hkm100|hkm200|hkm500|rqvae")
    p.add_argument("--seq-len", type=int, help="IRGen identifier length T (default: the config's)")
    p.add_argument("--fresh", type=float, default=0.0, help="IRGen: share of the database held out of training")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a method config value (repeatable; dotted keys for nested values)")
    p.add_argument("--config", type=Path, help="YAML file of method config overrides")
    p.add_argument("--data-root", type=Path, help="folder holding the datasets (or $IRGEN_DATA_ROOT)")
    p.add_argument("--weights", type=Path, help="folder holding pretrained weight files (or $IRGEN_WEIGHTS)")
    p.add_argument("--checkpoint-every", type=int, default=200, metavar="N",
                   help="training steps between checkpoints of a model trained here (a killed run resumes "
                        "from the last one; IRGen's tokenizer also saves after every round)")


def check_checkpoint_every(args) -> None:
    if args.checkpoint_every < 1:
        raise HarnessError(f"--checkpoint-every {args.checkpoint_every}: give a positive number of steps")


def method_overrides(args) -> dict:
    overrides = read_overrides_file(args.config) if args.config is not None else {}
    overrides.update(parse_sets(args.sets))
    return overrides


def cell_record(ds, args, method, setting: str) -> dict:
    """A results cell's keys; ``setting`` is the setting's label (``setting_label``)."""
    return {"dataset": ds.name, "protocol": ds.protocol, "limit": str(args.limit or "-"), "seed": args.seed,
            "method": method.name, "variant": method.variant, "features": method.features,
            "backend": method.backend, "setting": setting}


def run(args) -> int:
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise HarnessError("--device cuda: no CUDA device is visible here; use --device cpu")
    check_checkpoint_every(args)
    args.device = distributed.init_from_env(args.device)  # torchrun: shard the queries, rank 0 writes
    ds = load_dataset(args.dataset, root=args.data_root, protocol=args.protocol, limit=args.limit, seed=args.seed)
    ks = sorted(set(args.k or DEFAULT_KS.get(args.dataset, FALLBACK_KS)))
    depth = max(args.depth, max(ks))
    options = MethodOptions(backend=args.backend, sweep=args.sweep, beams=tuple(args.beam),
                            identifier=args.identifier, seq_len=args.seq_len, fresh=args.fresh,
                            overrides=method_overrides(args))
    method = make_method(args.method, options)
    ctx = RunContext(device=args.device, seed=args.seed, cache_dir=args.cache, weights_dir=args.weights,
                     progress=not args.no_progress, dtype=args.dtype, checkpoint_every=args.checkpoint_every)
    store = ResultStore(args.results)
    # the pretrained files' checksums: a cell computed from another file is not this cell
    weights = starting_weights(method.pretrained_files(), ctx)
    extra = [weights] if weights else []  # the ids of cells without pretrained files stay as they were
    cells = []
    for setting in method.settings():
        record = cell_record(ds, args, method, setting_label(setting))
        record["cell_id"] = digest(record, ds.fingerprint, method.describe(), ks, depth, *extra)
        cells.append((setting, record))
    done = store.finished_cells()
    todo = distributed.broadcast_object([(s, r) for s, r in cells if args.force or r["cell_id"] not in done])
    log.info("%s on %s (%s protocol): %d train / %d database / %d query images; %d of %d cells to compute",
             method.name, ds.name, ds.protocol, len(ds.train), len(ds.database), len(ds.query), len(todo), len(cells))
    if todo:
        run_id = new_run_id()
        manifest = {"run_id": run_id, "argv": sys.argv, "dataset": {"name": ds.name, "protocol": ds.protocol,
                    "fingerprint": ds.fingerprint, "sizes": [len(ds.train), len(ds.database), len(ds.query)],
                    **ds.info}, "seed": args.seed, "ks": ks, "depth": depth, "code": git_version(),
                    "packages": package_versions(), "hardware": hardware(args.device),
                    "pretrained_weights": weights}
        main = distributed.is_main()
        if main:
            store.write_manifest(run_id, {**manifest, "method": method.describe()})
        method.fit(ds, ctx)
        method.index(ds.database, ctx)
        if main:
            store.write_manifest(run_id, {**manifest, "method": method.describe()})
        extra_one = 1 if ds.query_in_database else 0  # room for the query's own item, dropped later
        for setting, record in todo:
            log.info("searching: %s", record["setting"])
            result = sharded_search(method, ds.query, depth + extra_one, setting, ctx)
            if not main:
                continue
            metrics = evaluate(result.ids, ds.database.labels, ds.query.labels, ks, ds.query_in_database)
            metrics += timing_rows(result.timings, len(ds.query))
            metrics += [(name, 0, float(v)) for name, v in result.extra.items()]
            store.write_cell([{**record, "run_id": run_id, "metric": m, "k": k, "value": v} for m, k, v in metrics])
    distributed.barrier()  # rank 0's rows are written before any process leaves the group
    if not distributed.is_main():
        return 0
    table = store.load()
    mine = table[table["cell_id"].isin({r["cell_id"] for _, r in cells})]
    print(metric_table(mine, ks, group=CELL_KEYS))
    print(f"\nresults: {store.table}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return guarded(run, build_parser().parse_args(argv),
                   "finished cells are saved in results/; run the same command again to continue",
                   cleanup=distributed.shutdown)


if __name__ == "__main__":
    sys.exit(main())
