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


def test_deleting_one_row_of_a_cell_unfinishes_only_that_cell(tmp_path):
    store = ResultStore(tmp_path)
    for cell in ("a", "b"):
        store.write_cell([row(cell, metric) for metric in ("precision", "recall")])
    table = store.load()
    first_a = table.index[table.cell_id == "a"][0]
    table.drop(index=first_a).to_csv(store.table, index=False)  # a user deletes one line by hand
    assert store.finished_cells() == {"b"}
    store.write_cell([row("a", metric) for metric in ("precision", "recall")])
    assert store.finished_cells() == {"a", "b"}


def test_cells_written_before_the_row_index_count_as_finished(tmp_path):
    store = ResultStore(tmp_path)
    store.write_cell([row("a", "precision")])
    store.index.unlink()
    assert store.finished_cells() == {"a"}
