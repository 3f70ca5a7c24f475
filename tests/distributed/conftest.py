"""Launching the harness's commands as child processes: one process, or two under torchrun
(``sys.executable -m torch.distributed.run``, gloo on CPU), one thread each."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[2]
DATA = ["--dataset", "digits", "--limit", "300", "--no-progress"]
# IRGen at a size that trains in seconds: all 16 EfficientNet blocks frozen (no drop-connect
# randomness left in the trained part; its last batch norm still trains), 2 codebooks of 16.
IRGEN = ["--method", "irgen", *[a for kv in (
    "encoder.image_size=32", "encoder.frozen_blocks=16", "encoder.dim=32", "encoder.memory_dim=32",
    "tokenizer.M=2", "tokenizer.L=16", "tokenizer.train.epochs=2", "tokenizer.train.batch_size=64",
    "decoder.width=32", "decoder.depth=1", "decoder.heads=2", "train.epochs=2", "train.batch_size=64", "min_steps=0")
    for a in ("--set", kv)], "--checkpoint-every", "4"]


def launch(module: str, *args: str, procs: int = 1, env: dict | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
    """``python -m module args`` in one process, or under torchrun with ``procs`` processes."""
    runner = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs)]
              if procs > 1 else [sys.executable])
    full_env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    full_env.update(OMP_NUM_THREADS="1", **(env or {}))
    done = subprocess.run([*runner, "-m", module, *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def loss_curves(cache: Path) -> dict[str, np.ndarray]:
    return {p.name: np.array(json.loads(p.read_text())) for p in sorted((cache / "models").glob("*.losses.json"))}


def max_weight_diff(a: Path, b: Path) -> float:
    worst = 0.0
    for pa in sorted(a.glob("*.pt")):
        sa, sb = torch.load(pa, weights_only=False), torch.load(b / pa.name, weights_only=False)
        worst = max([worst] + [(sa[k].double() - sb[k].double()).abs().max().item() for k in sa if sa[k].numel()])
    return worst


def quality_rows(results: Path) -> pd.DataFrame:
    """The results rows without the timing ones (those may differ between runs)."""
    table = pd.read_csv(results / "results.csv")
    timing = table["metric"].str.contains(r"time_|ms_per_query|qps|_s$|build_s", regex=True)
    return table[~timing].sort_values(["cell_id", "metric", "k"]).reset_index(drop=True)
