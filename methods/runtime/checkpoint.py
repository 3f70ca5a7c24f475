"""A training run's files, so that a killed run continues where it stopped: ``<name>.pt``
when finished, ``<name>.ckpt.pt`` meanwhile, and the loss curve ``<name>.losses.json``.
Rank 0 alone writes, atomically; every process reads the checkpoint it finds. A checkpoint
holds every process's torch random state and puts this process's back when loaded, so
random draws inside the networks (drop path, drop-connect, dropout) go on as in an
uninterrupted run."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from . import distributed
from .files import load_torch, save_loss_curve, save_torch

log = logging.getLogger(__name__)


def rng_state(device: str) -> dict:
    """This process's torch random state (CPU, and its GPU's on CUDA)."""
    state = {"cpu": torch.get_rng_state()}
    if str(device).startswith("cuda"):
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(states: list[dict], device: str) -> None:
    """Put back this process's random state from a checkpoint's (one per process)."""
    if len(states) != distributed.world_size():
        log.warning("the checkpoint was written by %d process(es), this run has %d: random draws inside the "
                    "network (drop path) go on from a different state", len(states), distributed.world_size())
        return
    state = states[distributed.rank()]
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and str(device).startswith("cuda"):
        torch.cuda.set_rng_state(state["cuda"], device)


class Resumable:
    def __init__(self, final: Path, name: str = "training", device: str = "cpu"):
        self.final = Path(final)
        self.name = name
        self.device = device
        self.checkpoint = self.final.with_name(self.final.stem + ".ckpt.pt")

    def finished(self):
        """The finished model's state, or None."""
        return load_torch(self.final) if self.final.exists() else None

    def load(self):
        """The last checkpoint's state, or None; this process's random state is put back."""
        if not self.checkpoint.exists():
            return None
        log.info("%s: resuming from checkpoint %s", self.name, self.checkpoint)
        state = load_torch(self.checkpoint)
        if "rng" in state:
            restore_rng(state["rng"], self.device)
        return state

    def save(self, state: dict) -> None:
        """Write ``state`` with every process's random state; every process calls it (it gathers)."""
        rng = distributed.all_objects(rng_state(self.device))
        if distributed.is_main():
            save_torch({**state, "rng": rng}, self.checkpoint)

    def finish(self, state, losses: list[float] | None = None) -> None:
        if distributed.is_main():
            save_torch(state, self.final)
            if losses is not None:
                save_loss_curve(self.final, losses)
            self.checkpoint.unlink(missing_ok=True)
