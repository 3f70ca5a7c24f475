"""The results store: one tidy CSV (a row per dataset x method x backend x setting x
metric x k) and one JSON manifest per run. Every write is atomic and serialised by a
lock, so an interrupted run leaves no partial row and a finished cell is never lost.

``cells.csv`` beside the table records how many rows each cell wrote: a cell counts as
finished only while the table still holds all of them, so deleting any one row of a
cell by hand makes the next run recompute that cell (and only it). Cells written before
this index existed count as finished."""
from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from methods.cache import atomic_write

COLUMNS = ["run_id", "cell_id", "dataset", "protocol", "limit", "seed", "method", "variant", "features",
           "backend", "setting", "metric", "k", "value"]
CELL_KEYS = ["dataset", "protocol", "limit", "seed", "method", "variant", "features", "backend", "setting"]


class ResultStore:
    def __init__(self, root: str | Path = "results"):
        self.root = Path(root)
        self.table = self.root / "results.csv"
        self.manifests = self.root / "manifests"
        self.index = self.root / "cells.csv"

    @contextmanager
    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def load(self) -> pd.DataFrame:
        if not self.table.exists():
            return pd.DataFrame(columns=COLUMNS)
        text = {c: str for c in ("run_id", "cell_id", "limit", "variant", "setting")}
        df = pd.read_csv(self.table, dtype=text, keep_default_na=False, na_values=[""])
        for col in CELL_KEYS:
            if col != "seed":
                df[col] = df[col].fillna("-").astype(str)
        return df

    def _row_counts(self) -> dict[str, int]:
        if not self.index.exists():
            return {}
        index = pd.read_csv(self.index, dtype={"cell_id": str})
        return dict(zip(index["cell_id"], index["n_rows"].astype(int)))

    def finished_cells(self) -> set[str]:
        """Cells whose rows are all in the table."""
        held = self.load()["cell_id"].astype(str).value_counts()
        expected = self._row_counts()
        return {cell for cell, n in held.items() if expected.get(cell, n) == n}

    def _write_index(self, counts: dict[str, int]) -> None:
        frame = pd.DataFrame({"cell_id": list(counts), "n_rows": list(counts.values())})
        atomic_write(self.index, lambda tmp: frame.to_csv(tmp, index=False))

    def write_cell(self, rows: list[dict]) -> None:
        """Replace whatever the store held for these rows' cells with ``rows``."""
        new = pd.DataFrame(rows, columns=COLUMNS)
        with self._locked():
            old = self.load()
            old = old[~old["cell_id"].isin(set(new["cell_id"]))]
            table = pd.concat([old, new], ignore_index=True) if len(old) else new
            counts = self._row_counts()
            counts.update(new["cell_id"].astype(str).value_counts().to_dict())
            # the index first: a crash between the two writes leaves the cell unfinished, never a stale count
            self._write_index(counts)
            atomic_write(self.table, lambda tmp: table.to_csv(tmp, index=False))

    def delete_cells(self, cell_ids: set[str]) -> None:
        with self._locked():
            old = self.load()
            atomic_write(self.table, lambda tmp: old[~old["cell_id"].isin(cell_ids)].to_csv(tmp, index=False))

    def write_manifest(self, run_id: str, manifest: dict) -> Path:
        path = self.manifests / f"{run_id}.json"

        def write(tmp):
            with open(tmp, "w") as f:
                json.dump(manifest, f, indent=2, sort_keys=True, default=str)

        atomic_write(path, write)
        return path
