"""On-disk caches shared by every method: stable keys and atomic writes.

A cache entry is written to a temporary file in the same folder and renamed into
place, so an interrupted run never leaves a half-written entry behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np


def digest(*objects) -> str:
    """A short stable hash of JSON-able objects (configs, fingerprints, checksums)."""
    text = json.dumps(objects, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_torch(obj, path: Path) -> None:
    import torch  # here, not at the top: reports read results without loading torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: Path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def loss_curve_path(model_path: Path) -> Path:
    """Where a trained model's loss curve is kept: beside it, ``<model>.losses.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".losses.json")


def save_loss_curve(model_path: Path, losses) -> None:
    """The loss of every training step of the model at ``model_path`` (a list, or stage -> list)."""
    text = json.dumps(losses)
    atomic_write(loss_curve_path(model_path), lambda tmp: Path(tmp).write_text(text))


def save_arrays(path: Path, **arrays) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def file_checksum(path: Path, chunk: int = 1 << 20) -> str:
    """sha1 of a file's bytes (weights files), first 12 hex digits."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:12]
