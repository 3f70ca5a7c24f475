"""The results store: one tidy table (a row per dataset x method x backend x setting x
metric x k, ``results.csv``) and one JSON manifest per run. Every write is atomic and
serialised by the folder's lock (``table.KeyedTable``), so an interrupted run leaves no
partial row, a finished cell is never lost, and a damaged line costs only itself.

``cells.csv`` beside the table records how many rows each cell wrote: a cell counts as
finished only while the table still holds all of them, so deleting any one row of a
cell by hand makes the next run recompute that cell (and only it). Cells written before
this index existed count as finished. ``bench.run`` writes ``results/``, ``bench.throughput``
the same format under ``results/throughput/``."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from methods.runtime import timing
from methods.runtime.files import atomic_write

from .migrate import model_of_old_rows
from .table import KeyedTable, folder_lock

log = logging.getLogger(__name__)

COLUMNS = ["run_id", "cell_id", "dataset", "protocol", "limit", "seed", "method", "variant", "features",
           "backend", "setting", "device", "threads", "metric", "k", "value", "timing", "model", "data_seed"]
# a cell is also where it ran: a time measured on a GPU, or with other CPU threads, is another cell's
CELL_KEYS = ["dataset", "protocol", "limit", "seed", "method", "variant", "features", "backend", "setting",
             "device", "threads"]
TEXT = ("run_id", "cell_id", "limit", "variant", "setting", "device", "threads", "timing", "model", "data_seed")
# ``model``: what distinguishes the cell's model, as JSON with sorted keys (``model_column``: the
# method's ``model_fields()``), which the report reads; rows from before it get it from their variant
# (``migrate.model_of_old_rows``)
# ``seed`` is the training seed; ``data_seed`` the seed the --limit subset and the --fresh share were drawn
# with ("-" in rows from before the column: their seed drew both). It is recorded, not a cell key: the
# report's mean over seeds takes the seeds of one --data-seed (bench.run --seeds gives them one)
# ``timing``: for a row that is a time (or a rate from one), ``measured`` (in the row's run) or
# ``cached from run <id>`` (a cached step's seconds, carried with the run that measured them); "-" otherwise
FAILURE_COLUMNS = ["cell", "status", "seconds", "reason", "log", "finished_at"]
SWEEP_SET = ["dataset", "n", "dim", "n_queries", "metric", "recall_at"]  # what a sweep was measured on
SWEEP_KEY = SWEEP_SET + ["backend", "build_params", "params"]
SWEEP_COLUMNS = SWEEP_KEY + ["recall", "qps_batch", "qps_single", "single_queries", "build_s", "build_timing",
                             "memory_bytes", "disk_bytes", "threads", "omp_wait_policy", "run_id"]
# ``build_timing``: ``measured`` (the row's run built the index) or ``cached from run <id>`` (as ``timing``)
SCALING_COMPONENT = ["n", "dim", "queries", "seed", "component"]
SCALING_COLUMNS = SCALING_COMPONENT + ["measure", "value", "unit", "note", "hardware", "run_id"]


def sweeps_table(results: Path) -> KeyedTable:
    """``results/sweeps.csv``: every grid point of every backend sweep (bench.sweep, bench.scaling)."""
    return KeyedTable(Path(results) / "sweeps.csv", SWEEP_KEY, SWEEP_COLUMNS,
                      text=("build_params", "params", "build_timing", "run_id"))


def scaling_table(results: Path) -> KeyedTable:
    """``results/scaling/scaling.csv``: bench.scaling's rows, one per size x component x measure."""
    return KeyedTable(Path(results) / "scaling" / "scaling.csv", SCALING_COMPONENT + ["measure"], SCALING_COLUMNS,
                      text=("note", "run_id"))


def failures_table(results: Path) -> KeyedTable:
    """``results/failures.csv``: the grid's cells that failed, timed out or could not run here, one row
    each (status ``failed`` / ``timeout`` / ``unavailable``, the error's last line, the log); a cell
    that later succeeds leaves it."""
    return KeyedTable(Path(results) / "failures.csv", ["cell"], FAILURE_COLUMNS, text=("cell", "reason", "log"))


class ResultStore:
    def __init__(self, root: str | Path = "results"):
        self.root = Path(root)
        self.rows = KeyedTable(self.root / "results.csv", ["cell_id", "metric", "k"], COLUMNS, TEXT)
        self.cells = KeyedTable(self.root / "cells.csv", ["cell_id"], ["cell_id", "n_rows"], ("cell_id",))
        self.manifests = self.root / "manifests"

    @property
    def table(self) -> Path:
        return self.rows.path

    @property
    def index(self) -> Path:
        return self.cells.path

    def load(self) -> pd.DataFrame:
        df = self.rows.load()
        for col in CELL_KEYS + ["timing", "data_seed"]:
            if col not in df:  # rows written before the column existed
                df[col] = "-"
            if col != "seed":
                df[col] = df[col].fillna("-").astype(str)
        return model_of_old_rows(df)

    def _row_counts(self) -> dict[str, int]:
        index = self.cells.load()
        return dict(zip(index["cell_id"].astype(str), index["n_rows"].astype(int)))

    def finished_cells(self) -> set[str]:
        """Cells whose rows are all in the table."""
        held = self.load()["cell_id"].astype(str).value_counts()
        expected = self._row_counts()
        return {cell for cell, n in held.items() if expected.get(cell, n) == n}

    def write_cell(self, rows: list[dict]) -> None:
        """Replace whatever the store held for these rows' cells with ``rows``."""
        new = pd.DataFrame(rows, columns=COLUMNS)
        counts = new["cell_id"].astype(str).value_counts()
        with folder_lock(self.root):
            # the index first: a crash between the two writes leaves the cell unfinished, never a stale count
            self.cells.merge(pd.DataFrame({"cell_id": counts.index, "n_rows": counts.values}))
            self.rows.merge(new, on=["cell_id"])

    def delete_cells(self, cell_ids: set[str]) -> None:
        self.rows.remove(lambda table: table["cell_id"].astype(str).isin(cell_ids))

    def write_manifest(self, run_id: str, manifest: dict) -> Path:
        path = self.manifests / f"{run_id}.json"
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))
        return path

    def read_manifests(self, run_ids) -> dict[str, dict]:
        """run id -> manifest, for those that exist and parse (a damaged one is named in a warning)."""
        manifests = {}
        for run_id in sorted(set(run_ids)):
            path = self.manifests / f"{run_id}.json"
            if not path.exists():
                continue
            try:
                manifests[run_id] = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as e:
                log.warning("%s cannot be read (%s); its run's provenance is shown as unknown", path, e)
        return manifests

    def problems(self) -> list[str]:
        """What is wrong with this store, one line each (empty: nothing)."""
        found = []
        for table in (self.rows, self.cells):
            parsed = table.read()
            if parsed.damaged:
                from .table import damaged_words

                found.append(damaged_words(table.path, parsed.damaged) + "; the next write keeps the good rows")
        rows = self.load()
        if rows.empty:
            return found
        held = rows["cell_id"].astype(str).value_counts()
        for cell, expected in sorted(self._row_counts().items()):
            if cell in held and held[cell] != expected:
                found.append(f"{self.table}: cell {cell} holds {held[cell]} of its {expected} rows; "
                             f"the next run of it computes it again")
        duplicated = rows.duplicated(["cell_id", "metric", "k"], keep=False)
        if duplicated.any():
            found.append(f"{self.table}: {int(duplicated.sum())} rows share a (cell_id, metric, k) with another row")
        missing = sorted(r for r in set(rows["run_id"].astype(str)) if not (self.manifests / f"{r}.json").exists())
        if missing:
            found.append(f"{self.manifests}: no manifest for run(s) {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        for run_id in sorted(set(rows["run_id"].astype(str)) - set(missing)):
            try:
                json.loads((self.manifests / f"{run_id}.json").read_text())
            except (OSError, json.JSONDecodeError) as e:
                found.append(f"{self.manifests / f'{run_id}.json'}: cannot be read ({e})")
        return found


def model_column(method, dtype: str = "fp32") -> str:
    """A cell's ``model`` column: the method's ``model_fields()`` and the dtype where it is not fp32,
    as JSON. It is not one of the keys ``cell_record`` gives (the cell's id is a digest of those):
    the variant and the method's description say the same, and a cell keeps the id it had."""
    return json.dumps({**method.model_fields(), **({"dtype": dtype} if dtype != "fp32" else {})}, sort_keys=True)


def cell_record(dataset, method, setting: str, limit: int | None, seed: int, dtype: str = "fp32",
                device: str = "cpu", threads: int | None = None, data_seed: int | None = None) -> dict:
    """A results cell's keys; ``setting`` is the setting's label (``setting_label``). A bf16 run
    says so in its variant: its numbers are not the fp32 run's; ``device`` (its type: cpu, cuda)
    and the CPU ``threads`` (default: this process's) are keys of their own. ``seed`` trains,
    ``data_seed`` (default: ``seed``) drew the data."""
    variant = method.variant
    if dtype != "fp32":
        variant = f"dtype={dtype}" if variant == "-" else f"{variant},dtype={dtype}"
    return {"dataset": dataset.name, "protocol": dataset.protocol, "limit": str(limit or "-"), "seed": seed,
            "method": method.name, "variant": variant, "features": method.features, "backend": method.backend,
            "setting": setting, "device": str(device).split(":")[0], "threads": str(threads or timing.threads()),
            "data_seed": str(seed if data_seed is None else data_seed)}


def cell_identity(record: dict) -> dict:
    """What of ``record`` goes into its cell's id: a cell whose data seed is its seed keeps the id it
    had before ``data_seed`` was recorded."""
    return {k: v for k, v in record.items() if not (k == "data_seed" and v == str(record["seed"]))}
