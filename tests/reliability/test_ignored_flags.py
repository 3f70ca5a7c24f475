"""The catalogue, flags a method would ignore: a method flag given to a method whose description
does not take it, and a backend build parameter that is unknown or of the wrong type, are exit
code 2 and one line (naming the method and the flags it takes, or the backend's parameters with
their types) in every command that takes them, before any work: nothing in results/ or the cache."""
from __future__ import annotations

import pytest

import bench.run
import bench.sweep
import bench.throughput
import bench.train
from bench import grid

from .conftest import QUICK, error_line, exit_code, nothing_half_written

pytestmark = pytest.mark.e2e

FEATURE_TAKES = "it takes --backend, --backend-param, --sweep, --fresh"
IRGEN_TAKES = "it takes --beam, --identifier, --seq-len, --untrained, --compile, --fresh"
IVFPQ_PARAMS = "it takes: nlist: int or None, M: int, nbits: int, refine_factor: int"


@pytest.mark.parametrize("args, naming", [
    (["--method", "effnet", "--beam", "5"], ("--method effnet does not take --beam", FEATURE_TAKES)),
    (["--method", "smallcnn", "--identifier", "random", "--seq-len", "2"],
     ("--method smallcnn does not take --identifier, --seq-len", FEATURE_TAKES)),
    (["--method", "effnet", "--compile"], ("--method effnet does not take --compile", FEATURE_TAKES)),
    (["--method", "irgen-enc", "--compile"], ("--method irgen-enc does not take --compile",)),
    (["--method", "effnet", "--checkpoint-every", "5"], ("--method effnet does not take --checkpoint-every",)),
    (["--method", "irgen", "--backend", "ivfpq"], ("--method irgen does not take --backend", IRGEN_TAKES)),
    (["--method", "irgen", "--backend-param", "nlist=3"], ("--method irgen does not take --backend-param",)),
    (["--method", "irgen", "--sweep"], ("--method irgen does not take --sweep", IRGEN_TAKES)),
    (["--method", "effnet", "--backend", "ivfpq", "--backend-param", "nlsit=30"],
     ("--backend-param nlsit=30", "ivfpq backend has no build parameter 'nlsit'", IVFPQ_PARAMS)),
    (["--method", "effnet", "--backend", "ivfpq", "--backend-param", "nlist=abc"],
     ("--backend-param nlist=abc", "ivfpq's nlist is int or None, not 'abc'", IVFPQ_PARAMS)),
    (["--method", "effnet", "--backend", "scann", "--backend-param", "mode=fast"],
     ("scann's mode is auto|brute|ah|tree, not 'fast'",)),
    (["--method", "effnet", "--backend", "linear", "--backend-param", "nlist=30"],
     ("linear backend has no build parameter 'nlist'", "chunk: int or None")),
])
def test_bench_run_refuses_what_the_method_would_ignore(runs, args, naming):
    runs.fails(*QUICK, *args, naming=naming)
    assert not runs.cache.exists()  # refused before anything was loaded or computed


@pytest.mark.parametrize("args", [["--method", "effnet"], ["--method", "smallcnn"], ["--method", "irgen"],
                                  ["--method", "cgd", "--set", "preset=small"]])
def test_weights_given_to_a_model_that_reads_no_file_is_refused(runs, tmp_path, args):
    """--weights beside a model that starts from no weight file would be ignored: one line, exit 2."""
    runs.fails(*QUICK, *args, "--weights", str(tmp_path), naming=("--weights", "reads no weight file",
                                                                    "drop --weights"))
    assert not runs.cache.exists()


def test_the_grid_hands_the_weights_folder_to_its_cells_in_the_environment(tmp_path):
    """Every cell of a grid finds the folder, whether its model reads a file or not (no --weights flag)."""
    args = grid.build_parser().parse_args(["--quick", "--weights", str(tmp_path)])
    assert grid.cell_environment(args) == {"IRGEN_WEIGHTS": str(tmp_path.resolve())}
    assert grid.cell_environment(grid.build_parser().parse_args(["--quick"])) == {}


def test_defaults_given_explicitly_are_no_use_of_a_flag():
    """A flag at its default value does not count as given, whatever the method."""
    parser = bench.run.build_parser()
    args = parser.parse_args(["--method", "effnet", "--beam", "1,10,20,30", "--identifier", "rq", "--fresh", "0"])
    assert args.backend_params == {}
    args = parser.parse_args(["--method", "irgen", "--backend", "linear", "--beam", "5"])
    assert args.beam == [5]
    typed = parser.parse_args(["--method", "effnet", "--backend", "ivfpq", "--backend-param", "nlist=30",
                               "--backend-param", "nlist=none", "--backend-param", "M=8"])
    assert typed.backend_params == {"nlist": None, "M": 8}  # typed by IVFPQBackend.__init__'s annotations


def command_fails(main, argv: list[str], capsys, naming: tuple[str, ...], tmp_path) -> None:
    assert exit_code(main, [*argv, "--cache", str(tmp_path / "cache")]) == 2
    line = error_line(capsys.readouterr().err)
    for fragment in naming:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert not (tmp_path / "cache").exists()
    nothing_half_written(tmp_path)


@pytest.mark.parametrize("argv, naming", [
    (["--method", "cgd", "--backend", "ivfpq", "--backend-param", "nlsit=3"], ("no build parameter 'nlsit'",)),
    (["--method", "irgen", "--seq-len", "2", "--backend", "scann"], ("--method irgen does not take --backend",)),
    (["--method", "smallcnn", "--fresh", "0.5", "--identifier", "hkm100"],
     ("--method smallcnn does not take --identifier",)),
])
def test_bench_train_refuses_them(capsys, tmp_path, argv, naming):
    command_fails(bench.train.main, [*argv, *QUICK[:4]], capsys, naming, tmp_path)


@pytest.mark.parametrize("argv, naming", [
    (["--method", "smallcnn", "--untrained"], ("--method smallcnn does not take --untrained", FEATURE_TAKES)),
    (["--method", "effnet", "--beam", "10"], ("--method effnet does not take --beam",)),
    (["--method", "irgen", "--untrained", "--backend", "ivfpq"], ("--method irgen does not take --backend",)),
    (["--method", "effnet", "--backend", "ivfpq", "--backend-param", "M=four"], ("ivfpq's M is int, not 'four'",)),
])
def test_bench_throughput_refuses_them(capsys, tmp_path, argv, naming):
    command_fails(bench.throughput.main, [*argv, *QUICK[:4], "--results", str(tmp_path / "results")], capsys,
                  naming, tmp_path)


@pytest.mark.parametrize("param, naming", [
    ("ivfpq.nlsit=30", ("--backend-param ivfpq.nlsit=30", "no build parameter 'nlsit'", IVFPQ_PARAMS)),
    ("ivfpq.nlist=1.5", ("ivfpq's nlist is int or None, not '1.5'",)),
    ("scann.mode=brute", ("scann is not among --backends linear,ivfpq,diskann-disk",)),  # would be ignored
    ("diskann-disk.disk=false", ("diskann-disk is diskann with disk=True", "drop the parameter")),  # its kind
    ("diskann-disk.nlist=3", ("the diskann backend has no build parameter 'nlist'",)),
])
def test_bench_sweep_checks_each_backends_parameters(capsys, tmp_path, param, naming):
    argv = ["--synthetic", "100", "--backends", "linear,ivfpq,diskann-disk", "--backend-param", param,
            "--results", str(tmp_path / "results")]
    command_fails(bench.sweep.main, argv, capsys, naming, tmp_path)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("cell, naming", [
    ("{method: effnet, beam: [1, 10]}", ("--method effnet does not take --beam", FEATURE_TAKES)),
    ("{method: irgen, backend: ivfpq}", ("--method irgen does not take --backend",)),
    ("{method: effnet, backend: ivfpq, backend_param: [nlsit=30]}", ("no build parameter 'nlsit'", IVFPQ_PARAMS)),
    ("{tool: throughput, method: smallcnn, untrained: true}", ("--method smallcnn does not take --untrained",)),
])
def test_a_grid_cell_is_refused_before_any_cell_runs(capsys, tmp_path, cell, naming):
    path = tmp_path / "g.yaml"
    path.write_text(f"datasets: [digits]\ncells:\n  - {{method: smallcnn}}\n  - {cell}\n")
    argv = ["--grid", str(path), "--results", str(tmp_path / "results"), "--no-report"]
    command_fails(grid.main, argv, capsys, (str(path), *naming), tmp_path)
    assert not (tmp_path / "results").exists()  # not even the first, valid cell ran


def test_grid_defaults_skip_the_cells_whose_method_does_not_take_them(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("datasets: [digits]\ndefaults: {beam: [1, 10], limit: 50}\n"
                    "cells:\n  - {method: effnet}\n  - {method: irgen}\n")
    effnet, irgen = grid.cells_of([path], [])
    assert "--beam" not in effnet.argv and "--limit" in effnet.argv
    assert irgen.argv[irgen.argv.index("--beam") + 1] == "1,10"


def test_make_method_refuses_options_the_method_does_not_read():
    """The library path: MethodOptions set away from their defaults go through the same description."""
    from methods.base import HarnessError
    from methods.registry import MethodOptions, make_method

    with pytest.raises(HarnessError, match=f"--method effnet does not take --beam, --untrained; {FEATURE_TAKES}"):
        make_method("effnet", MethodOptions(beams=(5,), untrained=True))
    with pytest.raises(HarnessError, match="--method irgen does not take --backend-param"):
        make_method("irgen", MethodOptions(backend_params={"nlist": 3}))
    assert make_method("irgen-enc", MethodOptions(fresh=0.5)).variant == "preset=small,fresh=0.5"
