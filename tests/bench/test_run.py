"""bench.run end to end on sklearn's digits: metrics land in results/, finished cells
are skipped, an interrupted run resumes (bad input, kills and concurrent runs: tests/reliability)."""

import numpy as np
import pandas as pd
import pytest

import bench.cli as bench_cli
import bench.run as run_mod
from bench.definitions import interval_words
from methods.base import Method, Retrieval
from methods.registry import METHODS, MethodSpec

pytestmark = pytest.mark.e2e  # every test runs bench.run end to end

QUICK = ["--dataset", "digits", "--set", "train.epochs=1", "--no-progress", "--k", "1,5"]


def cli(run_dirs, *args):
    results, cache = run_dirs
    return run_mod.main([*args, "--results", str(results), "--cache", str(cache)])


def test_smallcnn_end_to_end_writes_metrics_and_manifest(run_dirs, capsys):
    assert cli(run_dirs, "--method", "smallcnn", *QUICK) == 0
    out = capsys.readouterr().out
    assert "P@1" in out and "MAP@R" in out
    table = pd.read_csv(run_dirs[0] / "results.csv")
    metrics = set(table["metric"])
    assert {"precision", "recall", "mrr", "map_at_r", "r_precision", "qps_batch"} <= metrics
    p1 = table[(table.metric == "precision") & (table.k == 1)]["value"].item()
    assert p1 > 0.5  # ten classes: chance is 0.1
    manifest = next((run_dirs[0] / "manifests").glob("*.json")).read_text()
    for key in ("fingerprint", "commit", "packages", "hardware", "seed", "config"):
        assert key in manifest


def test_second_run_computes_nothing(run_dirs, monkeypatch):
    assert cli(run_dirs, "--method", "smallcnn", *QUICK) == 0
    before = (run_dirs[0] / "results.csv").read_bytes()
    monkeypatch.setattr(run_mod, "ranking_rows", lambda *a, **k: pytest.fail("a finished cell was recomputed"))
    assert cli(run_dirs, "--method", "smallcnn", *QUICK) == 0
    assert (run_dirs[0] / "results.csv").read_bytes() == before


def manifests(results) -> list[dict]:
    import json

    return [json.loads(p.read_text()) for p in sorted((results / "manifests").glob("*.json"))]


def test_backend_params_make_their_own_cell_and_the_manifest_says_what_was_built(run_dirs):
    """--backend-param goes into the variant (an index built with nlist=8 is not the default one) and
    the manifest keeps the parameters the index was built with, every default resolved."""
    for nlist in ("8", "16"):
        assert cli(run_dirs, "--method", "smallcnn", "--backend", "ivfpq", "--backend-param", f"nlist={nlist}",
                   *QUICK) == 0
    table = pd.read_csv(run_dirs[0] / "results.csv")
    assert set(table["variant"]) == {"nlist=8", "nlist=16"}
    built = [m["method"]["backend_built_with"] for m in manifests(run_dirs[0])]
    assert {b["nlist"] for b in built} == {8, 16} and all(b["M"] == 4 and b["nbits"] == 8 for b in built)


def test_fresh_feature_method_trains_without_the_held_out_images_and_indexes_all(run_dirs):
    """Table 6's baselines: --fresh holds the same share of the database out of the feature model's
    training as IRGen's --fresh does (methods/runtime/fresh.py), and the whole database is indexed."""
    assert cli(run_dirs, "--method", "smallcnn", "--fresh", "0.5", *QUICK) == 0
    table = pd.read_csv(run_dirs[0] / "results.csv")
    assert set(table["variant"]) == {"fresh=0.5"}
    assert table[table.metric == "db_items"]["value"].iloc[0] == 901  # the whole database (digits: train = database)
    config = manifests(run_dirs[0])[-1]["method"]["config"]
    assert config["n_held_out"] == round(0.5 * 901) and config["n_train"] == 901 - config["n_held_out"]


class ThreeSettings(Method):
    """A stand-in method with three query settings that can be made to fail on one."""

    name = "fake"
    searched: list = []
    fail_on = None

    def settings(self, n_database):
        return [{"beam": b} for b in (1, 2, 3)]

    def fit(self, dataset, ctx):
        self.n_db = len(dataset.database)

    def index(self, database, ctx):
        pass

    def search(self, query, k, setting, ctx):
        if setting["beam"] == self.fail_on:
            raise KeyboardInterrupt
        ThreeSettings.searched.append(setting["beam"])
        ids = np.tile(np.arange(k) % self.n_db, (len(query), 1))
        return Retrieval(ids=ids, timings={"search": 0.01})

    def search_batch(self, query, rows, k, setting, ctx, stopwatch):
        """The timed query path (bench.run's queries/s): not counted as a searched cell."""
        return np.tile(np.arange(k) % self.n_db, (len(rows), 1))


def fake_method(monkeypatch):
    """``--method fake``: described (it takes no method flag), built as ThreeSettings."""
    monkeypatch.setitem(METHODS, "fake", MethodSpec("fake", __name__, "three settings"))
    monkeypatch.setattr(bench_cli, "make_method", lambda name, options: ThreeSettings())


def test_interrupted_run_keeps_finished_cells_and_resumes(run_dirs, monkeypatch):
    fake_method(monkeypatch)
    ThreeSettings.searched, ThreeSettings.fail_on = [], 2
    assert cli(run_dirs, "--method", "fake", *QUICK) == 130
    assert ThreeSettings.searched == [1]
    assert set(pd.read_csv(run_dirs[0] / "results.csv")["setting"]) == {"beam=1"}
    ThreeSettings.searched, ThreeSettings.fail_on = [], None
    assert cli(run_dirs, "--method", "fake", *QUICK) == 0
    assert ThreeSettings.searched == [2, 3]  # beam=1 was not repeated
    assert set(pd.read_csv(run_dirs[0] / "results.csv")["setting"]) == {"beam=1", "beam=2", "beam=3"}


def test_deleting_one_result_row_recomputes_only_its_cell(run_dirs, monkeypatch):
    fake_method(monkeypatch)
    ThreeSettings.searched, ThreeSettings.fail_on = [], None
    assert cli(run_dirs, "--method", "fake", *QUICK) == 0
    table = pd.read_csv(run_dirs[0] / "results.csv", dtype=str, keep_default_na=False)
    line = table.index[(table.setting == "beam=2") & (table.metric == "recall")][0]
    table.drop(index=line).to_csv(run_dirs[0] / "results.csv", index=False)
    ThreeSettings.searched = []
    assert cli(run_dirs, "--method", "fake", *QUICK) == 0
    assert ThreeSettings.searched == [2]
    assert len(pd.read_csv(run_dirs[0] / "results.csv")) == len(table)


def test_force_recomputes(run_dirs, monkeypatch):
    fake_method(monkeypatch)
    ThreeSettings.searched, ThreeSettings.fail_on = [], None
    assert cli(run_dirs, "--method", "fake", *QUICK) == 0
    assert cli(run_dirs, "--method", "fake", *QUICK, "--force") == 0
    assert ThreeSettings.searched == [1, 2, 3, 1, 2, 3]
    assert len(pd.read_csv(run_dirs[0] / "results.csv").query("metric == 'precision' and k == 1")) == 3


@pytest.mark.parametrize("backend", ["linear", "faiss-flat", "ivfpq", "scann", "spann", "hnsw", "diskann"])
def test_sweep_makes_one_cell_per_point_of_the_grid_known_before_the_build(run_dirs, backend):
    """--sweep takes the backend's query grid from the database size and the build parameters alone,
    and the built index agrees with it."""
    from methods.backends import BackendUnavailable, backend_class, make_backend

    params = {"nlist": 8} if backend == "ivfpq" else {}
    try:
        make_backend(backend).close()
    except BackendUnavailable as e:
        pytest.skip(str(e))
    extra = [f"--backend-param=nlist={params['nlist']}"] if params else []
    assert cli(run_dirs, "--method", "smallcnn", "--backend", backend, "--sweep", *extra, *QUICK) == 0
    table = pd.read_csv(run_dirs[0] / "results.csv", keep_default_na=False)
    grid = backend_class(backend).grid_for(901, params)  # digits' database: 901 images
    labels = {",".join(f"{k}={v}" for k, v in sorted(point.items())) or "-" for point in grid}
    assert set(table["setting"]) == labels
    assert len(grid) > 1 or backend in ("linear", "faiss-flat", "scann")  # scann at this size: brute force
    import numpy as np

    built = make_backend(backend, **params)
    built.build(np.random.default_rng(0).standard_normal((901, 16)).astype(np.float32))
    try:
        assert built.query_grid() == grid
    finally:
        built.close()


def test_bf16_runs_say_so_in_their_variant_and_are_cells_of_their_own(run_dirs):
    assert cli(run_dirs, "--method", "smallcnn", *QUICK) == 0
    assert cli(run_dirs, "--method", "smallcnn", "--dtype", "bf16", *QUICK) == 0
    table = pd.read_csv(run_dirs[0] / "results.csv", keep_default_na=False)
    assert set(table["variant"]) == {"-", "dtype=bf16"} and table["cell_id"].nunique() == 2
    p1 = table[(table.metric == "precision") & (table.k == 1)].set_index("variant")["value"]
    assert abs(p1["-"] - p1["dtype=bf16"]) < 0.05  # the same model, its features computed in bf16


# ---------------------------------------------------------------- rankings kept, seeds

def report(run_dirs, *args) -> int:
    from bench.report.__main__ import main as report_main

    return report_main(["--results", str(run_dirs[0]), "--reports", str(run_dirs[0].parent / "reports"),
                        "--no-progress", *args])


def test_every_cell_keeps_its_ranking_and_recompute_reproduces_every_row(run_dirs):
    from bench.rankings import read_items, read_ranking, ranking_path

    assert cli(run_dirs, "--method", "smallcnn", "--backend", "ivfpq", "--backend-param", "nlist=8", *QUICK) == 0
    table = pd.read_csv(run_dirs[0] / "results.csv")
    cell_id = table["cell_id"].unique().item()
    ranking = read_ranking(ranking_path(run_dirs[0], cell_id))
    assert ranking.ids.shape == (896, 100) and ranking.ids.dtype == np.int32  # digits' queries, --depth 100
    found = ranking.ids >= 0
    assert ranking.scores.shape == ranking.ids.shape and (np.isinf(ranking.scores) == ~found).all()
    assert all((np.diff(row[ok]) >= 0).all() for row, ok in zip(ranking.scores, found))  # distances, nearest first
    items = read_items(run_dirs[0], ranking.items)
    assert len(items.query_origins) == 896 and items.query_origins[0].startswith("test[")
    manifest = manifests(run_dirs[0])[-1]
    assert manifest["rankings"]["items"] == f"rankings/items/{manifest['dataset']['fingerprint']}.npz"
    before = (run_dirs[0] / "results.csv").read_bytes()
    assert report(run_dirs, "--recompute", "--check") == 0
    assert report(run_dirs, "--recompute") == 0
    assert (run_dirs[0] / "results.csv").read_bytes() == before  # every row, bit for bit
    assert (run_dirs[0].parent / "reports" / "intervals.csv").exists()


def test_seeds_train_once_each_on_the_same_queries(run_dirs, capsys):
    assert cli(run_dirs, "--method", "smallcnn", *QUICK, "--limit", "200", "--seeds", "0,1,2") == 0
    assert interval_words("t", 3) in capsys.readouterr().out
    table = pd.read_csv(run_dirs[0] / "results.csv")
    assert sorted(table["seed"].unique()) == [0, 1, 2] and set(table["data_seed"]) == {0}
    assert table["cell_id"].nunique() == 3
    runs = manifests(run_dirs[0])
    assert len({m["dataset"]["fingerprint"] for m in runs}) == 1  # one subset for every seed
    assert {m["seed"] for m in runs} == {0, 1, 2} and {m["data_seed"] for m in runs} == {0}
    p1 = table[(table.metric == "precision") & (table.k == 1)]["value"]
    assert p1.nunique() > 1  # three trainings, three models
    # seed 0 of --seeds is the cell --seed 0 computes: nothing to do
    assert cli(run_dirs, "--method", "smallcnn", *QUICK, "--limit", "200", "--seed", "0") == 0
    assert len(manifests(run_dirs[0])) == 3


def test_a_method_that_trains_nothing_runs_once_for_several_seeds(run_dirs, monkeypatch, caplog):
    import logging
    import sys

    import methods.registry as registry

    caplog.set_level(logging.INFO, logger="bench.run")
    monkeypatch.setenv("IRGEN_PLUGINS", "tests.bench.toy_method")
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))  # the toy's registration ends with the test
    monkeypatch.delitem(sys.modules, "tests.bench.toy_method", raising=False)  # imported (and registered) afresh
    assert cli(run_dirs, "--method", "toy", "--dataset", "digits", "--no-progress", "--k", "1",
               "--seeds", "0,1,2") == 0
    table = pd.read_csv(run_dirs[0] / "results.csv")
    assert table["cell_id"].nunique() == 1 and set(table["seed"]) == {0}
    assert "toy trains nothing" in caplog.text


def test_irgen_cells_say_what_their_identifiers_are_worth(run_dirs):
    from bench.rankings import read_ranking, ranking_path
    from tests.distributed.conftest import IRGEN

    assert cli(run_dirs, *IRGEN, "--dataset", "digits", "--limit", "300", "--no-progress", "--beam", "1,5",
               "--k", "1,5") == 0
    table = pd.read_csv(run_dirs[0] / "results.csv")
    for cell_id, cell in table.groupby("cell_id"):
        values = {(m, k): v for m, k, v in zip(cell["metric"], cell["k"], cell["value"])}
        assert values[("id_beams_invalid", 0)] == 0 and values[("id_beams_repeated", 0)] == 0
        assert values[("id_images_mean", 0)] == 300 / values[("n_identifiers", 0)]
        assert values[("id_fanout_mean", 1)] > 1 and 0 <= values[("bound_precision", 1)] <= 1
        ranking = read_ranking(ranking_path(run_dirs[0], cell_id))
        assert ranking.bound_ids.shape == ranking.ids.shape
        finite = np.isfinite(ranking.scores)
        assert (finite == (ranking.ids >= 0)).all() and (ranking.scores[finite] <= 0).all()  # log-probabilities
    assert report(run_dirs, "--recompute", "--check") == 0
