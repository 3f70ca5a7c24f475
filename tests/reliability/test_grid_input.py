"""The catalogue, grid files: ``python -m bench.grid --grid F`` with a file it cannot use is
exit code 2 and one line naming the file, before any cell runs."""
from __future__ import annotations

from bench import grid

from .conftest import error_line, exit_code, nothing_half_written


def grid_fails(tmp_path, capsys, path) -> str:
    argv = ["--grid", str(path), "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache"),
            "--no-report"]
    assert exit_code(grid.main, argv) == 2
    line = error_line(capsys.readouterr().err)
    assert str(path) in line
    assert not (tmp_path / "results" / "results.csv").exists()
    nothing_half_written(tmp_path)
    return line


def test_grid_file_missing(tmp_path, capsys):
    assert "cannot be read" in grid_fails(tmp_path, capsys, tmp_path / "bad.yaml")


def test_grid_file_with_an_unknown_cell_key(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("datasets: [digits]\ncells:\n  - {method: smallcnn, bakend: linear}\n")
    line = grid_fails(tmp_path, capsys, path)
    assert "unknown key(s) bakend" in line and "bench.run takes" in line


def test_grid_file_with_a_yaml_syntax_error(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("datasets: [digits]\ncells:\n  - {method: smallcnn\n")
    assert "line 4, column 1" in grid_fails(tmp_path, capsys, path)
