"""SPANN where SPTAG cannot run: every published sptag wheel holds AVX-512 code, so on an AVX2
processor its import dies of SIGILL. Set-up says so, the backend is unavailable with that one line
(exit code 3), a grid cell is "unavailable here" (not failed) and a sweep goes on without it.

This machine may have AVX-512: the processor is faked (tests/fake_cpu.py) with a cpuinfo file and
an interpreter that kills itself with SIGILL after printing SPTAG's banner."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import grid, run, sweep
from methods.backends import BackendUnavailable, make_backend, spann

from tests.fake_cpu import AVX2_REASON, AVX512_FLAGS, fake_cpuinfo, fake_sptag_venv, on_an_avx2_processor

REPO = Path(__file__).resolve().parents[2]
SPTAG_SH = REPO / "setup" / "sptag.sh"


@pytest.fixture
def avx2(monkeypatch, tmp_path) -> Path:
    return on_an_avx2_processor(monkeypatch, tmp_path)


def test_the_reason_names_the_processors_level(monkeypatch, tmp_path):
    monkeypatch.setenv("IRGEN_CPUINFO", str(fake_cpuinfo(tmp_path)))
    assert spann.illegal_instruction() == AVX2_REASON
    monkeypatch.setenv("IRGEN_CPUINFO", str(fake_cpuinfo(tmp_path, AVX512_FLAGS, model="Intel Xeon")))
    assert spann.illegal_instruction() == ("sptag dies of an illegal instruction on this processor "
                                           "(Intel Xeon, SIMD AVX-512); spann is unavailable here")


@pytest.mark.e2e
def test_the_backend_is_unavailable_with_the_one_line(avx2):
    with pytest.raises(BackendUnavailable) as e:
        make_backend("spann")
    assert str(e.value) == AVX2_REASON


@pytest.mark.e2e
def test_a_worker_that_dies_of_sigill_later_says_the_same(avx2, monkeypatch):
    monkeypatch.setattr(spann, "load_check", lambda python: (0, ""))  # the import check passed
    backend = make_backend("spann", NumberOfThreads=1)
    try:
        with pytest.raises(BackendUnavailable) as e:
            backend.build(np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32))
        assert str(e.value) == AVX2_REASON
    finally:
        backend.close()


@pytest.mark.e2e
def test_an_extension_that_fails_otherwise_names_its_error_and_the_set_up(monkeypatch, tmp_path):
    venv = fake_sptag_venv(tmp_path, "echo 'ImportError: libnuma.so.1: cannot open shared object file' >&2; exit 1")
    monkeypatch.setenv("IRGEN_SPTAG_VENV", str(venv))
    spann.load_check.cache_clear()
    with pytest.raises(BackendUnavailable) as e:
        make_backend("spann")
    assert "libnuma.so.1" in str(e.value) and "setup/sptag.sh" in str(e.value) and "\n" not in str(e.value)


def sptag_sh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SPTAG_SH), *args], capture_output=True, text=True, env=os.environ.copy(), timeout=120)


@pytest.mark.e2e
def test_set_up_tells_an_illegal_instruction_from_a_missing_library(avx2, monkeypatch, tmp_path):
    checked = sptag_sh("--check")
    assert checked.returncode == 3, checked.stderr
    assert checked.stdout.splitlines()[0] == f"sptag: {AVX2_REASON}"
    assert "libnuma1" not in checked.stdout + checked.stderr  # not a missing library
    again = sptag_sh()  # set-up proper: the venv is there, this processor cannot run it; not an error
    assert again.returncode == 0 and AVX2_REASON in again.stdout

    broken = fake_sptag_venv(tmp_path / "broken", "echo 'ImportError: libnuma.so.1: cannot open' >&2; exit 1")
    monkeypatch.setenv("IRGEN_SPTAG_VENV", str(broken))
    checked = sptag_sh("--check")
    assert checked.returncode == 1 and "does not load (exit code 1): ImportError: libnuma.so.1" in checked.stderr
    assert "AVX-512" not in checked.stdout + checked.stderr


@pytest.mark.e2e
def test_bench_run_exits_3_with_the_one_line(avx2, tmp_path, capsys):
    argv = ["--method", "smallcnn", "--backend", "spann", "--dataset", "digits", "--set", "train.epochs=1",
            "--k", "1", "--no-progress", "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c")]
    assert run.main(argv) == 3
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("unavailable:")]
    assert lines == [f"unavailable: {AVX2_REASON}"]


@pytest.mark.e2e
def test_a_grid_cell_is_unavailable_here_with_the_reason_not_failed(avx2, tmp_path, capsys):
    path = tmp_path / "g.yaml"
    path.write_text("datasets: [digits]\ndefaults: {k: [1]}\ncells:\n"
                    "  - {tool: sweep, synthetic: 300, dim: 8, queries: 20, backends: 'linear,spann', single: 2,"
                    " repeats: 1}\n"
                    "  - {method: smallcnn, backend: spann, set: [train.epochs=1]}\n"
                    "  - {tool: throughput, method: smallcnn, backend: spann, batch: [4], set: [train.epochs=1]}\n")
    argv = ["--grid", str(path), "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"),
            "--reports", str(tmp_path / "rep"), "--no-progress"]
    assert grid.main(argv) == 0  # unavailable here is not a failure
    failures = pd.read_csv(tmp_path / "r" / "failures.csv")
    assert failures["status"].tolist() == ["unavailable"] * 2  # bench.run's cell and bench.throughput's
    assert (failures["reason"] == f"unavailable: {AVX2_REASON}").all()
    assert set(pd.read_csv(tmp_path / "r" / "sweeps.csv")["backend"]) == {"linear"}  # the sweep cell finished
    readme = (tmp_path / "rep" / "README.md").read_text()
    assert AVX2_REASON in readme
    assert "2 unavailable here" in capsys.readouterr().err


@pytest.mark.e2e
def test_a_sweep_naming_spann_sweeps_the_others_and_notes_it(avx2, tmp_path, capsys):
    argv = ["--synthetic", "300", "--dim", "8", "--queries", "20", "--backends", "linear,spann", "--single", "2",
            "--repeats", "1", "--results", str(tmp_path / "r"), "--no-progress"]
    assert sweep.main(argv) == 0
    assert set(pd.read_csv(tmp_path / "r" / "sweeps.csv")["backend"]) == {"linear"}
    assert f"skipped spann: unavailable: {AVX2_REASON}" in capsys.readouterr().out
    manifest = json.loads(next((tmp_path / "r" / "manifests").glob("*.json")).read_text())
    assert manifest["skipped"] == {"spann": f"unavailable: {AVX2_REASON}"}
