"""The backend sweeps in the report: every backend a series of the recall-QPS plane, the graph
backends labelled beyond the paper, DiskANN's disk index a series (and a table line) of its own."""
from __future__ import annotations

import json

import pandas as pd

from bench.report import names, sweeps

SET = {"dataset": "synthetic-5000x32", "n": 5000, "dim": 32, "n_queries": 100, "metric": "l2", "recall_at": 10,
       "single_queries": 10, "build_s": 0.5, "memory_bytes": 2e6, "threads": 2, "omp_wait_policy": "PASSIVE",
       "run_id": "20260101-000004-eeeeee"}
DISKANN = {"graph_degree": 32, "complexity": 64}


def rows() -> pd.DataFrame:
    lines = [("ivfpq", {"nlist": 8}, {"nprobe": 1}, 0.5, 9000.0, 0),
             ("ivfpq", {"nlist": 8}, {"nprobe": 8}, 0.9, 2000.0, 0),
             ("hnsw", {"M": 32}, {"efSearch": 16}, 0.92, 8000.0, 0),
             ("hnsw", {"M": 32}, {"efSearch": 64}, 0.99, 3000.0, 0),
             ("diskann", {**DISKANN, "disk": False}, {"complexity": 16}, 0.95, 7000.0, 0),
             ("diskann", {**DISKANN, "disk": True}, {"complexity": 16, "beam_width": 1}, 0.7, 900.0, 5e6),
             ("diskann", {**DISKANN, "disk": True}, {"complexity": 64, "beam_width": 4}, 0.97, 400.0, 5e6)]
    return pd.DataFrame([{**SET, "backend": b, "build_params": json.dumps(bp, sort_keys=True),
                          "params": json.dumps(p), "recall": r, "qps_batch": q, "qps_single": q / 3, "disk_bytes": d}
                         for b, bp, p, r, q, d in lines])


def test_the_disk_index_is_a_series_of_its_own_and_the_graph_ones_say_beyond_the_paper():
    lines = sweeps.plane(rows()).panels[0].series
    fronts = {line.group: line for line in lines if line.legend}  # each backend's front, its points faint
    assert list(fronts) == ["ivfpq", "hnsw", "diskann", "diskann-disk"]  # the registry's order
    assert [line.label for line in fronts.values()] == [names.backend(b).label for b in fronts]
    points = {line.group: line for line in lines if not line.legend}
    assert points["diskann-disk"].x == [0.7, 0.97] and len(points["diskann"].x) == 1
    for name in ("hnsw", "diskann", "diskann-disk"):
        assert names.backend(name).label.endswith("(beyond the paper)")
    assert not any("beyond" in names.backend(b).label for b in ("linear", "faiss-flat", "ivfpq", "scann", "spann"))
    looks = {(names.backend(b).color, names.backend(b).marker) for b in names.BACKENDS}
    assert len(looks) == len(names.BACKENDS)  # one colour and marker each


def test_the_backends_table_gives_the_disk_index_its_own_line():
    table = sweeps.summary(rows()).set_index("backend")
    assert table.loc["diskann-disk", "disk_MB"] == 5 and table.loc["diskann", "disk_MB"] == 0
    assert table.loc["diskann-disk", "QPS at recall>=0.9"] == 400.0
    assert table.loc["diskann", "QPS at recall>=0.9"] == 7000.0 and table.loc["hnsw", "QPS at recall>=0.9"] == 8000.0


def test_the_backends_table_gives_the_fastest_at_recall_099_and_where_the_build_time_came_from():
    lines = rows()
    lines.loc[lines["backend"] == "hnsw", "build_timing"] = "cached from run 20260101-000001-aaaaaa"
    table = sweeps.summary(lines).set_index("backend")
    assert table.loc["hnsw", "QPS at recall>=0.99"] == 3000.0 and table.loc["hnsw", "parameters at 0.99"] == \
        '{"efSearch": 64}'
    assert table.loc["diskann", "QPS at recall>=0.99"] != table.loc["diskann", "QPS at recall>=0.99"]  # none: NaN
    assert table.loc["hnsw", "build timed"] == "cached from run 20260101-000001-aaaaaa"
    assert table.loc["ivfpq", "build timed"] == "-"  # a row written before the column existed
    assert "| cached from run 20260101-000001-aaaaaa |" in sweeps.markdown(table.reset_index())


def test_a_grid_cell_of_the_disk_index_is_named_and_drawn_as_diskann_on_disk():
    """bench.run's cells name the backend (diskann) and its build parameters apart: the tables'
    Search column, the legends and the style follow the kind its build parameters make."""
    from bench.report import names
    from bench.report.cells import Cell, line_label
    from bench.report.chart import style
    from bench.report.tables import search_labels

    def cell(disk: bool) -> Cell:
        return Cell("effnet", "diskann", "-", {}, {}, ("r",), 1,
                    built_with={"complexity": 64, "disk": disk, "graph_degree": 32})

    memory, disk = cell(False), cell(True)
    assert (memory.kind, disk.kind) == ("diskann", "diskann-disk")
    assert search_labels({**disk.fields, "setting": "-"}, disk)["Search"] == names.backend("diskann-disk").label
    assert search_labels({**memory.fields, "setting": "-"}, memory)["Search"] == names.backend("diskann").label
    assert line_label(disk).endswith(names.backend("diskann-disk").label)
    assert style(disk.method, disk.kind)["marker"] != style(memory.method, memory.kind)["marker"]
