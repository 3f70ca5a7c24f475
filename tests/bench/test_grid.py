"""bench.grid: grid files expand into cells checked against each command's flags; every cell
runs in a child process with a time limit, so a cell that raises or hangs is recorded (and
reported) while the others finish; N cells at a time; the submitit launcher path; and a
method from a module outside methods/ and bench/ runs through bench.run, bench.throughput
and the grid unchanged."""
import os
import sys
from dataclasses import replace

import pandas as pd
import pytest

import bench.launch
from bench import grid, run, throughput
from methods.backends.ivfpq import PAPER_NLIST
from methods.base import HarnessError

TOY = "tests.bench.toy_method"


@pytest.fixture
def toy(monkeypatch):
    """The toy method registered here and, through $IRGEN_PLUGINS, in every child process."""
    import methods.registry

    monkeypatch.setenv("IRGEN_PLUGINS", TOY)
    monkeypatch.setattr(methods.registry, "_plugins_loaded", False)
    monkeypatch.setattr(methods.registry, "METHODS", dict(methods.registry.METHODS))
    monkeypatch.delitem(sys.modules, TOY, raising=False)  # imported afresh: it registers in this copy


def write_grid(tmp_path, cells: str, dataset="digits", defaults="{k: [1, 5]}"):
    path = tmp_path / "g.yaml"
    path.write_text(f"datasets: [{dataset}]\ndefaults: {defaults}\ncells:\n{cells}")
    return path


def grid_args(tmp_path, path, *extra):
    return ["--grid", str(path), "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"),
            "--reports", str(tmp_path / "rep"), *extra]


def test_expand_makes_one_call_per_listed_value_but_keeps_beams_together():
    cells = grid.expand({"method": "x", "backend": ["linear", "ivfpq"], "beam": [1, 10], "set": ["a=1", "b=2"]})
    assert [c["backend"] for c in cells] == ["linear", "ivfpq"]
    assert all(c["beam"] == [1, 10] and c["set"] == ["a=1", "b=2"] for c in cells)


def test_argv_for_writes_flags():
    argv = grid.argv_for({"method": "irgen", "seq_len": 4, "beam": [1, 10], "sweep": True, "set": ["a=1", "b=2"],
                          "backend_param": "nlist=300"})
    assert argv == ["--method", "irgen", "--seq-len", "4", "--beam", "1,10", "--sweep", "--set", "a=1", "--set", "b=2",
                    "--backend-param", "nlist=300"]


def test_seeds_go_to_bench_run_in_one_call_and_only_to_it(tmp_path):
    path = write_grid(tmp_path, "  - {method: smallcnn}\n  - {tool: sweep, method: smallcnn, backends: [ivfpq]}\n",
                      defaults="{k: [1], seeds: [0, 1, 2]}")
    run_cell, sweep_cell = grid.cells_of([path], [])
    assert run_cell.argv.count("--seeds") == 1 and "0,1,2" in run_cell.argv
    assert "--seeds" not in sweep_cell.argv  # bench.sweep trains nothing per seed


def test_cell_keys_are_checked_against_the_command(tmp_path):
    with pytest.raises(HarnessError, match="bakend"):
        grid.load_grid(write_grid(tmp_path, "  - {method: smallcnn, bakend: linear}\n"))
    with pytest.raises(HarnessError, match="bench.sweep takes"):
        grid.load_grid(write_grid(tmp_path, "  - {tool: sweep, method: smallcnn, beam: [1]}\n"))
    assert "depth" in grid.tool_flags("throughput") and "k" not in grid.tool_flags("throughput")
    assert "results" not in grid.tool_flags("run")  # the grid's own flags are not a cell's


def test_every_shipped_grid_parses_and_expands():
    for path in grid.GRIDS.glob("*.yaml"):
        assert grid.cells_of([path], []), path


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_the_quick_grid_is_one_size_and_trains_each_irgen_model_once():
    """One --limit for every cell that reads the dataset (one report section, its size in the title),
    and every IRGen cell with the same --set, so the throughput cells load irgen's trained model and
    irgen-enc's tokenizer serves irgen (the cache keys match)."""
    cells = [c.argv for c in grid.cells_of([grid.GRIDS / "quick.yaml"], [])]
    assert len({flag(a, "--limit") for a in cells if "--dataset" in a}) == 1
    irgen = [a for a in cells if flag(a, "--method") in ("irgen", "irgen-enc")]
    assert len(irgen) >= 8
    assert len({tuple(v for i, v in enumerate(a) if i and a[i - 1] == "--set") for a in irgen}) == 1


@pytest.mark.parametrize("dataset", sorted(PAPER_NLIST))
def test_paper_grids_run_the_baselines_and_ablations_as_the_paper_did(dataset):
    nlist = PAPER_NLIST[dataset]  # the paper's coarse lists: 300 / 100 / 200
    calls = {" ".join(c.argv) for c in grid.cells_of([grid.GRIDS / f"{dataset}.yaml"], [])}
    ks = "1,10,20,30" if dataset == "inshop" else "1,2,4,8"

    def has(*parts):
        return any(all(f" {p} " in f" {c} " for p in parts) for c in calls)
    for model in ("cgd", "irt", "ftclip"):  # Tables 1-2: every baseline with every ANN backend, the paper's models
        assert has(f"--method {model}", "--backend ivfpq", f"--backend-param nlist={nlist}", "--set preset=paper")
        assert has(f"--method {model}", "--backend scann", "--set preset=paper")
        assert has(f"--method {model}", "--backend spann", "--set preset=paper")
        assert has(f"--method {model}", "--backend spann", "--fresh 0.5") == (dataset == "inshop")  # Table 6
    assert all("--set preset=paper" in c or "--method irgen" in c for c in calls)
    assert all("--set preset=paper" in c or "--set preset=official" in c for c in calls if "--method irgen" in c)
    # the released code beside the paper's text, at test_ar.py's beam (8 on CUB200 / Cars196, 30 on In-shop)
    assert has("--method irgen", f"--beam {8 if dataset != 'inshop' else 30}", "--set preset=official")
    assert has("--method irgen", "--identifier hkm500", "--set preset=paper")  # T from the paper: 2
    assert not any("--seq-len" in c for c in calls if "--identifier hkm" in c)
    assert has("--method irgen", "--set tokenizer.loss=official")
    assert all(f"--k {ks}" in c for c in calls)


@pytest.mark.parametrize("dataset", ["inshop", "cub200", "cars196", "imagenet", "places365"])
def test_paper_grids_add_the_graph_baselines_beyond_the_paper(dataset):
    calls = {" ".join(c.argv) + " " for c in grid.cells_of([grid.GRIDS / f"{dataset}.yaml"], [])}
    for model in ("cgd", "irt", "ftclip"):
        for backend in ("hnsw", "diskann"):
            assert any(f"--method {model} " in c and f"--backend {backend} " in c and "--set preset=paper" in c
                       and "disk=true" not in c for c in calls), (model, backend)
        assert any(f"--method {model} " in c and "--backend diskann " in c and "--backend-param disk=true" in c
                   for c in calls), model


def test_embedded_grids_run_every_backend_and_the_graph_ones_with_every_tool():
    from methods.backends import BACKENDS

    for name in ("quick", "embedded"):
        cells = grid.cells_of([grid.GRIDS / f"{name}.yaml"], [])
        calls = {tool: [" ".join(c.argv) + " " for c in cells if c.tool == tool] for tool in grid.TOOLS}
        for backend in BACKENDS:
            assert any(f"--backend {backend} " in c for c in calls["run"]), (name, backend)
        for backend in ("hnsw", "diskann"):
            assert any(f"--backend {backend} " in c for c in calls["throughput"]), (name, backend)
            assert any(backend in c for c in calls["sweep"]), (name, backend)
        assert any("--backend diskann " in c and "--backend-param disk=true" in c for c in calls["run"]), name
        assert any("--backend-param diskann.disk=true" in c for c in calls["sweep"]), name


@pytest.mark.e2e
def test_grid_runs_cells_and_skips_them_the_second_time(tmp_path):
    path = write_grid(tmp_path, "  - {method: smallcnn, set: [train.epochs=1]}\n")
    assert grid.main(grid_args(tmp_path, path, "--no-report")) == 0
    first = pd.read_csv(tmp_path / "r" / "results.csv")
    assert grid.main(grid_args(tmp_path, path, "--no-report")) == 0
    assert pd.read_csv(tmp_path / "r" / "results.csv").equals(first)
    assert list((tmp_path / "r" / "logs").glob("*.log"))  # each cell's output is kept


@pytest.mark.e2e
def test_a_cell_that_raises_and_one_that_hangs_do_not_stop_the_grid(tmp_path, toy, capsys, monkeypatch):
    # the hanging cell alone gets a 2 s limit, so the test waits seconds and the others' start-up on
    # a loaded machine (15 s and more) cannot time out; the limit still stops a real child process
    real_run_cell = bench.launch.run_cell

    def hang_cut_short(cell, settings, gpu=None):
        assert settings.timeout == 600  # what --cell-timeout said
        return real_run_cell(cell, replace(settings, timeout=2) if "fail=hang" in cell.label else settings, gpu)

    monkeypatch.setattr(bench.launch, "run_cell", hang_cut_short)
    path = write_grid(tmp_path, "  - {method: toy, set: [fail=raise]}\n  - {method: toy, set: [fail=hang]}\n"
                                "  - {method: toy}\n")
    assert grid.main(grid_args(tmp_path, path, "--cell-timeout", "600")) == 1
    assert "toy" in set(pd.read_csv(tmp_path / "r" / "results.csv")["method"])  # the third cell finished
    failures = pd.read_csv(tmp_path / "r" / "failures.csv").set_index("status")
    assert set(failures.index) == {"failed", "timeout"}
    assert "RuntimeError: toy method asked to fail" in failures.loc["failed", "reason"]
    assert "fail=hang" in failures.loc["timeout", "cell"] and failures.loc["timeout", "seconds"] < 15
    assert "after the 2 s limit (--cell-timeout)" in failures.loc["timeout", "reason"]
    readme = (tmp_path / "rep" / "README.md").read_text()
    assert "## Failed or unavailable grid cells" in readme and "toy method asked to fail" in readme
    assert "timeout" in readme
    assert "1 failed, 1 timed out" in capsys.readouterr().err


@pytest.mark.e2e
def test_a_failure_leaves_the_table_once_its_cell_finishes(tmp_path, toy, monkeypatch):
    path = write_grid(tmp_path, "  - {method: toy}\n")
    monkeypatch.setenv("TOY_FAIL", "1")
    assert grid.main(grid_args(tmp_path, path, "--no-report")) == 1
    assert len(pd.read_csv(tmp_path / "r" / "failures.csv")) == 1
    monkeypatch.delenv("TOY_FAIL")  # whatever failed is mended: the same cell now finishes
    assert grid.main(grid_args(tmp_path, path, "--no-report")) == 0
    assert pd.read_csv(tmp_path / "r" / "failures.csv").empty


@pytest.mark.e2e
def test_a_toy_method_outside_bench_runs_through_run_throughput_and_the_grid(tmp_path, toy):
    dirs = ["--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--no-progress"]
    assert run.main(["--method", "toy", "--dataset", "digits", "--k", "1,5", *dirs]) == 0
    table = pd.read_csv(tmp_path / "r" / "results.csv")
    p1 = table[(table.metric == "precision") & (table.k == 1)]["value"].item()
    assert p1 > 0.5  # raw pixels of digits: far above chance (0.1)
    assert throughput.main(["--method", "toy", "--dataset", "digits", "--batch", "4", "--repeats", "1", *dirs]) == 0
    timings = pd.read_csv(tmp_path / "r" / "throughput" / "results.csv")
    assert {"ms_per_query_search", "qps_batch"} <= set(timings["metric"])
    path = write_grid(tmp_path, "  - {method: toy, k: [1, 10]}\n  - {tool: throughput, method: toy, batch: [2]}\n")
    assert grid.main(grid_args(tmp_path, path, "--jobs", "2")) == 0  # two child processes at once
    assert set(pd.read_csv(tmp_path / "r" / "results.csv")["k"]) >= {1, 5, 10}


def test_a_plugins_description_is_what_the_commands_and_the_report_read(toy, capsys):
    from bench import train
    from bench.report import names
    from methods.registry import describe

    assert describe("toy").label == "raw pixels 8x8" and not describe("toy").trains
    assert names.model("toy") == names.Look("raw pixels 8x8", "#000000")
    assert run.main(["--method", "toy", "--beam", "5", "--dataset", "digits"]) == 2
    assert "--method toy does not take --beam; it takes none of the method flags" in capsys.readouterr().err
    assert train.main(["--method", "toy", "--dataset", "digits"]) == 2
    assert "--method toy: nothing to train" in capsys.readouterr().err


@pytest.mark.e2e
def test_the_submitit_launcher_runs_cells_and_collects_failures(tmp_path, toy):
    pytest.importorskip("submitit")
    path = write_grid(tmp_path, "  - {method: toy}\n  - {method: toy, set: [fail=raise]}\n")
    assert grid.main(grid_args(tmp_path, path, "--launcher", "submitit-local", "--no-report")) == 1
    assert "toy" in set(pd.read_csv(tmp_path / "r" / "results.csv")["method"])
    failures = pd.read_csv(tmp_path / "r" / "failures.csv")
    assert failures["reason"].str.contains("toy method asked to fail").all() and len(failures) == 1
    assert list((tmp_path / "r" / "submitit").iterdir())  # submitit's own job folder


def test_cells_get_the_passive_openmp_policy_before_their_interpreter_starts():
    from bench.launch import cell_env

    assert cell_env({}, gpu="1")["CUDA_VISIBLE_DEVICES"] == "1"
    env = cell_env({})
    assert env["OMP_WAIT_POLICY"] == os.environ.get("OMP_WAIT_POLICY", "PASSIVE")


def test_a_failures_reason_is_its_exception_line_never_a_librarys_log_line(tmp_path):
    from bench.launch import last_error_line

    log = tmp_path / "cell.log"
    log.write_text("$ python -m bench.run --backend spann\nINFO bench.run: 1 of 1 cells to compute\n"
                   "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n    f()\n"
                   "RuntimeError: the SPANN worker stopped (exit code -11); its log ends:\n"
                   "[1] Using AVX2 InstructionSet!\n")
    assert last_error_line(log, 1) == "exit code 1: RuntimeError: the SPANN worker stopped (exit code -11); its log ends:"
    log.write_text("$ python -m bench.run --backend spann\n[1] Using AVX2 InstructionSet!\n")
    assert last_error_line(log, -4) == "exit code -4 (SIGILL)"


@pytest.mark.e2e
def test_a_cells_cpu_seconds_are_its_process_trees_and_its_time_limit_still_holds():
    """The grid's per-cell CPU time (user + system) counts the children the cell waited for; a
    cell past its limit raises as Popen.wait does."""
    import subprocess

    from bench.launch import wait_with_usage

    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    child = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {burn!r}])\nexec({burn!r})"
    proc = subprocess.Popen([sys.executable, "-c", child])
    code, cpu = wait_with_usage(proc, timeout=60)
    assert code == 0 and proc.returncode == 0 and cpu >= 0.6
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(30); sys.exit(3)"])
    with pytest.raises(subprocess.TimeoutExpired):
        wait_with_usage(proc, timeout=0.5)
    proc.kill()
    assert wait_with_usage(proc, timeout=10)[0] == -9
