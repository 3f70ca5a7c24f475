"""bench.sweep end to end on a tiny set: rows in results/sweeps.csv, a re-run measures nothing,
--force replaces rows instead of adding to them and re-times the searches alone over the indexes
the index cache kept, and the report draws the plane and table."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench import report, sweep
from bench.pareto import operating_point, pareto_front
from bench.speed.backend_sweep import load_features, per_backend_params
from methods.base import HarnessError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.e2e
def test_sweep_writes_rows_a_rerun_measures_nothing_and_the_report_draws_them(tmp_path, monkeypatch):
    argv = ["--synthetic", "1500", "--dim", "16", "--queries", "50", "--backends", "linear,faiss-flat,ivfpq",
            "--single", "5", "--repeats", "1", "--backend-param", "ivfpq.nlist=16",
            "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache"), "--no-progress"]
    assert sweep.main(argv) == 0
    rows = pd.read_csv(tmp_path / "results" / "sweeps.csv")
    assert set(rows["backend"]) == {"linear", "faiss-flat", "ivfpq"}
    assert rows["build_timing"].eq("measured").all()
    assert (rows[rows["backend"] != "ivfpq"]["recall"] == 1.0).all()
    assert (rows["qps_batch"] > 0).all() and rows["single_queries"].eq(5).all()
    ivfpq = rows[rows["backend"] == "ivfpq"]
    assert ivfpq["params"].tolist() == [f'{{"nprobe": {v}}}' for v in (1, 2, 4, 8, 16)]  # nlist=16's grid
    assert ivfpq["build_params"].str.contains('"nbits": 8, "nlist": 16').all()  # sorted keys
    assert not rows["build_params"].str.contains("null").any()  # as built: every default resolved

    import bench.speed.backend_sweep as logic

    monkeypatch.setattr(logic, "exact_neighbours", lambda *a: pytest.fail("a swept backend was measured again"))
    assert sweep.main(argv) == 0
    monkeypatch.undo()
    from methods.backends import backend_class

    monkeypatch.setattr(backend_class("ivfpq"), "_build", lambda *a: pytest.fail("a cached index was built again"))
    assert sweep.main([*argv, "--force", "--backends", "ivfpq"]) == 0  # replaces its rows, over the cached index
    monkeypatch.undo()
    again = pd.read_csv(tmp_path / "results" / "sweeps.csv")
    assert len(again) == len(rows)
    ivfpq, first = again[again["backend"] == "ivfpq"], rows[rows["backend"] == "ivfpq"]
    assert (ivfpq["run_id"] != first["run_id"].iloc[0]).all()  # searched again, in the new run
    assert ivfpq["build_timing"].eq(f"cached from run {first['run_id'].iloc[0]}").all()
    assert ivfpq["build_s"].tolist() == first["build_s"].tolist()  # the building run's seconds
    assert ivfpq["recall"].tolist() == first["recall"].tolist()  # the same index

    written = report.build(tmp_path / "results", tmp_path / "reports")
    assert tmp_path / "reports" / "pareto-synthetic-1500x16.png" in written
    table = (tmp_path / "reports" / "backends.md").read_text()
    assert "## synthetic-1500x16" in table and "| Faiss flat |" not in table and "| faiss-flat |" in table


def test_features_file_with_one_array_is_split_into_database_and_queries(tmp_path):
    X = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    np.savez(tmp_path / "f.npz", features=X)
    db, queries = load_features(tmp_path / "f.npz", n_queries=20)
    assert db.shape == (280, 8) and queries.shape == (20, 8)
    assert not (db[:, None, :] == queries[None, :, :]).all(-1).any()  # queries left the database


def test_pareto_front_keeps_only_undominated_points():
    points = [(900, 0.5, "a"), (1000, 0.6, "b"), (400, 0.9, "c"), (300, 0.8, "d"), (100, 1.0, "e")]
    assert [p[2] for p in pareto_front(points)] == ["e", "c", "b"]


def test_operating_point_is_the_fastest_reaching_the_target_else_the_most_accurate():
    rows = [{"recall": 0.95, "qps_batch": 10}, {"recall": 0.91, "qps_batch": 50}, {"recall": 0.5, "qps_batch": 99}]
    assert operating_point(rows, 0.9)["qps_batch"] == 50
    assert operating_point(rows, 0.99)["recall"] == 0.95


def test_backend_params_name_their_backend():
    assert per_backend_params(["ivfpq.nlist=300", "scann.mode=ah"]) == {"ivfpq": {"nlist": "300"},
                                                                        "scann": {"mode": "ah"}}  # typed by bench.sweep
    with pytest.raises(HarnessError, match="ivfpq.nlist=300"):
        per_backend_params(["nlist=300"])


def test_unknown_backend_and_missing_file_are_one_line(capsys, tmp_path):
    assert sweep.main(["--synthetic", "10", "--backends", "annoy"]) == 2
    assert "annoy" in capsys.readouterr().err
    assert sweep.main(["--features", str(tmp_path / "none.npz"), "--results", str(tmp_path)]) == 2
    assert "none.npz: file not found" in capsys.readouterr().err


def test_diskann_disk_index_is_swept_and_tabled_as_a_kind_of_its_own(tmp_path, monkeypatch):
    pytest.importorskip("diskannpy")
    from methods.backends.base import CANDIDATE_LISTS
    from methods.backends.diskann import BEAM_WIDTHS

    argv = ["--synthetic", "1200", "--dim", "16", "--queries", "40", "--backends", "diskann", "--single", "3",
            "--repeats", "1", "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache"),
            "--no-progress"]
    disk = [*argv, "--backend-param", "diskann.disk=true", "--max-points", "4"]
    assert sweep.main(disk) == 0
    assert sweep.main(argv) == 0  # the memory index (the default disk=false) is not the disk index's sweep
    import bench.speed.backend_sweep as logic

    monkeypatch.setattr(logic, "exact_neighbours", lambda *a: pytest.fail("a swept backend was measured again"))
    assert sweep.main(argv) == 0 and sweep.main(disk) == 0
    monkeypatch.undo()
    rows = pd.read_csv(tmp_path / "results" / "sweeps.csv")
    disk = rows["build_params"].str.contains('"disk": true')
    assert disk.any() and (~disk).any() and (rows[disk]["disk_bytes"] > 0).all()
    # --max-points: the grid's first points, both beam widths at each of the shortest candidate lists
    assert [json.loads(p) for p in rows[disk]["params"]] == [
        {"beam_width": w, "complexity": c} for c in CANDIDATE_LISTS[:2] for w in BEAM_WIDTHS]
    assert len(rows[~disk]) == len(CANDIDATE_LISTS)  # the memory index's whole grid
    report.build(tmp_path / "results", tmp_path / "reports")
    table = (tmp_path / "reports" / "backends.md").read_text()
    assert "| diskann |" in table and "| diskann-disk |" in table


@pytest.mark.e2e
def test_a_kind_of_index_is_swept_by_its_name_beside_its_backend_over_the_same_cached_index(tmp_path, monkeypatch):
    pytest.importorskip("diskannpy")
    common = ["--synthetic", "1200", "--dim", "16", "--queries", "40", "--single", "3", "--repeats", "1",
              "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache"), "--no-progress"]
    assert sweep.main([*common, "--backends", "diskann", "--backend-param", "diskann.disk=true"]) == 0
    import bench.speed.backend_sweep as logic

    monkeypatch.setattr(logic, "exact_neighbours", lambda *a: pytest.fail("the disk index was measured again"))
    assert sweep.main([*common, "--backends", "diskann-disk"]) == 0  # the same sweep, by its kind's name
    monkeypatch.undo()
    first = pd.read_csv(tmp_path / "results" / "sweeps.csv")
    from methods.backends import backend_class

    monkeypatch.setattr(backend_class("diskann"), "_build", lambda *a: pytest.fail("the disk index was built again"))
    assert sweep.main([*common, "--backends", "diskann-disk", "--force"]) == 0  # from the index cache
    monkeypatch.undo()
    assert sweep.main([*common, "--backends", "diskann,diskann-disk", "--force"]) == 0  # one process, both kinds
    rows = pd.read_csv(tmp_path / "results" / "sweeps.csv")
    disk = rows["build_params"].str.contains('"disk": true')
    assert disk.any() and (~disk).any() and len(rows[disk]) == len(first)
    assert rows[disk]["build_timing"].eq(f"cached from run {first['run_id'].iloc[0]}").all()
    assert rows[~disk]["build_timing"].eq("measured").all()


def test_a_bad_build_parameter_of_a_graph_backend_is_one_line(capsys, tmp_path):
    argv = ["--synthetic", "200", "--dim", "8", "--queries", "5", "--backends", "hnsw", "--backend-param", "hnsw.M=0",
            "--results", str(tmp_path), "--no-progress"]
    assert sweep.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == "error: hnsw: build parameter M=0 must be a whole number >= 1 (e.g. M=32)"
