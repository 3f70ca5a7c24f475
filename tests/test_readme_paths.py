"""Every path of this repository that the README names in backticks exists: anywhere in the text
(``methods/runtime/timing.py``, ``configs/grids/<dataset>.yaml`` as a pattern), and in the "Where
things are" map, where a bare name (``registry.py``) lies in its row's folder."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GENERATED = {"results", "reports", "cache"}  # written by runs: their contents are not the repository's
FILE_LIKE = re.compile(r"[\w.<>*-]+(/[\w.<>*-]*)*")


def repo_tops(repo: Path) -> set[str]:
    """The top-level names git tracks (``bench``, ``run_all.sh``, ``.ci``), less the generated folders."""
    files = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    return {f.split("/", 1)[0] for f in files} - GENERATED


def named_path(token: str, tops: set[str]) -> str | None:
    """The repository path a backticked token names (``./run_all.sh --quick`` -> ``run_all.sh``), or None."""
    word = token.split()[0].removeprefix("./") if token.strip() else ""
    if not FILE_LIKE.fullmatch(word) or word.split("/", 1)[0] not in tops:
        return None
    return word if "/" in word or "." in word else None


def exists(repo: Path, path: str) -> bool:
    """``path`` is there; ``<name>`` and ``*`` are wildcards that must match at least one entry."""
    pattern = re.sub(r"<[^>]*>", "*", path).rstrip("/")
    return any(repo.glob(pattern)) if "*" in pattern else (repo / pattern).exists()


def missing_paths(readme: str, repo: Path, tops: set[str]) -> list[str]:
    """The paths the README names that the repository does not hold."""
    missing = []
    for token in re.findall(r"`([^`\n]+)`", readme):
        path = named_path(token, tops)
        if path and not exists(repo, path):
            missing.append(path)
    return missing


def missing_in_map(readme: str, repo: Path, tops: set[str]) -> list[str]:
    """In the map's rows, a bare file name (``evaluate.py``, ``site_assets/``) is in the folder of
    the row's first path; the ones that are not there."""
    section = readme.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    missing = []
    for row in (line for line in section.splitlines() if line.startswith("| `")):
        tokens = re.findall(r"`([^`\n]+)`", row)
        first = named_path(tokens[0], tops)
        assert first, f"the map's row {row[:60]!r} does not start with a path of this repository"
        folder = first if first.endswith("/") else first.rsplit("/", 1)[0] + "/"
        for token in tokens[1:]:
            bare = re.fullmatch(r"[\w-]+(\.(py|yaml|sh|md)|/)", token) and not named_path(token, tops)
            if bare and not exists(repo, folder + token):
                missing.append(folder + token)
    return missing


def test_every_path_the_readme_names_exists():
    readme = (REPO / "README.md").read_text()
    tops = repo_tops(REPO)
    assert missing_paths(readme, REPO, tops) == []
    assert missing_in_map(readme, REPO, tops) == []


def test_a_moved_module_is_caught(tmp_path):
    (tmp_path / "methods" / "runtime").mkdir(parents=True)
    (tmp_path / "methods" / "runtime" / "timing.py").write_text("")
    (tmp_path / "methods" / "registry.py").write_text("")
    tops = {"methods", "run_all.sh"}
    readme = ("The timer (`methods/runtime/timing.py`), once `methods/timing.py`; `./run_all.sh --quick` is no\n"
              "file here; `results/x.csv` is written by runs; `methods/*/timing.py` matches.\n\n"
              "## Where things are\n\n| path | what |\n|---|---|\n"
              "| `methods/registry.py`, `base.py` | the interface (`registry.py`), alone at `methods/`'s root |\n")
    assert missing_paths(readme, tmp_path, tops) == ["methods/timing.py", "run_all.sh"]
    assert missing_in_map(readme, tmp_path, tops) == ["methods/base.py"]
