"""The one interface every retrieval method sits behind, generative or feature + ANN.

A method is built from a config (plain data that goes into the manifest), is fitted
on the train split, indexes the database, and answers queries with ranked database
indices for each of its query *settings* (beam sizes, nprobe values, ...), one results
cell per setting. Timings are seconds summed over all queries, per stage.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
import time

import numpy as np

log = logging.getLogger(__name__)


class HarnessError(Exception):
    """A user-facing problem (bad config, missing weights, ...): one line, names the fix."""


@dataclass
class RunContext:
    """What a run is allowed to use: device, seed, where caches and weights live, and how
    training executes (``accumulate`` micro-batches per step, bf16 autocast ``amp`` on CUDA):
    execution choices, not part of any model's cache key."""

    device: str = "cpu"
    seed: int = 0
    cache_dir: Path = Path("cache")
    weights_dir: Path | None = None
    progress: bool = True
    dtype: str = "fp32"
    accumulate: int = 1
    amp: bool = False
    checkpoint_every: int = 200  # training steps between checkpoints (feature models, IRGen's encoder-decoder)
    compile: bool = False  # torch.compile the search-time networks (methods/compile.py)

    def cache(self, *parts: str) -> Path:
        path = Path(self.cache_dir).joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class Retrieval:
    """Ranked database indices for each query, -1 where fewer than k were found."""

    ids: np.ndarray  # (n_queries, k) int64
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds over all queries
    extra: dict[str, float] = field(default_factory=dict)  # method-specific numbers worth keeping


class Stopwatch:
    """Accumulates seconds per named stage: ``with sw("encoder"): ...``."""

    def __init__(self, sync=None):
        self.seconds: dict[str, float] = {}
        self._sync = sync or (lambda: None)

    @contextmanager
    def __call__(self, stage: str):
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


class Method(ABC):
    """Base class of every retrieval method.

    Subclasses set ``name`` (the registry name), and fill ``features`` / ``backend``
    for the results table (``"-"`` where the notion does not apply).
    """

    name: str = "?"

    def __init__(self, **config):
        self.config = config

    @property
    def features(self) -> str:
        return "-"

    @property
    def backend(self) -> str:
        return "-"

    @property
    def variant(self) -> str:
        """Method options that change what is trained (an ablation), as ``key=value,...``."""
        return "-"

    def settings(self) -> list[dict]:
        """The query settings to sweep; one results cell each."""
        return [{}]

    @abstractmethod
    def fit(self, dataset, ctx: RunContext) -> None:
        """Train on ``dataset.train`` (reusing a cached model where one matches)."""

    @abstractmethod
    def index(self, database, ctx: RunContext) -> None:
        """Make the database searchable."""

    @abstractmethod
    def search(self, query, k: int, setting: dict, ctx: RunContext) -> Retrieval:
        """Top-k database indices for every query image under one setting."""

    def pretrained_files(self) -> list:
        """The published checkpoints (``WeightsFile``) this method starts from; their checksums
        go into its cells' ids."""
        return []

    def describe(self) -> dict:
        """Everything about this method that belongs in the manifest."""
        return {"name": self.name, "features": self.features, "backend": self.backend,
                "variant": self.variant, "config": self.config}


def setting_label(setting: dict) -> str:
    """A setting as the results table writes it: ``beam=10`` or ``-``."""
    return ",".join(f"{k}={v}" for k, v in sorted(setting.items())) or "-"


def parse_setting(text: str) -> dict[str, str]:
    """A ``key=value,key=value`` label (a setting or a variant) back to a dict; ``-`` -> {}."""
    return dict(p.split("=", 1) for p in text.split(",") if "=" in p)
