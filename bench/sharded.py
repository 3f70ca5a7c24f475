"""Searching the queries across torchrun's processes: each process searches a contiguous
block of them, and the ranked ids come back together in query order, so rank 0 computes
the one-process metrics (and stores the one-process ranking, scores included). Timings and
tallies are summed over the processes (seconds of work, as a one-process run sums them over
its queries)."""
from __future__ import annotations

import numpy as np

from methods.base import Retrieval
from methods.runtime import distributed


def sharded_search(method, query, k: int, setting: dict, ctx, align: int = 1) -> Retrieval:
    """``method.search`` over this process's block of ``query`` (block edges at multiples of
    ``align``), gathered on every process; in one process, the plain search."""
    if distributed.world_size() == 1:
        return method.search(query, k, setting, ctx)
    rows = distributed.shard(len(query), align)
    part = method.search(query.subset(rows), k, setting, ctx) if len(rows) else None
    parts = [p for p in distributed.all_objects(part) if p is not None]
    timings: dict[str, float] = {}
    tallies: dict[str, int] = {}
    for p in parts:
        for stage, seconds in p.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        for name, count in p.tallies.items():
            tallies[name] = tallies.get(name, 0) + count
    ids = np.concatenate([p.ids for p in parts]).astype(np.int64)
    scores = np.concatenate([p.scores for p in parts]) if parts[0].scores is not None else None
    return Retrieval(ids=ids, timings=timings, scores=scores, score_kind=parts[0].score_kind, tallies=tallies)
