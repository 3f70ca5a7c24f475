"""Exact linear scan in torch: chunked matrix product + top-k, on CPU or CUDA.
The reference every other backend's recall is measured against."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import Backend, pad_results


class LinearBackend(Backend):
    name = "linear"

    def __init__(self, metric: str = "l2", device: str = "cpu", chunk: int = 4096, **build_params):
        super().__init__(metric, device, **build_params)
        self.chunk = chunk

    def _build(self, X: np.ndarray) -> None:
        self.X = torch.from_numpy(X).to(self.device)
        self.sq_norms = (self.X * self.X).sum(1)

    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        kk = min(k, len(self.X))
        all_ids, all_d = [], []
        for start in range(0, len(Q), self.chunk):
            q = torch.from_numpy(Q[start : start + self.chunk]).to(self.device)
            dots = q @ self.X.T  # (nq, n)
            if self.metric == "cosine":
                d = 1.0 - dots
            else:
                d = (q * q).sum(1, keepdim=True) - 2 * dots + self.sq_norms[None, :]
            vals, idx = torch.topk(d, kk, dim=1, largest=False, sorted=True)
            all_ids.append(idx.cpu().numpy())
            all_d.append(vals.float().cpu().numpy())
        ids = np.concatenate(all_ids) if all_ids else np.zeros((0, kk), np.int64)
        d = np.concatenate(all_d) if all_d else np.zeros((0, kk), np.float32)
        return pad_results(ids.astype(np.int64), d, k)

    def memory_bytes(self) -> int:
        return int(self.X.numel() * self.X.element_size())

    def _save(self, folder: Path) -> None:
        np.save(folder / "vectors.npy", self.X.cpu().numpy())

    def _load(self, folder: Path, state: dict) -> None:
        self._build(np.load(folder / "vectors.npy"))
