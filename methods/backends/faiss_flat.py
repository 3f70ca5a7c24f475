"""Exact search with Faiss's flat index (IndexFlatL2 / IndexFlatIP): the same answers
as ``linear``, from a second, independent implementation and with Faiss's GPU path."""
from __future__ import annotations

import numpy as np

from .faiss_common import FaissBackend


class FaissFlatBackend(FaissBackend):
    name = "faiss-flat"

    def _make_index(self, X: np.ndarray):
        flat = self.faiss.IndexFlatIP if self.metric == "cosine" else self.faiss.IndexFlatL2
        index = flat(X.shape[1])
        index.add(X)
        return index

