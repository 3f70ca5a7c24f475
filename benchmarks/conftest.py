"""Micro-benchmarks (pytest-benchmark), run on purpose, never in the test suite:

    .venv/bin/python -m pytest benchmarks/ --benchmark-only                      # time them
    .venv/bin/python -m pytest benchmarks/ --benchmark-only --benchmark-autosave # keep a run (.benchmarks/)
    .venv/bin/python -m pytest benchmarks/ --benchmark-only --benchmark-compare --benchmark-compare-fail=median:25%

The last compares with the newest saved run of the same machine and fails where a median got
more than 25% slower: a ratio against a run of the same machine, never an absolute time.
Inputs are seeded and built once per session."""
import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def vectors():
    """10^5 database and 1,000 query vectors, 128-d, class-structured (datasets.synthetic)."""
    from datasets.synthetic import synthetic_features

    X, _ = synthetic_features(100_000, 128, seed=0, split="database")
    Q, _ = synthetic_features(1_000, 128, seed=0, split="query")
    return X, Q


@pytest.fixture(scope="session")
def identifiers():
    """10^6 random 4-token identifiers over a vocabulary of 256 (the paper's M and L)."""
    return np.random.default_rng(0).integers(0, 256, (1_000_000, 4))


@pytest.fixture(scope="session")
def decoder():
    """A random decoder of the small preset's size (2 blocks of width 256)."""
    from methods.irgen.decoder import Decoder, DecoderConfig

    torch.manual_seed(0)
    return Decoder(DecoderConfig(vocab_size=256, seq_len=4, width=256, depth=2, heads=4)).eval()
