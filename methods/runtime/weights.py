"""Pretrained weight files and the feature models' presets.

A model at ``preset=paper`` starts from a published checkpoint read from a local folder
(``--weights DIR`` or ``$IRGEN_WEIGHTS``); every model names the exact file it
expects and where it is published, and one checked loader reads them all. At
``preset=small`` it is the same code with a smaller backbone and random init, so
that it runs on a CPU; its name says so. (IRGen's presets are in methods/irgen/config.py.)
"""
from __future__ import annotations

import functools
import logging
import os
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..base import HarnessError
from .files import file_checksum
from .overrides import override

log = logging.getLogger(__name__)

PRESETS = ("small", "paper")


@dataclass(frozen=True)
class WeightsFile:
    """A published checkpoint: what it is, the file names it goes by (official first), where to get it."""

    what: str
    names: tuple[str, ...]
    url: str

    def describe(self) -> str:
        return f"{self.what} ({self.names[0]}, published at {self.url})"


def weights_dir(ctx) -> Path | None:
    folder = ctx.weights_dir or os.environ.get("IRGEN_WEIGHTS")
    return Path(folder) if folder else None


def find_weights(spec: WeightsFile, ctx) -> Path:
    """The file for ``spec`` in the weights folder, or a one-line error naming file and source."""
    folder = weights_dir(ctx)
    fix = f"download it from {spec.url} into a folder and pass --weights DIR (or set $IRGEN_WEIGHTS), or use --set preset=small"
    if folder is None:
        raise HarnessError(f"{spec.what}: no weights folder given; {spec.names[0]} is needed: {fix}")
    for name in spec.names:
        if (folder / name).is_file():
            return folder / name
    raise HarnessError(f"{spec.what}: {folder / spec.names[0]} not found: {fix}")


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (as OpenAI's CLIP files are): a zip with code and constants."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file (plain state dict, one wrapped under "model" / "state_dict" /
    "net", or a TorchScript archive's parameters and buffers)."""
    try:
        if is_torchscript(path):
            with warnings.catch_warnings():  # torch.jit.load's deprecation note: the file is what it is
                warnings.simplefilter("ignore", FutureWarning)
                state = dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        elif path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise HarnessError(f"weights file {path} cannot be read as a torch state dict "
                           f"({e.__class__.__name__}); replace it with the official file") from None
    for wrapper in ("model", "state_dict", "net"):  # net: the official IRGen checkpoints
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HarnessError(f"weights file {path} holds no state dict of tensors; replace it with the official file")
    return state


def load_state_dict_checked(module: nn.Module, path: Path, expected_from: str, prefix: str = "") -> None:
    """Load ``path`` into ``module`` after checking every key and shape.

    ``prefix`` selects a sub-model of the file (``"visual."`` for CLIP's image tower);
    keys outside it are ignored. The first missing, unexpected or misshapen key is
    refused in one line naming the file, the key and both shapes.
    """
    path = Path(path)
    state = {k[len(prefix):]: v for k, v in read_state_dict(path).items() if k.startswith(prefix)}
    own = module.state_dict()
    unfit = f"weights file {path} does not fit {expected_from}"
    for key, want in own.items():
        if key not in state:
            if key.endswith("num_batches_tracked"):  # older checkpoints predate this counter
                state[key] = want
                continue
            raise HarnessError(f"{unfit}: key {prefix}{key} is missing (expected shape {tuple(want.shape)})")
        if state[key].shape != want.shape:
            raise HarnessError(f"{unfit}: {prefix}{key} expected shape {tuple(want.shape)}, "
                               f"got {tuple(state[key].shape)}")
    unexpected = sorted(set(state) - set(own))
    if unexpected:
        raise HarnessError(f"{unfit}: unexpected key {prefix}{unexpected[0]} "
                           f"({len(unexpected)} keys the model does not have)")
    module.load_state_dict(state)
    log.info("loaded %s from %s", expected_from, path)


@functools.lru_cache(maxsize=16)
def _checksum(path: str, size: int, mtime: float) -> str:
    return file_checksum(Path(path))


def weights_checksum(path: Path) -> str:
    """sha1 of a weights file, computed once per process for an unchanged file."""
    st = Path(path).stat()
    return _checksum(str(path), st.st_size, st.st_mtime)


def starting_weights(specs, ctx) -> dict[str, str]:
    """{file name: sha1} of the published checkpoints ``specs`` as found in the weights folder
    (a missing one fails here, in one line): a results cell's id includes them, so a run with
    another file never counts as done."""
    found = [find_weights(spec, ctx) for spec in specs]
    return {path.name: weights_checksum(path) for path in found}


def load_pretrained(build, spec: WeightsFile, ctx, prefix: str = "") -> tuple[nn.Module, dict]:
    """``build()`` loaded with ``spec``'s file (found first, so a missing file fails before a
    big model is built); returns the module and what identifies its weights (file, checksum)."""
    path = find_weights(spec, ctx)
    module = build()
    load_state_dict_checked(module, path, expected_from=spec.describe(), prefix=prefix)
    return module, {"file": path.name, "sha1": weights_checksum(path)}


def with_preset(cfg, paper: dict, explicit: Iterable[str] = ()):
    """``cfg`` with the paper preset ``paper`` (dotted keys) applied when ``cfg.preset == "paper"``.

    The user's values win: a preset value replaces neither a key in ``explicit`` (the dotted
    keys ``--set`` / ``--config`` gave, or a section above one) nor a field changed from its
    (small) default.
    """
    if cfg.preset not in PRESETS:
        raise HarnessError(f"--set preset={cfg.preset}: choose one of {', '.join(PRESETS)}")
    if cfg.preset == "small":
        return cfg
    default = type(cfg)()
    given = set(explicit)
    untouched = {key: value for key, value in paper.items()
                 if not _given(key, given) and _get(cfg, key) == _get(default, key)}
    return override(cfg, untouched, where=f"{type(cfg).__name__} paper preset")


def _given(dotted: str, explicit: set[str]) -> bool:
    """``dotted`` or a section above it (``train`` for ``train.lr``) is among ``explicit``."""
    parts = dotted.split(".")
    return any(".".join(parts[:i]) in explicit for i in range(1, len(parts) + 1))


def _get(cfg, dotted: str):
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def preset_name(base: str, preset: str) -> str:
    """The results label: the paper model keeps its name, a small random-init one says so."""
    return base if preset == "paper" else f"{base}-small"
