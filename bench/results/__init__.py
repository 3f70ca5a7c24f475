"""What results/ holds and how it is written: ``table`` (the one keyed CSV format, atomic and
tolerant of damaged lines), ``store`` (the results of bench.run and bench.throughput: rows,
cells, manifests), ``manifest`` (what a result depends on). ``python -m bench.results
--check`` says what is wrong with a store."""
from .store import (CELL_KEYS, COLUMNS, SCALING_COMPONENT, SWEEP_SET, ResultStore, cell_identity, cell_record,
                    failures_table, model_column, scaling_table, sweeps_table)
from .table import KeyedTable, folder_lock

__all__ = ["CELL_KEYS", "COLUMNS", "SCALING_COMPONENT", "SWEEP_SET", "KeyedTable", "ResultStore", "cell_identity",
           "cell_record", "failures_table", "folder_lock", "model_column", "scaling_table", "sweeps_table"]
