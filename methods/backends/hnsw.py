"""Faiss HNSW (IndexHNSWFlat): a hierarchical navigable small-world graph over the raw
vectors, the graph index that leads most ann-benchmarks planes. A baseline beyond the
IRGen paper.

Build parameters:

* ``M`` -- neighbours per node on the upper layers (2 M on the bottom one); 32, the value
  the Faiss wiki's benchmarks use for 128-d data.
* ``efConstruction`` -- the candidate list while inserting; 40, Faiss's default.

Query parameter: ``efSearch`` -- the candidate list while searching (Faiss raises it to k
when smaller; 16, Faiss's default, when not given); ``grid_for`` sweeps ``CANDIDATE_LISTS``,
known before the build. Cosine runs as inner product over unit vectors. The index keeps every vector and the graph's links
in RAM: its ``memory_bytes`` is its saved size, as for every backend.
"""
from __future__ import annotations

import numpy as np

from .base import CANDIDATE_LISTS, whole_number
from .faiss_common import FaissBackend, faiss_metric

DEFAULT_EF_SEARCH = 16  # Faiss's


class HNSWBackend(FaissBackend):
    name = "hnsw"

    def __init__(self, metric: str = "l2", device: str = "cpu", M: int = 32, efConstruction: int = 40):
        # faiss has no GPU HNSW: the index is built and served on CPU whatever the device
        super().__init__(metric, "cpu")
        self.build_params = {"M": M, "efConstruction": efConstruction}
        self.M = whole_number(self.name, "M", M, "e.g. M=32")
        self.ef_construction = whole_number(self.name, "efConstruction", efConstruction, "e.g. efConstruction=40")

    def _make_index(self, X: np.ndarray):
        index = self.faiss.IndexHNSWFlat(X.shape[1], self.M, faiss_metric(self.faiss, self.metric))
        index.hnsw.efConstruction = self.ef_construction
        index.add(X)
        return index

    def _apply_query_params(self) -> None:
        unknown = set(self.query_params) - {"efSearch"}
        if unknown:
            raise ValueError(f"hnsw: unknown query parameter(s) {sorted(unknown)}; it takes efSearch")
        self.index.hnsw.efSearch = int(self.query_params.get("efSearch", DEFAULT_EF_SEARCH))

    @classmethod
    def grid_for(cls, n: int, build_params: dict) -> list[dict]:
        return [{"efSearch": ef} for ef in CANDIDATE_LISTS]
