"""bench.throughput: rows per stage, medians, resumable cells, clear errors; and the
report's Figure 5 drawn from its rows."""
import pandas as pd
import pytest

from bench import grid, report, throughput
from bench.report import cells, figures, timings as throughput_report
from bench.results import ResultStore
from bench.speed.query_timing import query_indices, speed_rows
from methods.runtime.timing import median_stages

IRGEN_STAGES = ("preprocess", "encoder", "decoder", "masks", "lookup")
FEATURE_STAGES = ("preprocess", "feature", "search")
COMMON = ["--dataset", "digits", "--repeats", "2", "--warmup", "1", "--no-progress"]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("throughput")
    return ["--results", str(root / "results"), "--cache", str(root / "cache")], root


def timing_table(root):
    return ResultStore(root / "results" / "throughput").load()


def test_queries_per_second_is_the_median_whole_batch_time_not_the_stages_sum():
    runs = [{"encoder": 1.0, "decoder": 4.0}, {"encoder": 3.0, "decoder": 2.0}, {"encoder": 2.0, "decoder": 3.0}]
    stages = median_stages(runs)
    assert stages == {"encoder": 2.0, "decoder": 3.0}
    rows = dict((m, v) for m, _, v in speed_rows([4.0, 6.0, 5.5], batch=10, stages=stages))
    assert rows["ms_per_query_encoder"] == pytest.approx(200.0)  # the profile's
    assert rows["batch_s"] == pytest.approx(5.5)
    assert rows["ms_per_query_total"] == pytest.approx(550.0)  # the whole batches', not 200 + 300
    assert rows["qps_batch"] == pytest.approx(10 / 5.5) and "qps_single" not in rows
    single = dict((m, v) for m, _, v in speed_rows([0.5], batch=1, stages={}))
    assert single["qps_single"] == pytest.approx(2.0) and "qps_batch" not in single  # named apart


def test_query_batches_cycle_through_a_small_split():
    assert query_indices(3, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]


@pytest.mark.e2e
def test_irgen_every_stage_is_timed_and_a_rerun_times_nothing(dirs):
    args, root = dirs
    argv = ["--method", "irgen", "--untrained", "--beam", "1,5", "--batch", "1,8", *COMMON, *args]
    assert throughput.main(argv) == 0
    table = timing_table(root)
    assert table.cell_id.nunique() == 4
    for _, rows in table.groupby("cell_id"):
        v = dict(zip(rows.metric, rows.value))
        stages = [v[f"ms_per_query_{s}"] for s in IRGEN_STAGES]
        assert all(s >= 0 for s in stages) and v["ms_per_query_encoder"] > 0 and v["ms_per_query_decoder"] > 0
        qps = v["qps_single"] if v["batch"] == 1 else v["qps_batch"]
        assert qps == pytest.approx(v["batch"] / v["batch_s"]) and v["timed_batches"] == 2  # the repeats
        assert v["ms_per_query_total"] == pytest.approx(1000.0 / qps)
        assert 0 < v["n_identifiers"] <= v["db_items"] and v["input_px"] > 0
    assert throughput.main(argv) == 0
    assert timing_table(root).equals(table)  # finished cells are kept, not re-timed


@pytest.mark.e2e
def test_synthetic_database_has_the_asked_size(dirs):
    args, root = dirs
    argv = ["--method", "irgen", "--untrained", "--beam", "3", "--batch", "4", "--db-size", "20000", *COMMON, *args]
    assert throughput.main(argv) == 0
    table = timing_table(root)
    rows = table[table.setting.str.contains("db=20000")]
    v = dict(zip(rows.metric, rows.value))
    assert v["db_items"] == 20000 and 0 < v["index_bytes"] < 20000 * 100


@pytest.mark.e2e
def test_feature_model_stages_and_figure5_from_the_timings(dirs, tmp_path):
    args, root = dirs
    sets = ["--set", "train.epochs=1"]
    irgen = ["--method", "irgen", "--untrained", "--beam", "1,5", "--batch", "1,8"]
    assert throughput.main([*irgen, *COMMON, *args]) == 0  # timed already when the module runs whole
    assert throughput.main(["--method", "smallcnn", *sets, "--batch", "8", *COMMON, *args]) == 0
    rows = timing_table(root)
    rows = rows[rows.method == "smallcnn"]
    assert {f"ms_per_query_{s}" for s in FEATURE_STAGES} <= set(rows.metric)
    # Figure 5 needs a results section for the dataset: one bench.run cell
    from bench import run

    assert run.main(["--method", "smallcnn", *sets, "--dataset", "digits", "--k", "1", "--no-progress", *args]) == 0
    timings = throughput_report.load_timings(root / "results")
    section = [s for s in cells.sections_from(cells.read_results(root / "results")) if s.dataset == "digits"][0]
    bars, words = throughput_report.fig5_bars(
        throughput_report.for_section(timings, "digits", section.protocol, section.limit),
        lambda t: figures.bar_label(t.method, t.backend, t.input_px))
    assert [b.method for b in bars] == ["irgen", "irgen", "smallcnn"]  # the generative method's beams first
    assert [b.setting for b in bars[:2]] == [{"beam": "1"}, {"beam": "5"}]  # the largest batch: 8
    # each side's input size is named: IRGen's small encoder reads 64 px, SmallCNN 32 px
    assert "batch 8" in words and "64 px" in words and bars[-1].label == figures.bar_label("smallcnn", "linear", 32)
    assert set(bars[-1].seconds) == {"preprocess", "feature", "search"}
    written = report.build(root / "results", tmp_path / "reports")
    assert (tmp_path / "reports" / "fig5_speed_digits.png") in written
    assert (tmp_path / "reports" / "throughput_digits.png") in written


def test_bad_input_is_one_line_and_exit_2(dirs, capsys):
    args, _ = dirs
    assert throughput.main(["--method", "irgen", *COMMON, "--repeats", "0", *args]) == 2
    assert "--repeats: 0: give a positive number" in capsys.readouterr().err
    assert throughput.main(["--method", "smallcnn", "--untrained", *COMMON, *args]) == 2
    assert "--method smallcnn does not take --untrained" in capsys.readouterr().err


@pytest.mark.e2e
def test_grid_cells_can_run_the_throughput_and_sweep_tools(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("datasets: [digits]\ndefaults: {k: [1, 5]}\ncells:\n"
                    "  - {tool: throughput, method: smallcnn, set: [train.epochs=1], batch: [4], repeats: 1}\n"
                    "  - {tool: sweep, method: smallcnn, set: [train.epochs=1], backends: [ivfpq], single: 0}\n")
    args = ["--grid", str(path), "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"),
            "--reports", str(tmp_path / "rep")]
    assert grid.main(args) == 0
    timings = pd.read_csv(tmp_path / "r" / "throughput" / "results.csv")
    sweeps = pd.read_csv(tmp_path / "r" / "sweeps.csv")
    assert set(sweeps.backend) == {"ivfpq"} and (tmp_path / "rep" / "pareto-digits-smallcnn.png").exists()
    assert grid.main(args) == 0  # a second run measures nothing again
    assert pd.read_csv(tmp_path / "r" / "throughput" / "results.csv").equals(timings)
    assert pd.read_csv(tmp_path / "r" / "sweeps.csv").equals(sweeps)


def test_a_tool_cell_with_a_key_its_tool_does_not_take_is_an_error(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("datasets: [digits]\ncells:\n  - {tool: sweep, method: smallcnn, beam: [1]}\n")
    with pytest.raises(grid.HarnessError, match="beam"):
        grid.load_grid(path)


def test_figure5_bar_labels_fit_their_bars():
    """Each line of a feature method's bar label (model, then backend, then input side) is at most
    12 characters, so neighbouring bars' labels do not run into each other."""
    from bench.report import figures, names

    for backend in names.BACKENDS:
        lines = figures.bar_label("effnet", backend, 112).splitlines()
        assert all(len(line) <= 12 for line in lines), lines
        assert lines[-1] == "112 px"
