"""The decoder's cached step path against its teacher-forcing forward."""
import pytest
import torch

from methods.irgen.decoder import Decoder, DecoderConfig


def make_decoder(memory_dim=24, seed=0, **overrides):
    torch.manual_seed(seed)
    config = DecoderConfig(vocab_size=7, seq_len=4, width=32, depth=2, heads=4, memory_dim=memory_dim)
    config.__dict__.update(overrides)
    decoder = Decoder(config).eval()
    for p in decoder.parameters():  # large weights: logits that depend on memory and prefix
        torch.nn.init.normal_(p, std=0.3)
    return decoder


def teacher_inputs(decoder, tokens):
    """What forward feeds: [BOS, tokens[:, :-1]]."""
    bos = torch.full((len(tokens), 1), decoder.bos)
    return torch.cat([bos, tokens[:, :-1]], dim=1)


def stepped_logits(decoder, state, inputs):
    logits = []
    for t in range(inputs.shape[1]):
        step_logits, state = decoder.step(state, inputs[:, t])
        logits.append(step_logits)
    return torch.stack(logits, dim=1)


@pytest.mark.parametrize("memory_dim", [24, 32])  # projected, and used as is
def test_step_matches_forward(memory_dim):
    decoder = make_decoder(memory_dim)
    memory, tokens = torch.randn(3, 5, memory_dim), torch.randint(0, 7, (3, 4))
    with torch.no_grad():
        expected = decoder(memory, tokens)
        got = stepped_logits(decoder, decoder.start(memory), teacher_inputs(decoder, tokens))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_expanded_rows_share_their_query_memory():
    decoder = make_decoder()
    b, g = 3, 4
    memory, tokens = torch.randn(b, 5, 24), torch.randint(0, 7, (b * g, 4))
    # a different permutation within each query: rows stay grouped query-major
    index = torch.cat([q * g + torch.randperm(g) for q in range(b)])
    with torch.no_grad():
        expected = decoder(memory.repeat_interleave(g, dim=0), tokens)
        state = decoder.start(memory)
        state = decoder.expand(state, torch.arange(b).repeat_interleave(g))
        inputs = teacher_inputs(decoder, tokens)
        first, state = decoder.step(state, inputs[:, 0])
        state = decoder.expand(state, index)  # rows move; their cached position 0 moves with them
        rest = stepped_logits(decoder, state, inputs[index, 1:])
    torch.testing.assert_close(first, expected[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(rest, expected[index, 1:], atol=1e-5, rtol=0)


def test_forward_is_causal_and_accepts_short_prefixes():
    decoder = make_decoder()
    memory, tokens = torch.randn(2, 5, 24), torch.randint(0, 7, (2, 4))
    changed = tokens.clone()
    changed[:, 2:] = (changed[:, 2:] + 1) % 7
    with torch.no_grad():
        full, other, short = decoder(memory, tokens), decoder(memory, changed), decoder(memory, tokens[:, :2])
    torch.testing.assert_close(other[:, :3], full[:, :3])  # position t reads tokens before t only
    assert not torch.allclose(other[:, 3], full[:, 3])
    torch.testing.assert_close(short, full[:, :2], atol=1e-5, rtol=0)


def test_memory_matters():
    decoder = make_decoder()
    tokens = torch.randint(0, 7, (2, 4))
    with torch.no_grad():
        a, b = decoder(torch.randn(2, 5, 24), tokens), decoder(torch.randn(2, 5, 24), tokens)
    assert not torch.allclose(a, b)


def test_trains():
    decoder = make_decoder().train()
    memory = torch.randn(2, 5, 24, requires_grad=True)
    logits = decoder(memory, torch.randint(0, 7, (2, 4)))
    logits.logsumexp(-1).sum().backward()
    assert memory.grad is not None and all(p.grad is not None for p in decoder.parameters())


def test_step_rejects_misuse():
    decoder = make_decoder()
    state = decoder.start(torch.randn(2, 5, 24))
    with pytest.raises(ValueError, match="grouped"):
        decoder.step(state, torch.zeros(3, dtype=torch.long))
    for _ in range(4):
        _, state = decoder.step(state, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="positions"):
        decoder.step(state, torch.zeros(2, dtype=torch.long))
