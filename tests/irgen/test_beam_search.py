"""Constrained beam search against a plain Python oracle and an exhaustive ranking; its
static and compiled decoder caches against the growing one."""
import functools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from methods.base import Stopwatch
from methods.irgen.beam_search import (beam_search, best_extensions, exhaustive_ranking, expand_to_items,
                                       reference_beam_search)
from methods.irgen.decoder import Decoder, DecoderConfig
from methods.irgen.prefix_tree import PrefixTree

MEMORY_DIM, MEMORY_TOKENS = 8, 3


def random_decoder(seed, vocab, seq_len, depth=1):
    torch.manual_seed(seed)
    config = DecoderConfig(vocab_size=vocab, seq_len=seq_len, width=16, depth=depth, heads=2,
                           memory_dim=MEMORY_DIM)
    decoder = Decoder(config).eval()
    for p in decoder.parameters():  # large weights: peaked, query-dependent distributions
        torch.nn.init.normal_(p, std=0.5)
    return decoder


def random_memory(seed, queries):
    return torch.randn(queries, MEMORY_TOKENS, MEMORY_DIM, generator=torch.Generator().manual_seed(seed))


@st.composite
def searches(draw, max_beam=8):
    """A random database (duplicates included), decoder, queries and beam size."""
    m, vocab = draw(st.integers(1, 4)), draw(st.integers(2, 6))
    pool = draw(st.lists(st.lists(st.integers(0, vocab - 1), min_size=m, max_size=m),
                         min_size=1, max_size=12))
    codes = np.array(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=30)))
    seed = draw(st.integers(0, 2**16))
    extra_positions = draw(st.integers(0, 1))  # a decoder may have positions to spare
    decoder = random_decoder(seed, vocab, m + extra_positions)
    return decoder, PrefixTree.build(codes, vocab), random_memory(seed, draw(st.integers(1, 3))), \
        draw(st.integers(1, max_beam))


def assert_valid(result, tree, beam):
    """Every live beam is a distinct identifier of the tree, its leaf and codes agree,
    best first; the beams that could not be filled are empty."""
    codes, scores, leaves = result
    b = scores.shape[0]
    assert codes.shape == (b, beam, tree.seq_len) and scores.shape == leaves.shape == (b, beam)
    live = min(beam, tree.n_leaves)
    assert torch.isfinite(scores[:, :live]).all() and (scores[:, live:] == float("-inf")).all()
    assert (leaves[:, live:] == -1).all() and (codes[:, live:] == -1).all()
    assert (scores[:, 1:] <= scores[:, :-1]).all()
    assert torch.equal(codes[:, :live], tree.identifiers()[leaves[:, :live]])
    assert all(len(set(row)) == live for row in leaves[:, :live].tolist())


def assert_same_ranking(got, expected, complete, tie=1e-4):
    """Scores close; the same leaves in the same order, up to the order within near-ties
    (and, where the ranking is cut at the beam, which of a tie straddling the cut got in)."""
    (_, got_scores, got_leaves), (_, scores, leaves) = got, expected
    torch.testing.assert_close(got_scores, scores.to(got_scores.dtype), atol=1e-5, rtol=0)
    for q in range(len(scores)):
        gaps = torch.cat([torch.tensor([np.inf]), scores[q, :-1] - scores[q, 1:]])
        block = (gaps > tie).cumsum(0)  # near-tied neighbours share a block; -inf ones too
        last = block.max() + (1 if complete else 0)
        for blk in range(1, int(last)):
            in_block = block == blk
            assert sorted(got_leaves[q, in_block].tolist()) == sorted(leaves[q, in_block].tolist())


@settings(max_examples=30, deadline=None, derandomize=True)
@given(searches())
def test_beam_search_emits_only_database_identifiers(search):
    decoder, tree, memory, beam = search
    assert_valid(beam_search(decoder, memory, tree, beam), tree, beam)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(searches())
def test_batched_search_equals_reference_per_query(search):
    decoder, tree, memory, beam = search
    got = beam_search(decoder, memory, tree, beam)
    expected = [reference_beam_search(decoder, memory[q:q + 1], tree, beam) for q in range(len(memory))]
    expected = tuple(torch.cat(parts) for parts in zip(*expected))
    assert_valid(expected, tree, beam)
    assert_same_ranking(got, expected, complete=beam >= tree.n_leaves)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(searches(), st.integers(0, 3))
def test_wide_beam_returns_the_exhaustive_ranking(search, spare):
    decoder, tree, memory, _ = search
    beam = tree.n_leaves + spare
    got, ranking = beam_search(decoder, memory, tree, beam), exhaustive_ranking(decoder, memory, tree)
    pad = (0, spare)
    expected = (None, torch.nn.functional.pad(ranking[1], pad, value=float("-inf")),
                torch.nn.functional.pad(ranking[2], pad, value=-1))
    assert_same_ranking(got, expected, complete=True)


def test_larger_search_equals_reference():
    rng = np.random.default_rng(0)
    tree = PrefixTree.build(rng.integers(0, 16, (400, 4)), 16)
    decoder, memory = random_decoder(1, 16, 4, depth=2), random_memory(1, 4)
    got = beam_search(decoder, memory, tree, 10)
    expected = tuple(torch.cat(p) for p in zip(*[reference_beam_search(decoder, memory[q:q + 1], tree, 10)
                                                 for q in range(4)]))
    assert_valid(got, tree, 10)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[2], expected[2])
    torch.testing.assert_close(got[1], expected[1], atol=1e-5, rtol=0)
    assert len({tuple(row) for row in got[2].tolist()}) > 1  # queries do differ


@settings(max_examples=15, deadline=None, derandomize=True)
@given(searches())
def test_the_static_cache_returns_the_growing_caches_beams(search):
    decoder, tree, memory, beam = search
    got = beam_search(decoder, memory, tree, beam, steps="static")
    assert_valid(got, tree, beam)
    assert_same_ranking(got, beam_search(decoder, memory, tree, beam), complete=beam >= tree.n_leaves)


@pytest.fixture
def eager_compile(monkeypatch):
    """torch.compile traces (a graph break fails a whole-graph module) but runs eagerly: seconds, not a C++ build."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))


@pytest.mark.parametrize("steps", ["static", "compiled"])
def test_fixed_shape_caches_return_exactly_the_growing_caches_beams(steps, eager_compile):
    rng = np.random.default_rng(0)
    tree = PrefixTree.build(rng.integers(0, 16, (400, 4)), 16)
    decoder = random_decoder(1, 16, 4, depth=2)
    for seed in (1, 2):  # the second batch reuses the first one's buffers
        memory = random_memory(seed, 4)
        got, expected = beam_search(decoder, memory, tree, 10, steps=steps), beam_search(decoder, memory, tree, 10)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[2], expected[2])
        torch.testing.assert_close(got[1], expected[1], atol=1e-5, rtol=0)
    assert len(decoder._static) == 1  # one shape, one StaticDecoder


def test_the_step_loops_tree_work_traces_as_one_graph():
    """No .item(), int() or bool() of a tensor in masks, child lookups or extensions: each traces whole."""
    rng = np.random.default_rng(0)
    tree = PrefixTree.build(rng.integers(0, 8, (50, 3)), 8)
    whole = functools.partial(torch.compile, backend="eager", fullgraph=True)
    node = torch.tensor([0, 0, -1])
    valid = whole(tree.valid_mask)(node, 0)
    assert torch.equal(valid, tree.valid_mask(node, 0))
    assert torch.equal(whole(tree.child)(node, torch.tensor([1, 9, 2])), tree.child(node, torch.tensor([1, 9, 2])))
    logp = torch.randn(3, 8).log_softmax(-1)
    got = whole(best_extensions)(torch.zeros(3, 1), logp, valid, 4)
    assert all(torch.equal(a, b) for a, b in zip(got, best_extensions(torch.zeros(3, 1), logp, valid, 4)))


def test_unknown_steps_are_named():
    tree = PrefixTree.build(np.array([[0, 1]]), 2)
    with pytest.raises(ValueError, match="cached, static, compiled"):
        beam_search(random_decoder(0, 2, 2), random_memory(0, 1), tree, 2, steps="graph")


def test_stages_are_timed():
    tree = PrefixTree.build(np.array([[0, 1], [1, 1]]), 2)
    watch = Stopwatch()
    beam_search(random_decoder(0, 2, 2), random_memory(0, 2), tree, 3, stopwatch=watch)
    assert set(watch.seconds) == {"decoder", "masks"}


def test_mismatches_are_named():
    tree = PrefixTree.build(np.array([[0, 1, 1]]), 2)
    with pytest.raises(ValueError, match="rebuild"):
        beam_search(random_decoder(0, 3, 3), random_memory(0, 1), tree, 2)
    with pytest.raises(ValueError, match="rebuild"):
        beam_search(random_decoder(0, 2, 2), random_memory(0, 1), tree, 2)
    with pytest.raises(ValueError, match="tree.to"):
        beam_search(random_decoder(0, 2, 3), random_memory(0, 1), tree.to("meta"), 2)


# items 1, 3 share (0, 1) = leaf 0; items 0, 2, 5 share (1, 2) = leaf 1; item 4 is (2, 2) = leaf 2
SHARED = np.array([[1, 2], [0, 1], [1, 2], [0, 1], [2, 2], [1, 2]])


@pytest.mark.parametrize("k,expected", [
    (5, [[0, 2, 5, 4, 1], [4, -1, -1, -1, -1]]),
    (8, [[0, 2, 5, 4, 1, 3, -1, -1], [4, -1, -1, -1, -1, -1, -1, -1]]),
    (2, [[0, 2], [4, -1]]),
])
def test_items_sharing_an_identifier_all_come_back_in_beam_order(k, expected):
    tree = PrefixTree.build(SHARED, 3)
    leaves = torch.tensor([[1, 2, 0], [2, -1, -1]])
    assert expand_to_items(leaves, tree, k).tolist() == expected


def test_expand_to_items_matches_a_python_loop():
    rng = np.random.default_rng(0)
    tree = PrefixTree.build(rng.integers(0, 4, (200, 3)), 4)
    leaves = torch.stack([torch.randperm(tree.n_leaves)[:6] for _ in range(20)])
    leaves[5:10, 3:] = -1
    ptr, items = tree.leaf_ptr.tolist(), tree.leaf_items.tolist()
    for k in (1, 7, 40, 300):
        expected = []
        for row in leaves.tolist():
            found = [i for l in row if l >= 0 for i in items[ptr[l]:ptr[l + 1]]][:k]
            expected.append(found + [-1] * (k - len(found)))
        assert expand_to_items(leaves, tree, k).tolist() == expected
