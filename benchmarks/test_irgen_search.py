"""IRGen's search parts: one decoder step, the whole constrained beam search, the prefix tree."""
import pytest
import torch

from methods.irgen.beam_search import beam_search
from methods.irgen.prefix_tree import PrefixTree

BATCH, MEMORY_TOKENS = 64, 50


@pytest.fixture(scope="module")
def tree(identifiers):
    return PrefixTree.build(identifiers[:100_000], 256)


@pytest.fixture(scope="module")
def memory():
    return torch.randn(BATCH, MEMORY_TOKENS, 256, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("beam", [10, 30])
def test_decoder_step(benchmark, decoder, memory, beam):
    """One step of the decoder with its key/value cache, for batch x beam rows."""
    with torch.no_grad():
        state = decoder.expand(decoder.start(memory), torch.arange(BATCH).repeat_interleave(beam))
        prev = torch.full((BATCH * beam,), decoder.bos)
        benchmark(lambda: decoder.step(state, prev))


@pytest.mark.parametrize("beam", [1, 10, 30])
def test_beam_search(benchmark, decoder, memory, tree, beam):
    """The whole constrained beam search of 64 queries over 10^5 database identifiers."""
    benchmark(lambda: beam_search(decoder, memory, tree, beam))


def test_prefix_tree_build(benchmark, identifiers):
    """The prefix tree of 10^6 identifiers."""
    benchmark.pedantic(lambda: PrefixTree.build(identifiers, 256), rounds=3, iterations=1)
