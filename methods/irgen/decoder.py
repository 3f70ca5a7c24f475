"""IRGen's decoder: a transformer that writes an image identifier one token at a time.

Each block is causal self-attention over the identifier written so far, cross-attention
to the encoder's tokens ("memory"), then an MLP, all pre-LayerNorm as in nanoGPT
(``norm="post"``: the official code's block, where the stream itself is replaced by its
LayerNorm before each sub-layer).
Training calls ``forward`` (teacher forcing); retrieval calls ``start`` / ``expand`` /
``step``, which cache what earlier positions computed so that a step costs one token's
attention.

Rows and queries at inference. A ``DecoderState`` holds N = B * G rows for B queries,
grouped query-major: rows q*G .. q*G+G-1 belong to query q (G = 1 after ``start``, the
beam size during beam search). Each layer's cross-attention keys and values are computed
once per query in ``start`` and never copied per row: the G rows of a query attend to its
memory together, as one (G x S) attention. ``expand`` keeps that layout, so its ``index``
must send new row j to a row of query j // G_new (repeat rows, or reorder them within
their query); the self-attention caches are the only per-row tensors it selects.

Two caches for retrieval: ``step`` grows the self-attention cache by the position it feeds
(no work on positions not yet written: the default, and the fastest on a CPU);
``static`` preallocates every position for a fixed number of rows (``StaticDecoder``: the
same shapes at every step, for torch.compile and CUDA-graph replay).
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..runtime.compile import compile_module


@dataclass
class DecoderConfig:
    vocab_size: int = 256  # L: codes per position
    seq_len: int = 4  # M (the paper's T): tokens per identifier
    width: int = 256
    depth: int = 4
    heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    memory_dim: int = 256  # width of the encoder's tokens, projected to `width` if different
    norm: str = "pre"  # pre (nanoGPT) | post: x = LN(x) before each sub-layer, whose output is added to it
    qkv_bias: bool = True  # biases on the attention's q, k, v (the official decoder has none)
    init: str = "gpt2"  # gpt2 (normal 0.02, residual projections scaled by depth) | xavier (uniform, every >= 2-d parameter)
    token_bias: bool = False  # a bias added to every code's embedding (the official label_embed: a Linear over one-hot codes)
    head_bias: bool = False  # a bias on the output layer (the official label_prj)


@dataclass
class DecoderState:
    """What ``step`` needs from earlier positions, for N = B * G rows (see module doc)."""

    cross_kv: list[tuple[Tensor, Tensor]]  # per layer: k, v (B, heads, S, head_dim), per query
    self_kv: list[tuple[Tensor, Tensor]]  # per layer: k, v (N, heads, t, head_dim), per row
    position: int  # t: tokens fed so far (BOS included)


def split_heads(x: Tensor, heads: int) -> Tensor:
    """(B, T, C) -> (B, heads, T, C // heads)"""
    b, t, c = x.shape
    return x.view(b, t, heads, c // heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, heads, T, head_dim) -> (B, T, heads * head_dim)"""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


class SelfAttention(nn.Module):

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.heads = config.heads
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.width, 3 * config.width, bias=config.qkv_bias)
        self.proj = nn.Linear(config.width, config.width)
        self.resid_drop = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, past: tuple[Tensor, Tensor] | None = None):
        """x (N, T, C). Without ``past``: causal attention over the T positions.
        With ``past`` (k, v of the earlier positions): x is the one next position (T = 1).
        Returns the output and this layer's k, v over all positions so far."""
        q, k, v = self._heads(x)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=past is None,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.resid_drop(self.proj(merge_heads(y))), (k, v)

    def step_static(self, x: Tensor, cache_k: Tensor, cache_v: Tensor, position: Tensor, visible: Tensor) -> Tensor:
        """x (N, 1, C), the next position of every row: its k, v are written into the caches
        (N, heads, seq_len, head_dim) at ``position`` (0-d tensor), and it attends to the
        ``visible`` (1, seq_len) positions of them."""
        q, k, v = self._heads(x)
        cache_k.index_copy_(2, position.view(1), k)
        cache_v.index_copy_(2, position.view(1), v)
        y = F.scaled_dot_product_attention(q, cache_k, cache_v, attn_mask=visible)
        return self.resid_drop(self.proj(merge_heads(y)))

    def _heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = self.qkv(x).chunk(3, dim=2)
        return split_heads(q, self.heads), split_heads(k, self.heads), split_heads(v, self.heads)


class CrossAttention(nn.Module):

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.heads = config.heads
        self.dropout = config.dropout
        self.q = nn.Linear(config.width, config.width, bias=config.qkv_bias)
        self.kv = nn.Linear(config.width, 2 * config.width, bias=config.qkv_bias)
        self.proj = nn.Linear(config.width, config.width)
        self.resid_drop = nn.Dropout(config.dropout)

    def memory_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """memory (B, S, C) -> k, v (B, heads, S, head_dim)"""
        k, v = self.kv(memory).chunk(2, dim=2)
        return split_heads(k, self.heads), split_heads(v, self.heads)

    def forward(self, x: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """x (B, T, C): T positions (or T rows of one step) of each query attend to its memory."""
        q = split_heads(self.q(x), self.heads)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.resid_drop(self.proj(merge_heads(y)))


class MLP(nn.Module):

    def __init__(self, config: DecoderConfig):
        super().__init__()
        hidden = int(config.mlp_ratio * config.width)
        self.fc = nn.Linear(config.width, hidden)
        self.proj = nn.Linear(hidden, config.width)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.width)
        self.self_attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.width)
        self.cross_attn = CrossAttention(config)
        self.ln_3 = nn.LayerNorm(config.width)
        self.mlp = MLP(config)
        self.post = config.norm == "post"

    def _stream(self, x: Tensor, normed: Tensor) -> Tensor:
        """What a sub-layer's output is added to: the stream (pre-norm) or its LayerNorm (post-norm)."""
        return normed if self.post else x

    def forward(self, x: Tensor, cross_kv: tuple[Tensor, Tensor], past=None):
        """x (N, T, C) with N = B * G (G = 1 when T > 1); returns x and this layer's self k, v."""
        h = self.ln_1(x)
        a, kv = self.self_attn(h, past)
        return self._cross_and_mlp(self._stream(x, h) + a, cross_kv), kv

    def step_static(self, x: Tensor, cross_kv: tuple[Tensor, Tensor], cache_k: Tensor, cache_v: Tensor,
                    position: Tensor, visible: Tensor) -> Tensor:
        """One position of N = B * G rows over a fixed-shape self-attention cache (SelfAttention.step_static)."""
        h = self.ln_1(x)
        return self._cross_and_mlp(self._stream(x, h) + self.self_attn.step_static(h, cache_k, cache_v, position,
                                                                                     visible), cross_kv)

    def _cross_and_mlp(self, x: Tensor, cross_kv: tuple[Tensor, Tensor]) -> Tensor:
        b = cross_kv[0].shape[0]
        # the G rows of a query become G attention positions of that query: no memory copy
        h = self.ln_2(x)
        x = self._stream(x, h) + self.cross_attn(h.reshape(b, -1, x.shape[-1]), *cross_kv).view_as(x)
        h = self.ln_3(x)
        return self._stream(x, h) + self.mlp(h)


class Decoder(nn.Module):

    def __init__(self, config: DecoderConfig):
        super().__init__()
        if config.width % config.heads:
            raise ValueError(f"decoder width {config.width} must be a multiple of heads {config.heads}")
        self.config = config
        self.memory_proj = (nn.Linear(config.memory_dim, config.width)
                            if config.memory_dim != config.width else nn.Identity())
        self.tok_emb = nn.Embedding(config.vocab_size + 1, config.width)  # last index is BOS
        self.tok_bias = nn.Parameter(torch.zeros(config.width)) if config.token_bias else None  # codes only, not BOS
        self.pos_emb = nn.Embedding(config.seq_len, config.width)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.ln_f = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, config.vocab_size, bias=config.head_bias)
        self._static: dict[tuple, StaticDecoder] = {}  # static_decoder's, per shape
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if config.init == "xavier" and p.dim() > 1:  # the official IRGen._reset_parameters
                nn.init.xavier_uniform_(p)
            elif config.init == "gpt2" and name.endswith(("attn.proj.weight", "mlp.proj.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(3 * config.depth))  # GPT-2: scaled by depth

    @staticmethod
    def _init_weights(module: nn.Module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def bos(self) -> int:
        """The token fed before the first code."""
        return self.config.vocab_size

    def cross_kv(self, memory: Tensor) -> list[tuple[Tensor, Tensor]]:
        """memory (B, S, memory_dim) -> per layer k, v (B, heads, S, head_dim)"""
        memory = self.memory_proj(memory)
        return [block.cross_attn.memory_kv(memory) for block in self.blocks]

    def forward(self, memory: Tensor, tokens: Tensor) -> Tensor:
        """Teacher forcing: memory (B, S, memory_dim), tokens (B, T) -> logits (B, T, vocab);
        position t sees [BOS, tokens[:, :t]] and predicts tokens[:, t]."""
        b, t = tokens.shape
        if t > self.config.seq_len:
            raise ValueError(f"{t} tokens given, the decoder has positions for {self.config.seq_len}")
        inputs = torch.cat([tokens.new_full((b, 1), self.bos), tokens[:, :-1]], dim=1)
        x = self.drop(self.embed(inputs) + self.pos_emb.weight[:t])
        for block, kv in zip(self.blocks, self.cross_kv(memory)):
            x, _ = block(x, kv)
        return self.head(self.ln_f(x))

    def start(self, memory: Tensor) -> DecoderState:
        """One row per query, nothing generated yet; cross-attention k, v computed here, once."""
        cross_kv = self.cross_kv(memory)
        k = cross_kv[0][0]  # (B, heads, S, head_dim), in the dtype autocast gives the layers
        empty = k.new_zeros(k.shape[0], k.shape[1], 0, k.shape[3])
        return DecoderState(cross_kv, [(empty, empty)] * self.config.depth, position=0)

    def expand(self, state: DecoderState, index: Tensor) -> DecoderState:
        """New row j is old row index[j], which must belong to query j // G_new (module doc)."""
        self_kv = [(k.index_select(0, index), v.index_select(0, index)) for k, v in state.self_kv]
        return DecoderState(state.cross_kv, self_kv, state.position)

    def step(self, state: DecoderState, prev_tokens: Tensor) -> tuple[Tensor, DecoderState]:
        """Feed one position: prev_tokens (N,) (``self.bos`` at the first step) -> logits (N, vocab)
        for the next code, and the state with this position's k, v appended."""
        n, b = prev_tokens.shape[0], state.cross_kv[0][0].shape[0]
        if n % b:
            raise ValueError(f"{n} rows for {b} queries: rows must be grouped, the same number per query")
        if state.position >= self.config.seq_len:
            raise ValueError(f"all {self.config.seq_len} positions already fed")
        x = self.embed_step(prev_tokens, state.position)
        self_kv = []
        for block, cross, past in zip(self.blocks, state.cross_kv, state.self_kv):
            x, kv = block(x, cross, past)
            self_kv.append(kv)
        return self.next_logits(x), DecoderState(state.cross_kv, self_kv, state.position + 1)

    def embed_step(self, prev_tokens: Tensor, position: int | Tensor) -> Tensor:
        """prev_tokens (N,) fed at ``position`` -> the blocks' input (N, 1, C)."""
        return self.drop(self.embed(prev_tokens) + self.pos_emb.weight[position])[:, None]

    def embed(self, tokens: Tensor) -> Tensor:
        """Tokens (any shape, BOS included) -> their embeddings (..., C)."""
        x = self.tok_emb(tokens)
        if self.tok_bias is not None:
            x = x + self.tok_bias * (tokens != self.bos).unsqueeze(-1).to(x.dtype)
        return x

    def next_logits(self, x: Tensor) -> Tensor:
        """The blocks' output (N, 1, C) -> logits (N, vocab) of the next code."""
        return self.head(self.ln_f(x[:, 0]))

    def static_decoder(self, cross_kv: list[tuple[Tensor, Tensor]], group: int, compiled: bool) -> StaticDecoder:
        """A StaticDecoder for ``group`` rows per query of memory shaped as ``cross_kv``, started
        on it. One is made per shape and kept: compiling and CUDA-graph capture are per shape."""
        k = cross_kv[0][0]  # (B, heads, S, head_dim)
        key = (k.shape[0], group, k.shape[2], k.dtype, k.device, compiled)
        if key not in self._static:
            runner = StaticDecoder(self, k.shape[0], group, k.shape[2], k.dtype, k.device)
            self._static[key] = compile_module(runner, k.device, whole=True) if compiled else runner
        self._static[key].start(cross_kv)
        return self._static[key]


class StaticDecoder(nn.Module):
    """``Decoder.step`` over preallocated caches of fixed shape: the B queries' cross-attention
    k, v, and the self-attention k, v of N = B * G rows at all seq_len positions (rows reordered
    in place, as ``Decoder.expand`` selects them). Every step runs the same shapes on the same
    buffers with its position a device tensor, so it compiles once, replays as a CUDA graph and
    reads nothing back to the host. The buffers are no part of the model's state."""

    def __init__(self, decoder: Decoder, queries: int, group: int, memory_tokens: int, dtype: torch.dtype, device):
        super().__init__()
        c = decoder.config
        self.decoder = decoder
        head_dim = c.width // c.heads
        rows = (c.depth, queries * group, c.heads, c.seq_len, head_dim)
        memory = (c.depth, queries, c.heads, memory_tokens, head_dim)
        for name, shape in (("k", rows), ("v", rows), ("cross_k", memory), ("cross_v", memory)):
            self.register_buffer(name, torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("positions", torch.arange(c.seq_len, device=device), persistent=False)

    def start(self, cross_kv: list[tuple[Tensor, Tensor]]) -> None:
        """Take a batch's cross-attention k, v (``Decoder.cross_kv``); the self-attention cache
        needs no clearing: a step sees only the positions written before it."""
        for layer, (k, v) in enumerate(cross_kv):
            self.cross_k[layer].copy_(k)
            self.cross_v[layer].copy_(v)

    def forward(self, prev_tokens: Tensor, rows: Tensor, position: Tensor) -> Tensor:
        """New row j continues old row rows[j] (N,), then feeds prev_tokens (N,) at ``position``
        (0-d long tensor) -> logits (N, vocab) of the next code."""
        self.k.copy_(self.k.index_select(1, rows))
        self.v.copy_(self.v.index_select(1, rows))
        visible = (self.positions <= position)[None]  # (1, seq_len): the one query position's mask
        x = self.decoder.embed_step(prev_tokens, position)
        for layer, block in enumerate(self.decoder.blocks):
            x = block.step_static(x, (self.cross_k[layer], self.cross_v[layer]), self.k[layer], self.v[layer],
                                  position, visible)
        return self.decoder.next_logits(x)
