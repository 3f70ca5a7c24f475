"""The classic pipeline as one Method: a feature model + a search backend, and its builder
for every registered feature model (``build``, named by each feature method's ``MethodSpec``)."""
from __future__ import annotations

import logging

import numpy as np
import torch

from datasets import load_batch
from datasets.synthetic import synthetic_features

from ..backends import BACKENDS, backend_class, cached_build, checked_build_params, make_backend
from ..base import HarnessError, Measured, Method, Retrieval, RunContext, Stopwatch, parameter_bytes
from ..runtime import distributed
from ..runtime.fresh import held_out_items
from ..runtime.overrides import dotted, override
from . import feature_model_classes
from .cache import cached_features

log = logging.getLogger(__name__)

DISTANCES = {"l2": "squared L2 distance, smaller is closer", "cosine": "1 - cosine, smaller is closer"}


class FeatureSearch(Method):
    """Embed the database with ``model``, index it with ``backend``, embed and search the queries.

    ``build_params`` are the backend's build parameters (checked and typed here); with ``sweep`` every point of the
    backend's query grid is a setting (one results cell each), else its defaults are. ``fresh``
    holds that share of the database out of the model's training (methods/runtime/fresh.py); the whole
    database is indexed.
    """

    def __init__(self, model, backend: str = "linear", build_params: dict | None = None, sweep: bool = False,
                 fresh: float = 0.0):
        if backend not in BACKENDS:
            raise HarnessError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        self.build_params = checked_build_params(backend, build_params or {})
        super().__init__(model=model.identity(), backend=backend, build_params=self.build_params)
        self.model = model
        self.backend_name = backend
        self.sweep = sweep
        self.fresh = fresh
        self.index_impl = None
        self.n_items = 0
        self.extraction: Measured | None = None  # the database's feature extraction

    @property
    def features(self) -> str:
        return self.name

    @property
    def backend(self) -> str:
        return self.backend_name

    @property
    def variant(self) -> str:
        """The model's variant, the build parameters given to the backend (an index built with
        nlist=300 is not the default one), and the share of the database held out of training."""
        pairs = [] if self.model.variant == "-" else [self.model.variant]
        pairs += [f"{k}={v}" for k, v in sorted(self.build_params.items())]
        pairs += [f"fresh={self.fresh:g}"] if self.fresh else []
        return ",".join(pairs) or "-"

    def model_fields(self) -> dict:
        """The model's fields, the side of its input images, the backend's build parameters given
        and the share of the database held out of training."""
        return {**self.model.model_fields(), "input_px": self.model.image_size, **self.build_params,
                **({"fresh": self.fresh} if self.fresh else {})}

    def settings(self, n_database: int) -> list[dict]:
        return backend_class(self.backend_name).grid_for(n_database, self.build_params) if self.sweep else [{}]

    def pretrained_files(self) -> list:
        return self.model.pretrained_files()

    def fit(self, dataset, ctx: RunContext) -> None:
        held_out, fit_items = held_out_items(dataset.database, dataset.train, self.fresh, ctx.data_seed)
        self.model.fit(dataset.train.subset(fit_items) if self.fresh else dataset.train, ctx)
        self.config.update(model=self.model.identity(), n_train=len(fit_items), n_held_out=len(held_out))

    def index(self, database, ctx: RunContext) -> None:
        X, self.extraction = cached_features(self.model, database, ctx, shared=True)
        self._build(X, ctx)

    def index_synthetic(self, n: int, ctx: RunContext) -> None:
        """n seeded class-structured vectors of the model's feature width (datasets.synthetic)."""
        X, _ = synthetic_features(n, self._feature_width(ctx), seed=ctx.seed)
        self.extraction = None
        self._build(X, ctx)

    def _build(self, X: np.ndarray, ctx: RunContext) -> None:
        self.index_impl = make_backend(self.backend_name, metric=self.model.metric, device=ctx.device,
                                       **self.build_params)
        self.n_items = len(X)
        with distributed.main_first():  # under torchrun the others load rank 0's index: the same one
            cached_build(self.index_impl, X, ctx.cache("indexes"), ctx.run_id)

    @torch.no_grad()
    def _feature_width(self, ctx: RunContext) -> int:
        self.model.eval_mode()
        size = self.model.image_size
        return self.model.encode(torch.zeros(1, 3, size, size, device=ctx.device)).shape[1]

    def vectors(self, split, ctx: RunContext) -> tuple[np.ndarray, str]:
        return cached_features(self.model, split, ctx)[0], self.model.metric

    def search(self, query, k: int, setting: dict, ctx: RunContext) -> Retrieval:
        Q, extraction = cached_features(self.model, query, ctx)
        self.index_impl.set_query_params(**setting)
        ids, dists = self.index_impl.search(Q, k)
        # the backend's own measure: a worker-process backend excludes the hand-over; cached
        # features' seconds are an earlier run's, so they are no stage of this search
        feature = {} if extraction.run else {"feature": extraction.seconds}
        return Retrieval(ids=ids, timings={**feature, "search": self.index_impl.last_search_s}, scores=dists,
                         score_kind=DISTANCES[self.model.metric])

    @torch.inference_mode()
    def search_batch(self, query, rows: np.ndarray, k: int, setting: dict, ctx: RunContext,
                     stopwatch: Stopwatch) -> np.ndarray:
        self.model.eval_mode()
        with stopwatch("preprocess"):
            x = self.model.normalise(load_batch(query, rows, self.model.image_size, ctx.device), ctx.device)
        with stopwatch("feature"), ctx.autocast():
            q = self.model.encode(x).float().cpu().numpy()
        self.index_impl.set_query_params(**setting)
        ids, _ = self.index_impl.search(q, k)
        stopwatch.add("search", self.index_impl.last_search_s)
        return ids

    def describe(self) -> dict:
        """The manifest's entry, with the build parameters the index was built with once it is
        built (every default resolved: IVF-PQ's nlist for this database, ScaNN's mode, ...)."""
        built = {"backend_built_with": self.index_impl.built_with()} if self.index_impl is not None else {}
        return {**super().describe(), **built}

    def stats(self) -> dict[str, float | Measured]:
        stats = self.index_impl.stats()
        extraction = {"feature_extract_s": self.extraction} if self.extraction is not None else {}
        return {"db_items": float(self.n_items), "build_s": stats["build_s"], **extraction,
                "index_bytes": float(stats["memory_bytes"]), "index_disk_bytes": float(stats["disk_bytes"]),
                "model_bytes": parameter_bytes(*self.model.modules()), "input_px": float(self.model.image_size)}


def build(name: str, options) -> FeatureSearch:
    model_cls, cfg_cls = feature_model_classes(name)
    cfg = override(cfg_cls(), options.overrides)
    # a model with presets fills in its paper preset at preset=paper, around the keys the user gave
    model = model_cls(cfg, explicit=dotted(options.overrides)) if hasattr(cfg, "preset") else model_cls(cfg)
    return FeatureSearch(model, options.backend, options.backend_params, sweep=options.sweep, fresh=options.fresh)
