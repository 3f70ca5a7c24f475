"""Each search backend's batch search of 1,000 queries over 10^5 128-d vectors, at its default
query parameters (a backend whose library is missing here is skipped with the reason)."""
import pytest

from methods.backends import BACKENDS, BackendUnavailable, make_backend


@pytest.fixture(scope="module", params=list(BACKENDS))
def built(request, vectors):
    try:
        backend = make_backend(request.param, metric="l2")
    except BackendUnavailable as e:
        pytest.skip(str(e))
    backend.build(vectors[0])
    yield backend
    backend.close()


def test_search(benchmark, built, vectors):
    benchmark.pedantic(lambda: built.search(vectors[1], 10), rounds=5, warmup_rounds=1)
