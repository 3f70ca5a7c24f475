"""A training run's files, so that a killed run continues where it stopped: ``<name>.pt``
when finished, ``<name>.ckpt.pt`` meanwhile, and the loss curve ``<name>.losses.json``.
Rank 0 alone writes, atomically; every process reads the checkpoint it finds."""
from __future__ import annotations

import logging
from pathlib import Path

from . import distributed
from .cache import load_torch, save_loss_curve, save_torch

log = logging.getLogger(__name__)


class Resumable:
    def __init__(self, final: Path, name: str = "training"):
        self.final = Path(final)
        self.name = name
        self.checkpoint = self.final.with_name(self.final.stem + ".ckpt.pt")

    def finished(self):
        """The finished model's state, or None."""
        return load_torch(self.final) if self.final.exists() else None

    def load(self):
        """The last checkpoint's state, or None."""
        if not self.checkpoint.exists():
            return None
        log.info("%s: resuming from checkpoint %s", self.name, self.checkpoint)
        return load_torch(self.checkpoint)

    def save(self, state) -> None:
        if distributed.is_main():
            save_torch(state, self.checkpoint)

    def finish(self, state, losses: list[float] | None = None) -> None:
        if distributed.is_main():
            save_torch(state, self.final)
            if losses is not None:
                save_loss_curve(self.final, losses)
            self.checkpoint.unlink(missing_ok=True)
