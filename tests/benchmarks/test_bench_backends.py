"""benchmarks/bench_backends.py on tiny inputs: the synthetic part through bench.scaling's
rows, a features file beside it, one summary and one Markdown table per dataset."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_backends.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_backends", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_and_features_land_in_one_summary(tmp_path):
    bench_backends = load_script()
    X = np.random.default_rng(0).standard_normal((600, 8)).astype(np.float32)
    np.savez(tmp_path / "feats.npz", features=X)
    common = ["--backends", "linear,ivfpq", "--queries", "30", "--single", "3", "--runs", "1", "--embedded", "none",
              "--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "--no-progress"]
    assert bench_backends.main(["--n", "1500", "--dim", "16", *common]) == 0
    assert bench_backends.main(["--n", "0", "--features", str(tmp_path / "feats.npz"), *common]) == 0

    summary = pd.read_csv(tmp_path / "results" / "bench" / "summary.csv")
    assert set(summary["dataset"]) == {"synthetic-classes-1500x16", "feats"}  # the second run kept the first
    assert (summary[summary["backend"] == "linear"]["best_recall"] == 1.0).all()
    assert (summary["build_s"] >= 0).all() and (summary["qps_batch_at_best"] > 0).all()
    scaling_rows = pd.read_csv(tmp_path / "results" / "scaling" / "scaling.csv")
    assert set(scaling_rows["component"]) == {"linear", "ivfpq"}  # shared with bench.scaling, no IRGen parts
    table = (tmp_path / "reports" / "backends_benchmark.md").read_text()
    assert "## synthetic-classes-1500x16: 1,500 x 16-d, 30 queries" in table and "## feats:" in table
    assert "QPS batch: all queries in one call" in table
    assert json.loads((tmp_path / "results" / "bench" / "summary.json").read_text())["backends"]
    points = pd.read_csv(tmp_path / "results" / "bench" / "sweeps.csv")
    for (dataset, backend), line in summary.set_index(["dataset", "backend"]).iterrows():
        mine = points[(points["dataset"] == dataset) & (points["backend"] == backend)]
        assert line["grid_points"] == len(mine)  # each dataset summarised from its own points only


def test_a_backend_that_is_not_measured_is_named_with_its_reason(tmp_path, monkeypatch):
    bench_backends = load_script()
    monkeypatch.setenv("IRGEN_SPTAG_VENV", str(tmp_path / "no-venv"))  # spann: unavailable
    argv = ["--n", "800", "--dim", "8", "--backends", "linear,spann", "--queries", "20", "--single", "2", "--runs",
            "1", "--embedded", "none", "--results", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"),
            "--no-progress"]
    assert bench_backends.main(argv) == 0
    table = (tmp_path / "reports" / "backends_benchmark.md").read_text()
    assert "| linear |" in table and "Not measured: spann: bench.scaling: unavailable" in table
    summary = json.loads((tmp_path / "results" / "bench" / "summary.json").read_text())["backends"]
    assert [line["backend"] for line in summary] == ["linear", "spann"]
