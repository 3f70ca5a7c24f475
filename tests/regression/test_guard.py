"""The CI guard: the seeded slice must stay within tolerance of the committed baseline,
and a deliberately broken metric must make it fail."""
import pytest
import yaml

import bench.metrics
from bench import regress


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("regress")


def test_compare_flags_drops_and_missing_metrics_only():
    baseline = {"a": {"value": 0.8, "tolerance": 0.03}, "b": {"value": 0.5, "tolerance": 0.03},
                "c": {"value": 0.5, "tolerance": 0.03}}
    failures = regress.compare({"a": 0.78, "b": 0.40, "d": 0.1}, baseline)
    assert len(failures) == 2
    assert failures[0].startswith("b: 0.4000 < baseline 0.5000") and failures[1].startswith("c: missing")


def test_every_slice_cell_has_a_baseline():
    baseline = yaml.safe_load(regress.BASELINE.read_text())
    for cell in regress.SLICE:
        assert any(key.startswith(cell + " ") for key in baseline), cell


@pytest.mark.slow
def test_slice_is_within_the_baseline(workdir):
    values = regress.measure(workdir)
    assert regress.compare(values, yaml.safe_load(regress.BASELINE.read_text())) == []


@pytest.mark.slow
def test_a_broken_metric_fails_the_guard(workdir, monkeypatch):
    honest = bench.metrics.precision_at_k
    monkeypatch.setattr(bench.metrics, "precision_at_k", lambda rel, k: 0.8 * honest(rel, k))
    values = regress.measure(workdir / "broken", cells=["smallcnn/linear"])
    failures = regress.compare(values, yaml.safe_load(regress.BASELINE.read_text()))
    assert failures and all("precision@" in line or "missing" in line for line in failures)
    assert any("smallcnn/linear - precision@1" in line for line in failures)
