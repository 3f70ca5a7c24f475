"""save/load round trips and the on-disk index cache."""
from __future__ import annotations

import json

import numpy as np
import pytest

from methods.backends import BACKENDS, cached_build
from methods.backends.base import META_FILE

from .common import GENEROUS, K, make_or_skip


@pytest.mark.parametrize("name", list(BACKENDS))
def test_memory_is_the_saved_index_less_what_it_reads_from_disk_for_every_backend(built, tmp_path, name):
    """One rule for every backend: memory + disk bytes = the files ``save`` writes (its metadata aside),
    disk bytes only where the index serves from disk (SPANN's posting lists)."""
    backend = built(name, "l2", **GENEROUS[name][0])
    stats = backend.stats()  # measured before any save: on a temporary copy
    backend.save(tmp_path / "index")
    files = [p for p in (tmp_path / "index").rglob("*") if p.is_file() and p.name != META_FILE]
    assert stats["memory_bytes"] + stats["disk_bytes"] == sum(p.stat().st_size for p in files) > 0
    assert (stats["disk_bytes"] > 0) == bool(backend.DISK_FILES)


def test_a_cached_index_reports_the_build_of_the_run_that_built_it(data, tmp_path):
    X = data[0][:500]
    first = make_or_skip("faiss-flat", "l2")
    cached_build(first, X, tmp_path, run_id="run-A")
    assert first.stats()["build_s"].source == "measured"
    second = make_or_skip("faiss-flat", "l2")
    cached_build(second, X, tmp_path, run_id="run-B")
    assert second.stats()["build_s"].source == "cached from run run-A"
    assert float(second.stats()["build_s"]) == first.build_seconds


def test_the_index_key_names_the_device_and_the_threads(data, monkeypatch):
    from methods.backends.index_cache import index_key

    X = data[0][:100]
    cpu = index_key(make_or_skip("linear", "l2"), X)
    assert index_key(make_or_skip("linear", "l2", device="cuda"), X) != cpu  # nothing moves to the GPU until build
    monkeypatch.setattr("methods.backends.index_cache.threads", lambda: 97)
    assert index_key(make_or_skip("linear", "l2"), X) != cpu


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("name", list(BACKENDS))
def test_save_load_round_trip_gives_identical_results(built, data, tmp_path, name, metric):
    build_params, query_params = GENEROUS[name]
    original = built(name, metric, **build_params)
    original.save(tmp_path / "index")
    meta = json.loads((tmp_path / "index" / META_FILE).read_text())
    assert (meta["backend"], meta["metric"], meta["n"], meta["dim"]) == (name, metric, *data[0].shape)

    loaded = make_or_skip(name, metric, **build_params)
    loaded.load(tmp_path / "index")
    try:
        for point in (query_params, loaded.query_grid()[0]):
            original.set_query_params(**point)
            loaded.set_query_params(**point)
            ids, dists = original.search(data[1], K)
            ids2, dists2 = loaded.search(data[1], K)
            np.testing.assert_array_equal(ids2, ids)
            np.testing.assert_array_equal(dists2, dists)
        assert loaded.query_grid() == original.query_grid()
        assert float(loaded.stats()["build_s"]) == float(original.stats()["build_s"])
        assert loaded.stats()["build_s"].run and not original.stats()["build_s"].run  # a loaded build is cached
        assert loaded.built_with() == original.built_with()
    finally:
        loaded.close()


@pytest.mark.parametrize("name, given, resolved", [
    ("ivfpq", {}, {"nlist": 128, "M": 4, "nbits": 8}),  # 4 sqrt(5000), capped at 5000 // 39 points a list
    ("ivfpq", {"nlist": 100}, {"nlist": 100, "M": 4, "nbits": 8}),  # the paper's CUB200 lists
    ("scann", {}, {"mode": "brute"}),  # below 20k points ScaNN's rule is brute force
    ("scann", {"mode": "tree"}, {"mode": "tree", "num_leaves": 71}),
    ("spann", {"Ratio": 0.2}, {"Ratio": 0.2, "ReplicaCount": 8, "PostingPageLimit": 12}),  # 12 pages at 32-d
    ("hnsw", {}, {"M": 32, "efConstruction": 40}),
    ("diskann", {}, {"graph_degree": 32, "complexity": 64, "disk": False}),
    ("diskann", {"disk": True}, {"disk": True, "search_memory_gb": 8.5 * 5000 / 2 ** 30}),  # 8 PQ bytes at 32-d
])
def test_built_with_gives_the_build_parameters_as_resolved(built, name, given, resolved):
    """What the reports show of an ANN row: the parameters the index was built with, no None left."""
    used = built(name, "l2", **given).built_with()
    assert resolved.items() <= used.items()
    assert None not in used.values()


def test_load_refuses_another_backends_index(built, tmp_path):
    built("linear", "l2").save(tmp_path / "index")
    with pytest.raises(ValueError, match="linear/l2"):
        make_or_skip("faiss-flat", "l2").load(tmp_path / "index")
    with pytest.raises(ValueError, match="linear/l2"):
        make_or_skip("linear", "cosine").load(tmp_path / "index")


def test_save_replaces_an_existing_index_atomically(built, tmp_path):
    target = tmp_path / "index"
    built("linear", "l2").save(target)
    built("linear", "cosine")  # a different index ...
    (target / "stale-file").write_text("x")
    built("linear", "l2").save(target)  # ... saved over the same path leaves no debris
    assert not (target / "stale-file").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


@pytest.mark.parametrize("name", ["linear", "ivfpq"])
def test_cached_build_builds_once_then_loads(data, tmp_path, monkeypatch, name):
    X, Q = data
    first = make_or_skip(name, "l2")
    path = cached_build(first, X, tmp_path)
    builds = []
    second = make_or_skip(name, "l2")
    monkeypatch.setattr(second, "build", lambda *a: builds.append(a))
    assert cached_build(second, X, tmp_path) == path
    assert builds == []  # loaded, not rebuilt
    np.testing.assert_array_equal(second.search(Q, K)[0], first.search(Q, K)[0])
    assert float(second.stats()["build_s"]) == float(first.stats()["build_s"])
    assert second.stats()["build_s"].source != "measured"  # the first one's build, never this one's


def test_cache_key_covers_backend_metric_params_and_vectors(data):
    from methods.backends.index_cache import index_key

    X = data[0][:500]
    changed = X.copy()
    changed[0, 0] += 1
    keys = {index_key(make_or_skip("ivfpq", "l2"), X), index_key(make_or_skip("ivfpq", "l2", nlist=8), X),
            index_key(make_or_skip("ivfpq", "cosine"), X), index_key(make_or_skip("ivfpq", "l2"), changed),
            index_key(make_or_skip("faiss-flat", "l2"), X)}
    assert len(keys) == 5
    assert index_key(make_or_skip("ivfpq", "l2"), X.copy()) in keys  # same content, same key


def test_cached_build_rebuilds_a_damaged_entry(data, tmp_path):
    X, Q = data
    path = cached_build(make_or_skip("faiss-flat", "l2"), X, tmp_path)
    (path / "index.faiss").write_bytes(b"garbage")
    backend = make_or_skip("faiss-flat", "l2")
    assert cached_build(backend, X, tmp_path) == path
    assert backend.search(Q[:3], K)[0].shape == (3, K)
