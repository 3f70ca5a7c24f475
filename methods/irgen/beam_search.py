"""Beam search constrained to the prefix tree of the database's identifiers (paper 3.2-3.3).

The score of an identifier l_1..l_M for a query x is the model's log-probability of it,

    score = sum_m log p(l_m | x, l_1 .. l_{m-1}),   p = softmax over all L codes,

the log_softmax taken over the whole vocabulary and the tokens that leave the tree then
set to -inf: the constraint chooses which continuations are allowed, it does not
renormalise the probability among them (as Hugging Face's prefix-constrained beam
search). Renormalising would let a node with one child pass it on at probability 1,
whatever the model thinks of it. ``reference_beam_search`` and ``exhaustive_ranking``
use the same score, so with beam >= the number of identifiers beam search prunes
nothing and returns the exhaustive ranking.

Every query and beam is one row of one batch (B * beam rows); a step is one decoder
step with a KV cache, one mask gather from the tree, one top-k over beam * L candidates
per query, and one reorder of the cache. The loop reads nothing back to the host.
Stopwatch stages: "masks" is the validity check (tree masks and child lookups),
"decoder" the rest (decoder steps, top-k, reordering). The decoder runs in fp32 unless
``bf16`` asks for bf16 autocast; the scores are summed in fp32 either way.

``steps`` picks the decoder's KV cache: "cached" grows it by one position a step (the
default, the fastest on a CPU); "static" preallocates B * beam rows of every position
(``StaticDecoder``: the first step runs beam copies of each query's one row, the price
of fixed shapes); "compiled" is "static" under torch.compile, replayed as CUDA graphs on
CUDA. All three return the same beams.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor

from methods.base import Stopwatch
from methods.irgen.decoder import Decoder
from methods.irgen.prefix_tree import PrefixTree


def check_compatible(decoder: Decoder, memory: Tensor, tree: PrefixTree):
    c = decoder.config
    if c.vocab_size != tree.vocab_size or c.seq_len < tree.seq_len:
        raise ValueError(f"decoder writes {c.seq_len} tokens of {c.vocab_size} codes, the database "
                         f"identifiers are {tree.seq_len} tokens of {tree.vocab_size}: rebuild one to match")
    if tree.device != memory.device:
        raise ValueError(f"prefix tree on {tree.device}, queries on {memory.device}: "
                         f"move the tree once with tree.to(device)")


STEPS = ("cached", "static", "compiled")


@torch.no_grad()
def beam_search(decoder: Decoder, memory: Tensor, tree: PrefixTree, beam: int, stopwatch: Stopwatch | None = None,
                bf16: bool = False, steps: str = "cached") -> tuple[Tensor, Tensor, Tensor]:
    """memory (B, S, D) -> codes (B, beam, M) long, scores (B, beam) float, leaf ids (B, beam)
    long, best first. Beams left empty (the tree holds fewer than ``beam`` identifiers)
    get score -inf, codes -1 and leaf -1. Stopwatch stages: "decoder" and "masks".
    ``bf16``: run the decoder under bf16 autocast; ``steps``: its cache (module doc)."""
    check_compatible(decoder, memory, tree)
    if beam < 1:
        raise ValueError(f"beam size must be at least 1, got {beam}")
    if steps not in STEPS:
        raise ValueError(f"steps={steps!r}: choose one of {', '.join(STEPS)}")
    clock = stopwatch or (lambda stage: nullcontext())
    b, device = memory.shape[0], memory.device
    query = torch.arange(b, device=device)[:, None]  # (B, 1)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        with clock("decoder"):
            step = (GrowingCache(decoder, memory) if steps == "cached"
                    else StaticCache(decoder, memory, beam, compiled=steps == "compiled"))
            prev = torch.full((b,), decoder.bos, dtype=torch.long, device=device)
            scores = memory.new_zeros(b, 1, dtype=torch.float)  # (B, width)
            codes = torch.empty(b, 1, 0, dtype=torch.long, device=device)  # (B, width, level)
        node = torch.zeros(b, dtype=torch.long, device=device)  # the root
        for level in range(tree.seq_len):
            width = scores.shape[1]  # rows per query: 1, then beam
            with clock("decoder"):
                logp = F.log_softmax(step(prev).float(), dim=-1)  # (B * width, L)
            with clock("masks"):
                valid = tree.valid_mask(node, level)  # (B * width, L)
            with clock("decoder"):
                scores, parent, token = best_extensions(scores, logp, valid, beam)  # (B, beam) each
                rows = (query * width + parent).view(-1)  # (B * beam,) grouped by query
                codes = torch.cat([codes[query, parent], token[..., None]], dim=2)
                if level + 1 < tree.seq_len:
                    step.keep(rows, width)
                prev = token.view(-1)
            with clock("masks"):
                node = tree.child(node[rows], prev).masked_fill(scores.view(-1) == float("-inf"), -1)
    empty = scores == float("-inf")
    leaves = (node.view(b, beam) - tree.first_leaf).masked_fill(empty, -1)
    return codes.masked_fill(empty[..., None], -1), scores, leaves


class GrowingCache:
    """Decoder steps over ``Decoder``'s own cache, which grows by one position a step."""

    def __init__(self, decoder: Decoder, memory: Tensor):
        self.decoder, self.state = decoder, decoder.start(memory)

    def __call__(self, prev: Tensor) -> Tensor:
        """prev (B * width,) -> logits (B * width, L)"""
        logits, self.state = self.decoder.step(self.state, prev)
        return logits

    def keep(self, rows: Tensor, width: int) -> None:
        """New row j continues row rows[j] of the ``width`` rows per query so far."""
        self.state = self.decoder.expand(self.state, rows)


class StaticCache:
    """Decoder steps over a ``StaticDecoder``: B * beam rows from the first step on, the
    same shapes at every step; each call returns the rows beam search reads."""

    def __init__(self, decoder: Decoder, memory: Tensor, beam: int, compiled: bool):
        self.static = decoder.static_decoder(decoder.cross_kv(memory), beam, compiled)
        self.beam, self.width = beam, 1
        self.rows = torch.arange(len(memory) * beam, device=memory.device)  # no reordering before the first step
        self.positions = iter(torch.arange(decoder.config.seq_len, device=memory.device))
        self.replay = compiled and memory.is_cuda

    def __call__(self, prev: Tensor) -> Tensor:
        if self.replay:  # the last step's outputs are read: the next replay may overwrite them
            torch.compiler.cudagraph_mark_step_begin()
        logits = self.static(prev.repeat_interleave(self.beam // self.width), self.rows, next(self.positions))
        return logits[:: self.beam // self.width]  # the first step: each query's row, not its beam copies

    def keep(self, rows: Tensor, width: int) -> None:
        self.rows = rows // width * self.beam + rows % width  # the same rows in the layout of beam per query
        self.width = self.beam


def best_extensions(scores: Tensor, logp: Tensor, valid: Tensor, beam: int):
    """scores (B, W) of the prefixes so far, logp and valid (B * W, L) for their next token
    -> the ``beam`` best valid one-token extensions per query: scores, parent (which of the
    W prefixes), token, (B, beam) each. Missing extensions get score -inf, parent and token 0."""
    b, width = scores.shape
    vocab = logp.shape[1]
    cand = (scores.view(-1, 1) + logp).masked_fill(~valid, float("-inf")).view(b, width * vocab)
    cand = F.pad(cand, (0, max(0, beam - width * vocab)), value=float("-inf"))  # top-k needs beam
    scores, flat = cand.topk(beam, dim=1)
    flat = flat.masked_fill(scores == float("-inf"), 0)  # padding or invalid: point at a real row
    return scores, flat // vocab, flat % vocab


def expand_to_items(leaf_ids: Tensor, tree: PrefixTree, k: int) -> Tensor:
    """leaf_ids (B, beam) (-1: empty) -> (B, k) database items: every image of the first
    beam's identifier, then of the second, ..., cut at k and padded with -1."""
    return _expand(leaf_ids, tree, k)[0]


def expand_with_scores(leaf_ids: Tensor, scores: Tensor, tree: PrefixTree, k: int) -> tuple[Tensor, Tensor]:
    """``expand_to_items`` and, per item, the score of the beam that returned it: (B, k) items,
    (B, k) scores (-inf where the item is -1). Images of one identifier share its score."""
    items, owner = _expand(leaf_ids, tree, k)
    return items, torch.where(items >= 0, scores.gather(1, owner), float("-inf"))


def _expand(leaf_ids: Tensor, tree: PrefixTree, k: int) -> tuple[Tensor, Tensor]:
    """(B, k) items as ``expand_to_items``, and the beam (B, k) that fills each slot."""
    b, beam = leaf_ids.shape
    leaf = leaf_ids.clamp(min=0)
    start = tree.leaf_ptr[leaf]  # (B, beam) first position of each beam's items in leaf_items
    count = torch.where(leaf_ids >= 0, tree.leaf_ptr[leaf + 1] - start, 0)
    end = count.cumsum(dim=1)  # (B, beam) results up to and including each beam
    slot = torch.arange(k, device=leaf.device).expand(b, k).contiguous()
    owner = torch.searchsorted(end, slot, right=True)  # (B, k) beam that fills each slot
    filled = owner < beam
    owner = owner.clamp(max=beam - 1)
    offset = slot - (end - count).gather(1, owner)
    position = (start.gather(1, owner) + offset).clamp(0, tree.n_items - 1)
    return torch.where(filled, tree.leaf_items[position], -1), owner


@torch.no_grad()
def reference_beam_search(decoder: Decoder, memory: Tensor, tree: PrefixTree,
                          beam: int) -> tuple[Tensor, Tensor, Tensor]:
    """The test oracle: beam search for one query (memory (1, S, D)) in plain Python, the
    full prefix through ``decoder.forward`` at every step. Same outputs as ``beam_search``."""
    identifiers = tree.identifiers().tolist()
    m = tree.seq_len
    hypotheses = [(0.0, [])]  # (score, prefix)
    for t in range(m):
        candidates = []
        for score, prefix in hypotheses:
            tokens = torch.tensor([prefix + [0]], device=memory.device)  # the last token is not read
            logp = F.log_softmax(decoder(memory, tokens)[0, t].float(), dim=-1)
            allowed = sorted({ident[t] for ident in identifiers if ident[:t] == prefix})
            candidates += [(score + logp[tok].item(), prefix + [tok]) for tok in allowed]
        hypotheses = sorted(candidates, key=lambda c: -c[0])[:beam]
    codes = [prefix for _, prefix in hypotheses] + [[-1] * m] * (beam - len(hypotheses))
    scores = [score for score, _ in hypotheses] + [float("-inf")] * (beam - len(hypotheses))
    leaves = [identifiers.index(prefix) for _, prefix in hypotheses] + [-1] * (beam - len(hypotheses))
    return torch.tensor([codes]), torch.tensor([scores]), torch.tensor([leaves])


@torch.no_grad()
def exhaustive_ranking(decoder: Decoder, memory: Tensor, tree: PrefixTree) -> tuple[Tensor, Tensor, Tensor]:
    """Every identifier of the tree scored for every query (memory (B, S, D)) and sorted
    best first, as beam_search with beam = n_leaves would return it: codes (B, n, M),
    scores (B, n), leaf ids (B, n). Same score as beam search (module doc)."""
    check_compatible(decoder, memory, tree)
    identifiers = tree.identifiers()  # (n, M)
    n = len(identifiers)
    scores = []
    for one in memory:  # a query at a time: (n, S, D) at most
        logp = F.log_softmax(decoder(one.expand(n, -1, -1), identifiers).float(), dim=-1)  # (n, M, L)
        scores.append(logp.gather(2, identifiers[..., None]).sum(dim=(1, 2)))
    scores, leaves = torch.stack(scores).sort(dim=1, descending=True, stable=True)
    return identifiers[leaves], scores, leaves
