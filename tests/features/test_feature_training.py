"""A feature model's training is the seed's: started from any global random state it ends with
the same weights, and stopped after a checkpoint and started again it ends where an
uninterrupted run ends (the same loss curve and weights, to the bit)."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from datasets import load_dataset
from methods.base import RunContext
from methods.features.smallcnn import SmallCNN, SmallCNNConfig
from methods.runtime.checkpoint import Resumable
from methods.runtime.training import Objective, TrainConfig, batches, run_steps

STEPS = 9


class Stopped(Exception):
    pass


def stopping_after(index_batches, n: int):
    """The batches, and a failure (as a killed process) when the (n+1)-th is asked for."""
    for i, idx in enumerate(index_batches):
        if i == n:
            raise Stopped
        yield idx


def train(model: SmallCNN, head: nn.Module, split, ctx, run=None, stop_after: int | None = None) -> list[float]:
    cfg = TrainConfig(batch_size=16, lr=3e-3)
    groups = [(list(model.backbone.parameters()), cfg.lr), (list(head.parameters()), cfg.lr)]
    objective = Objective(lambda x: head(model.encode(x) * 16.0), lambda logits, y: F.cross_entropy(logits, y))
    index_batches = batches(len(split), cfg.batch_size, STEPS, ctx.seed)
    if stop_after is not None:
        index_batches = stopping_after(index_batches, stop_after)
    return run_steps(model, [model.backbone, head], groups, objective, split, cfg, ctx, index_batches, STEPS, run)


@pytest.fixture(scope="module")
def split():
    return load_dataset("digits", limit=120).train


def test_a_stopped_feature_training_resumes_from_its_checkpoint(split, tmp_path):
    ctx = RunContext(progress=False, cache_dir=tmp_path, checkpoint_every=4)
    torch.manual_seed(0)
    model, head = SmallCNN(SmallCNNConfig(width=8, dim=16, image_size=16)), nn.Linear(16, 10)
    start = (copy.deepcopy(model), copy.deepcopy(head))

    whole = train(model, head, split, ctx)

    run = Resumable(tmp_path / "m.pt", "smallcnn")
    stopped_model, stopped_head = copy.deepcopy(start[0]), copy.deepcopy(start[1])
    with pytest.raises(Stopped):
        train(stopped_model, stopped_head, split, ctx, run, stop_after=6)
    state = torch.load(run.checkpoint, weights_only=False)
    assert state["step"] == 4 and len(state["losses"]) == 4 and len(state["rng"]) == 1

    again_model, again_head = copy.deepcopy(start[0]), copy.deepcopy(start[1])  # a new process: fresh weights
    resumed = train(again_model, again_head, split, ctx, run)
    assert resumed == whole  # the same batches, flips and steps, float for float
    for a, b in zip(model.backbone.state_dict().values(), again_model.backbone.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(head.weight, again_head.weight)


def test_without_a_run_nothing_is_written(split, tmp_path):
    ctx = RunContext(progress=False, cache_dir=tmp_path, checkpoint_every=2)
    model, head = SmallCNN(SmallCNNConfig(width=8, dim=16, image_size=16)), nn.Linear(16, 10)
    train(model, head, split, ctx)
    assert not list(tmp_path.rglob("*.pt"))


def test_smallcnn_trains_to_the_same_weights_whatever_the_global_random_state(split, tmp_path):
    weights = []
    for state in (1, 2):
        torch.manual_seed(state)  # as another process would start: torch seeds itself at random
        model = SmallCNN(SmallCNNConfig(width=8, dim=16, image_size=16, train=TrainConfig(epochs=1, batch_size=32)))
        model.fit(split, RunContext(progress=False, cache_dir=tmp_path / str(state)))
        weights.append(model.backbone.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
