"""The CI guard: the seeded slice must stay within tolerance of the baseline beside bench/regress.py,
either way, and a deliberately broken metric, fallen or inflated, must make it fail."""
import pytest

import bench.metrics
from bench import regress


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("regress")


def test_compare_flags_moves_either_way_and_missing_metrics():
    baseline = {key: {"value": 0.5, "tolerance": 0.03} for key in ("fell", "rose", "inside", "edge", "missing")}
    failures = regress.compare({"fell": 0.40, "rose": 0.5301, "inside": 0.48, "edge": 0.47, "other": 0.1}, baseline)
    assert failures == ["fell: fell by 0.1000 to 0.4000 (baseline 0.5000, tolerance 0.03)",
                        "missing: missing from this run (baseline 0.5000)",
                        "rose: rose by 0.0301 to 0.5301 (baseline 0.5000, tolerance 0.03)"]


def test_update_rewrites_values_and_keeps_each_tolerance():
    baseline = {"a": {"value": 0.8, "tolerance": 0.01}, "gone": {"value": 0.5, "tolerance": 0.02}}
    assert regress.updated({"a": 0.9, "new": 0.3}, baseline) == {
        "a": {"value": 0.9, "tolerance": 0.01}, "new": {"value": 0.3, "tolerance": regress.NEW_TOLERANCE}}


def test_the_baseline_guards_every_cell_and_metric_and_sits_beside_the_guard():
    assert regress.BASELINE.parent == regress.Path(regress.__file__).parent
    baseline = regress.load_baseline()
    guarded = {(key.split(" ")[0], key.rsplit(" ", 1)[1]) for key in baseline}
    assert guarded == {(cell, f"{metric}@{k}") for cell in regress.SLICE for metric, k in regress.GUARDED}
    assert all(0 < entry["tolerance"] < 0.05 for entry in baseline.values())


@pytest.mark.e2e
def test_slice_is_within_the_baseline(workdir):
    assert regress.compare(regress.measure(workdir), regress.load_baseline()) == []


def scaled_precision(monkeypatch, factor: float) -> None:
    """P@K scaled where every metric row comes from: its per-query form (bench.evaluate's only caller)."""
    honest = bench.metrics.precision_at_k_per_query
    monkeypatch.setattr(bench.metrics, "precision_at_k_per_query",
                        lambda rel, k: factor * honest(rel, k))  # uncapped: P@1's per-query values are 0 or 1


@pytest.mark.e2e
@pytest.mark.parametrize("factor, way", [(0.8, "fell"), (1.2, "rose")])
def test_a_broken_metric_fails_the_guard_either_way(workdir, monkeypatch, factor, way):
    scaled_precision(monkeypatch, factor)
    values = regress.measure(workdir / f"x{factor}", cells=["smallcnn/linear"], cache=workdir / "cache")
    failures = regress.compare(values, regress.load_baseline())
    assert failures and all(" precision@" in line or "missing" in line for line in failures)
    assert any(line.startswith(f"smallcnn/linear - precision@1: {way} by ") for line in failures)
