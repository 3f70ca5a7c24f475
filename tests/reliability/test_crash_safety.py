"""Runs that are killed, run side by side or run twice: a kill -9 loses no finished cell and the
rerun computes only the rest, concurrent writers lose no row, the same seed gives the same
metrics, and what is written is readable by others (the umask's mode)."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.results import ResultStore
from methods.registry import METHODS, MethodSpec

from .conftest import ONE_EPOCH, QUICK, REPO, nothing_half_written

pytestmark = pytest.mark.e2e  # child processes killed, racing, or whole runs

FAKE = [sys.executable, "-m", "tests.reliability.fakes"]


def fake_run(tmp_path: Path, *argv: str, **env: str) -> subprocess.Popen:
    """``bench.run --method fake`` in its own process, results and cache under ``tmp_path``."""
    cmd = [*FAKE, *QUICK, "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache"), *argv]
    return subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def settings_in(results: Path) -> set[str]:
    return set(pd.read_csv(results / "results.csv")["setting"]) if (results / "results.csv").exists() else set()


def test_kill_9_mid_run_loses_no_finished_cell_and_the_rerun_computes_only_the_rest(tmp_path):
    results, searched = tmp_path / "results", tmp_path / "searched.txt"
    proc = fake_run(tmp_path, FAKE_SETTINGS="3", FAKE_HANG_ON="2", FAKE_LOG=str(searched))
    try:
        wait_for(lambda: "beam=1" in settings_in(results) or proc.poll() is not None, "the first cell")
    finally:
        proc.send_signal(signal.SIGKILL)  # in the search of beam=2, or just before it
        proc.wait()
    first = pd.read_csv(results / "results.csv")
    assert set(first["setting"]) == {"beam=1"}
    nothing_half_written(tmp_path)
    searched.unlink()
    rerun = fake_run(tmp_path, FAKE_SETTINGS="3", FAKE_LOG=str(searched))
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read()
    assert searched.read_text().split() == ["2", "3"]  # beam=1 was not searched again
    table = pd.read_csv(results / "results.csv")
    assert set(table["setting"]) == {"beam=1", "beam=2", "beam=3"}
    assert table[table.setting == "beam=1"].reset_index(drop=True).equals(first)  # the kept cell, untouched


def test_killed_while_training_leaves_no_partial_file_and_the_rerun_resumes(runs):
    """SIGKILL between checkpoints of a real training run (one every step): no partial file in
    the cache, and the rerun goes on from the last checkpoint instead of starting over."""
    cmd = [sys.executable, "-m", "bench.run", "--method", "smallcnn", *QUICK, "--limit", "300",
           "--set", "train.epochs=2", "--checkpoint-every", "1", "--results", str(runs.results),
           "--cache", str(runs.cache)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: list(runs.cache.glob("models/*.ckpt.pt")) or proc.poll() is not None, "a checkpoint")
        assert proc.poll() is None, "training ended before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    nothing_half_written(runs.results, runs.cache)
    assert not (runs.results / "results.csv").exists()
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming from checkpoint" in rerun.stderr
    table = pd.read_csv(runs.results / "results.csv")
    assert len(table.query("metric == 'precision' and k == 1")) == 1


def test_three_concurrent_writers_lose_no_row(tmp_path):
    """Three runs write 15 cells each into one results/ at the same moment (a start barrier)."""
    go = tmp_path / "go"
    procs = [fake_run(tmp_path, "--seed", str(seed), FAKE_SETTINGS="15", FAKE_READY=str(tmp_path / f"ready{seed}"),
                      FAKE_GO=str(go)) for seed in range(3)]
    try:
        wait_for(lambda: all((tmp_path / f"ready{s}").exists() for s in range(3)), "three writers ready")
        go.touch()
        for proc in procs:
            assert proc.wait(timeout=300) == 0, proc.stderr.read()
    finally:
        for proc in procs:
            proc.kill()
    table = pd.read_csv(tmp_path / "results" / "results.csv")
    rows_per_cell = table.groupby("cell_id").size()
    assert len(rows_per_cell) == 45 and rows_per_cell.nunique() == 1
    assert sorted(table.groupby("seed")["setting"].nunique()) == [15, 15, 15]
    assert len(ResultStore(tmp_path / "results").finished_cells()) == 45
    nothing_half_written(tmp_path)


def test_two_runs_with_the_same_seed_give_the_same_metrics(runs, tmp_path):
    def quality(folder: Path) -> pd.DataFrame:
        runs.results, runs.cache = folder / "results", folder / "cache"  # nothing shared: trained twice
        assert runs.code("--method", "smallcnn", *QUICK, "--limit", "200", *ONE_EPOCH) == 0
        table = pd.read_csv(runs.results / "results.csv")
        return table[table.k > 0].sort_values(["metric", "k"])[["cell_id", "metric", "k", "value"]]

    first, second = quality(tmp_path / "a"), quality(tmp_path / "b")
    assert len(first) > 10
    pd.testing.assert_frame_equal(first.reset_index(drop=True), second.reset_index(drop=True), check_exact=True)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_results_are_readable_by_others(runs, monkeypatch, umask_022):
    monkeypatch.setitem(METHODS, "fake", MethodSpec("fake", "tests.reliability.fakes", "fake settings"))
    assert runs.code("--method", "fake", *QUICK) == 0
    written = [p for p in runs.results.rglob("*") if p.is_file() and p.name != ".lock"]
    assert {p.name for p in written} >= {"results.csv", "cells.csv"} and any(p.suffix == ".json" for p in written)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
