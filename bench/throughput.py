"""Where search time goes: queries per second and milliseconds per query for each stage,
after warm-up, the median of repeated runs, per beam size and query batch size.

    python -m bench.throughput --method irgen --dataset embedded --beam 1,10,20,30 --batch 1,16,128
    python -m bench.throughput --method irgen --db-size 1000000          # synthetic 1e6-identifier database
    python -m bench.throughput --method irgen --set preset=paper --untrained --device cuda --dtype bf16 --batch 256
    python -m bench.throughput --method effnet --backend scann

IRGen's stages: ``preprocess`` (image decode and resize, normalise), ``encoder``,
``decoder`` (decoder steps, top-k, reordering), ``masks`` (validity masks and child
lookups in the prefix tree), ``lookup`` (identifiers to database images). A feature
model + backend: ``preprocess``, ``feature``, ``search``. Every stage of a batch is timed
on its own (the device synchronised around it) and the batch is repeated ``--repeats``
times after ``--warmup`` untimed runs; a stage's figure is its median over the repeats.

The model is the one ``python -m bench.run`` trains and caches for the same dataset and
config (trained here if the cache has none). ``--untrained`` times a randomly initialised
model of the configured size instead (timing does not depend on the weights; a paper-size
model without its CLIP file, on a GPU), over database identifiers drawn at random.
``--db-size N`` replaces the database by N random identifiers (feature methods: N random
vectors of the feature width), to time the search at a scale the dataset does not have.

Rows go to ``results/throughput/results.csv`` (one cell per method x setting x batch x
device x dtype; finished cells are skipped unless ``--force``) and feed Figure 5 of
``python -m bench.report``.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from datasets import load_batch, load_dataset
from methods.backends import cached_build, make_backend
from methods.base import HarnessError, RunContext, Stopwatch, parse_setting
from methods.cache import digest
from methods.config import parse_sets
from methods.registry import MethodOptions, make_method

from .manifest import git_version, hardware, new_run_id, package_versions
from .results import ResultStore
from .cli import guarded
from .run import cell_record, int_list

log = logging.getLogger("bench.throughput")

IRGEN_STAGES = ("preprocess", "encoder", "decoder", "masks", "lookup")
FEATURE_STAGES = ("preprocess", "feature", "search")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0],
                                epilog="\n".join(__doc__.splitlines()[2:6]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", default="irgen", help="irgen, or a feature model (smallcnn, effnet, ...)")
    p.add_argument("--backend", default="linear", help="search backend for a feature model")
    p.add_argument("--dataset", default="embedded")
    p.add_argument("--protocol", default="paper", choices=["paper", "dml"])
    p.add_argument("--limit", type=int, help="keep at most N images per split (seeded), as bench.run")
    p.add_argument("--beam", type=int_list, default=[1, 10, 20, 30], help="IRGen beam sizes")
    p.add_argument("--batch", type=int_list, default=[1, 16, 128], help="queries per batch")
    p.add_argument("--k", type=int, default=100, help="results per query (the ranking depth bench.run keeps)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per setting (the median is kept)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    p.add_argument("--db-size", type=int, help="a synthetic database of N random identifiers / vectors")
    p.add_argument("--untrained", action="store_true", help="time a randomly initialised model (no training)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a method config value, as bench.run")
    p.add_argument("--data-root", type=Path)
    p.add_argument("--weights", type=Path)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast the networks")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--cache", type=Path, default=Path("cache"))
    p.add_argument("--force", action="store_true", help="re-time cells already in results/throughput/")
    p.add_argument("--no-progress", action="store_true")
    return p


def median_stages(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per stage, the median of its seconds over the runs."""
    return {stage: statistics.median(r[stage] for r in runs) for stage in runs[0]}


def throughput_rows(stages: dict[str, float], batch: int) -> list[tuple[str, int, float]]:
    """Median seconds per stage for one batch -> ms per query per stage, the total, and queries/s."""
    rows = [(f"ms_per_query_{stage}", 0, 1e3 * s / batch) for stage, s in stages.items()]
    total = sum(stages.values())
    rows += [("ms_per_query_total", 0, 1e3 * total / batch), ("qps", 0, batch / total if total else 0.0)]
    return rows


def query_indices(n_queries: int, batch: int) -> np.ndarray:
    """The first ``batch`` queries (cycled where the split has fewer)."""
    return np.arange(batch) % n_queries


def timed(fn, stopwatch: Stopwatch, repeats: int, warmup: int) -> list[dict[str, float]]:
    for _ in range(warmup):
        fn(Stopwatch())
    runs = []
    for _ in range(repeats):
        stopwatch.seconds = {}
        fn(stopwatch)
        runs.append(dict(stopwatch.seconds))
    return runs


def autocast(dtype: str, device: str):
    """bf16 autocast for ``--dtype bf16``, nothing for fp32."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if dtype == "bf16" else nullcontext()


class IRGenTimer:
    """IRGen's model and prefix tree, ready to time a batch of queries stage by stage."""

    def __init__(self, method, ds, args, ctx: RunContext):
        self.ctx, self.args = ctx, args
        if args.untrained:
            self.encoder, self.decoder, vocab = untrained_irgen(method, ctx)
        else:
            method.fit(ds, ctx)
            self.encoder, self.decoder, vocab = method.encoder, method.decoder, method.identifiers.vocab_size
        self.encoder.eval()
        self.decoder.eval()
        rng = np.random.default_rng(args.seed)
        if args.db_size or args.untrained:
            n = args.db_size or len(ds.database)
            codes = rng.integers(0, vocab, (n, method.seq_len))
            start = time.perf_counter()
            from methods.irgen.prefix_tree import PrefixTree

            self.tree = PrefixTree.build(codes, vocab).to(ctx.device)
            self.build_s = time.perf_counter() - start
        else:
            start = time.perf_counter()
            method.index(ds.database, ctx)
            self.tree, self.build_s = method.tree, time.perf_counter() - start
        self.n_items = self.tree.n_items

    def extra(self) -> dict[str, float]:
        return {"db_items": float(self.n_items), "n_identifiers": float(self.tree.n_leaves),
                "tree_bytes": float(self.tree.nbytes()), "index_s": self.build_s,
                "input_px": float(self.encoder.image_size)}

    def run(self, query, idx: np.ndarray, beam: int, stopwatch: Stopwatch) -> None:
        from methods.irgen.beam_search import beam_search, expand_to_items

        device = self.ctx.device
        with torch.no_grad():
            with stopwatch("preprocess"):
                x = self.encoder.normalise(load_batch(query, idx, self.encoder.image_size), device)
            with stopwatch("encoder"), autocast(self.args.dtype, device):
                memory = self.encoder(x)[1]
            _, _, leaves = beam_search(self.decoder, memory, self.tree, beam, stopwatch=stopwatch,
                                       bf16=self.args.dtype == "bf16")
            with stopwatch("lookup"):
                expand_to_items(leaves, self.tree, self.args.k).cpu()


def untrained_irgen(method, ctx: RunContext):
    """A randomly initialised encoder and decoder of the method's configured sizes."""
    from methods.irgen.decoder import Decoder
    from methods.irgen.encoder import Encoder, ViTBackbone, build_encoder

    cfg = method.cfg
    if cfg.encoder.kind == "clip-vit-b16":  # the paper's tower, random weights: no CLIP file needed
        import open_clip

        torch.manual_seed(ctx.seed)
        visual = open_clip.create_model("ViT-B-16", pretrained=None).visual
        encoder = Encoder(cfg.encoder, ViTBackbone(visual, cfg.encoder.frozen_blocks), {"random_seed": ctx.seed})
    else:  # effnet (its packaged weights are always here) or the small ViT (random init)
        encoder = build_encoder(cfg.encoder, ctx, seed=ctx.seed)
    vocab = cfg.tokenizer.L
    dcfg = dataclasses.replace(cfg.decoder, vocab_size=vocab, seq_len=method.seq_len, memory_dim=cfg.encoder.memory_dim)
    return encoder.to(ctx.device), Decoder(dcfg).to(ctx.device), vocab


class FeatureTimer:
    """A feature model and its backend's index, ready to time a batch of queries."""

    def __init__(self, method, ds, args, ctx: RunContext):
        self.ctx, self.args, self.model = ctx, args, method.model
        if args.untrained:
            raise HarnessError("--untrained is for IRGen; a feature model is timed as bench.run trains it")
        method.fit(ds, ctx)
        self.model.eval_mode()
        if args.db_size:
            from methods.features.cache import cached_features

            width = cached_features(self.model, ds.query, ctx)[0].shape[1]
            X = np.random.default_rng(args.seed).standard_normal((args.db_size, width)).astype(np.float32)
            self.index = make_backend(method.backend_name, metric=self.model.metric, device=ctx.device,
                                      **method.build_params)
            cached_build(self.index, X, ctx.cache("indexes"))
        else:
            method.index(ds.database, ctx)
            self.index = method.index_impl
        self.n_items = args.db_size or len(ds.database)

    def extra(self) -> dict[str, float]:
        stats = self.index.stats()
        return {"db_items": float(self.n_items), "build_s": stats["build_s"], "index_bytes": stats["memory_bytes"],
                "input_px": float(self.model.image_size)}

    def run(self, query, idx: np.ndarray, setting: dict, stopwatch: Stopwatch) -> None:
        device = self.ctx.device
        with torch.no_grad():
            with stopwatch("preprocess"):
                x = self.model.normalise(load_batch(query, idx, self.model.image_size), device)
            with stopwatch("feature"), autocast(self.args.dtype, device):
                q = self.model.encode(x).float().cpu().numpy().astype(np.float32)
        self.index.set_query_params(**setting)
        self.index.search(q, self.args.k)
        stopwatch.seconds["search"] = stopwatch.seconds.get("search", 0.0) + self.index.last_search_s


def setting_text(values: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items())


def run(args) -> int:
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError("--device cuda: no CUDA device is visible here; use --device cpu")
    for name, value in (("--repeats", args.repeats), ("--db-size", args.db_size or 1)):
        if value < 1:
            raise HarnessError(f"{name} {value}: give a positive number")
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset, root=args.data_root, protocol=args.protocol, limit=args.limit, seed=args.seed)
    options = MethodOptions(backend=args.backend, beams=tuple(args.beam), overrides=parse_sets(args.sets))
    method = make_method(args.method, options)
    ctx = RunContext(device=args.device, seed=args.seed, cache_dir=args.cache, weights_dir=args.weights,
                     progress=not args.no_progress, dtype=args.dtype)
    irgen = args.method == "irgen"
    settings = [{"beam": b} for b in args.beam] if irgen else method.settings()
    store = ResultStore(args.results / "throughput")
    hw = hardware(args.device)
    machine = {k: hw.get(k) for k in ("cpu_model", "cpus", "gpu", "torch_threads")}
    where = {"device": args.device, "dtype": args.dtype, "db": args.db_size or "dataset",
             "model": "untrained" if args.untrained else "trained"}
    cells = []
    for setting in settings:
        for batch in args.batch:
            label = setting_text({**setting, "batch": batch, **where})
            record = cell_record(ds, args, method, label)
            record["cell_id"] = digest("throughput", record, ds.fingerprint, method.describe(), args.k,
                                       args.repeats, args.warmup, machine)
            cells.append((setting, batch, record))
    done = store.finished_cells()
    todo = [c for c in cells if args.force or c[2]["cell_id"] not in done]
    log.info("%s on %s: %d of %d throughput cells to time", method.name, ds.name, len(todo), len(cells))
    if todo:
        run_id = new_run_id()
        store.write_manifest(run_id, {"run_id": run_id, "kind": "throughput", "argv": sys.argv,
                                      "dataset": {"name": ds.name, "fingerprint": ds.fingerprint},
                                      "repeats": args.repeats, "warmup": args.warmup, "k": args.k,
                                      "db_size": args.db_size, "untrained": args.untrained,
                                      "method": method.describe(), "code": git_version(),
                                      "packages": package_versions(), "hardware": hw})
        timer = (IRGenTimer if irgen else FeatureTimer)(method, ds, args, ctx)
        sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
        for setting, batch, record in tqdm(todo, desc="throughput", disable=args.no_progress):
            idx = query_indices(len(ds.query), batch)
            value = setting["beam"] if irgen else setting
            runs = timed(lambda sw: timer.run(ds.query, idx, value, sw), Stopwatch(sync=sync),
                         args.repeats, args.warmup)
            stages = median_stages(runs)
            rows = throughput_rows(stages, batch)
            rows += [(name, 0, v) for name, v in timer.extra().items()]
            rows += [("batch", 0, float(batch)), ("repeats", 0, float(args.repeats))]
            store.write_cell([{**record, "run_id": run_id, "metric": m, "k": k, "value": v} for m, k, v in rows])
    table = store.load()
    mine = table[table["cell_id"].isin({c[2]["cell_id"] for c in cells})]
    print(summary(mine, irgen))
    if irgen:
        print(target_lines(mine))
    print(f"\nresults: {store.table}")
    return 0


def summary(table, irgen: bool) -> str:
    """ms per query per stage and queries per second, one line per cell."""
    stages = IRGEN_STAGES if irgen else FEATURE_STAGES
    header = f"{'setting':<58} " + " ".join(f"{s:>10}" for s in stages) + f" {'total':>9} {'queries/s':>10}"
    lines = ["ms per query (median of the repeats)", header]
    for setting, rows in table.groupby("setting", sort=False):
        v = dict(zip(rows.metric, rows.value))
        cols = " ".join(f"{v.get(f'ms_per_query_{s}', float('nan')):>10.3f}" for s in stages)
        lines.append(f"{setting:<58} {cols} {v['ms_per_query_total']:>9.3f} {v['qps']:>10.1f}")
    return "\n".join(lines)


TARGET_BATCH = 128


def target_lines(table) -> str:
    """The issue's CPU targets as ratios measured in this run (batch 128, beams 10 and 30)."""
    cells = {}
    for setting, rows in table.groupby("setting", sort=False):
        pairs = parse_setting(setting)
        if pairs.get("batch") == str(TARGET_BATCH) and pairs.get("db") == "dataset":
            cells[int(pairs["beam"])] = dict(zip(rows.metric, rows.value))
    if 10 not in cells:
        return f"(targets: need beam 10 at batch {TARGET_BATCH} on the dataset's database)"
    b10 = cells[10]
    search = b10["ms_per_query_decoder"] + b10["ms_per_query_masks"]
    lines = [f"targets at batch {TARGET_BATCH}, beam 10 (ratios measured in this run):",
             check("(decoder + masks) / encoder", search / b10["ms_per_query_encoder"], 1.0),
             check("masks / decoder", b10["ms_per_query_masks"] / b10["ms_per_query_decoder"], 0.10)]
    if 30 in cells:
        b30 = cells[30]
        lines.append(check("beam 30 / beam 10, ms per query in total",
                           b30["ms_per_query_total"] / b10["ms_per_query_total"], 2.0))
        lines.append(f"  (beam 30 / beam 10, decoder + masks alone: "
                     f"{(b30['ms_per_query_decoder'] + b30['ms_per_query_masks']) / search:.2f}; "
                     "the decoder's work grows with the number of beams)")
    return "\n".join(lines)


def check(what: str, ratio: float, limit: float) -> str:
    return f"  {what}: {ratio:.3f} (target <= {limit:g}) {'ok' if ratio <= limit else 'MISSED'}"


def main(argv: list[str] | None = None) -> int:
    return guarded(run, build_parser().parse_args(argv),
                   "finished cells are saved in results/throughput/; run again to continue")


if __name__ == "__main__":
    sys.exit(main())
