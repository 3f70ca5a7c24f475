import pandas as pd
import pytest

from bench import grid
from methods.base import HarnessError


def test_expand_makes_one_call_per_listed_value_but_keeps_beams_together():
    cells = grid.expand({"method": "x", "backend": ["linear", "ivfpq"], "beam": [1, 10]})
    assert [c["backend"] for c in cells] == ["linear", "ivfpq"]
    assert all(c["beam"] == [1, 10] for c in cells)


def test_argv_for_writes_flags():
    argv = grid.argv_for({"method": "irgen", "seq_len": 4, "beam": [1, 10], "sweep": True, "set": ["a=1", "b=2"]})
    assert argv == ["--method", "irgen", "--seq-len", "4", "--beam", "1,10", "--sweep", "--set", "a=1", "--set", "b=2"]


def test_unknown_cell_key_is_an_error(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("datasets: [digits]\ncells:\n  - {method: smallcnn, bakend: linear}\n")
    with pytest.raises(HarnessError, match="bakend"):
        grid.load_grid(path)


def test_every_shipped_grid_parses():
    for path in grid.GRIDS.glob("*.yaml"):
        assert grid.load_grid(path)["cells"], path


def test_grid_runs_cells_and_skips_them_the_second_time(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("datasets: [digits]\ndefaults: {k: [1, 5]}\n"
                    "cells:\n  - {method: smallcnn, set: [train.epochs=1]}\n")
    args = ["--grid", str(path), "--results", str(tmp_path / "r"), "--cache", str(tmp_path / "c"), "--no-report"]
    assert grid.main(args) == 0
    first = pd.read_csv(tmp_path / "r" / "results.csv")
    assert grid.main(args) == 0
    assert pd.read_csv(tmp_path / "r" / "results.csv").equals(first)
