"""methods/runtime/files.py: atomic files readable by the rest of a team, torch files read back as
tensors and plain data only."""
import os
import stat
from pathlib import Path

import pytest
import torch

from methods.base import HarnessError
from methods.runtime.files import atomic_write, load_torch, new_temporary, save_torch
from tests.malicious import RunsCode


@pytest.fixture
def umask():
    """umask(value): set the process umask for the test; the old one comes back after it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_gives_the_mode_a_new_file_gets_under_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    path = tmp_path / "results.csv"
    atomic_write(path, lambda tmp: Path(tmp).write_text("a,b\n"))
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text() == "a,b\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temporary file left


def test_a_temporary_folder_gets_the_mode_of_a_new_folder(tmp_path, umask):
    umask(0o022)
    folder = new_temporary(tmp_path / "index", folder=True)
    assert os.path.isdir(folder) and stat.S_IMODE(os.stat(folder).st_mode) == 0o755


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    def fail(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(tmp_path / "x.csv", fail)
    assert list(tmp_path.iterdir()) == []


def test_what_save_torch_writes_loads_back(tmp_path):
    state = {"nets": [{"w": torch.ones(2)}], "losses": [0.5, 0.25], "step": 3, "rng": [{"cpu": torch.get_rng_state()}]}
    save_torch(state, tmp_path / "m.pt")
    back = load_torch(tmp_path / "m.pt")
    assert back["losses"] == [0.5, 0.25] and back["step"] == 3 and torch.equal(back["nets"][0]["w"], torch.ones(2))


def test_a_cache_file_that_would_run_code_is_refused_naming_the_file(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "m.pt"
    torch.save({"w": torch.zeros(2), "x": RunsCode(marker)}, path)
    with pytest.raises(HarnessError) as e:
        load_torch(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "delete it" in msg
    assert not marker.exists()


def test_a_damaged_cache_file_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "m.pt"
    save_torch({"w": torch.zeros(100)}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(HarnessError, match=f"cache file {path} cannot be read.*delete it"):
        load_torch(path)
