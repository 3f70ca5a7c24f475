"""Train a method's models, alone or data-parallel under torchrun, into the cache bench.run reads.

    python -m bench.train --method irgen --dataset cub200 --data-root /data
    torchrun --nproc_per_node 4 -m bench.train --method ftclip --dataset cars196 --accumulate 2

Under torchrun every process draws the same global batch (``train.batch_size``) from the
seed and computes its block of it; DistributedDataParallel averages the gradients, batch
norm uses the whole batch's statistics, and rank 0 alone writes checkpoints and the
trained model. A model's cache key names what is trained (method config, data, seed), not
how (processes, ``--accumulate``, ``--amp``), so ``python -m bench.run`` with the same
--dataset / --limit / --seed / --set finds the model and does not train again. A killed
run, started again with the same command, resumes from its last checkpoint, saved every
``--checkpoint-every`` training steps (and after every round of IRGen's tokenizer).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from methods.base import HarnessError
from methods.registry import trainable
from methods.runtime import distributed
from methods.runtime.files import loss_curve_path

from .cli import add_data, add_method, add_run, check_device, context_from, dataset_from, guarded, method_from, \
    parser, positive_int

log = logging.getLogger("bench.train")


def build_parser() -> argparse.ArgumentParser:
    p = parser("python -m bench.train", __doc__)
    add_data(p)
    add_method(p, beams=False)
    p.set_defaults(method=None)
    p.add_argument("--accumulate", type=positive_int, default=1,
                   help="micro-batches per step (gradient accumulation; the global batch stays train.batch_size)")
    add_run(p, results=False)
    return p


def check(args) -> None:
    if args.method is None:
        raise HarnessError(f"give --method: bench.train trains one of: {', '.join(trainable())}")
    if args.method not in trainable():
        raise HarnessError(f"--method {args.method}: nothing to train (an off-the-shelf model); "
                           f"bench.train trains one of: {', '.join(trainable())}")
    check_device(args.device)


def train(args) -> int:
    check(args)
    args.device = distributed.init_from_env(args.device)
    ds = dataset_from(args)
    method = method_from(args)
    ctx = context_from(args, accumulate=args.accumulate)
    log.info("training %s on %s: %d train images, %d process(es), %d micro-batch(es) per step%s",
             method.name, ds.name, len(ds.train), distributed.world_size(), args.accumulate,
             ", bf16 autocast" if ctx.amp else "")
    start = time.time()
    method.fit(ds, ctx)
    distributed.barrier()  # rank 0's files are written before anyone reports or exits
    if distributed.is_main():
        report(method, args.cache, start)
    return 0


def report(method, cache: Path, since: float) -> None:
    """One line per model this run trained (its loss curve is beside it), and how to use it."""
    for curve in sorted((cache / "models").glob("*.losses.json")):
        if curve.stat().st_mtime >= since - 1:
            model = curve.with_name(curve.name.replace(".losses.json", ".pt"))
            print(f"trained {model} (loss curve {loss_curve_path(model).name})")
    print(f"{method.name}: trained models are in {cache / 'models'}; python -m bench.run with the same "
          f"--method, --dataset, --limit, --seed and --set reuses them")


def main(argv: list[str] | None = None) -> int:
    return guarded(train, lambda: build_parser().parse_args(argv),
                   "run the same command again to resume from the last checkpoint", cleanup=distributed.shutdown)


if __name__ == "__main__":
    sys.exit(main())
