import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def run_dirs(tmp_path):
    """Fresh results/ and cache/ folders for one bench.run invocation."""
    return tmp_path / "results", tmp_path / "cache"


@pytest.fixture
def one_torch_thread():
    """For tests of tiny sizes, which gain nothing from threads: on a busy machine an OpenMP team
    started before OMP_WAIT_POLICY=PASSIVE was set spins on every small op (10x slower there)."""
    import torch  # here: OMP_NUM_THREADS above must be set before torch loads

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(items):
    """Two tier rules that follow from other marks: a ``slow`` test (it trains a model end to end
    or builds a paper-size network) is also ``e2e``, and so is a test given the ``spann`` backend as
    a parameter (SPTAG runs in a worker process)."""
    for item in items:
        params = getattr(item, "callspec", None)
        spann = params is not None and any(isinstance(v, str) and v == "spann" for v in params.params.values())
        if spann or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.e2e)
