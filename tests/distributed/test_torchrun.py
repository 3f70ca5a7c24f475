"""Two torchrun processes (gloo, CPU) against one: training losses, the trained models,
a rank killed mid-run and resumed, and sharded evaluation.

Tolerances: a loss curve agrees with the one-process curve to 1e-4 relative (measured:
about 1e-7; only the order of float sums differs). Final metrics of a model trained on two
processes agree with the one-process model's to 0.02 absolute (AdamW turns 1e-7 gradient
differences into weight differences of about 1e-4 over a few steps). Sharded evaluation of
one model gives exactly the one-process rows.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.rankings import ranking_path, read_ranking
from tests.distributed.conftest import DATA, IRGEN, launch, loss_curves, max_weight_diff, quality_rows

pytestmark = pytest.mark.e2e  # torchrun starts the processes

LOSS_RTOL = 1e-4
METRIC_ATOL = 0.02
EVAL = ["--k", "1,5"]
BEAMS = ["--beam", "1,5"]  # IRGen's alone: a feature method refuses --beam


def assert_same_curves(a, b):
    curves_a, curves_b = loss_curves(a), loss_curves(b)
    assert curves_a.keys() == curves_b.keys() and curves_a  # the same cache keys
    for name, curve in curves_a.items():
        assert curve.shape == curves_b[name].shape
        assert np.allclose(curve, curves_b[name], rtol=LOSS_RTOL, atol=0), name


@pytest.mark.slow
def test_irgen_on_two_processes_trains_as_one_and_bench_run_reuses_it(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    launch("bench.train", *IRGEN, *DATA, "--cache", str(one / "cache"))
    launch("bench.train", *IRGEN, *DATA, "--cache", str(two / "cache"), procs=2)
    assert_same_curves(one / "cache", two / "cache")
    assert max_weight_diff(one / "cache" / "models", two / "cache" / "models") < 1e-2
    for run in (one, two):
        done = launch("bench.run", *IRGEN, *DATA, *EVAL, *BEAMS, "--cache", str(run / "cache"),
                      "--results", str(run / "res"))
        assert "loaded trained encoder-decoder" in done.stderr  # trained by bench.train, not again
    a, b = quality_rows(one / "res"), quality_rows(two / "res")
    assert (a["metric"] == b["metric"]).all() and (a["k"] == b["k"]).all()
    assert np.allclose(a["value"], b["value"], atol=METRIC_ATOL, rtol=0)


@pytest.mark.slow
def test_feature_models_on_two_processes_train_as_one(tmp_path):
    # FT-CLIP: a classifier loss through a ViT (layer norm), with random flips, 9 steps.
    ftclip = ["--method", "ftclip", "--set", "train.epochs=1", "--set", "train.batch_size=32"]
    # CGD: batch norm in the ResNet and its auxiliary head, batch-hard triplets over the whole
    # batch. 2 steps: its training amplifies float noise chaotically (one process with 1 and
    # with 2 threads differ by 10% after 5 steps), so only the first steps are comparable.
    cgd = ["--method", "cgd", "--set", "train.epochs=0.22", "--set", "train.batch_size=32"]
    for name, args in (("ftclip", ftclip), ("cgd", cgd)):
        one, two = tmp_path / f"{name}-one", tmp_path / f"{name}-two"
        launch("bench.train", *args, *DATA, "--cache", str(one))
        launch("bench.train", *args, *DATA, "--cache", str(two), procs=2)
        assert_same_curves(one, two)
        assert len(next(iter(loss_curves(one).values()))) == (9 if name == "ftclip" else 2)


def killed_and_resumed(args: list[str], tmp_path: Path, checkpoint_glob: str) -> tuple[dict, Path]:
    """Train ``args`` on two processes whole, and again with rank 1 SIGKILLed after its 5th
    step, then the same command once more: it resumes, leaves no checkpoint behind and ends
    with the whole run's loss curve and weights. Returns the checkpoint the killed run left
    (its state) and the whole run's cache."""
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    launch("bench.train", *args, *DATA, "--cache", str(whole), procs=2)
    died = launch("bench.train", *args, *DATA, "--cache", str(crashed), procs=2,
                  env={"IRGEN_CRASH_AT": "1:5"}, check=False)
    assert died.returncode != 0
    (checkpoint,) = (crashed / "models").glob(checkpoint_glob)
    state = torch.load(checkpoint, weights_only=False)
    again = launch("bench.train", *args, *DATA, "--cache", str(crashed), procs=2)
    assert "resuming from checkpoint" in again.stderr
    assert not list((crashed / "models").glob("*.ckpt.pt"))
    assert_same_curves(whole, crashed)
    assert max_weight_diff(whole / "models", crashed / "models") < 1e-6
    return state, whole


@pytest.mark.slow
def test_a_killed_rank_resumes_from_the_last_checkpoint(tmp_path):
    # the tokenizer's checkpoint after a round (4 steps), before the kill after the 5th step
    state, _ = killed_and_resumed(IRGEN, tmp_path, "irgen-tokenizer-*.ckpt.pt")
    assert state["round"] == 1 and len(state["losses"]) == 4  # where the re-run starts from
    assert len(state["rng"]) == 2  # both processes' random states, put back on resuming


@pytest.mark.slow
def test_a_killed_rank_resumes_a_feature_model_from_its_last_checkpoint(tmp_path):
    # IRT with drop path: every process's random state is in the checkpoint, and put back
    irt = ["--method", "irt", "--set", "drop_path=0.1", "--set", "train.epochs=1", "--set", "train.batch_size=32",
           "--checkpoint-every", "4"]
    state, whole = killed_and_resumed(irt, tmp_path, "irt-small-*.ckpt.pt")
    assert state["step"] == 4 and len(state["losses"]) == 4 and len(state["rng"]) == 2
    assert len(next(iter(loss_curves(whole).values()))) == 9


@pytest.mark.slow
def test_sharded_evaluation_writes_the_one_process_rows(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    ftclip = ["--method", "ftclip", "--set", "train.epochs=1", "--set", "train.batch_size=32"]
    launch("bench.train", *IRGEN, *DATA, "--cache", str(two / "cache"))
    irgen = [*IRGEN, *BEAMS]
    for args in (ftclip, irgen):  # ftclip: trained on 2 processes here, database embedded a block each
        launch("bench.run", *args, *DATA, *EVAL, "--cache", str(two / "cache"), "--results", str(two), procs=2)
    # one process, the same trained models, but every feature computed again
    shutil.copytree(two / "cache" / "models", one / "cache" / "models")
    for args in (ftclip, irgen):
        done = launch("bench.run", *args, *DATA, *EVAL, "--cache", str(one / "cache"), "--results", str(one))
        assert "reused cached database features" not in done.stderr
    a, b = quality_rows(one), quality_rows(two)
    assert len(a) == len(b) > 0 and set(a["method"]) == {"irgen", "ftclip"}
    assert not b.duplicated(["cell_id", "metric", "k"]).any()  # rank 0 alone wrote
    cols = ["cell_id", "metric", "k", "value"]
    assert a[cols].equals(b[cols])
    for cell_id in set(a["cell_id"]):  # rank 0 wrote the ranking gathered from both, in query order
        ranked = [read_ranking(ranking_path(folder, cell_id)) for folder in (one, two)]
        assert np.array_equal(ranked[0].ids, ranked[1].ids)
        np.testing.assert_allclose(ranked[0].scores, ranked[1].scores, rtol=1e-2)  # float16; batches may differ
        assert (ranked[0].bound_ids is None) == (cell_id not in set(a[a.method == "irgen"]["cell_id"]))
