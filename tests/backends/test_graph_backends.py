"""What the graph backends (hnsw, diskann) add to the shared backend tests: DiskANN's disk
index, duplicated vectors, the grids known before the build, and one-line errors for bad
build parameters."""
from __future__ import annotations

import numpy as np
import pytest

from methods.backends import backend_class

from .common import K, make_or_skip, recall

DISK = {"disk": True}
GENEROUS_DISK = {"complexity": 256, "beam_width": 4}


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_diskann_disk_index_reaches_recall_and_serves_from_disk(built, truth, data, metric):
    backend = built("diskann", metric, **DISK)
    backend.set_query_params(**GENEROUS_DISK)
    ids, dists = backend.search(data[1], K)
    assert recall(ids, truth(metric)[0]) >= 0.9
    np.testing.assert_allclose(dists, truth(metric)[1], rtol=1e-3, atol=2e-3)  # full vectors re-rank on disk
    stats = backend.stats()
    assert stats["disk_bytes"] > stats["memory_bytes"] > 0  # the PQ codes in RAM, graph and vectors on disk
    assert stats["memory_bytes"] < data[0].nbytes / 2  # no copy of the vectors is counted as RAM


def test_diskann_disk_index_round_trip(built, data, tmp_path):
    original = built("diskann", "l2", **DISK)
    original.save(tmp_path / "index")
    kept = {f.name for f in (tmp_path / "index").rglob("ann*")}
    assert not kept & {"ann_mem.index.data", "ann_sample_data.bin", "ann_sample_ids.bin"}  # unread when serving
    loaded = make_or_skip("diskann", "l2", **DISK)
    loaded.load(tmp_path / "index")
    try:
        for point in (GENEROUS_DISK, loaded.query_grid()[0]):
            original.set_query_params(**point)
            loaded.set_query_params(**point)
            np.testing.assert_array_equal(loaded.search(data[1], K)[0], original.search(data[1], K)[0])
        assert loaded.built_with() == original.built_with()
        mine, theirs = loaded.stats(), original.stats()
        assert float(mine.pop("build_s")) == float(theirs.pop("build_s")) and mine == theirs  # the build's own seconds
    finally:
        loaded.close()


def test_diskann_pads_the_disk_index_too(built, data):
    backend = built("diskann", "l2", X=np.ascontiguousarray(data[0][:300]), **DISK)
    backend.set_query_params(**GENEROUS_DISK)
    ids, dists = backend.search(data[1][:5], 310)
    assert (ids[:, 300:] == -1).all() and np.isinf(dists[:, 300:]).all()
    assert ((ids[:, :300] >= 0) & (ids[:, :300] < 300)).all()


@pytest.mark.parametrize("name, params", [("hnsw", {"efSearch": 256}), ("diskann", {"complexity": 256}),
                                          ("diskann", {**DISK, **GENEROUS_DISK})])
def test_duplicated_vectors_are_all_found_at_one_distance(name, params):
    rng = np.random.default_rng(3)
    distinct = rng.standard_normal((200, 16)).astype(np.float32)
    X = np.concatenate([distinct, distinct, distinct])  # every vector three times: ties of three
    build = {k: v for k, v in params.items() if k == "disk"}
    backend = make_or_skip(name, "l2", **build)
    try:
        backend.build(X)
        backend.set_query_params(**{k: v for k, v in params.items() if k != "disk"})
        Q = distinct[:20] + 0.01 * rng.standard_normal((20, 16)).astype(np.float32)
        ids, dists = backend.search(Q, 3)
    finally:
        backend.close()
    assert all(len(set(row)) == 3 for row in ids)  # three ids, never one id twice
    copies = [sorted(row % 200) == [q] * 3 for q, row in enumerate(ids)]  # the query's own three
    assert np.mean(copies) >= 0.9
    assert (np.ptp(dists[copies], axis=1) < 1e-4).all()  # tied: one distance


@pytest.mark.parametrize("name, build, points", [
    ("hnsw", {}, 12), ("diskann", {}, 12), ("diskann", DISK, 24)])
def test_query_grid_is_known_before_the_build(built, name, build, points):
    grid = backend_class(name).grid_for(5000, build)
    assert len(grid) == points and grid == built(name, "l2", **build).query_grid()
    key = "efSearch" if name == "hnsw" else "complexity"
    lists = [point[key] for point in grid]
    assert lists[:12] == sorted(lists[:12]) and lists[0] >= 10  # a candidate list at least k = 10 long


@pytest.mark.parametrize("name, params, says", [
    ("hnsw", {"M": 0}, "M=0 must be a whole number >= 1"),
    ("diskann", {"graph_degree": -1}, "graph_degree=-1"),
    ("diskann", {"search_memory_gb": 0.1}, "add disk=true"),
    ("diskann", {"disk": True, "build_threads": 0}, "build_threads=0 must be a whole number >= 1"),
    ("diskann", {"disk": True, "search_memory_gb": 0}, "search_memory_gb=0.0 must be a number of GB > 0"),  # typed: 0 is read as 0.0
])
def test_bad_build_parameters_are_named_in_one_line(name, params, says):
    with pytest.raises(ValueError, match=None) as err:
        make_or_skip(name, "l2", **params)
    assert says in str(err.value) and "\n" not in str(err.value) and str(err.value).startswith(f"{name}: ")


@pytest.mark.parametrize("name, params, says", [
    ("hnsw", {"efConstruction": 2.5}, "hnsw's efConstruction is int, not 2.5"),
    ("diskann", {"complexity": "many"}, "diskann's complexity is int, not 'many'"),
    ("diskann", {"disk": 3}, "diskann's disk is bool, not 3"),
])
def test_mistyped_build_parameters_are_named_by_the_one_check(name, params, says):
    from methods.base import HarnessError

    with pytest.raises(HarnessError) as err:
        make_or_skip(name, "l2", **params)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_command_line_text_is_read_as_the_declared_type():
    from methods.backends import checked_build_params

    assert checked_build_params("diskann", {"complexity": "64", "disk": "true"}) == {"complexity": 64, "disk": True}


@pytest.mark.parametrize("name, point", [("hnsw", {"nprobe": 4}), ("diskann", {"beam_width": 4})])
def test_unknown_query_parameters_are_named(built, data, name, point):
    backend = built(name, "l2")
    backend.set_query_params(**point)
    with pytest.raises(ValueError, match=next(iter(point))):
        backend.search(data[1][:2], K)


def test_diskann_removes_its_build_folder_on_close_and_when_dropped(data):
    backend = make_or_skip("diskann", "l2")
    backend.build(data[0][:500])
    first = backend.index_dir
    backend.close()
    assert not first.exists()
    backend.build(data[0][:500])
    second = backend.index_dir
    assert second.exists()
    del backend  # a command that never calls close() (bench.run) leaves nothing in /tmp either
    import gc

    gc.collect()
    assert not second.exists()


def test_diskann_builds_with_the_threads_given_and_records_them(data, monkeypatch):
    backend = make_or_skip("diskann", "l2", disk=True, build_threads=1)
    given = {}

    def build_disk_index(*args, **kwargs):
        given.update(kwargs)
        raise RuntimeError("stopped before building")

    monkeypatch.setattr(backend.dap, "build_disk_index", build_disk_index)
    try:
        with pytest.raises(RuntimeError, match="stopped"):
            backend.build(np.ascontiguousarray(data[0][:300]))
    finally:
        backend.close()
    assert given["num_threads"] == 1 and backend.built_with()["build_threads"] == 1
    assert "build_threads" not in make_or_skip("diskann", "l2", disk=True).build_params  # older cache keys hold
