"""Faiss IVF-PQ (IndexIVFPQ), configured as in the IRGen paper's baseline.

Build parameters (and why these defaults):

* ``nlist`` -- coarse clusters. The paper uses 300 / 100 / 200 for In-shop / CUB200 /
  Cars196 (``PAPER_NLIST``; the paper grids pass them as ``--backend-param nlist=...``). Without one the
  default is round(4 * sqrt(n)), the usual Faiss rule of thumb, capped at n // 39
  so every list gets the >= 39 training points Faiss's k-means asks for.
* ``M`` = 4 sub-spaces x ``nbits`` = 8 bits (256 centroids each), the paper's code.
  Faiss needs d divisible by M: other dimensionalities are padded with zero columns
  to the next multiple (distances and inner products are unchanged by zero columns).
  PQ training needs at least 2**nbits points; on smaller sets nbits is lowered (logged).
* ``refine_factor`` -- 0 (the paper: no re-ranking). k > 0 wraps the index in
  IndexRefineFlat, which re-ranks refine_factor * k candidates with exact distances
  (and keeps the raw vectors in memory); useful to see PQ's error apart from IVF's.

Query parameter: ``nprobe`` -- lists visited per query, Faiss's default 1 when not
given (the paper states none); ``grid_for`` sweeps 1, 2, 4, ... nlist.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from .base import BackendUnavailable, doubling, sqrt_lists
from .faiss_common import FaissBackend, faiss_metric

log = logging.getLogger(__name__)

PAPER_NLIST = {"inshop": 300, "cub200": 100, "cars196": 200}  # the paper grids set these (configs/grids)
MIN_POINTS_PER_LIST = 39  # below this Faiss warns that k-means is poorly trained


def default_nlist(n: int) -> int:
    return sqrt_lists(n, factor=4.0, min_points=MIN_POINTS_PER_LIST)


class IVFPQBackend(FaissBackend):
    name = "ivfpq"

    def __init__(self, metric: str = "l2", device: str = "cpu", nlist: int | None = None, M: int = 4,
                 nbits: int = 8, refine_factor: int = 0):
        super().__init__(metric, device)
        self.build_params = {"nlist": nlist, "M": M, "nbits": nbits, "refine_factor": refine_factor}
        if refine_factor and str(device).startswith("cuda"):
            raise BackendUnavailable("ivfpq: refine_factor (exact re-ranking) runs on CPU only; "
                                     "use device='cpu' or refine_factor=0")
        self.M, self.refine_factor = int(M), int(refine_factor)
        self.nlist = nlist
        self.nbits = int(nbits)
        self.padded_dim = 0

    def _fit_dims(self, X: np.ndarray) -> np.ndarray:
        missing = self.padded_dim - X.shape[1]
        return np.pad(X, ((0, 0), (0, missing))) if missing > 0 else X

    def _make_index(self, X: np.ndarray):
        faiss, n = self.faiss, len(X)
        self.nlist = int(self.nlist or default_nlist(n))
        if self.nlist > n:
            raise ValueError(f"ivfpq: nlist={self.nlist} needs at least that many vectors, got {n}")
        if n < 2 ** self.nbits:
            self.nbits = max(1, int(math.log2(n)))
            log.warning("ivfpq: %d vectors cannot train %d-bit PQ codebooks; using %d bits", n,
                        self.build_params["nbits"], self.nbits)
        metric = faiss_metric(faiss, self.metric)
        d = X.shape[1]
        quantizer = faiss.IndexFlat(d, metric)
        ivf = faiss.IndexIVFPQ(quantizer, d, self.nlist, self.M, self.nbits, metric)
        ivf.train(X)
        index = faiss.IndexRefineFlat(ivf) if self.refine_factor else ivf
        if self.refine_factor:
            index.k_factor = float(self.refine_factor)
        index.add(X)  # faiss's Python wrappers keep quantizer and ivf alive with the index
        return index

    def _build(self, X: np.ndarray) -> None:
        self.padded_dim = -(-X.shape[1] // self.M) * self.M
        if self.padded_dim != X.shape[1]:
            log.info("ivfpq: padding %d-d vectors with zeros to %d (M=%d)", X.shape[1], self.padded_dim, self.M)
        super()._build(X)

    def _apply_query_params(self) -> None:
        unknown = set(self.query_params) - {"nprobe"}
        if unknown:
            raise ValueError(f"ivfpq: unknown query parameter(s) {sorted(unknown)}; it takes nprobe")
        nprobe = int(self.query_params.get("nprobe", 1))
        space = self.faiss.GpuParameterSpace() if self.on_gpu else self.faiss.ParameterSpace()
        space.set_index_parameter(self.index, "nprobe", min(nprobe, self.nlist))

    @classmethod
    def grid_for(cls, n: int, build_params: dict) -> list[dict]:
        nlist = int(build_params.get("nlist") or default_nlist(n))
        return [{"nprobe": v} for v in doubling(min(nlist, n))]

    def built_with(self) -> dict:
        return {**self.build_params, "nlist": self.nlist, "nbits": self.nbits}

    def _state(self) -> dict:
        return {"nlist": self.nlist, "nbits": self.nbits, "padded_dim": self.padded_dim}

    def _restore(self, state: dict) -> None:
        self.nlist, self.nbits, self.padded_dim = state["nlist"], state["nbits"], state["padded_dim"]
