"""The search-backend interface (ann-benchmarks style): build once, then query under a
sweep of query parameters. Build parameters and query parameters are kept apart."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np

METRICS = ("l2", "cosine")


class Backend(ABC):
    """Nearest-neighbour search over float32 vectors.

    ``metric`` is ``"l2"`` (Euclidean) or ``"cosine"``; distances returned are squared
    L2 or ``1 - cosine`` respectively, smaller is closer. ``device`` is ``cpu`` or
    ``cuda`` (a backend without a GPU path ignores it).
    """

    name: str = "?"

    def __init__(self, metric: str = "l2", device: str = "cpu", **build_params):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
        self.metric = metric
        self.device = device
        self.build_params = build_params
        self.query_params: dict = {}
        self.build_seconds = 0.0

    def build(self, X: np.ndarray) -> None:
        X = np.ascontiguousarray(X, dtype=np.float32)
        start = time.perf_counter()
        self._build(prepare(X, self.metric))
        self.build_seconds = time.perf_counter() - start

    def set_query_params(self, **params) -> None:
        self.query_params = dict(params)

    def search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, dists), each (nq, k); ids are -1 where fewer than k were found."""
        Q = prepare(np.ascontiguousarray(Q, dtype=np.float32), self.metric)
        return self._search(Q, k)

    def query_grid(self) -> list[dict]:
        """Query-parameter points for a recall-versus-speed sweep; [{}] when none."""
        return [{}]

    def stats(self) -> dict:
        return {"build_s": self.build_seconds, "memory_bytes": self.memory_bytes(), "disk_bytes": 0}

    @abstractmethod
    def _build(self, X: np.ndarray) -> None: ...

    @abstractmethod
    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def memory_bytes(self) -> int:
        return 0


def prepare(X: np.ndarray, metric: str) -> np.ndarray:
    """Cosine search is inner-product search over unit vectors."""
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        return X / np.maximum(norms, 1e-12)
    return X


def pad_results(ids: np.ndarray, dists: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad (nq, k') results to k columns with id -1 and distance +inf."""
    nq, have = ids.shape
    if have >= k:
        return ids[:, :k], dists[:, :k]
    pad_ids = np.full((nq, k - have), -1, dtype=np.int64)
    pad_d = np.full((nq, k - have), np.inf, dtype=np.float32)
    return np.hstack([ids.astype(np.int64), pad_ids]), np.hstack([dists.astype(np.float32), pad_d])
