"""The classic pipeline as one Method: a feature model + a search backend."""
from __future__ import annotations

import logging

from . import distributed
from .backends import cached_build, make_backend
from .base import Method, Retrieval, RunContext
from .features.cache import cached_features

log = logging.getLogger(__name__)


class FeatureSearch(Method):
    """Embed the database with ``model``, index it with ``backend``, embed and search the queries.

    ``query_settings`` lists the backend's query parameters to sweep (one cell each).
    """

    def __init__(self, model, backend: str = "linear", build_params: dict | None = None,
                 query_settings: list[dict] | None = None):
        super().__init__(model=model.identity(), backend=backend, build_params=build_params or {})
        self.model = model
        self.name = model.name
        self.backend_name = backend
        self.build_params = build_params or {}
        self.query_settings = query_settings

    @property
    def features(self) -> str:
        return self.model.name

    @property
    def backend(self) -> str:
        return self.backend_name

    def settings(self) -> list[dict]:
        return self.query_settings or [{}]

    def pretrained_files(self) -> list:
        return self.model.pretrained_files()

    def fit(self, dataset, ctx: RunContext) -> None:
        self.model.fit(dataset.train, ctx)
        self.config["model"] = self.model.identity()

    def index(self, database, ctx: RunContext) -> None:
        X, self.db_feature_seconds = cached_features(self.model, database, ctx, shared=True)
        self.index_impl = make_backend(self.backend_name, metric=self.model.metric,
                                       device=ctx.device, **self.build_params)
        with distributed.main_first():  # under torchrun the others load rank 0's index: the same one
            cached_build(self.index_impl, X, ctx.cache("indexes"))

    def search(self, query, k: int, setting: dict, ctx: RunContext) -> Retrieval:
        Q, feature_seconds = cached_features(self.model, query, ctx)
        self.index_impl.set_query_params(**setting)
        ids, _ = self.index_impl.search(Q, k)
        # the backend's own measure: a worker-process backend excludes the hand-over
        timings = {"feature": feature_seconds, "search": self.index_impl.last_search_s}
        stats = self.index_impl.stats()
        return Retrieval(ids=ids, timings=timings, extra={"build_s": stats["build_s"],
                         "index_bytes": stats["memory_bytes"], "index_disk_bytes": stats["disk_bytes"]})
