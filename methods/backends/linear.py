"""Exact linear scan in torch, on CPU or CUDA: the reference every other backend's recall
is measured against.

The scan streams over the database a block of rows at a time with a running top-m per
query, as Faiss's exhaustive search does, instead of one queries x database distance
matrix (4 GB for 1,000 queries against 10^6 vectors). Per block, one float32 matrix
product gives a score that ranks like the distance (larger is closer):

    l2:     q.x - |x|^2 / 2   (distance = |q|^2 - 2 * score)
    cosine: q.x               (distance = 1 - score; the vectors are unit length)

and its top-m is merged with the best so far. On CUDA the blocks stay on the device and
nothing is read back to the host until a chunk of queries is done. On a CPU a top-k of
every block costs more than its matrix product, so once a query holds m rows only the
block's entries above its m-th best are merged (Faiss's heap does the same), and every
block is written into one buffer.

The float32 scores only select candidates: a BLAS kernel rounds the same product
differently at different positions of a block (AVX2 and AVX-512 kernels differently
again), so exact ties would not stay ties. The m = k + SLACK candidates are re-scored in
float64 elementwise (no BLAS: a row gets the same distance wherever it sits) and ordered
by distance, then by id, so tied neighbours come out in database order on every
processor. The float32 scores are off by at most a bound from the operands' norms; where
the m-th candidate's score is within that bound of the k-th's exact distance, rows left
out might tie or beat it, and those queries scan again for every row within the bound.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import Backend, pad_results

# (queries, database rows) scored at a time: a tile of 16 MB on a CPU (cache-sized: measured
# fastest on 2 cores at 10^6 x 128), 512 MB on a GPU (few, large kernels)
TILES = {"cpu": (512, 8192), "cuda": (4096, 32768)}
SLACK = 16  # candidates beyond k kept from the float32 scores, so the re-scored k rarely need a second scan
EXACT_ELEMENTS = 1 << 23  # float64 values gathered at a time for the re-scoring (64 MB)
# unit roundoff of a float32 matrix product at each torch.set_float32_matmul_precision
UNIT_ROUNDOFF = {"highest": 2.0 ** -24, "high": 2.0 ** -11, "medium": 2.0 ** -8}


class LinearBackend(Backend):
    name = "linear"

    def __init__(self, metric: str = "l2", device: str = "cpu", chunk: int | None = None, block: int | None = None):
        super().__init__(metric, device)  # the tiling changes no answer: not part of the index's key
        tile_chunk, tile_block = TILES["cuda" if str(device).startswith("cuda") else "cpu"]
        self.chunk, self.block = chunk or tile_chunk, block or tile_block

    def _build(self, X: np.ndarray) -> None:
        self.X = torch.from_numpy(X).to(self.device)
        # the score's per-row term: -|x|^2 / 2 for l2, none for cosine
        self.offset = -0.5 * (self.X * self.X).sum(1) if self.metric == "l2" else self.X.new_zeros(len(self.X))
        self.max_norm = float(self.X.norm(dim=1).max())  # bounds every score's rounding

    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        kk = min(k, len(self.X))
        parts = [self._scan(torch.from_numpy(Q[start:start + self.chunk]).to(self.device), kk)
                 for start in range(0, len(Q), self.chunk)]
        if not parts:
            return pad_results(np.zeros((0, kk), np.int64), np.zeros((0, kk), np.float32), k)
        dists, ids = (torch.cat(p).cpu().numpy() for p in zip(*parts))
        return pad_results(ids.astype(np.int64), dists.astype(np.float32), k)

    def _scan(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Queries q (nq, d) -> float64 distances and ids (nq, k) of their k nearest rows,
        closest first, ties in database order."""
        m = min(k + SLACK, len(self.X))
        scores, ids = self._top(q, m)
        dists, ids = self._in_order(self._exact(q, ids), ids)
        dists, ids = dists[:, :k], ids[:, :k]
        if m == len(self.X):  # every row re-scored
            return dists, ids
        threshold = self._score(q, dists[:, -1]) - self._rounding(q)
        unsure = (scores.min(1).values >= threshold).nonzero().squeeze(1)  # rows left out may tie
        if len(unsure):
            dists[unsure], ids[unsure] = self._within(q[unsure], threshold[unsure], k)
        return dists, ids

    def _blocks(self, q: torch.Tensor, buffer: torch.Tensor | None = None):
        """(first row, float32 scores (nq, block)) of every database block, larger is closer;
        with ``buffer`` (nq, block) every block's scores are written into it, valid until the next."""
        for start in range(0, len(self.X), self.block):
            rows = slice(start, start + self.block)
            if buffer is None:
                yield start, torch.addmm(self.offset[rows], q, self.X[rows].T)
            else:
                score = buffer[:, :len(self.offset[rows])]
                yield start, torch.addmm(self.offset[rows], q, self.X[rows].T, out=score)

    def _top(self, q: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 scores and ids (nq, m) of the m best-scored rows, in no order (ties among them
        broken anyhow: the float64 re-scoring orders them)."""
        if self.X.device.type == "cuda":
            return self._top_by_blocks(q, m)
        return self._top_by_threshold(q, m)

    def _top_by_blocks(self, q: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each block's top m merged with the best so far: no value read back to the host (CUDA)."""
        best, best_ids = None, None
        for start, score in self._blocks(q):
            top, ids = score.topk(min(m, score.shape[1]), dim=1, sorted=False)
            ids += start
            best, best_ids = (top, ids) if best is None else merge(best, best_ids, top, ids, m)
        return best, best_ids

    def _top_by_threshold(self, q: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
        """As ``_top_by_blocks``, but once m rows are held only the block's entries above each
        query's m-th best score are merged (a few per query after the first blocks), as Faiss's
        heap does, and every block is written into one buffer: a top-k of every block costs the
        CPU more than its matrix product."""
        best, best_ids, threshold = None, None, None
        for start, score in self._blocks(q, q.new_empty((len(q), min(self.block, len(self.X))))):
            if best is None or best.shape[1] < m:
                top, ids = score.topk(min(m, score.shape[1]), dim=1, sorted=False)
                ids = ids + start
                best, best_ids = (top, ids) if best is None else merge(best, best_ids, top, ids, m)
            else:
                who, where = (score > threshold[:, None]).nonzero(as_tuple=True)
                if not len(who):
                    continue
                counts = torch.bincount(who, minlength=len(q))
                slot = torch.arange(len(who), device=q.device) - (counts.cumsum(0) - counts)[who]
                top = score.new_full((len(q), int(counts.max())), float("-inf"))
                ids = best_ids.new_zeros(top.shape)
                top[who, slot], ids[who, slot] = score[who, where], where + start
                best, best_ids = merge(best, best_ids, top, ids, m)
            threshold = best.min(1).values
        return best, best_ids

    def _within(self, q: torch.Tensor, threshold: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The k nearest by (float64 distance, id) among every row whose float32 score reaches
        ``threshold`` (one per query): a second scan, for queries with ties at the k-th."""
        dists = torch.empty((len(q), 0), dtype=torch.float64, device=q.device)
        ids = torch.empty((len(q), 0), dtype=torch.int64, device=q.device)
        for start, score in self._blocks(q):
            reach = int((score >= threshold[:, None]).sum(1).max())
            if reach:  # each query's rows within reach are among its top `reach`
                new = score.topk(reach, dim=1, sorted=False).indices + start
                dists, ids = self._in_order(torch.cat([dists, self._exact(q, new)], 1), torch.cat([ids, new], 1))
                dists, ids = dists[:, :k], ids[:, :k]
        return dists, ids

    def _exact(self, q: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Float64 distances (nq, c) from queries q (nq, d) to the rows ``ids`` (nq, c),
        elementwise, so equal rows get equal distances."""
        step = max(1, EXACT_ELEMENTS // max(1, ids.shape[1] * q.shape[1]))
        parts = []
        for start in range(0, len(q), step):
            x = self.X[ids[start:start + step]].double()  # (step, c, d)
            qs = q[start:start + step, None, :].double()
            parts.append(((qs - x) ** 2).sum(-1) if self.metric == "l2" else 1.0 - (qs * x).sum(-1))
        return torch.cat(parts)

    def _score(self, q: torch.Tensor, dists: torch.Tensor) -> torch.Tensor:
        """The score (nq,) a float64 distance (nq,) per query corresponds to."""
        if self.metric == "cosine":
            return 1.0 - dists
        return (q.double() ** 2).sum(1) / 2 - dists / 2

    def _rounding(self, q: torch.Tensor) -> torch.Tensor:
        """A bound (nq,) on a float32 score's error: twice the rounding of a d-term dot
        product of vectors no longer than the query and the longest row, and of -|x|^2/2."""
        u = UNIT_ROUNDOFF[torch.get_float32_matmul_precision()]
        R = self.max_norm
        size = q.double().norm(dim=1) * R + (R * R / 2 if self.metric == "l2" else 0.0)
        return 2 * (q.shape[1] + 2) * u * size

    @staticmethod
    def _in_order(dists: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sorted by distance, ties by id: a stable sort by distance of the rows sorted by id."""
        ids, by_id = ids.sort(dim=1)
        dists, by_dist = dists.gather(1, by_id).sort(dim=1, stable=True)
        return dists, ids.gather(1, by_dist)

    def _save(self, folder: Path) -> None:
        np.save(folder / "vectors.npy", self.X.cpu().numpy())

    def _load(self, folder: Path, state: dict) -> None:
        self._build(np.load(folder / "vectors.npy"))


def merge(best: torch.Tensor, best_ids: torch.Tensor, top: torch.Tensor, ids: torch.Tensor,
          m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The m best of two sets of (scores, ids) per query, in no order."""
    both = torch.cat([best, top], dim=1)
    kept, pick = both.topk(min(m, both.shape[1]), dim=1, sorted=False)
    return kept, torch.cat([best_ids, ids], dim=1).gather(1, pick)
