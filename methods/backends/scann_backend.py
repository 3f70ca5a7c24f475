"""Google ScaNN, configured by the library's documented rules of thumb for the data size
(scann/docs/algorithms.md):

* fewer than 20k points: brute force (``mode="brute"``);
* fewer than 100k: asymmetric hashing (AH, 2 dimensions per block) then exact
  re-ordering (``mode="ah"``);
* more: a partition tree with ~sqrt(n) leaves, AH scoring inside the searched leaves,
  then re-ordering (``mode="tree"``).

``mode`` forces one of these; ``num_leaves`` (default round(sqrt(n))),
``training_sample_size`` (ScaNN's 100k), ``dims_per_block`` (2) and ``reorder`` (100,
the default pre-re-order candidate count) may be given. Cosine runs as ScaNN's
"dot_product" over unit vectors with anisotropic quantization (threshold 0.2, the
value ScaNN's README uses for normalised data); l2 runs as "squared_l2".

Query parameters (ScaNN's own names): ``leaves_to_search`` (tree mode) and
``pre_reorder_num_neighbors`` (AH and tree modes). A batch is answered with
``search_batched_parallel`` (ScaNN's multithreaded batch path).

The pip package needs no TensorFlow: only the pybind searcher is used.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from .base import Backend, doubling, finish_results, require, sqrt_lists

log = logging.getLogger(__name__)

BRUTE_FORCE_BELOW = 20_000
AH_BELOW = 100_000
Mode = Literal["auto", "brute", "ah", "tree"]
MODES = get_args(Mode)
REORDER_GRID = (10, 20, 50, 100, 200, 500, 1000)
TREE_REORDER_GRID = (100, 400)


def choose_mode(n: int) -> str:
    if n < BRUTE_FORCE_BELOW:
        return "brute"
    return "ah" if n < AH_BELOW else "tree"


class ScannBackend(Backend):
    name = "scann"

    def __init__(self, metric: str = "l2", device: str = "cpu", mode: Mode = "auto", num_leaves: int | None = None,
                 training_sample_size: int = 100_000, dims_per_block: int = 2, reorder: int = 100):
        super().__init__(metric, device)
        if mode not in MODES:
            raise ValueError(f"scann: unknown mode {mode!r}: choose one of {', '.join(MODES)}")
        self.build_params = {"mode": mode, "num_leaves": num_leaves, "training_sample_size": training_sample_size,
                             "dims_per_block": dims_per_block, "reorder": reorder}
        self.scann = require("scann", self.name, "pip install -e .[ann]  (scann)")
        self.mode = mode
        self.num_leaves = num_leaves
        self.searcher = None

    @property
    def distance(self) -> str:
        return "dot_product" if self.metric == "cosine" else "squared_l2"

    def _build(self, X: np.ndarray) -> None:
        p, n = self.build_params, len(X)
        self.mode = choose_mode(n) if p["mode"] == "auto" else p["mode"]
        builder = self.scann.scann_ops_pybind.builder(X, 10, self.distance)
        builder.set_n_training_threads(os.cpu_count() or 1)
        if self.mode == "brute":
            builder = builder.score_brute_force()
        else:
            if self.mode == "tree":
                self.num_leaves = int(p["num_leaves"] or sqrt_lists(n))
                builder = builder.tree(num_leaves=self.num_leaves,
                                       num_leaves_to_search=max(1, self.num_leaves // 10),
                                       training_sample_size=min(n, p["training_sample_size"]))
            avq = 0.2 if self.metric == "cosine" else float("nan")
            builder = builder.score_ah(p["dims_per_block"], anisotropic_quantization_threshold=avq,
                                       training_sample_size=min(n, p["training_sample_size"]))
            builder = builder.reorder(p["reorder"])
        self.searcher = builder.build()
        log.info("scann: %s index over %d points%s", self.mode, n,
                 f", {self.num_leaves} leaves" if self.mode == "tree" else "")

    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        unknown = set(self.query_params) - {"leaves_to_search", "pre_reorder_num_neighbors"}
        if unknown:
            raise ValueError(f"scann: unknown query parameter(s) {sorted(unknown)}; "
                             f"it takes leaves_to_search, pre_reorder_num_neighbors")
        kwargs = {"final_num_neighbors": k}
        if self.mode != "brute":
            pre = self.query_params.get("pre_reorder_num_neighbors", self.build_params["reorder"])
            kwargs["pre_reorder_num_neighbors"] = max(int(pre), k)
        if self.mode == "tree" and "leaves_to_search" in self.query_params:
            kwargs["leaves_to_search"] = min(int(self.query_params["leaves_to_search"]), self.num_leaves)
        ids, dists = self.searcher.search_batched_parallel(Q, **kwargs)
        # ScaNN fills slots it could not fill with id 0 and a NaN distance
        return finish_results(ids, dists, k, missing=np.isnan(dists), similarity=self.metric == "cosine")

    @classmethod
    def grid_for(cls, n: int, build_params: dict) -> list[dict]:
        mode = build_params.get("mode", "auto")
        mode = choose_mode(n) if mode == "auto" else mode
        if mode == "brute":
            return [{}]
        if mode == "ah":
            return [{"pre_reorder_num_neighbors": r} for r in REORDER_GRID if r <= max(n, 10)]
        leaves = int(build_params.get("num_leaves") or sqrt_lists(n))
        return [{"leaves_to_search": v, "pre_reorder_num_neighbors": r}
                for r in TREE_REORDER_GRID for v in doubling(leaves)]

    def built_with(self) -> dict:
        """The resolved mode; the tree's leaves only where there is a tree, AH's parameters only with AH."""
        given = {**self.build_params, "mode": self.mode, "num_leaves": self.num_leaves}
        unused = {"brute": ("num_leaves", "dims_per_block", "reorder", "training_sample_size"),
                  "ah": ("num_leaves",), "tree": ()}[self.mode]
        return {k: v for k, v in given.items() if k not in unused}

    def _save(self, folder: Path) -> None:
        self.searcher.serialize(str(folder), relative_path=True)

    def _load(self, folder: Path, state: dict) -> None:
        self.mode, self.num_leaves = state["mode"], state["num_leaves"]
        self.searcher = self.scann.scann_ops_pybind.load_searcher(str(folder))

    def _state(self) -> dict:
        return {"mode": self.mode, "num_leaves": self.num_leaves}
