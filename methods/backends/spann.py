"""SPANN (Microsoft SPTAG's memory-disk hybrid index), as in the IRGen paper's baseline.

This is SPTAG's real SPANN/SSD index, not its in-memory BKT graph: a fraction
(``Ratio``) of the vectors is selected as heads, the heads get an in-memory SPTAG
graph index, and every vector is written to the on-disk posting lists of its nearest
heads (up to ``ReplicaCount`` copies, posting lists capped at ``PostingPageLimit``
4 KB pages). A query searches the head index, then reads the posting lists of the
``SearchInternalResultNum`` closest heads from disk.

SPTAG's Python wheel exists for Python 3.9 only, so the index lives in a worker
process (``spann_worker.py``) run by the 3.9 venv that ``setup/sptag.sh`` creates
(``.venv-sptag`` at the repository root, or ``$IRGEN_SPTAG_VENV``). Vectors and
results travel as .npy files in a private temporary folder; the worker times the
search call itself, and that time is what ``last_search_s`` reports.

Processors: every published sptag wheel (1.6.2, 1.6.5 to 1.6.8) holds AVX-512 (EVEX)
instructions in its ``_SPTAG.so`` and ``libSPTAGLib.so``, so it runs only on processors with
AVX-512; elsewhere importing it dies of SIGILL. The backend checks once per process (the
worker's ``--check``) and is then unavailable with the reason in one line, as when the venv
is missing; a worker that dies of SIGILL later says the same.

Build parameters use SPTAG's own names; defaults are the SPANN configuration in
SPTAG's docs/GettingStart.md, except ``SearchInternalResultNum`` (64: SPTAG sizes its
search buffers from the value present when an index is loaded, so the build records
the largest value the sweep will ask for) and ``PostingPageLimit`` (room for ~128
vectors of this dimensionality per posting list, and at least SPTAG's 12 pages, so
float vectors are not cut from their lists as they would be with the uint8-sized 3).

Query parameters: ``SearchInternalResultNum`` (posting lists read per query, swept
1, 2, 4, ... 64 by ``grid_for``), ``MaxDistRatio``, ``MaxCheck``.

Small databases: SPTAG 1.6.8 makes about n x ``Ratio`` of the vectors heads and fails with
fewer than 2 ("Can't select any vector as head"), or aborts, on some sizes below 7; with
the default Ratio 0.12 the smallest database that builds is 13 vectors (measured for 2 to
200 vectors, 8 to 1280 dimensions, both metrics). Below that size, and when head selection
fails on a larger one (too few distinct vectors), the build is a one-line ``HarnessError``
that names another backend, not a fallback to another SPTAG index: a row labelled spann
holds SPANN's numbers or does not exist.
``disk_bytes`` is the posting lists file (``DISK_FILES``), ``memory_bytes`` the rest of the
saved index (head vectors, head index, its ids), by the rule every backend follows (base.py).
"""
from __future__ import annotations

import functools
import glob
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import tempfile
import weakref
from pathlib import Path

import numpy as np

from ..base import HarnessError
from ..runtime.hardware import cpu_model, simd_level
from .base import Backend, BackendUnavailable, doubling

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("spann_worker.py")
SETUP_HINT = "run setup/sptag.sh (creates .venv-sptag with Python 3.9 and the sptag wheel)"
PAGE = 4096
POSTING_TARGET = 128  # vectors a posting list has room for (SPANN's mean is ~ReplicaCount / Ratio)

# SPTAG's parameter sections, in the order they are passed; every value but the fixed ones is a
# build parameter of SpannBackend.__init__ (one given is set in every section that has it)
SECTIONS = {
    "SelectHead": ("isExecute", "TreeNumber", "BKTKmeansK", "BKTLeafSize", "SamplesNumber", "SelectThreshold",
                   "SplitFactor", "SplitThreshold", "Ratio"),
    "BuildHead": ("isExecute", "NeighborhoodSize", "TPTNumber", "TPTLeafSize", "MaxCheck", "MaxCheckForRefineGraph",
                  "RefineIterations"),
    "BuildSSDIndex": ("isExecute", "BuildSsdIndex", "InternalResultNum", "ReplicaCount", "PostingPageLimit",
                      "SearchPostingPageLimit", "MaxCheck", "SearchInternalResultNum", "MaxDistRatio", "ResultNum"),
}
FIXED = {"isExecute": "true", "BuildSsdIndex": "true"}
QUERY_PARAMS = ("SearchInternalResultNum", "MaxDistRatio", "MaxCheck")
# what built_with reports of SPTAG's ~25 values (with any given one): the ones that shape the index
SHAPING_PARAMS = ("Ratio", "ReplicaCount", "PostingPageLimit", "InternalResultNum", "SearchInternalResultNum")
FEWEST_HEADS_BUILDABLE = 1.5  # n * Ratio rounds to the 2 heads SPTAG needs
FEWEST_VECTORS = 7  # below this, SPTAG's head selection fails or aborts at any Ratio < 1
NO_HEADS = "Can't select any vector as head"  # SPTAG's log line when head selection fails
OTHER_BACKEND = "another backend (--backend linear)"
ILLEGAL_INSTRUCTION = (-signal.SIGILL, 128 + signal.SIGILL)  # killed by SIGILL, directly or under a shell
CHECK_TIMEOUT_S = 120


def sptag_venv() -> Path:
    return Path(os.environ.get("IRGEN_SPTAG_VENV") or REPO_ROOT / ".venv-sptag")


def sptag_python() -> Path:
    """The venv interpreter whose sptag loads on this processor, or BackendUnavailable saying why not."""
    venv = sptag_venv()
    python = venv / "bin" / "python"
    if not python.exists():
        raise BackendUnavailable(f"the spann backend needs a Python 3.9 venv with SPTAG at {venv}, "
                                 f"which does not exist: {SETUP_HINT}")
    if not glob.glob(str(venv / "lib" / "python3*" / "site-packages" / "sptag" / "_SPTAG*.so")):
        raise BackendUnavailable(f"the venv {venv} has no sptag package: {SETUP_HINT}")
    code, last_line = load_check(str(python))
    if code in ILLEGAL_INSTRUCTION:
        raise BackendUnavailable(illegal_instruction())
    if code != 0:
        raise BackendUnavailable(f"sptag does not load in {venv} (exit code {code}: {last_line}): {SETUP_HINT}")
    return python


@functools.lru_cache(maxsize=None)
def load_check(python: str) -> tuple[int, str]:
    """(exit code, last output line) of the worker's ``--check`` (it imports sptag), once per process:
    a wheel built for a newer processor dies there of SIGILL (sptag 1.6.8 on AVX2: AVX-512 code in
    its _SPTAG.so and libSPTAGLib.so), before SPTAG's C++ code says anything but its banner."""
    try:
        done = subprocess.run([python, str(WORKER), "--check"], capture_output=True, text=True, errors="replace",
                              timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -1, f"no answer in {CHECK_TIMEOUT_S} s"
    except OSError as err:
        return -1, str(err)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines[-1].strip() if lines else ""


def illegal_instruction() -> str:
    """Why spann is unavailable where SPTAG dies of an illegal instruction, in one line."""
    level = simd_level()
    if level not in ("AVX-512", "unknown"):
        return f"sptag's wheel needs AVX-512 (this processor has {level} only); spann is unavailable here"
    return (f"sptag dies of an illegal instruction on this processor ({cpu_model()}, SIMD {level}); "
            f"spann is unavailable here")


def fewest_vectors(ratio: float) -> int:
    """The smallest database SPTAG builds a SPANN index over, at head ratio ``ratio`` (measured)."""
    return max(FEWEST_VECTORS, math.ceil(round(FEWEST_HEADS_BUILDABLE / ratio, 9)))


def posting_page_limit(dim: int) -> int:
    bytes_per_vector = 4 * dim + 4  # float32 values + the vector id
    return max(12, math.ceil(POSTING_TARGET * bytes_per_vector / PAGE))


class SptagWorker:
    """One worker process and its scratch folder; stopped by ``close`` or at exit."""

    def __init__(self, python: Path):
        self.workdir = Path(tempfile.mkdtemp(prefix="irgen-spann-"))
        self.log_path = self.workdir / "worker.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, cwd=self.workdir, text=True, bufsize=1)
        self._finalizer = weakref.finalize(self, _stop_worker, self.proc, self._log, self.workdir)

    def request(self, **message) -> dict:
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            code = self.exit_code()
            if code in ILLEGAL_INSTRUCTION:
                raise BackendUnavailable(illegal_instruction())
            raise RuntimeError(f"the SPANN worker stopped (exit code {code}); its log ends:\n{self.log_tail()}")
        reply = json.loads(line)
        if not reply.pop("ok", False):
            raise RuntimeError(f"SPANN worker, {message.get('cmd')}: {reply.get('error')}\n{self.log_tail()}")
        return reply

    def exit_code(self) -> int | None:
        try:
            return self.proc.wait(timeout=10)  # its output has ended: it is stopping
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return "\n".join(text[-lines:])

    def close(self) -> None:
        self._finalizer()


def _stop_worker(proc: subprocess.Popen, log_file, workdir: Path) -> None:
    try:
        if proc.poll() is None:
            try:
                proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                proc.stdin.flush()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
    finally:
        log_file.close()
        shutil.rmtree(workdir, ignore_errors=True)


def max_internal(build_params: dict) -> int:
    """The largest SearchInternalResultNum a query may ask of an index built with ``build_params``."""
    default = SpannBackend.build_param_types()["SearchInternalResultNum"].default
    return int(build_params.get("SearchInternalResultNum", default))


class SpannBackend(Backend):
    """Build parameters: SPTAG's own names and the SPANN defaults of its docs/GettingStart.md;
    ``PostingPageLimit`` / ``SearchPostingPageLimit`` None: sized for the dimensionality
    (``posting_page_limit``), ``NumberOfThreads`` None: every core."""

    name = "spann"
    DISK_FILES = ("sptag/SPTAGFullList.bin",)  # the posting lists, read from disk per query

    def __init__(self, metric: str = "l2", device: str = "cpu", *, TreeNumber: int = 1, BKTKmeansK: int = 32,
                 BKTLeafSize: int = 8, SamplesNumber: int = 1000, SelectThreshold: int = 10, SplitFactor: int = 6,
                 SplitThreshold: int = 25, Ratio: float = 0.12, NeighborhoodSize: int = 32, TPTNumber: int = 32,
                 TPTLeafSize: int = 2000, MaxCheck: int = 16324, MaxCheckForRefineGraph: int = 16324,
                 RefineIterations: int = 3, InternalResultNum: int = 64, ReplicaCount: int = 8,
                 PostingPageLimit: int | None = None, SearchPostingPageLimit: int | None = None,
                 SearchInternalResultNum: int = 64, MaxDistRatio: float = 8.0, ResultNum: int = 10,
                 NumberOfThreads: int | None = None):
        declared = self.build_param_types()
        self.values = {name: value for name, value in locals().items() if name in declared}
        super().__init__(metric, device)
        # the index's key: what differs from SPTAG's defaults
        self.build_params = {k: v for k, v in self.values.items() if v != declared[k].default}
        self.python = sptag_python()
        self.worker: SptagWorker | None = None
        self.index_dir: Path | None = None
        self.max_internal = SearchInternalResultNum
        self._worker_seconds = 0.0

    def sections(self, dim: int, tmp_dir: Path) -> dict:
        """SPTAG's parameter sections: the build parameters (by SPTAG name, in every section
        using it), this dimensionality's page limit where none is given, and the threads."""
        values = {**self.values, **FIXED, "NumberOfThreads": self.values["NumberOfThreads"] or os.cpu_count() or 1}
        for name in ("PostingPageLimit", "SearchPostingPageLimit"):
            values[name] = values[name] or posting_page_limit(dim)
        sections = {section: {**{n: values[n] for n in names}, "NumberOfThreads": values["NumberOfThreads"]}
                    for section, names in SECTIONS.items()}
        sections["BuildSSDIndex"]["TmpDir"] = str(tmp_dir)
        return sections

    def built_with(self) -> dict:
        values = {k: v for section in self.sections(self.dim, Path()).values() for k, v in section.items()}
        return {**{k: values[k] for k in SHAPING_PARAMS}, **self.build_params}

    def _start(self) -> SptagWorker:
        self.close()
        self.worker = SptagWorker(self.python)
        return self.worker

    def build(self, X: np.ndarray) -> None:
        super().build(X)
        self.build_seconds = self._worker_seconds  # SPTAG's own build time, not the hand-over

    def _build(self, X: np.ndarray) -> None:
        self._check_size(len(X))  # before a worker starts: on some small sizes SPTAG aborts
        worker = self._start()
        data = worker.workdir / "data.npy"
        np.save(data, X)
        self.index_dir = worker.workdir / "index"
        try:
            reply = worker.request(cmd="build", data=str(data), index_dir=str(self.index_dir),
                                   metric=self.metric, params=self.sections(X.shape[1], worker.workdir))
        except RuntimeError:
            if NO_HEADS in worker.log_tail(lines=200):
                raise HarnessError(f"spann: SPTAG selected no head vectors among the {len(X)} database "
                                   f"vectors (too few distinct ones, e.g. duplicate images or an untrained "
                                   f"model's features); use {OTHER_BACKEND}") from None
            raise
        data.unlink()
        self._worker_seconds = float(reply["seconds"])

    def _check_size(self, n: int) -> None:
        ratio = self.values["Ratio"]
        fewest = fewest_vectors(ratio)
        if n < fewest:
            raise HarnessError(f"spann: SPTAG cannot build a SPANN index over {n} database vectors: with "
                               f"Ratio={ratio:g} it needs at least {fewest} (about n x Ratio "
                               f"become heads, and it needs 2); use a larger database (--limit) or "
                               f"{OTHER_BACKEND}")

    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.worker is None:
            raise RuntimeError("spann: build() or load() first")
        params = self._checked_query_params()
        queries = self.worker.workdir / "queries.npy"
        out = self.worker.workdir / "result"
        np.save(queries, Q)
        reply = self.worker.request(cmd="search", queries=str(queries), k=int(k), params=params, out=str(out))
        self._worker_seconds = float(reply["seconds"])
        ids = np.load(f"{out}.ids.npy")
        dists = np.load(f"{out}.dists.npy")
        return ids, dists

    def _checked_query_params(self) -> dict:
        unknown = set(self.query_params) - set(QUERY_PARAMS)
        if unknown:
            raise ValueError(f"spann: unknown query parameter(s) {sorted(unknown)}; "
                             f"it takes {', '.join(QUERY_PARAMS)}")
        params = dict(self.query_params)
        wanted = int(params.get("SearchInternalResultNum", self.max_internal))
        if wanted > self.max_internal:
            log.warning("spann: SearchInternalResultNum=%d exceeds the %d this index was built for; "
                        "using %d", wanted, self.max_internal, self.max_internal)
        params["SearchInternalResultNum"] = min(wanted, self.max_internal)
        return params

    def _measured_seconds(self, wall_seconds: float) -> float:
        return self._worker_seconds

    @classmethod
    def grid_for(cls, n: int, build_params: dict) -> list[dict]:
        return [{"SearchInternalResultNum": v} for v in doubling(max_internal(build_params))]

    def worker_peak_bytes(self) -> float | None:
        if self.worker is None:
            return None
        for line in Path(f"/proc/{self.worker.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return 1024.0 * int(line.split()[1])
        return None

    def _save(self, folder: Path) -> None:
        shutil.copytree(self.index_dir, folder / "sptag")

    def _load(self, folder: Path, state: dict) -> None:
        self.max_internal = int(state["max_internal"])
        worker = self._start()
        self.index_dir = folder / "sptag"
        worker.request(cmd="load", index_dir=str(self.index_dir.resolve()))

    def _state(self) -> dict:
        return {"max_internal": self.max_internal}

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
