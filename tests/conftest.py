import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def run_dirs(tmp_path):
    """Fresh results/ and cache/ folders for one bench.run invocation."""
    return tmp_path / "results", tmp_path / "cache"
