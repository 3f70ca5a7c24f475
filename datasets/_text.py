"""Helpers shared by the official-layout readers: annotation files read with
one-line errors (file, line, what was expected, where the dataset comes from),
image-existence checks, and label remapping into parts."""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from .base import DatasetError, FileSource, Split


@contextmanager
def _gc_paused():
    """Building millions of small lists (Places365's 1.8M lines) makes the cyclic garbage
    collector re-scan them over and over; nothing built here forms cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Checker:
    """Reads and checks one layout's files; every error names the file and the official source."""

    def __init__(self, layout) -> None:
        self.name, self.source = layout.name, layout.source

    def error(self, path: Path | str, problem: str, expected: str) -> DatasetError:
        msg = f"{self.name}: {path} {problem}; expected {expected}; official dataset: {self.source}"
        return DatasetError(msg.replace("\r", " ").replace("\n", " "))  # always one line

    def require(self, path: Path, expected: str, folder: bool = False) -> Path:
        if not (path.is_dir() if folder else path.is_file()):
            raise self.error(path, "(a folder) not found" if folder else "not found", expected)
        return path

    def columns(self, path: Path, expected: str, types: tuple[Callable, ...], skip: int = 0,
                sep: str | None = None) -> list[list]:
        """The non-blank lines after ``skip`` header lines, split on ``sep`` (default: whitespace),
        as one list per column, each field converted by its column's type. A line with another
        number of fields, or a field its type rejects (ValueError), is an error naming the line."""
        self.require(path, expected)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()[skip:]
        except (OSError, UnicodeDecodeError) as e:
            raise self.error(path, f"cannot be read ({e.__class__.__name__})", expected) from None
        with _gc_paused():
            try:  # fast path for a clean file, a column at a time; the loop below finds a bad line
                fields = [line.split(sep) for line in lines]
                if fields and all(len(f) == len(types) for f in fields):
                    cols = zip(*fields) if sep is None else (map(str.strip, c) for c in zip(*fields))
                    return [list(map(t, c)) for t, c in zip(types, cols)]
            except ValueError:
                pass
            rows = []
            for n, line in enumerate(lines, start=skip + 1):
                if not line.strip():
                    continue
                fields = line.split(sep)
                try:
                    if len(fields) != len(types):
                        raise ValueError
                    rows.append([t(f.strip()) for t, f in zip(types, fields)])
                except ValueError:
                    raise self.error(path, f"line {n} does not parse: {line[:100]!r}", expected) from None
            return [list(c) for c in zip(*rows)] if rows else [[] for _ in types]

    def table(self, path: Path, expected: str, key: Callable, value: Callable, **kw) -> dict:
        """A two-column file as {key: value} (``kw`` as for ``columns``); a key listed twice is an error."""
        keys, values = self.columns(path, expected, (key, value), **kw)
        out = dict(zip(keys, values))
        if len(out) != len(keys):
            seen = set()
            twice = next(k for k in keys if k in seen or seen.add(k))
            raise self.error(path, f"lists {twice} twice", expected)
        return out

    def images_exist(self, folder: Path, paths: list[str], listed_in: Path) -> None:
        """Every listed image file is on disk (used for the datasets small enough to check)."""
        for p in paths:
            if not os.path.isfile(folder / p):
                raise self.error(folder / p, f"is missing (listed in {listed_in})", "every listed image file")

    def parts(self, folder: Path, parts: dict[str, tuple[list[str], list]], listed_in: Path | dict) -> dict[str, Split]:
        """Splits over ``folder`` from {part: (relative paths, original class ids)}; the class ids
        are remapped to 0..C-1 in sorted order, with one mapping for every part. ``listed_in``
        (one file, or one per part) is the file an empty part is blamed on."""
        for name, (paths, _) in parts.items():
            if not paths:
                where = listed_in[name] if isinstance(listed_in, dict) else listed_in
                raise self.error(where, f"lists no {name} images", f"the official {name} part")
        classes = np.unique(np.concatenate([np.asarray(ids) for _, ids in parts.values()]))
        return {
            name: Split(name, FileSource(folder, list(paths)), np.searchsorted(classes, np.asarray(ids)))
            for name, (paths, ids) in parts.items()
        }
