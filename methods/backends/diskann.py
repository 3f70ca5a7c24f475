"""DiskANN (diskannpy): Microsoft's Vamana graph index, in memory or as its SSD-resident
variant -- the other memory-disk hybrid beside SPANN, and the one that runs where SPTAG's
AVX-512 wheel cannot. A baseline beyond the IRGen paper.

Build parameters:

* ``graph_degree`` (R) -- the most neighbours a node keeps; 32.
* ``complexity`` (L) -- the candidate list while building; 64. Both are below DiskANN's
  defaults (64, 100) so a 10^6 build fits a 2-core machine's patience; raise them for
  a stronger graph.
* ``disk`` -- False: the in-memory index (``StaticMemoryIndex``); True: the disk index
  (``StaticDiskIndex``): the graph and full vectors on disk, PQ codes of the vectors in RAM.
* ``search_memory_gb`` -- the disk index's RAM budget, which sizes its PQ codes; by default
  one byte for every 4 dimensions of each vector (32 bytes at 128-d, 1/16 of the floats).
* ``build_threads`` -- the threads that build the index; None: every core. Build the disk index
  with 1 on a loaded machine: DiskANN trains its PQ codebooks (``generate_pq_pivots``, k-means over
  up to 256,000 sampled vectors, 32 chunks at 128-d) through an OpenMP critical section taken once
  per point and iteration, and with two threads on shared cores the waiter spins in
  ``sched_yield`` while the holder is preempted: a 10^6 x 128 disk build under a load average of
  17 reached chunk 12 of 32 in 48 minutes with 82 s of CPU, most of it yielding (gdb: both
  threads in ``__kmp_acquire_queuing_lock``). The in-memory index trains no PQ codes.

Query parameters: ``complexity`` (L, the search's candidate list, raised to k when
smaller; diskannpy's default 100 when not given) and, for the disk index, ``beam_width``
(W, disk reads per hop; diskannpy's default 2); ``grid_for``
sweeps ``CANDIDATE_LISTS`` (x ``BEAM_WIDTHS`` on disk, both widths at each list size, from the
shortest list up), known before the build.

Cosine runs as L2 over the unit vectors ``Backend.build`` prepares (the disk index has no
cosine): |a - b|^2 / 2 = 1 - cos, so the ranking is the same and the distance is halved.
Memory as for every backend (``Backend``): the saved index's bytes, less ``disk_bytes``, the
disk index's file (0 in memory); so the disk index's ``memory_bytes`` is its PQ codes, pivots
and small side files.

The library writes its progress to the process's own stdout and stderr; that text goes to
this module's debug log instead.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sys
import tempfile
import weakref
from pathlib import Path

import numpy as np

from .base import (CANDIDATE_LISTS, Backend, BadBuildParameter, finish_results, require,
                   whole_number)

log = logging.getLogger(__name__)

INSTALL = "pip install --no-deps diskannpy==0.7.0  (its metadata pins numpy 1.25; the wheel runs on numpy 2)"
PREFIX = "ann"
FILES = "diskann"  # the index's folder inside a saved entry
BEAM_WIDTHS = (1, 4)
DEFAULT_COMPLEXITY, DEFAULT_BEAM_WIDTH = 100, 2  # diskannpy's
DIMS_PER_PQ_BYTE = 4
MEMORY_FILES = (PREFIX, f"{PREFIX}.data")
DISK_RAM_FILES = (f"{PREFIX}_pq_compressed.bin", f"{PREFIX}_pq_pivots.bin")
DISK_FILE = f"{PREFIX}_disk.index"
# not read when serving: diskannpy's copy of the input array, the disk build's copy of the vectors beside
# its in-memory graph (the full vectors the disk index serves are in DISK_FILE), and the sample of vectors
# the disk index would search at load time to choose nodes to cache (it caches none: NO_NODE_CACHE)
LEFTOVERS = (f"{PREFIX}_vectors.bin", f"{PREFIX}_mem.index.data", f"{PREFIX}_sample_data.bin",
             f"{PREFIX}_sample_ids.bin")
NO_NODE_CACHE = 0  # StaticDiskIndex's cache_mechanism: neither a sample search at load nor a node cache


def default_search_memory_gb(n: int, dim: int) -> float:
    """RAM for ceil(dim / 4) PQ bytes a vector (DiskANN takes floor(budget / n) bytes; the
    half byte keeps float rounding from taking one off)."""
    return (math.ceil(dim / DIMS_PER_PQ_BYTE) + 0.5) * n / 2 ** 30


def build_memory_gb(n: int, dim: int, degree: int) -> float:
    """The build's RAM allowance: four times vectors plus graph, so DiskANN never shards it."""
    return max(1.0, 4 * n * (dim + degree) * 4 / 2 ** 30)


@contextlib.contextmanager
def native_output_to_log():
    """The library's C++ prints (to file descriptors 1 and 2) go to the debug log."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.debug("diskannpy: %s", text[-4000:])


class DiskANNBackend(Backend):
    name = "diskann"

    def __init__(self, metric: str = "l2", device: str = "cpu", graph_degree: int = 32, complexity: int = 64,
                 disk: bool = False, search_memory_gb: float | None = None, build_threads: int | None = None):
        super().__init__(metric, "cpu")  # DiskANN has no GPU path
        self.build_params = {"graph_degree": graph_degree, "complexity": complexity, "disk": disk,
                             "search_memory_gb": search_memory_gb}
        if build_threads is not None:  # left out when not given: the indexes cached before it keep their keys
            self.build_params["build_threads"] = whole_number(self.name, "build_threads", build_threads,
                                                              "e.g. build_threads=1, or leave it out for every core")
        self.graph_degree = whole_number(self.name, "graph_degree", graph_degree, "e.g. graph_degree=32")
        # DiskANN's build list must hold a node's neighbours: at least graph_degree long
        self.complexity = max(whole_number(self.name, "complexity", complexity, "e.g. complexity=64"),
                              self.graph_degree)
        if search_memory_gb is not None:
            if not disk:
                raise BadBuildParameter("diskann: search_memory_gb is the disk index's RAM budget: add disk=true, "
                                        "or leave search_memory_gb out")
            if not search_memory_gb > 0:  # its type: checked_build_params, before the backend is made
                raise BadBuildParameter(f"diskann: build parameter search_memory_gb={search_memory_gb!r} must be a "
                                        f"number of GB > 0, e.g. search_memory_gb=0.05")
        self.disk = disk
        if disk:
            self.DISK_FILES = (f"{FILES}/{DISK_FILE}",)  # the graph and full vectors, read per query
        self.search_memory_gb = search_memory_gb
        self.dap = require("diskannpy", self.name, INSTALL)
        self.index = None
        self.index_dir: Path | None = None
        self._scratch: Path | None = None  # the folder a build wrote, removed by close() or at exit
        self._remove_scratch = None

    @property
    def threads(self) -> int:
        return os.cpu_count() or 1

    def _build(self, X: np.ndarray) -> None:
        self.close()
        self._scratch = Path(tempfile.mkdtemp(prefix="irgen-diskann-"))
        self._remove_scratch = weakref.finalize(self, shutil.rmtree, self._scratch, True)
        n, dim = X.shape
        common = dict(complexity=self.complexity, graph_degree=self.graph_degree,
                      num_threads=self.build_params.get("build_threads") or self.threads, index_prefix=PREFIX)
        with native_output_to_log():
            if self.disk:
                self.search_memory_gb = self.search_memory_gb or default_search_memory_gb(n, dim)
                self.dap.build_disk_index(X, "l2", str(self._scratch), search_memory_maximum=self.search_memory_gb,
                                          build_memory_maximum=build_memory_gb(n, dim, self.graph_degree),
                                          pq_disk_bytes=0, **common)
            else:
                self.dap.build_memory_index(X, "l2", str(self._scratch), **common)
        for name in LEFTOVERS:
            (self._scratch / name).unlink(missing_ok=True)
        self._open(self._scratch)
        log.info("diskann: %s index over %d points, R=%d, L=%d", "disk" if self.disk else "memory", n,
                 self.graph_degree, self.complexity)

    def _open(self, folder: Path) -> None:
        self.index_dir = folder
        with native_output_to_log():
            if self.disk:
                self.index = self.dap.StaticDiskIndex(str(folder), num_threads=self.threads, num_nodes_to_cache=0,
                                                      cache_mechanism=NO_NODE_CACHE, index_prefix=PREFIX)
            else:
                self.index = self.dap.StaticMemoryIndex(str(folder), num_threads=self.threads,
                                                        initial_search_complexity=max(CANDIDATE_LISTS),
                                                        index_prefix=PREFIX)

    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        allowed = {"complexity", "beam_width"} if self.disk else {"complexity"}
        unknown = set(self.query_params) - allowed
        if unknown:
            raise ValueError(f"diskann: unknown query parameter(s) {sorted(unknown)}; "
                             f"the {'disk' if self.disk else 'memory'} index takes {', '.join(sorted(allowed))}")
        knn = min(k, self.n)  # asked for more than n, DiskANN fills the rest with garbage
        complexity = max(int(self.query_params.get("complexity", DEFAULT_COMPLEXITY)), knn)
        threads = min(self.threads, len(Q))
        if self.disk:
            beam = int(self.query_params.get("beam_width", DEFAULT_BEAM_WIDTH))
            ids, dists = self.index.batch_search(Q, knn, complexity, threads, beam)
        else:
            ids, dists = self.index.batch_search(Q, knn, complexity, threads)
        ids = ids.astype(np.int64)
        dists = np.asarray(dists, dtype=np.float32) / (2.0 if self.metric == "cosine" else 1.0)
        return finish_results(ids, dists, k, missing=(ids < 0) | (ids >= self.n))

    @classmethod
    def grid_for(cls, n: int, build_params: dict) -> list[dict]:
        if build_params.get("disk"):
            return [{"complexity": c, "beam_width": w} for c in CANDIDATE_LISTS for w in BEAM_WIDTHS]
        return [{"complexity": c} for c in CANDIDATE_LISTS]

    def built_with(self) -> dict:
        given = {**self.build_params, "complexity": self.complexity}
        if self.disk:
            given["search_memory_gb"] = self.search_memory_gb
        else:
            given.pop("search_memory_gb")
        return given

    def _state(self) -> dict:
        return {"search_memory_gb": self.search_memory_gb}

    def _save(self, folder: Path) -> None:
        shutil.copytree(self.index_dir, folder / FILES)

    def _load(self, folder: Path, state: dict) -> None:
        self.close()
        self.search_memory_gb = state["search_memory_gb"]
        self._open(folder / FILES)

    def close(self) -> None:
        if self.index is not None:
            with native_output_to_log():  # the disk index says goodbye on stdout
                self.index = None
        self.index_dir = None
        if self._remove_scratch is not None:
            self._remove_scratch()
            self._scratch = self._remove_scratch = None
