"""The command lines on CUDA: IRGen's small preset trained on the GPU reaches the CPU run's
P@1; bench.throughput writes its rows; bench.train under torchrun sets up nccl, trains with
bf16 autocast and fused AdamW, and bench.run on the GPU reuses what it trained."""
import os
import subprocess
import sys

import pandas as pd
import pytest

from bench import run, throughput
from tests.distributed.conftest import DATA, IRGEN, REPO

from .common import GPU

pytestmark = [*GPU, pytest.mark.e2e]  # whole commands, torchrun

P1_TOLERANCE = 0.02


def precision_at_1(results) -> float:
    rows = pd.read_csv(results / "results.csv")
    mine = rows[(rows["method"] == "irgen") & (rows["setting"] == "beam=10") & (rows["metric"] == "precision")
                & (rows["k"] == 1)]
    return float(mine["value"].item())


def test_irgen_trained_on_cuda_reaches_the_cpu_precision(tmp_path):
    p1 = {}
    for device in ("cpu", "cuda"):  # a cache each: the trained model's key does not name the device
        where = tmp_path / device
        argv = ["--method", "irgen", "--dataset", "embedded", "--limit", "2000", "--beam", "10", "--k", "1",
                "--device", device, "--results", str(where / "results"), "--cache", str(where / "cache"),
                "--no-progress"]
        assert run.main(argv) == 0
        p1[device] = precision_at_1(where / "results")
    assert p1["cpu"] > 0.3  # a trained model, not chance
    assert abs(p1["cuda"] - p1["cpu"]) <= P1_TOLERANCE, p1


@pytest.mark.parametrize("method", [["--method", "irgen", "--untrained", "--beam", "1,10"],
                                    ["--method", "effnet", "--backend", "linear", "--set", "image_size=64"]])
def test_throughput_on_cuda_writes_its_rows(method, tmp_path):
    argv = [*method, "--dataset", "digits", "--limit", "200", "--batch", "1,16", "--repeats", "2",
            "--warmup", "1", "--device", "cuda", "--results", str(tmp_path / "results"),
            "--cache", str(tmp_path / "cache"), "--no-progress"]
    assert throughput.main(argv) == 0
    rows = pd.read_csv(tmp_path / "results" / "throughput" / "results.csv")
    qps = rows[rows["metric"].isin(["qps_single", "qps_batch"])]
    assert len(qps) >= 2 and (qps["value"] > 0).all()
    assert qps["setting"].str.contains("device=cuda").all()


def torchrun_one_gpu(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
               "-m", module, *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_bench_train_under_torchrun_on_one_gpu(tmp_path):
    cache = ["--cache", str(tmp_path / "cache")]
    trained = torchrun_one_gpu("bench.train", *IRGEN, *DATA, "--device", "cuda", *cache)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "process 0 of 1 (nccl)" in trained.stderr and "bf16 autocast" in trained.stderr
    assert "images/s" in trained.stderr  # both stages' pace, logged
    evaluated = subprocess.run([sys.executable, "-m", "bench.run", *IRGEN, *DATA, "--beam", "1,5", "--k", "1,5",
                                "--device", "cuda", *cache, "--results", str(tmp_path / "results")],
                               cwd=REPO, capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "loaded trained encoder-decoder" in evaluated.stderr
