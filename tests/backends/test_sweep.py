"""bench.sweep end to end on a tiny set: rows in the CSV, a plot, re-runs replace rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import sweep


def test_sweep_writes_rows_and_a_pareto_plot(tmp_path):
    argv = ["--synthetic", "1500", "--dim", "16", "--queries", "50", "--backends", "linear,faiss-flat,ivfpq",
            "--single", "5", "--runs", "1", "--results", str(tmp_path / "results"),
            "--reports", str(tmp_path / "reports"), "--no-progress"]
    assert sweep.main(argv) == 0
    rows = pd.read_csv(tmp_path / "results" / "sweeps.csv")
    assert set(rows["backend"]) == {"linear", "faiss-flat", "ivfpq"}
    assert (rows[rows["backend"] != "ivfpq"]["recall"] == 1.0).all()
    assert (rows["qps_batch"] > 0).all() and rows["single_queries"].eq(5).all()
    assert len(rows[rows["backend"] == "ivfpq"]) > 1  # its nprobe grid
    assert (tmp_path / "reports" / "pareto-synthetic-1500x16.png").stat().st_size > 0

    assert sweep.main(argv) == 0  # a re-run replaces its rows instead of adding to them
    assert len(pd.read_csv(tmp_path / "results" / "sweeps.csv")) == len(rows)


def test_features_file_with_one_array_is_split_into_database_and_queries(tmp_path):
    X = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    np.savez(tmp_path / "f.npz", features=X)
    db, queries = sweep.load_features(tmp_path / "f.npz", n_queries=20)
    assert db.shape == (280, 8) and queries.shape == (20, 8)
    assert not (db[:, None, :] == queries[None, :, :]).all(-1).any()  # queries left the database


def test_pareto_front_keeps_only_undominated_points():
    points = pd.DataFrame({"recall": [0.5, 0.6, 0.9, 0.8, 1.0], "qps_batch": [900, 1000, 400, 300, 100]})
    assert sweep.pareto_front(points)["recall"].tolist() == [0.6, 0.9, 1.0]


def test_unknown_backend_is_an_error(capsys):
    assert sweep.main(["--synthetic", "10", "--backends", "annoy"]) == 2
    assert "annoy" in capsys.readouterr().err


@pytest.mark.parametrize("n", [100, 2000])
def test_synthetic_is_seeded(n):
    a, qa = sweep.synthetic(n, 4, 10, seed=3)
    b, qb = sweep.synthetic(n, 4, 10, seed=3)
    assert np.array_equal(a, b) and np.array_equal(qa, qb) and a.shape == (n, 4)
