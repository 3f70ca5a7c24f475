"""Every time measured, on the device it names: one timer (methods/runtime/timing.py), queries/s as the
median whole-batch time (the plane draws exactly that), the device and threads in every key, and
no cached step's seconds reported as a measurement of the run that reuses them."""
import numpy as np
import pandas as pd
import pytest
import torch

import bench.run as run_mod
from bench.report import site
from bench.report.cells import sections_from
from bench.results import cell_record
from bench.speed.query_timing import PROFILED_BATCHES, TIMED_BATCHES, query_rows, timed_batches
from methods.backends.linear import LinearBackend
from methods.base import Method, RunContext
from methods.features.feature_search import FeatureSearch
from methods.runtime import timing
from methods.runtime.files import digest

QUICK = ["--dataset", "digits", "--set", "train.epochs=1", "--no-progress", "--k", "1,5", "--limit", "300"]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Batches:
    """A query split of n images."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n


class TimedMethod(Method):
    """search_batch takes the next of ``seconds`` on the fake clock (half of it a stage "feature")."""

    name = "timed"

    def __init__(self, clock: FakeClock, seconds: list[float]):
        super().__init__()
        self.clock, self.seconds = clock, list(seconds)

    def fit(self, dataset, ctx): ...

    def index(self, database, ctx): ...

    def search(self, query, k, setting, ctx): ...

    def search_batch(self, query, rows, k, setting, ctx, stopwatch):
        step = self.seconds.pop(0)
        with stopwatch("feature"):
            self.clock.now += step / 2
        self.clock.now += step / 2
        return np.zeros((len(rows), k), np.int64)


def test_the_planes_qps_for_a_cell_is_the_median_whole_batch_time_it_measured(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    # 4 full batches of 10 (the 5 left over are not timed), timed once each, then the first 2 profiled
    method = TimedMethod(clock, [1.0, 4.0, 2.0, 3.0] + [9.0] * 4)
    rows = query_rows(method, Batches(45), 5, {}, RunContext(), batch=10)
    values = {m: v for m, _, v in rows}
    assert values["batch_s"] == 2.5 and values["qps_batch"] == 10 / 2.5  # median of 1, 4, 2, 3
    assert values["ms_per_query_total"] == 250.0 and values["ms_per_query_feature"] == 450.0  # the profile
    assert values["timed_batches"] == 4
    key = dict(dataset="digits", protocol="paper", limit="-", seed=0, method="effnet", variant="-",
               features="effnet", backend="linear", setting="-", device="cpu", threads="2", model="{}")
    table = [{**key, "run_id": "r", "cell_id": "c", "metric": m, "k": k, "value": v, "timing": "measured"}
             for m, k, v in rows + [("precision", 1, 0.5)]]
    section = sections_from(pd.DataFrame(table))[0]
    plane = site.plane_chart(section, {})
    trace = plane["views"][0]["data"][0]
    assert trace["x"] == [pytest.approx(10 / 2.5)]


def test_bench_run_times_a_bounded_sample_of_batches_spread_over_the_split():
    assert PROFILED_BATCHES <= TIMED_BATCHES
    batches = timed_batches(10_000, 128)  # 78 full batches
    assert len(batches) == TIMED_BATCHES and all(len(b) == 128 for b in batches)
    assert batches[0][0] == 0 and batches[-1][-1] == 78 * 128 - 1  # first and last full batch
    starts = [int(b[0]) for b in batches]
    assert starts == sorted(set(starts))  # no batch twice
    assert [len(b) for b in timed_batches(45, 10)] == [10] * 4  # fewer batches: every full one
    assert [len(b) for b in timed_batches(7, 128)] == [7]  # fewer queries than a batch: one of all
    assert [int(b[0]) for b in timed_batches(10_000, 128, most=3)] == [0, 38 * 128, 77 * 128]  # --timed-batches


def test_the_total_loop_waits_on_the_device_only_at_its_ends_and_the_profile_at_every_stage():
    syncs = []
    timer = timing.Timer(repeats=3, warmup=1, sync=lambda: syncs.append(1))

    def run(watch):
        for stage in ("encoder", "decoder", "masks"):
            with watch(stage):
                pass

    assert len(timer.batch_seconds(run)) == 3
    assert len(syncs) == 2 * 3  # both ends of each timed repeat; none inside, none in the warm-up
    syncs.clear()
    assert set(timer.profile(run)) == {"encoder", "decoder", "masks"}
    assert len(syncs) == 2 * 3 * 4  # both ends of every stage, warm-up included


def test_cuda_stopwatches_and_backend_searches_synchronise_at_both_ends(monkeypatch):
    syncs = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: syncs.append(1))
    with RunContext(device="cuda").stopwatch()("encoder"):
        pass
    assert len(syncs) == 2

    class HostBackend(LinearBackend):  # the linear scan's code, run on the host, named cuda
        def _build(self, X):
            self.device = "cpu"
            super()._build(X)
            self.device = "cuda"

        def _search(self, Q, k):
            self.device = "cpu"
            try:
                return super()._search(Q, k)
            finally:
                self.device = "cuda"

    backend = HostBackend(device="cuda")
    backend.build(np.eye(4, dtype=np.float32))
    syncs.clear()
    backend.search(np.eye(4, dtype=np.float32), 2)
    assert len(syncs) == 2 and backend.last_search_s > 0


def test_cell_keys_differ_by_device_dtype_and_threads():
    class DS:
        name, protocol = "digits", "paper"

    method = Method.__new__(TimedMethod)
    Method.__init__(method)
    records = [cell_record(DS, method, "-", None, 0, dtype, device, threads)
               for dtype, device, threads in (("fp32", "cpu", 2), ("fp32", "cuda:0", 2), ("bf16", "cpu", 2),
                                              ("fp32", "cpu", 4))]
    assert len({digest(r) for r in records}) == 4
    assert records[1]["device"] == "cuda" and records[3]["threads"] == "4"


def test_the_feature_cache_key_names_device_dtype_and_threads(tmp_path, monkeypatch):
    from methods.features import cache

    class Model:
        name = "m"

        def identity(self):
            return {"name": "m"}

        def embed(self, split, ctx, batch_size=256):
            return np.zeros((len(split), 2), np.float32)

    class Split:
        name = "database"

        def __len__(self):
            return 3

        def digest(self):
            return "d"

    def extracted(**ctx):
        return cache.cached_features(Model(), Split(), RunContext(cache_dir=tmp_path, run_id="A", **ctx))[1]

    assert extracted().source == "measured"
    assert extracted().source == "cached from run A"
    assert extracted(dtype="bf16").source == "measured"
    monkeypatch.setattr(cache, "threads", lambda: 97)
    assert extracted().source == "measured"


@pytest.mark.e2e
def test_a_cached_run_reports_no_time_as_fresh(tmp_path, monkeypatch):
    """Two runs, two results folders, one cache: the second run's extraction and build seconds are
    the first run's, labelled so; its queries/s is timed again from the images."""
    cache = ["--cache", str(tmp_path / "cache")]
    assert run_mod.main(["--method", "smallcnn", *QUICK, "--results", str(tmp_path / "r1"), *cache]) == 0
    timed = []
    original = FeatureSearch.search_batch
    monkeypatch.setattr(FeatureSearch, "search_batch", lambda self, *a: timed.append(1) or original(self, *a))
    assert run_mod.main(["--method", "smallcnn", *QUICK, "--results", str(tmp_path / "r2"), *cache]) == 0
    first, second = (pd.read_csv(tmp_path / r / "results.csv").set_index("metric") for r in ("r1", "r2"))
    first_run = first["run_id"].iloc[0]
    for metric in ("feature_extract_s", "build_s"):
        assert first.loc[metric, "timing"] == "measured"
        assert second.loc[metric, "timing"] == f"cached from run {first_run}"
        assert second.loc[metric, "value"] == first.loc[metric, "value"]
    assert timed  # the query path ran again in the second run
    for metric in ("qps_batch", "batch_s", "ms_per_query_feature", "fit_s"):
        assert second.loc[metric, "timing"] == "measured" and second.loc[metric, "value"] > 0
    assert (second["run_id"] != first_run).all()
