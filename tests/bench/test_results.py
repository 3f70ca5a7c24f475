import pandas as pd

from bench.results import COLUMNS, ResultStore


def row(cell, metric="precision", value=0.5, **kw):
    base = {c: "-" for c in COLUMNS}
    base.update(run_id="r1", cell_id=cell, dataset="digits", protocol="paper", seed=0, metric=metric, k=1, value=value)
    base.update(kw)
    return base


def test_write_cell_appends_and_replaces_only_that_cell(tmp_path):
    store = ResultStore(tmp_path)
    store.write_cell([row("a"), row("a", metric="recall")])
    store.write_cell([row("b", value=0.1)])
    store.write_cell([row("a", value=0.9)])  # a recomputed cell replaces its old rows
    table = store.load()
    assert store.finished_cells() == {"a", "b"}
    assert table[table.cell_id == "a"]["value"].tolist() == [0.9]
    assert table[table.cell_id == "b"]["value"].tolist() == [0.1]


def test_writes_leave_no_temporary_files(tmp_path):
    store = ResultStore(tmp_path)
    store.write_cell([row("a")])
    store.write_manifest("r1", {"x": 1})
    leftovers = [p.name for p in tmp_path.rglob("*.tmp")]
    assert leftovers == []
    assert list(pd.read_csv(store.table).columns) == COLUMNS


def test_delete_cells(tmp_path):
    store = ResultStore(tmp_path)
    store.write_cell([row("a")])
    store.write_cell([row("b")])
    store.delete_cells({"a"})
    assert store.finished_cells() == {"b"}
