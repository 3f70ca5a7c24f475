"""What the two Faiss backends (faiss-flat, ivfpq) share: importing faiss with a useful
error, moving an index to a GPU and back, turning faiss's answers into the interface's
convention, and saving/loading with faiss's own index format.

Faiss is imported when a backend is made, not when this module is imported, so
callers can read tables such as ``ivfpq.PAPER_NLIST`` without faiss installed.
"""
from __future__ import annotations

import logging
from abc import abstractmethod
from pathlib import Path

import numpy as np

from .base import Backend, BackendUnavailable, finish_results, require

log = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"


def load_faiss(backend: str):
    # faiss's loader logs at INFO, with a ModuleNotFoundError, every optional CPU build
    # (AVX512, AVX2) that is not installed: noise in every command's output, not a problem
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    return require("faiss", backend, "pip install -e .[cpu]  (faiss-cpu; or .[gpu] for faiss-gpu-cu12)")


def faiss_metric(faiss, metric: str) -> int:
    """Cosine runs as inner product over the unit vectors ``Backend.build`` prepares."""
    return faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2


class FaissBackend(Backend):
    """A Faiss index built on CPU and, with ``device="cuda"``, served from GPU 0."""

    def __init__(self, metric: str = "l2", device: str = "cpu"):
        super().__init__(metric, device)
        self.faiss = load_faiss(self.name)
        self.index = None  # the index that answers queries (CPU or GPU)
        self._gpu_resources = None
        if str(device).startswith("cuda") and not hasattr(self.faiss, "StandardGpuResources"):
            raise BackendUnavailable(
                f"{self.name} on {device}: the installed faiss has no GPU support; install faiss-gpu "
                f"(pip install -e .[gpu]) or use device='cpu'")

    @abstractmethod
    def _make_index(self, X: np.ndarray):
        """A trained CPU index holding X (rows already prepared for the metric)."""

    def _fit_dims(self, X: np.ndarray) -> np.ndarray:
        """Hook for indexes that need another dimensionality (IVF-PQ pads); identity here."""
        return X

    def _apply_query_params(self) -> None:
        """Push ``self.query_params`` into the index before a search."""

    def _build(self, X: np.ndarray) -> None:
        self.index = self._to_device(self._make_index(np.ascontiguousarray(self._fit_dims(X))))

    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self._apply_query_params()
        D, I = self.index.search(np.ascontiguousarray(self._fit_dims(Q)), k)
        return finish_results(I, D, k, similarity=self.metric == "cosine")

    # -- devices --------------------------------------------------------------------

    @property
    def on_gpu(self) -> bool:
        return self._gpu_resources is not None

    def _to_device(self, cpu_index):
        if not str(self.device).startswith("cuda"):
            return cpu_index
        faiss = self.faiss
        if faiss.get_num_gpus() < 1:
            raise BackendUnavailable(f"{self.name}: faiss was built with GPU support but sees no GPU; "
                                     f"use device='cpu'")
        gpu = int(str(self.device).partition(":")[2] or 0)
        self._gpu_resources = faiss.StandardGpuResources()
        return faiss.index_cpu_to_gpu(self._gpu_resources, gpu, cpu_index)

    def cpu_index(self):
        return self.faiss.index_gpu_to_cpu(self.index) if self.on_gpu else self.index

    # -- persistence ----------------------------------------------------------------

    def _save(self, folder: Path) -> None:
        self.faiss.write_index(self.cpu_index(), str(folder / INDEX_FILE))

    def _load(self, folder: Path, state: dict) -> None:
        self._restore(state)
        self.index = self._to_device(self.faiss.read_index(str(folder / INDEX_FILE)))

    def _restore(self, state: dict) -> None:
        """Hook: take back what ``_state`` recorded (resolved defaults)."""

    def close(self) -> None:
        self.index = None
        self._gpu_resources = None
