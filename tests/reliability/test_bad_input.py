"""The catalogue, command line and config: every bad input is exit code 2 and one line naming
the thing and the fix (conftest.Runs.fails checks that, and that nothing was half-written)."""
from __future__ import annotations

import pytest

from .conftest import ONE_EPOCH, QUICK


@pytest.mark.parametrize("args, naming", [
    (["--dataset", "cub200", "--data-root", "/nonexistent"], ("CUB_200_2011", "/nonexistent", "--data-root")),
    (["--dataset", "nosuch"], ("unknown dataset 'nosuch'", "choose one of", "cub200")),
    (["--method", "nosuch"], ("unknown method 'nosuch'", "choose one of", "smallcnn")),
    (["--backend", "nosuch"], ("--backend", "invalid choice: 'nosuch'", "linear")),
    (["--protocol", "metric"], ("--protocol", "'metric'", "paper", "dml")),
    (["--set", "widht=3"], ("unknown key(s) widht", "known keys", "width")),
    (["--method", "irgen", "--set", "checkpoint_every=4"], ("unknown key(s) checkpoint_every", "known keys")),
    (["--set", "train.epochs=abc"], ("train.epochs='abc' is not a number",)),
    (["--set", "width"], ("--set 'width'", "expected key=value")),
    (["--beam", "1,x"], ("--beam", "'1,x' is not a comma-separated list of integers")),
    (["--beam", "0,10"], ("--beam", "give positive integers")),
    (["--k", "1;5"], ("--k", "is not a comma-separated list of integers")),
    (["--k", "-1"], ("--k", "give positive integers")),
    (["--checkpoint-every", "0"], ("--checkpoint-every: 0", "give a positive number")),
    (["--limit", "-5"], ("--limit: -5", "give a positive number")),
    (["--limit", "0"], ("--limit: 0", "give a positive number")),
    (["--dtype", "fp8"], ("--dtype", "invalid choice: 'fp8'", "bf16")),
    (["--backend-param", "nlist"], ("--backend-param 'nlist'", "expected key=value")),
    (["--seeds", "0,0"], ("--seeds", "give distinct seeds >= 0")),
    (["--seeds", "0,x"], ("--seeds", "is not a comma-separated list of seeds")),
    (["--seed", "1", "--seeds", "0,1"], ("--seed and --seeds: give one",)),
])
def test_bad_flag(runs, args, naming):
    runs.fails(*QUICK, *args, naming=naming)


def test_a_data_seed_with_nothing_to_draw(runs):
    runs.fails("--dataset", "digits", "--data-seed", "3", naming=("--data-seed 3", "neither is given", "--limit N"))


def test_cuda_asked_where_there_is_none(runs, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    runs.fails(*QUICK, "--device", "cuda", naming=("--device cuda", "no CUDA device", "--device cpu"))


@pytest.mark.parametrize("text, naming", [
    ("train:\n  epochs: 1\n   width: 3\n", ("file ", "c.yaml, line 3, column 9", "mapping values are not allowed")),
    ("train:\n\tepochs: 1\n", ("c.yaml, line 2, column 1", "'\\t'")),
    ("- train.epochs=1\n", ("c.yaml", "expected a mapping of key: value")),
    ("train: {epochs: two}\n", ("train.epochs='two' is not a number",)),
    ("train: 1\n", ("train is a section (TrainConfig), not a value", "set its keys")),
    ("width: {x: 1}\n", ("width is a single value and has no sub-keys", "width=VALUE")),
    ("train: {epochz: 1}\n", ("unknown key(s) train.epochz", "known keys")),
])
def test_bad_config_file(runs, tmp_path, text, naming):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    runs.fails(*QUICK, "--config", str(config), naming=naming)


def test_irgen_config_file_with_a_word_for_a_number(runs, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text('decoder: {depth: "two"}\n')
    runs.fails(*QUICK, "--method", "irgen", "--config", str(config), naming=("decoder.depth='two' is not a number",))


def test_missing_config_file(runs, tmp_path):
    runs.fails(*QUICK, "--config", str(tmp_path / "nope.yaml"), naming=("--config", "nope.yaml: file not found"))


@pytest.mark.e2e
def test_a_set_value_wins_over_the_config_file(runs, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("train: {epochs: two}\n")  # bad in the file, replaced on the command line
    assert runs.code(*QUICK, "--config", str(config), *ONE_EPOCH) == 0
