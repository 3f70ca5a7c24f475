"""Speed of IRGen's constrained beam search on CPU, and size of the prefix tree.

    python benchmarks/bench_beam_search.py                      # defaults below
    python benchmarks/bench_beam_search.py --beams 1,10 --batches 1,32 --threads 2

Part 1 times beam_search per beam size and query batch size, for a randomly initialised
decoder (DecoderConfig defaults unless overridden) over a database of random identifiers,
with the per-stage breakdown (decoder, masks) in milliseconds per query, from the
median of the timed rounds (robust to other load on the machine).
Part 2 builds the prefix tree of --tree-items random identifiers: build time, the peak of
numpy allocations during the build (tracemalloc), and the size of the finished tree.
"""
import argparse
import time
import tracemalloc

import numpy as np
import torch

from methods.base import Stopwatch
from methods.irgen.beam_search import beam_search
from methods.irgen.decoder import Decoder, DecoderConfig
from methods.irgen.prefix_tree import PrefixTree


def ints(text):
    return [int(x) for x in text.split(",")]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--beams", type=ints, default=[1, 10, 20, 30])
    p.add_argument("--batches", type=ints, default=[1, 16, 64])
    p.add_argument("--items", type=int, default=10_000, help="database size searched by the beam search")
    p.add_argument("--tree-items", type=int, default=1_000_000, help="identifiers for the build benchmark")
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=4)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--memory-tokens", type=int, default=50, help="encoder tokens per query (7x7 + cls)")
    p.add_argument("--queries", type=int, default=128, help="queries timed per setting (at least 3 batches)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def bench_search(args):
    config = DecoderConfig(vocab_size=args.vocab, seq_len=args.seq_len, width=args.width,
                           depth=args.depth, heads=args.heads, memory_dim=args.width)
    decoder = Decoder(config).eval()
    rng = np.random.default_rng(args.seed)
    tree = PrefixTree.build(rng.integers(0, args.vocab, (args.items, args.seq_len)), args.vocab)
    print(f"decoder {args.depth}x{args.width}, {args.heads} heads, {args.memory_tokens} memory tokens; "
          f"{args.items} database identifiers of {args.seq_len} x {args.vocab}; {args.threads} threads")
    print(f"{'beam':>5} {'batch':>6} {'ms/query':>9} {'decoder':>8} {'masks':>7} {'queries/s':>10}")
    for beam in args.beams:
        for batch in args.batches:
            memory = torch.randn(batch, args.memory_tokens, args.width)
            beam_search(decoder, memory, tree, beam)  # warm-up
            rounds = [timed_search(decoder, memory, tree, beam) for _ in range(max(3, args.queries // batch))]
            seconds, stages = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]  # the median round
            ms = {name: 1e3 * t / batch for name, t in stages.items()}
            print(f"{beam:>5} {batch:>6} {1e3 * seconds / batch:>9.2f} {ms['decoder']:>8.2f} "
                  f"{ms['masks']:>7.2f} {batch / seconds:>10.1f}")


def timed_search(decoder, memory, tree, beam):
    """One beam search: its seconds, and its seconds per stage."""
    watch = Stopwatch()
    start = time.perf_counter()
    beam_search(decoder, memory, tree, beam, stopwatch=watch)
    return time.perf_counter() - start, watch.seconds


def bench_build(args):
    rng = np.random.default_rng(args.seed)
    codes = rng.integers(0, args.vocab, (args.tree_items, args.seq_len))
    start = time.perf_counter()
    tree = PrefixTree.build(codes, args.vocab)
    seconds = time.perf_counter() - start
    tracemalloc.start()  # a second build, traced: tracing slows allocation, so not timed
    PrefixTree.build(codes, args.vocab)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    dense = len(tree.edge_key) * args.vocab  # what a (n_nodes, L) bool table would take
    print(f"prefix tree of {args.tree_items} random identifiers ({args.seq_len} x {args.vocab}): "
          f"{tree.n_leaves} leaves, {len(tree.edge_key)} nodes, max children per level {tree.max_children}")
    print(f"  build {seconds:.2f} s, peak numpy allocation {peak / 2**20:.1f} MiB, "
          f"tree {tree.nbytes() / 2**20:.1f} MiB (a dense validity table: {dense / 2**20:.0f} MiB)")


if __name__ == "__main__":
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    bench_search(args)
    bench_build(args)
