"""SPANN on databases too small or too uniform for SPTAG's head selection: one line, no traceback.

The sizes are SPTAG 1.6.8's, measured; the build tests fail when a
new SPTAG moves them, so the limit in spann.py can follow (they skip, with the reason, where SPTAG
cannot run: without its venv, or on a processor without AVX-512)."""
from __future__ import annotations

import numpy as np
import pytest

from methods.backends import spann
from methods.base import HarnessError

from .common import make_or_skip


def vectors(n: int, dim: int = 16) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32)


@pytest.mark.parametrize("ratio, fewest", [(0.12, 13), (0.05, 30), (0.3, 7), (0.6, 7)])
def test_fewest_vectors_is_the_measured_smallest_database(ratio, fewest):
    assert spann.fewest_vectors(ratio) == fewest


@pytest.mark.e2e
def test_the_smallest_database_builds_and_one_fewer_is_one_line():
    backend = make_or_skip("spann", NumberOfThreads=1)
    try:
        backend.build(vectors(13))
        ids, _ = backend.search(vectors(13)[:2], 3)
        assert ids[:, 0].tolist() == [0, 1]
        with pytest.raises(HarnessError) as e:
            backend.build(vectors(12))
        msg = str(e.value)
        assert "\n" not in msg and "12 database vectors" in msg and "at least 13" in msg and "--backend" in msg
    finally:
        backend.close()


@pytest.mark.e2e
def test_sptag_itself_fails_one_below_the_limit(monkeypatch):
    """Keeps the limit honest: SPTAG still cannot build what spann.py refuses."""
    backend = make_or_skip("spann", NumberOfThreads=1)
    monkeypatch.setattr(backend, "_check_size", lambda n: None)
    try:
        with pytest.raises((RuntimeError, HarnessError)):
            backend.build(vectors(12))
    finally:
        backend.close()


@pytest.mark.e2e
def test_too_few_distinct_vectors_is_one_line():
    backend = make_or_skip("spann", NumberOfThreads=1)
    try:
        with pytest.raises(HarnessError, match="selected no head vectors among the 50 database vectors") as e:
            backend.build(np.ones((50, 16), dtype=np.float32))
        assert "\n" not in str(e.value)
    finally:
        backend.close()
