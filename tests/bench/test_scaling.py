"""bench.scaling on tiny sizes: rows land per component, a re-run computes nothing, budgets
skip with the projection, the figure comes from the CSV alone, bad sizes are named."""
from __future__ import annotations

import pandas as pd
import pytest

from bench import scaling
from bench.report.db_size import write_scaling_figures
from bench.speed import database_scaling as scaling_logic

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["--queries", "40", "--single", "4", "--repeats", "1", "--beam-batch", "4", "--no-progress"]


def run(tmp_path, *extra) -> pd.DataFrame:
    assert scaling.main(["--sizes", "1e3,3e3", *TINY, "--results", str(tmp_path), *extra]) == 0
    return pd.read_csv(tmp_path / "scaling" / "scaling.csv")


def value(rows: pd.DataFrame, n: int, component: str, measure: str) -> float:
    return float(rows.query("n == @n and component == @component and measure == @measure")["value"].iloc[0])


@pytest.mark.e2e
def test_rows_land_and_a_rerun_computes_nothing(tmp_path, monkeypatch):
    rows = run(tmp_path, "--backends", "linear,ivfpq")
    expected = {"identifiers", "prefix_tree", "beam10", "beam30", "linear", "ivfpq"}
    for n in (1000, 3000):
        assert set(rows[rows["n"] == n]["component"]) == expected
        assert value(rows, n, "linear", "recall@10") == 1.0
        assert 0 < value(rows, n, "ivfpq", "recall@10") <= 1
        assert value(rows, n, "prefix_tree", "index_bytes") > 0
        assert value(rows, n, "beam30", "search_ms") > 0
    assert "skipped" not in set(rows["measure"])
    assert rows["unit"].notna().all() and rows["hardware"].notna().all()
    sweeps = pd.read_csv(tmp_path / "sweeps.csv")  # every grid point, with bench.sweep's rows
    assert set(sweeps["dataset"]) == {"synthetic-classes-1000x128", "synthetic-classes-3000x128"}
    assert len(list((tmp_path / "manifests").glob("*.json"))) == 1

    def no_data(*args, **kwargs):
        raise AssertionError("a re-run generated data")

    monkeypatch.setattr(scaling_logic, "synthetic_features", no_data)
    again = run(tmp_path, "--backends", "linear,ivfpq")
    pd.testing.assert_frame_equal(again, rows)


@pytest.mark.e2e
def test_a_component_over_budget_is_skipped_with_its_projection(tmp_path):
    rows = run(tmp_path, "--backends", "linear", "--max-seconds", "1e-9")
    assert not (rows[rows["n"] == 1000]["measure"] == "skipped").any()  # nothing to project from
    bigger = rows[rows["n"] == 3000]
    assert set(bigger["measure"]) == {"skipped"} and bigger["note"].str.contains("projected").all()
    rows = run(tmp_path, "--backends", "linear")  # skipped components are tried again
    assert "skipped" not in set(rows["measure"])


def test_the_figure_is_drawn_from_the_csv_alone(tmp_path):
    stale = tmp_path / "reports" / "scaling.png"
    stale.parent.mkdir()
    stale.write_bytes(b"from earlier results")
    assert write_scaling_figures(tmp_path / "results", tmp_path / "reports") == [] and not stale.exists()
    lines = [(n, component, measure, v, unit, note) for n, scale in ((10_000, 1), (100_000, 10))
             for component, measure, v, unit, note in (
                 ("identifiers", "assign_s", 0.1 * scale, "s", ""),
                 ("identifiers", "peak_rss_bytes", 1e7 * scale, "bytes", ""),
                 ("prefix_tree", "build_s", 0.01 * scale, "s", ""),
                 ("prefix_tree", "index_bytes", 4e5 * scale, "bytes", ""),
                 ("beam10", "search_ms", 5.0, "ms/query", ""),
                 ("ivfpq", "build_s", 1.0 * scale, "s", ""),
                 ("ivfpq", "search_ms", 0.05, "ms/query", ""),
                 ("ivfpq", "recall@10", 0.8, "fraction", ""),
                 ("ivfpq", "index_bytes", 1.2e5 * scale, "bytes", ""))]
    lines.append((100_000, "spann", "skipped", float("nan"), "", "projected 5000 s"))
    table = pd.DataFrame([{"n": n, "dim": 16, "queries": 100, "seed": 0, "component": c, "measure": m,
                           "value": v, "unit": u, "note": note, "hardware": "a test CPU, 2 cores", "run_id": "r"}
                          for n, c, m, v, u, note in lines])
    (tmp_path / "results" / "scaling").mkdir(parents=True)
    table.to_csv(tmp_path / "results" / "scaling" / "scaling.csv", index=False)
    written = write_scaling_figures(tmp_path / "results", tmp_path / "reports")
    assert written == [tmp_path / "reports" / "scaling.png"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("sizes", ["1e4,abc", "0.5", "1e4,,1e5", "-10"])
def test_bad_sizes_are_named(sizes, capsys):
    assert scaling.main(["--sizes", sizes]) == 2
    assert "--sizes" in capsys.readouterr().err


def test_unknown_backend_is_named(capsys):
    assert scaling.main(["--backends", "linear,annoy"]) == 2
    assert "annoy" in capsys.readouterr().err


@pytest.mark.e2e
def test_bench_report_draws_and_lists_the_figure(tmp_path):
    from bench import report

    assert scaling.main(["--sizes", "1e3", *TINY, "--backends", "linear", "--results", str(tmp_path / "results")]) == 0
    written = report.build(tmp_path / "results", tmp_path / "reports")
    assert tmp_path / "reports" / "scaling.png" in written
    assert "[scaling.png](scaling.png)" in (tmp_path / "reports" / "README.md").read_text()
