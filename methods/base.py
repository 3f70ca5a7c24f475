"""The one interface every retrieval method sits behind, generative or feature + ANN.

A method is built from a config (plain data that goes into the manifest), is fitted
on the train split, indexes the database, and answers queries with ranked database
indices for each of its query *settings* (beam sizes, nprobe values, ...), one results
cell per setting. Timings are seconds summed over all queries, per stage.

What the speed tools need goes through the same interface, so a new method is timed
without any change in ``bench/``: ``search_batch`` (a batch of query images searched end
to end, each stage timed), ``index_synthetic`` (a database of n synthetic entries, for
timings at a scale the dataset does not have), ``vectors`` (a split's features, for the
backend sweeps of a feature method) and ``stats`` (what the index holds).
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .runtime.timing import Measured, Stopwatch  # the one timer (methods/runtime/timing.py); part of this interface

log = logging.getLogger(__name__)


class HarnessError(Exception):
    """A user-facing problem (bad config, missing weights, ...): one line, names the fix."""


@dataclass
class RunContext:
    """What a run is allowed to use: device, seed, where caches and weights live, and how
    training executes (``accumulate`` micro-batches per step, bf16 autocast ``amp`` on CUDA):
    execution choices, not part of any model's cache key."""

    device: str = "cpu"
    seed: int = 0  # the training seed
    data_seed: int | None = None  # the data draws' seed (held-out shares); None: ``seed``
    cache_dir: Path = Path("cache")
    weights_dir: Path | None = None
    progress: bool = True
    dtype: str = "fp32"
    accumulate: int = 1
    amp: bool = False
    checkpoint_every: int = 200  # training steps between checkpoints (feature models, IRGen's encoder-decoder)
    compile: bool = False  # torch.compile the search-time networks (methods/runtime/compile.py)
    run_id: str = ""  # the results run this context serves: cached times name the run that measured them

    def __post_init__(self):
        if self.data_seed is None:
            self.data_seed = self.seed

    def cache(self, *parts: str) -> Path:
        path = Path(self.cache_dir).joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def cuda(self) -> bool:
        return str(self.device).startswith("cuda")

    def autocast(self):
        """bf16 autocast of the networks for ``dtype="bf16"``, nothing for fp32."""
        if self.dtype != "bf16":
            return nullcontext()
        import torch

        return torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16)

    def stopwatch(self) -> Stopwatch:
        """A stopwatch that waits for the device around each stage (CUDA runs asynchronously)."""
        return Stopwatch.for_device(self.device)


@dataclass
class Retrieval:
    """Ranked database indices for each query, -1 where fewer than k were found; the score that
    ranked each result where the method has one (``score_kind`` says what it is and which way is
    better); counts the method keeps about its search (``tallies``: summed over queries, and over
    processes under torchrun)."""

    ids: np.ndarray  # (n_queries, k) int64
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds over all queries
    scores: np.ndarray | None = None  # (n_queries, k) float; +-inf (the worse end) where ids is -1
    score_kind: str = ""  # e.g. "squared_l2 (smaller is closer)"
    tallies: dict[str, int] = field(default_factory=dict)  # e.g. IRGen's beams that end off the tree


class Method(ABC):
    """Base class of every retrieval method.

    ``name`` is the registry name (the results' ``method`` column); subclasses fill
    ``features`` / ``backend`` / ``variant`` for the results table (``"-"`` where the
    notion does not apply).
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

    def model_fields(self) -> dict:
        """What distinguishes this model from another of the same method, as typed values (the
        results' ``model`` column: preset, encoder, input side, identifier kind, ...); its
        ``MethodSpec.fields`` say how the reports show each."""
        return {}

    def settings(self, n_database: int) -> list[dict]:
        """The query settings to run over a database of ``n_database`` items; one results cell each."""
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

    def search_batch(self, query, rows: np.ndarray, k: int, setting: dict, ctx: RunContext,
                     stopwatch: Stopwatch) -> np.ndarray:
        """Ranked ids (len(rows), k) of the query images at ``rows``, searched end to end from
        the images (nothing reused from an earlier call), each stage timed in ``stopwatch``.
        This default times ``search`` on those queries, one stage per timing it reports."""
        result = self.search(query.subset(rows), k, setting, ctx)
        for stage, seconds in result.timings.items():
            stopwatch.add(stage, seconds)
        return result.ids

    def index_synthetic(self, n: int, ctx: RunContext) -> None:
        """Index a seeded synthetic database of ``n`` entries instead of a dataset's, to time the
        search at a scale the dataset does not have."""
        raise HarnessError(f"--db-size: method {self.name} cannot index a synthetic database "
                           f"(implement {type(self).__name__}.index_synthetic)")

    def vectors(self, split, ctx: RunContext) -> tuple[np.ndarray, str]:
        """(features (n, d) float32 of ``split``'s images, the metric they are searched with)."""
        raise HarnessError(f"method {self.name} has no feature vectors to index (it is not a feature "
                           f"model + search backend)")

    def stats(self) -> dict[str, float | Measured]:
        """Numbers about the built index and the model kept beside every result of it
        (``db_items``, ``index_bytes``, ``model_bytes``, ``input_px``, ...); a time is a ``Measured``
        (``feature_extract_s``, ``build_s``: it says whether this run measured it or a cache held it)."""
        return {}

    def diagnostics(self, result: Retrieval, ks: list[int]) -> list[tuple[str, int, float]]:
        """Rows (metric, k, value) about what the method built and how one setting's search went
        (``result``), written with that setting's cell (IRGen: what its identifiers are worth); none
        by default. ``ks`` are the cell's cut-offs."""
        return []

    def bound_ranking(self, query, k: int, ctx: RunContext) -> np.ndarray | None:
        """(n_queries, k) ranked ids that a perfect search stage would return, scored like the
        search's own (IRGen: each query answered by the identifier its tokenizer gives it, no
        decoder); None (the default) where the method has no such bound."""
        return None

    def pretrained_files(self) -> list:
        """The published checkpoints (``WeightsFile``) this method starts from; their checksums
        go into its cells' ids."""
        return []

    def describe(self) -> dict:
        """Everything about this method that belongs in the manifest."""
        return {"name": self.name, "features": self.features, "backend": self.backend,
                "variant": self.variant, "config": self.config}


def parameter_bytes(*modules) -> float:
    """The bytes of the modules' parameters and buffers (each tensor counted once: a shared stem once)."""
    tensors = {id(t): t for m in modules for t in [*m.parameters(), *m.buffers()]}
    return float(sum(t.numel() * t.element_size() for t in tensors.values()))


def setting_label(setting: dict) -> str:
    """A setting as the results table writes it: ``beam=10`` or ``-``."""
    return ",".join(f"{k}={v}" for k, v in sorted(setting.items())) or "-"


def parse_setting(text: str) -> dict[str, str]:
    """A ``key=value,key=value`` label (a setting or a variant) back to a dict; ``-`` -> {}."""
    return dict(p.split("=", 1) for p in text.split(",") if "=" in p)
