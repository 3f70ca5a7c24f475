"""On-disk caches shared by every method: stable keys and atomic writes.

A cache entry is written to a temporary file in the same folder and renamed into
place, so an interrupted run never leaves a half-written entry behind; the file gets the
mode the umask gives any new file (0644 under umask 022), so others can read it. Torch
files are read back as tensors and plain data only: a file in a shared cache cannot run code.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
from pathlib import Path
from typing import Callable

import numpy as np

from ..base import HarnessError


def digest(*objects) -> str:
    """A short stable hash of JSON-able objects (configs, fingerprints, checksums)."""
    text = json.dumps(objects, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def new_temporary(path: Path, folder: bool = False) -> str:
    """An empty ``.<name>.<random>.tmp`` file (or folder) beside ``path``, made with the mode the
    umask gives any new one, 0644 (0755) under umask 022; ``tempfile``'s are 0600 (0700): results,
    reports and cache entries nobody else could read once renamed into place."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            if folder:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return str(tmp)
        except FileExistsError:  # another writer drew the same name
            continue


def save_torch(obj, path: Path) -> None:
    import torch  # here, not at the top: reports read results without loading torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: Path):
    """What ``save_torch`` wrote: tensors, state dicts and plain data. Anything else (a pickled
    object, which could run code on loading) or a damaged file is refused with a one-line error
    naming the file to delete; the next run then computes the entry again."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpickling errors, torch's zip reader, EOF: one answer
        raise HarnessError(f"cache file {path} cannot be read as tensors and plain data "
                           f"({e.__class__.__name__}: it is damaged or holds other objects); "
                           f"delete it and run again to compute it afresh") from None


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


def arrays_bytes(**arrays) -> int:
    """The bytes ``save_arrays`` writes for ``arrays`` (uncompressed .npz): how an index made of
    arrays is measured, as a search backend's index is by the size ``save`` writes."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getbuffer().nbytes


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
