"""For the same weights, beam search on CUDA returns the CPU's beams: exactly in fp32 (every
cache: growing, static, compiled), nearly in bf16; and its step loop never waits on the host."""
import numpy as np
import pytest
import torch

from methods.irgen.beam_search import beam_search
from methods.irgen.decoder import Decoder, DecoderConfig
from methods.irgen.prefix_tree import PrefixTree
from methods.runtime.rng import cpu_generator

from .common import GPU

pytestmark = GPU

VOCAB, SEQ_LEN, BEAM, QUERIES, MEMORY = 64, 4, 10, 64, (20, 32)


@pytest.fixture(scope="module")
def search():
    """A seeded random decoder (peaked, query-dependent distributions), tree and queries, on the CPU."""
    torch.manual_seed(0)
    decoder = Decoder(DecoderConfig(vocab_size=VOCAB, seq_len=SEQ_LEN, width=64, depth=2, heads=4,
                                    memory_dim=MEMORY[1])).eval()
    for p in decoder.parameters():
        torch.nn.init.normal_(p, std=0.3)
    tree = PrefixTree.build(np.random.default_rng(0).integers(0, VOCAB, (3000, SEQ_LEN)), VOCAB)
    memory = torch.randn(QUERIES, *MEMORY, generator=cpu_generator(1))
    return decoder, tree, memory, beam_search(decoder, memory, tree, BEAM)


def on_cuda(search, **options):
    """The fixture's search on CUDA (the decoder is moved there for good: the CPU answer is kept)."""
    decoder, tree, memory, _ = search
    return beam_search(decoder.to("cuda"), memory.cuda(), tree.to("cuda"), BEAM, **options)


@pytest.mark.parametrize("steps", ["cached", "static", "compiled"])
def test_fp32_on_cuda_returns_the_cpu_beams(search, steps):
    codes, scores, leaves = search[3]
    got = on_cuda(search, steps=steps)
    assert torch.equal(got[0].cpu(), codes) and torch.equal(got[2].cpu(), leaves)
    torch.testing.assert_close(got[1].cpu(), scores, atol=1e-4, rtol=0)


def test_bf16_on_cuda_mostly_agrees_on_the_best_beam(search):
    leaves = search[3][2]
    for steps in ("cached", "compiled"):
        got = on_cuda(search, bf16=True, steps=steps)[2].cpu()
        assert (got[:, 0] == leaves[:, 0]).float().mean() >= 0.95, steps


@pytest.mark.parametrize("steps", ["cached", "static", "compiled"])
def test_the_step_loop_never_waits_on_the_host(search, steps):
    on_cuda(search, steps=steps)  # compiles and captures first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        on_cuda(search, steps=steps)
    finally:
        torch.cuda.set_sync_debug_mode("default")
