"""The search-backend interface (ann-benchmarks style): build once, then query under a
sweep of query parameters. Build parameters and query parameters are kept apart.

Besides the interface this module holds the small helpers every backend shares
(result padding and clean-up, distance conventions, grids, atomic index folders), so
no backend carries its own copy of them.
"""
from __future__ import annotations

import importlib
import inspect
import json
import logging
import math
import os
import shutil
import tempfile
import types
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..base import HarnessError
from ..runtime.files import new_temporary
from ..runtime.overrides import parse_value
from ..runtime.timing import Measured, device_sync, timed

log = logging.getLogger(__name__)

METRICS = ("l2", "cosine")
META_FILE = "backend.json"  # written beside the backend's own files by ``save``
FORMAT_VERSION = 1
# the graph indexes' search candidate lists (HNSW's efSearch, DiskANN's L), swept by their grids
CANDIDATE_LISTS = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


class BackendUnavailable(RuntimeError):
    """The backend's library is not installed here; the message says how to get it."""


@dataclass(frozen=True)
class BuildParam:
    """One build parameter of a backend, as its ``__init__`` declares it: a name, a type (int,
    float, str, bool, or a Literal of strings), whether None is taken (the backend then resolves
    the value from the data), and the default."""

    name: str
    kind: Any
    optional: bool
    default: Any

    @property
    def type_text(self) -> str:
        """``int``, ``int or None``, ``auto|brute|ah|tree``."""
        kind = "|".join(typing.get_args(self.kind)) if typing.get_origin(self.kind) is typing.Literal \
            else self.kind.__name__
        return f"{kind}{' or None' if self.optional else ''}"

    def __str__(self) -> str:
        return f"{self.name}: {self.type_text}"

    def convert(self, value):
        """``value`` as this parameter's type; a command line's text is read as a YAML scalar
        first. Raises ValueError when it is not of the type."""
        choices = typing.get_args(self.kind) if typing.get_origin(self.kind) is typing.Literal else None
        if isinstance(value, str) and self.kind is not str and choices is None:
            value = None if value.lower() == "none" else parse_value(value)
        if value is None:
            if self.optional:
                return None
        elif choices is not None:
            if value in choices:
                return value
        elif self.kind is bool:
            if isinstance(value, bool):
                return value
        elif self.kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif self.kind is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif isinstance(value, self.kind):
            return value
        raise ValueError(value)


def declared_params(init) -> dict[str, BuildParam]:
    """The build parameters a backend's ``__init__`` declares: its keyword arguments after
    ``metric`` and ``device``, typed by their annotations (or, unannotated, by their defaults)."""
    hints = typing.get_type_hints(init)
    params = {}
    for name, p in inspect.signature(init).parameters.items():
        if name in ("self", "metric", "device"):
            continue
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.default is p.empty:
            raise TypeError(f"{init.__qualname__}: declare each build parameter as a keyword argument with a "
                            f"default, not {p}")
        kind = hints.get(name, type(p.default))
        members = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
        plain = [m for m in members if m is not type(None)]
        if len(plain) != 1 or kind is type(None):
            raise TypeError(f"{init.__qualname__}: build parameter {name} needs one type (or that type | None)")
        params[name] = BuildParam(name, plain[0], len(plain) < len(members), p.default)
    return params


class BadBuildParameter(HarnessError, ValueError):
    """A build parameter the backend cannot take: one line naming it and the fix (a command's exit code 2)."""


class Backend(ABC):
    """Nearest-neighbour search over float32 vectors.

    ``metric`` is ``"l2"`` (Euclidean) or ``"cosine"``; distances returned are squared
    L2 or ``1 - cosine`` respectively, smaller is closer. ``device`` is ``cpu`` or
    ``cuda`` (a backend without a GPU path ignores it).

    After each ``search`` ``last_search_s`` holds the seconds the search itself took (the one
    timer, methods/runtime/timing.py, the device synchronised at both ends); a backend that answers
    from another process reports the time measured there, so the hand-over is not counted.

    Memory has one meaning for every backend: ``memory_bytes`` is the size of the index as
    ``save`` writes it, less the files the index reads from disk while serving
    (``DISK_FILES``), which are ``disk_bytes``. A backend with a working ``_save`` is measured
    the same way as every other, with nothing of its own to write.

    Build parameters are the keyword arguments of a backend's ``__init__`` after ``metric``
    and ``device``, each with a type annotation and a default (``build_param_types``); no
    backend takes others, and ``checked_build_params`` is the one place that checks and
    converts what a user gives.
    """

    name: str = "?"
    DISK_FILES: tuple[str, ...] = ()  # files of the saved index read from disk while serving (glob patterns)

    def __init__(self, metric: str = "l2", device: str = "cpu"):
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
        self.metric = metric
        self.device = device
        self.build_params: dict = {}  # what identifies the index built (its cache key), set by each backend
        self.query_params: dict = {}
        self.build_seconds = 0.0
        self.build_run = ""  # the run whose build a loaded index is ("": built by this process)
        self.last_search_s = 0.0
        self._sizes: tuple[int, int] | None = None  # (memory, disk) bytes of the saved index
        self.n = 0
        self.dim = 0

    @classmethod
    def build_param_types(cls) -> dict[str, BuildParam]:
        """The build parameters this backend takes, by name, from its ``__init__``."""
        return declared_params(cls.__init__)

    @classmethod
    def checked_build_params(cls, given: dict, where: str = "--backend-param ") -> dict:
        """``given`` converted to the declared types; an unknown name or a value of the wrong
        type is a one-line error listing every parameter this backend takes, with its type."""
        known = cls.build_param_types()
        listing = ", ".join(map(str, known.values())) or "none"
        out = {}
        for key, value in given.items():
            if key not in known:
                raise HarnessError(f"{where}{key}={value}: the {cls.name} backend has no build parameter {key!r}; "
                                   f"it takes: {listing}")
            try:
                out[key] = known[key].convert(value)
            except ValueError:
                raise HarnessError(f"{where}{key}={value}: {cls.name}'s {key} is {known[key].type_text}, "
                                   f"not {value!r}; it takes: {listing}") from None
        return out

    # -- building and searching ---------------------------------------------------

    def build(self, X: np.ndarray) -> None:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"{self.name}: build needs a non-empty (n, d) array, got shape {X.shape}")
        self.n, self.dim = X.shape
        self._sizes, self.build_run = None, ""
        _, self.build_seconds = timed(lambda: self._build(prepare(X, self.metric)), device_sync(self.device))

    def set_query_params(self, **params) -> None:
        self.query_params = dict(params)

    def search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, dists), each (nq, k); ids are -1 where fewer than k were found."""
        Q = prepare(np.ascontiguousarray(Q, dtype=np.float32), self.metric)
        (ids, dists), seconds = timed(lambda: self._search(Q, k), device_sync(self.device))
        self.last_search_s = self._measured_seconds(seconds)
        return ids, dists

    @classmethod
    def grid_for(cls, n: int, build_params: dict) -> list[dict]:
        """Query-parameter points for a recall-versus-speed sweep of an index over ``n`` vectors
        built with ``build_params``; [{}] when none. Known before the build: a sweep is data."""
        return [{}]

    def built_with(self) -> dict:
        """The build parameters the built index used: the given ones, with the defaults this
        backend resolves from the data filled in (what a report shows, not ``None``)."""
        return dict(self.build_params)

    def query_grid(self) -> list[dict]:
        """``grid_for`` this built index."""
        return self.grid_for(self.n, self.build_params)

    def stats(self) -> dict:
        """``build_s`` (a ``Measured``: this process's build, or the cached build's run),
        ``memory_bytes`` and ``disk_bytes`` (the class doc's rule)."""
        return {"build_s": Measured(self.build_seconds, self.build_run), "memory_bytes": self.memory_bytes(),
                "disk_bytes": self.disk_bytes()}

    @abstractmethod
    def _build(self, X: np.ndarray) -> None: ...

    @abstractmethod
    def _search(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def memory_bytes(self) -> int:
        """The saved index's bytes, less ``disk_bytes``: what must stay in memory to answer queries."""
        return self._saved_sizes()[0]

    def disk_bytes(self) -> int:
        """The bytes of the saved index's ``DISK_FILES``: what a query reads from disk."""
        return self._saved_sizes()[1]

    def _saved_sizes(self) -> tuple[int, int]:
        """(memory, disk) bytes of this index as ``save`` writes it (saved to a temporary folder
        when it was not saved or loaded yet)."""
        if self._sizes is None:
            with tempfile.TemporaryDirectory(prefix=f"irgen-{self.name}-size-") as tmp:
                self.save(Path(tmp) / "index")
        return self._sizes

    def _measure(self, folder: Path) -> None:
        files = {p for p in folder.rglob("*") if p.is_file() and p.name != META_FILE}
        disk = {p for pattern in self.DISK_FILES for p in folder.glob(pattern) if p in files}
        self._sizes = (sum(p.stat().st_size for p in files - disk), sum(p.stat().st_size for p in disk))

    def worker_peak_bytes(self) -> float | None:
        """The peak resident memory of the worker process that holds the index, for a backend that
        runs in one (None: the index lives in this process, whose own peak tells)."""
        return None

    def _measured_seconds(self, wall_seconds: float) -> float:
        """Seconds to report for the last search; overridden where the search ran elsewhere."""
        return wall_seconds

    # -- persistence ----------------------------------------------------------------

    def save(self, path: str | Path, run_id: str = "") -> Path:
        """Write the built index to the folder ``path`` (replaced atomically); ``run_id``: the run
        that built it, which a later ``load`` reports as the source of its ``build_s``."""
        if not self.n:
            raise RuntimeError(f"{self.name}: nothing to save, call build() first")
        path = Path(path)

        def write(tmp: Path) -> None:
            self._save(tmp)
            meta = {**self._meta(), "build_run": self.build_run or run_id}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))

        atomic_dir(path, write)
        self._measure(path)
        return path

    def load(self, path: str | Path) -> None:
        """Restore an index written by ``save`` of the same backend and metric."""
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.exists():
            raise FileNotFoundError(f"{path} holds no saved index ({META_FILE} missing)")
        meta = json.loads(meta_path.read_text())
        if meta.get("backend") != self.name or meta.get("metric") != self.metric:
            raise ValueError(f"{path} holds a {meta.get('backend')}/{meta.get('metric')} index, "
                             f"not {self.name}/{self.metric}")
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: index format {meta.get('format')}, this code reads {FORMAT_VERSION}")
        self.n, self.dim = int(meta["n"]), int(meta["dim"])
        self.build_seconds = float(meta["build_s"])
        self.build_run = str(meta.get("build_run") or "unrecorded")
        self._load(path, meta.get("state", {}))
        self._measure(path)

    def _meta(self) -> dict:
        return {"format": FORMAT_VERSION, "backend": self.name, "metric": self.metric,
                "build_params": self.build_params, "n": self.n, "dim": self.dim,
                "build_s": self.build_seconds, "state": self._state()}

    def _state(self) -> dict:
        """Whatever ``_load`` needs beyond the backend's own files (resolved defaults)."""
        return {}

    def _save(self, folder: Path) -> None:
        raise NotImplementedError(f"the {self.name} backend cannot save its index yet: implement "
                                  f"{type(self).__name__}._save/_load")

    def _load(self, folder: Path, state: dict) -> None:
        raise NotImplementedError(f"the {self.name} backend cannot load a saved index yet: implement "
                                  f"{type(self).__name__}._save/_load")

    def close(self) -> None:
        """Release outside resources (worker processes, GPU memory); a no-op by default."""


# -- helpers shared by the backends ---------------------------------------------------


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


def finish_results(ids: np.ndarray, dists: np.ndarray, k: int, missing: np.ndarray | None = None,
                   similarity: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Bring a library's raw answer to the interface's convention.

    ``missing`` marks slots the library filled with a placeholder (ids are set to -1,
    distances to +inf); ``similarity`` says the library returned inner products of
    unit vectors, turned here into ``1 - cosine``.
    """
    ids = np.asarray(ids).astype(np.int64, copy=True)
    dists = np.asarray(dists, dtype=np.float32).copy()
    if similarity:
        dists = 1.0 - dists
    if missing is None:
        missing = ids < 0
    missing = missing | ~np.isfinite(dists)
    ids[missing] = -1
    dists[missing] = np.inf
    return pad_results(ids, dists, k)


def doubling(limit: int, start: int = 1) -> list[int]:
    """start, 2*start, 4*start, ... up to and including ``limit``."""
    values, v = [], max(1, start)
    while v < limit:
        values.append(v)
        v *= 2
    values.append(max(1, limit))
    return values


def sqrt_lists(n: int, factor: float = 1.0, min_points: int = 1) -> int:
    """round(factor * sqrt(n)) partitions, capped so each gets >= ``min_points`` points."""
    return max(1, min(round(factor * math.sqrt(n)), n // max(1, min_points)))


def atomic_dir(path: Path, write: Callable[[Path], None]) -> None:
    """Fill a temporary sibling folder with ``write(tmp)``, then rename it onto ``path``.

    Readers see the old folder or the complete new one, never a half-written one (an
    existing ``path`` is moved aside first, then removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(new_temporary(path, folder=True))  # the umask's mode, not mkdtemp's 0700
    try:
        write(tmp)
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / "entry")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def whole_number(backend: str, name: str, value, fix: str, low: int = 1) -> int:
    """A build parameter as an int >= ``low``, or a one-line BadBuildParameter naming it and ``fix``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise BadBuildParameter(f"{backend}: build parameter {name}={value!r} must be a whole number >= {low} ({fix})")
    return int(value)


def require(module: str, backend: str, install: str):
    """Import an optional library or raise BackendUnavailable naming how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendUnavailable(f"the {backend} backend needs the {module!r} package ({err}); "
                                 f"install it with: {install}") from err
