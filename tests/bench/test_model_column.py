"""The results' model column: what a method's ``model_fields()`` writes; rows from before it get the
same fields from their variant string at load time (bench/results/migrate.py); and a generative
method registered as a plugin is named, filed into the ablation tables and drawn from its
description alone, with nothing in bench/report/ knowing it."""
import json
import sys
from types import SimpleNamespace

import pandas as pd
import pytest

from bench.results import COLUMNS, ResultStore, cell_record, model_column
from bench.results.migrate import fields_from_variant
from methods.registry import MethodOptions, make_method

TOY = "tests.bench.toy_generative"
OLD_COLUMNS = [c for c in COLUMNS if c not in ("model", "device", "threads", "timing")]


@pytest.mark.parametrize("name, options, dtype", [
    ("irgen", {}, "fp32"),
    ("irgen", {"identifier": "random", "fresh": 0.5}, "bf16"),
    ("irgen", {"identifier": "rqvae"}, "fp32"),
    ("irgen", {"seq_len": 2, "untrained": True}, "fp32"),
    ("irgen", {"overrides": {"preset": "official"}}, "fp32"),
    ("irgen-enc", {"fresh": 0.5}, "fp32"),
    ("smallcnn", {"backend": "ivfpq", "backend_params": {"nlist": 300}}, "fp32"),
    ("effnet", {"fresh": 1.0}, "fp32"),
    ("clip", {"overrides": {"weights": "openai"}}, "fp32"),
])
def test_an_old_row_gets_the_model_its_method_writes_now(name, options, dtype):
    method = make_method(name, MethodOptions(**options))
    written = json.loads(model_column(method, dtype))
    dataset = SimpleNamespace(name="digits", protocol="paper")
    variant = cell_record(dataset, method, "-", None, 0, dtype)["variant"]  # the old rows' only record of it
    assert fields_from_variant(name, variant, method.features, written.get("input_px")) == written
    assert "input_px" in written and (dtype == "fp32") == ("dtype" not in written)


def old_rows() -> list[dict]:
    key = {"run_id": "20250101-000000-aaaaaa", "dataset": "digits", "protocol": "paper", "limit": "-", "seed": 0,
           "setting": "-", "k": 0}
    return [{**key, "cell_id": "old-irgen", "method": "irgen", "variant": "preset=small,identifier=hkm100,T=4,fresh=0.5",
             "features": "irgen-effnet", "backend": "beam-search", "metric": "input_px", "value": 64.0},
            {**key, "cell_id": "old-irgen", "method": "irgen", "variant": "preset=small,identifier=hkm100,T=4,fresh=0.5",
             "features": "irgen-effnet", "backend": "beam-search", "metric": "qps_batch", "value": 10.0},
            {**key, "cell_id": "old-ftclip", "method": "ftclip", "variant": "size=paper,nlist=300,disk=True",
             "features": "ftclip", "backend": "ivfpq", "metric": "qps_batch", "value": 20.0}]


def test_an_old_results_file_is_read_with_its_model_fields_and_left_as_it_is(tmp_path):
    store = ResultStore(tmp_path)
    pd.DataFrame(old_rows(), columns=OLD_COLUMNS).to_csv(store.table, index=False)
    models = dict(zip(store.load()["cell_id"], store.load()["model"].map(json.loads)))
    assert models["old-irgen"] == {"preset": "small", "encoder": "effnet", "input_px": 64, "identifier": "hkm100",
                                   "T": 4, "fresh": 0.5}
    assert models["old-ftclip"] == {"preset": "paper", "nlist": 300, "disk": True}  # size= is the preset now
    new = {**old_rows()[2], "cell_id": "new", "device": "cpu", "threads": "2", "timing": "-", "model": '{"T": 3}'}
    store.write_cell([new])
    loaded = store.load().set_index("cell_id")["model"].map(json.loads).to_dict()
    assert loaded["new"] == {"T": 3} and loaded["old-ftclip"] == models["old-ftclip"]
    assert pd.read_csv(store.table).set_index("cell_id")["model"].isna().to_dict() == {
        "old-irgen": True, "old-ftclip": True, "new": False}  # the old rows are read, not rewritten


@pytest.fixture
def toy(monkeypatch):
    """The toy generative method registered in this process only."""
    import methods.registry

    monkeypatch.setattr(methods.registry, "METHODS", dict(methods.registry.METHODS))
    monkeypatch.delitem(sys.modules, TOY, raising=False)
    __import__(TOY)


@pytest.mark.e2e
def test_a_generative_plugin_is_named_tabled_and_drawn_from_its_description(tmp_path, toy):
    from bench import report, run
    from bench.report import names
    from bench.report.cells import model_label, read_results, sections_from
    from bench.report.figures import fig5, plane, tradeoff_k
    from bench.report.paper import load_paper
    from bench.report.tables import build_tables

    common = ["--method", "toygen", "--dataset", "digits", "--beam", "1,4", "--k", "1,5", "--no-progress",
              "--results", str(tmp_path / "results"), "--cache", str(tmp_path / "cache")]
    assert run.main(common) == 0 and run.main([*common, "--set", "T=3"]) == 0
    rows = read_results(tmp_path / "results")
    assert {json.dumps(json.loads(m), sort_keys=True) for m in rows["model"]} == {
        '{"T": 2, "bins": 4}', '{"T": 3, "bins": 4}'}  # what the method wrote
    section = sections_from(rows)[0]
    tables = {t.name: t for t in build_tables([section], load_paper())}
    table1 = tables["table1_precision"].blocks[0][1]
    assert set(table1.Search) == {names.backend("prefix-search").label}
    assert set(table1.Model) == {model_label("toygen", {"T": 2, "bins": 4})}  # the headline T only
    assert table1.Model.iloc[0] == "Toy generator (4 levels; T=2)" and table1.Build.iloc[0] == names.MISSING
    table4 = tables["table4_length"].blocks[0][1]
    assert sorted(table4["T"]) == [2, 2, 3, 3] and set(table4.Model) == {"Toy generator (4 levels)"}
    assert not tables["table3_identifier"].blocks  # it has no identifier field
    bars = fig5(section, load_paper(), {}).panels[0]
    assert [s.kind for s in bars.series] == ["stack", "stack"] and bars.series[0].x == ["beam 1", "beam 4"]
    assert bars.spans == [(0, 1, "Toy generator, prefix-search")] and not bars.dividers
    line = plane(section, section.cells, "precision", tradeoff_k(section), {}).panels[0].series[0]
    assert line.thick and line.color == "#000080" and line.x == sorted(line.x)  # its beams along one thick line
    written = report.build(tmp_path / "results", tmp_path / "reports")
    assert tmp_path / "reports" / "table4_length.md" in written
