"""Where a method's search time goes, through the Method interface alone: for each query
setting and batch size, ``Method.search_batch`` on that many query images, timed by the one
timer (methods/runtime/timing.py). Queries per second is the batch over the median whole-batch wall
time of the repeats after the warm-up (the loop as it runs, never waiting on the device
between stages); the milliseconds per query of each stage come from a separate profile, the
device synchronised around every stage, so the breakdown never slows the loop whose total is
reported. A batch of one query is ``qps_single``, a larger one ``qps_batch``: never one name
for both. Any method is timed without a change here; the stages are the ones it times (IRGen:
preprocess, encoder, decoder, masks, lookup; a feature method: preprocess, feature, search).
``query_rows`` times bench.run's query path the same way, each batch of the query set once.

Rows go to ``results/throughput/`` (the results store's format; one cell per method x
setting x batch x device x dtype x database; finished cells are skipped unless
``--force``) and feed Figure 5 and the queries-per-second figures of the report."""
from __future__ import annotations

import functools
import logging
import statistics
import sys

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from bench.cli import check_device, context_from, dataset_from, method_from, require_backend
from bench.results import ResultStore, cell_record, model_column
from bench.results.manifest import git_version, hardware, new_run_id, package_versions
from methods.base import Stopwatch, setting_label
from methods.runtime.files import digest
from methods.runtime.timing import Timer, device_sync, median_stages, threads, timed

log = logging.getLogger(__name__)

TARGET_BATCH = 128
# bench.run times a sample of its query batches, not all: a cell's queries/s is the median of
# TIMED_BATCHES whole-batch times by default (``--timed-batches``; the accuracy comes from every
# query, searched apart), and its per-stage profile the median of PROFILED_BATCHES more passes
TIMED_BATCHES = 8
PROFILED_BATCHES = 2


COUNTS = ("query_batch", "timed_batches")  # speed_rows' rows that are counts, not times


def qps_name(batch: int) -> str:
    """``qps_single`` for one query per call, ``qps_batch`` for more."""
    return "qps_single" if batch == 1 else "qps_batch"


def speed_rows(batch_seconds: list[float], batch: int, stages: dict[str, float]) -> list[tuple[str, int, float]]:
    """Whole-batch wall seconds of ``batch`` queries each and a profile's median seconds per stage
    for one batch -> queries/s (the batch over the median whole-batch time), the median itself,
    ms per query in total and, from the profile, per stage."""
    median = statistics.median(batch_seconds)
    rows = [(qps_name(batch), 0, batch / median if median > 0 else 0.0), ("query_batch", 0, float(batch)),
            ("batch_s", 0, median), ("timed_batches", 0, float(len(batch_seconds))),
            ("ms_per_query_total", 0, 1e3 * median / batch)]
    return rows + [(f"ms_per_query_{stage}", 0, 1e3 * s / batch) for stage, s in stages.items()]


def timed_batches(n_queries: int, batch: int, most: int = TIMED_BATCHES) -> list[np.ndarray]:
    """The query rows of each batch bench.run times: the full batches of ``batch`` queries (one of all
    where there are fewer), at most ``most`` of them, spread evenly over the split."""
    size = min(batch, n_queries)
    starts = range(0, n_queries - size + 1, size)
    picked = np.unique(np.linspace(0, len(starts) - 1, min(most, len(starts))).round().astype(int))
    return [np.arange(starts[i], starts[i] + size) for i in picked]


def query_rows(method, query, k: int, setting: dict, ctx, batch: int,
               most: int = TIMED_BATCHES) -> list[tuple[str, int, float]]:
    """bench.run's speed of the query path, measured in this run from the images (query features
    or encoder, then the search; nothing from a cache): ``timed_batches`` (at most ``most``) each
    timed once end to end, then the first ``PROFILED_BATCHES`` of them profiled stage by stage."""
    batches = timed_batches(len(query), batch, most)
    size = len(batches[0])
    sync = device_sync(ctx.device)
    seconds = [timed(lambda: method.search_batch(query, rows, k, setting, ctx, Stopwatch()), sync)[1]
               for rows in batches]
    profiles = []
    for rows in batches[:PROFILED_BATCHES]:
        watch = Stopwatch(sync)
        method.search_batch(query, rows, k, setting, ctx, watch)
        profiles.append(watch.seconds)
    return speed_rows(seconds, size, median_stages(profiles))


def query_indices(n_queries: int, batch: int) -> np.ndarray:
    """The first ``batch`` queries (cycled where the split has fewer)."""
    return np.arange(batch) % n_queries


def run(args) -> pd.DataFrame:
    check_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = dataset_from(args)
    method = method_from(args, untrained=args.untrained)
    ctx = context_from(args)
    store = ResultStore(args.results / "throughput")
    hw = hardware(args.device)
    machine = {k: hw.get(k) for k in ("cpu_model", "cpus", "gpu", "torch_threads")}
    where = {"device": args.device, "dtype": args.dtype, "db": args.db_size or "dataset",
             "model": "untrained" if args.untrained else "trained"}
    cells = []
    for setting in method.settings(args.db_size or len(ds.database)):
        for batch in args.batch:
            label = setting_label({**setting, "batch": batch, **where})
            record = cell_record(ds, method, label, args.limit, args.seed, device=args.device)
            record["cell_id"] = digest("throughput", record, ds.fingerprint, method.describe(), args.depth,
                                       args.repeats, args.warmup, machine)
            record["model"] = model_column(method)
            cells.append((setting, batch, record))
    done = store.finished_cells()
    todo = [c for c in cells if args.force or c[2]["cell_id"] not in done]
    log.info("%s on %s: %d of %d throughput cells to time", method.name, ds.name, len(todo), len(cells))
    if todo:
        require_backend(method)
        time_cells(method, ds, ctx, args, todo, store, hw)
    table = store.load()
    return table[table["cell_id"].isin({c[2]["cell_id"] for c in cells})]


def time_cells(method, ds, ctx, args, todo: list, store: ResultStore, hw: dict) -> None:
    run_id = new_run_id()
    store.write_manifest(run_id, {"run_id": run_id, "kind": "throughput", "argv": sys.argv,
                                  "dataset": {"name": ds.name, "fingerprint": ds.fingerprint},
                                  "repeats": args.repeats, "warmup": args.warmup, "depth": args.depth,
                                  "db_size": args.db_size, "untrained": args.untrained, "method": method.describe(),
                                  "code": git_version(), "packages": package_versions(), "hardware": hw})
    method.fit(ds, ctx)
    if args.db_size:
        method.index_synthetic(args.db_size, ctx)
    else:
        method.index(ds.database, ctx)
    stats = method.stats()
    timer = Timer.for_device(args.device, args.repeats, args.warmup)
    for setting, batch, record in tqdm(todo, desc="throughput", disable=args.no_progress):
        rows = query_indices(len(ds.query), batch)
        search = functools.partial(method.search_batch, ds.query, rows, args.depth, setting, ctx)  # (watch) -> ids
        values = speed_rows(timer.batch_seconds(search), batch, timer.profile(search))
        values += [(name, 0, float(v)) for name, v in stats.items()]
        values += [("batch", 0, float(batch)), ("repeats", 0, float(args.repeats)), ("threads", 0, float(threads()))]
        store.write_cell([{**record, "run_id": run_id, "metric": m, "k": k, "value": v} for m, k, v in values])


def summary(table: pd.DataFrame) -> str:
    """ms per query per stage and queries per second, one line per cell, stages in the order timed."""
    if table.empty:
        return "(no throughput cells)"
    stages = list(dict.fromkeys(m[len("ms_per_query_"):] for m in table["metric"]
                                if m.startswith("ms_per_query_") and m != "ms_per_query_total"))
    header = f"{'setting':<58} " + " ".join(f"{s:>10}" for s in stages) + f" {'total':>9} {'queries/s':>10}"
    lines = ["ms per query: total = the median whole-batch time; stages = a separate, synchronised profile; "
             "queries/s of batch 1 is single-query, of larger batches batched", header]
    for setting, rows in table.groupby("setting", sort=False):
        v = dict(zip(rows.metric, rows.value))
        cols = " ".join(f"{v.get(f'ms_per_query_{s}', float('nan')):>10.3f}" for s in stages)
        qps = v.get("qps_batch", v.get("qps_single", float("nan")))
        lines.append(f"{setting:<58} {cols} {v['ms_per_query_total']:>9.3f} {qps:>10.1f}")
    return "\n".join(lines)


def target_lines(table: pd.DataFrame) -> str:
    """IRGen's CPU targets as ratios measured in this run (batch 128, beams 10 and 30), where the
    cells have beams and decoder / masks / encoder stages; else nothing."""
    from methods.base import parse_setting

    cells = {}
    for setting, rows in table.groupby("setting", sort=False):
        pairs = parse_setting(setting)
        if pairs.get("batch") == str(TARGET_BATCH) and pairs.get("db") == "dataset" and "beam" in pairs:
            cells[int(pairs["beam"])] = dict(zip(rows.metric, rows.value))
    b10 = cells.get(10, {})
    if not {"ms_per_query_decoder", "ms_per_query_masks", "ms_per_query_encoder"} <= set(b10):
        return ""
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
