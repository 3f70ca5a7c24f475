"""What every test of the catalogue checks: exit code 2, one line on stderr starting with
"error:" (argparse's own errors: after its usage lines) that names the thing and the fix,
no traceback, and nothing half-written in results/ or the cache."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import bench.run

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--dataset", "digits", "--limit", "60", "--k", "1,5", "--no-progress"]
ONE_EPOCH = ["--set", "train.epochs=1"]  # for the runs that get as far as training

ERROR = re.compile(r"^(error: |python -m bench\.\w+: error: )")
LOG = re.compile(r"^(INFO|WARNING) ")  # the harness's own progress lines
USAGE = re.compile(r"^(usage: |\s)")  # argparse prints its usage above its error


def error_line(stderr: str) -> str:
    """The one error line of ``stderr``; fails on a traceback or any other stray line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR.match(line)]
    stray = [line for line in lines if not (ERROR.match(line) or LOG.match(line) or USAGE.match(line))]
    assert len(errors) == 1 and not stray, f"expected one error line, got:\n{stderr}"
    return errors[0]


def exit_code(main, argv: list[str]) -> int:
    """``main(argv)``'s exit code, also when argparse exits."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def nothing_half_written(*folders: Path) -> None:
    for folder in folders:
        assert not list(Path(folder).rglob("*.tmp")), f"temporary files left in {folder}"


class Runs:
    """bench.run.main with this test's results/ and cache/ folders."""

    def __init__(self, root: Path, capsys):
        self.results, self.cache, self.capsys = root / "results", root / "cache", capsys

    def code(self, *argv: str) -> int:
        self.capsys.readouterr()  # this call's output only
        return exit_code(bench.run.main, [*argv, "--results", str(self.results), "--cache", str(self.cache)])

    def fails(self, *argv: str, naming: tuple[str, ...]) -> str:
        """Runs ``argv``, expecting the one-line failure that names every fragment of ``naming``;
        results.csv must be as it was and no temporary file left. Returns the line."""
        table = self.results / "results.csv"
        before = table.read_bytes() if table.exists() else None
        assert self.code(*argv) == 2
        line = error_line(self.capsys.readouterr().err)
        for fragment in naming:
            assert fragment in line, f"{fragment!r} not in {line!r}"
        assert (table.read_bytes() if table.exists() else None) == before
        nothing_half_written(self.results, self.cache)
        return line


@pytest.fixture
def runs(tmp_path, capsys) -> Runs:
    return Runs(tmp_path, capsys)
