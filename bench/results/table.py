"""The one table format of results/: a CSV file of rows, each identified by its key columns.

Every write merges under the folder's lock and replaces the file in one rename, so an
interrupted run leaves no partial row and two processes writing the same folder lose
nothing. A damaged file costs only its damaged lines: a line that does not parse or has
the wrong number of fields (a torn write, an edit by hand) is left out of what is read,
with a warning naming the file and the lines; the next write moves the damaged file aside
(``<name>.damaged-<time>``, never overwriting an earlier one) and writes back the good rows
with the new ones. Fields never hold a line break, so a line is a row.
"""
from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from methods.runtime.files import atomic_write

log = logging.getLogger(__name__)

_held: dict[str, int] = {}  # lock file -> depth held by this process (the lock is reentrant)
_guard = threading.Lock()


@contextmanager
def folder_lock(folder: Path):
    """An exclusive lock on ``folder`` across processes, reentrant within one."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = str((folder / ".lock").resolve())
    with _guard:
        depth = _held.get(path, 0)
        _held[path] = depth + 1
    if depth:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            with _guard:
                del _held[path]
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass
class Parsed:
    """A table file as read: its good rows and the 1-based numbers of its damaged lines."""

    rows: pd.DataFrame
    damaged: list[int] = field(default_factory=list)


def parse(path: Path, columns: list[str], text: tuple[str, ...] = ()) -> Parsed:
    """The rows of the CSV file at ``path`` (``columns`` when it is missing or empty)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return Parsed(pd.DataFrame(columns=columns))
    lines = path.read_text(errors="replace").split("\n")
    header = next(csv.reader([lines[0]]), [])
    good, damaged = [lines[0]], []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        try:
            fields = next(csv.reader([line], strict=True))
        except (csv.Error, StopIteration):
            fields = None
        if fields is None or len(fields) != len(header):
            damaged.append(number)
        else:
            good.append(line)
    dtypes = {c: str for c in text if c in header}
    rows = pd.read_csv(io.StringIO("\n".join(good) + "\n"), dtype=dtypes, keep_default_na=False, na_values=[""])
    return Parsed(rows, damaged)


def damaged_words(path: Path, damaged: list[int]) -> str:
    shown = ", ".join(map(str, damaged[:10])) + (f" and {len(damaged) - 10} more" if len(damaged) > 10 else "")
    return f"{path}: line{'s' if len(damaged) > 1 else ''} {shown} cannot be read (torn or edited)"


class KeyedTable:
    """A CSV table under ``path`` whose rows are identified by ``key`` columns.

    ``text`` names columns always read as strings (ids, labels that look like numbers)."""

    def __init__(self, path: Path, key: list[str], columns: list[str] | None = None, text: tuple[str, ...] = ()):
        self.path = Path(path)
        self.key = list(key)
        self.columns = list(columns or key)
        self.text = tuple(text)

    def read(self) -> Parsed:
        return parse(self.path, self.columns, self.text)

    def load(self) -> pd.DataFrame:
        """The good rows (a warning names any damaged line)."""
        parsed = self.read()
        if parsed.damaged:
            log.warning("%s; they are left out (the next write moves the file aside)",
                        damaged_words(self.path, parsed.damaged))
        return parsed.rows

    def merge(self, rows: pd.DataFrame, on: list[str] | None = None) -> pd.DataFrame:
        """Replace the stored rows that share ``on`` (default: the key) with any of ``rows``, keep
        the others; returns the whole table as written."""
        on = on or self.key
        with folder_lock(self.path.parent):
            old = self._good_rows()
            if len(old) and len(rows):
                old = old[~_index(old, on).isin(_index(rows, on))]
            table = pd.concat([old, rows], ignore_index=True) if len(old) else rows.reset_index(drop=True)
            self.write(table)
        return table

    def remove(self, drop) -> pd.DataFrame:
        """Delete the rows for which ``drop(table)`` (a boolean Series) is true."""
        with folder_lock(self.path.parent):
            table = self._good_rows()
            table = table[~drop(table)] if len(table) else table
            self.write(table)
        return table

    def write(self, table: pd.DataFrame) -> None:
        columns = [c for c in self.columns if c in table.columns] + [c for c in table.columns if c not in self.columns]
        table = table[columns].copy()
        for column in table.columns[table.dtypes == object]:  # a line is a row: no line breaks in fields
            table[column] = table[column].map(lambda v: v.replace("\n", " ") if isinstance(v, str) else v)
        atomic_write(self.path, lambda tmp: table.to_csv(tmp, index=False, lineterminator="\n"))

    def _good_rows(self) -> pd.DataFrame:
        """The stored rows; a damaged file is moved aside first (under the lock), its good rows kept."""
        parsed = self.read()
        if parsed.damaged:
            aside = set_aside(self.path)
            log.warning("%s; moved the file to %s and kept its %d good rows", damaged_words(self.path, parsed.damaged),
                        aside, len(parsed.rows))
        return parsed.rows


def set_aside(path: Path) -> Path:
    """Rename ``path`` to a fresh ``<name>.damaged-<time>[-n]`` beside it; never overwrites."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        aside = path.with_name(f"{path.name}.damaged-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(path, aside)  # fails if the name is taken: no overwrite, ever
        except FileExistsError:
            continue
        os.unlink(path)
        return aside
    raise RuntimeError(f"{path}: no free name to move the damaged file to")


def _index(df: pd.DataFrame, on: list[str]) -> pd.Index:
    return pd.MultiIndex.from_frame(df[on].astype(str)) if len(on) > 1 else pd.Index(df[on[0]].astype(str))
