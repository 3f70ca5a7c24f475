"""The parts that touch a device, on CUDA against the CPU: k-means++ (its draws are the CPU's),
the linear scan, load_batch's device path, fused AdamW, and every feature model's bf16
features against its fp32 CPU ones."""
import numpy as np
import pytest
import torch
from PIL import Image

from datasets import FileSource, Split, load_batch, load_dataset
from datasets.base import device_batch
from methods.backends import make_backend
from methods.base import RunContext
from methods.features import feature_methods, feature_model_classes
from methods.irgen.tokenizer import kmeans, kmeans_plus_plus, nearest
from methods.runtime.overrides import override
from methods.runtime.rng import cpu_generator
from methods.runtime.training import TrainConfig, make_optimizer

from .common import GPU, cosine_rows

pytestmark = GPU


def test_kmeans_plus_plus_picks_the_cpu_points_on_cuda():
    x = torch.randn(5000, 16, generator=cpu_generator(0))
    on_cpu = kmeans_plus_plus(x, 64, cpu_generator(3))
    assert torch.equal(kmeans_plus_plus(x.cuda(), 64, cpu_generator(3)).cpu(), on_cpu)

    def fit_error(device):
        return float(nearest(x, kmeans(x.to(device), 64, 5, seed=3).cpu())[1].mean())

    # Lloyd's steps from that start: a point on a tie may land elsewhere, the fit is as good
    assert fit_error("cuda") == pytest.approx(fit_error("cpu"), rel=1e-3)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_linear_scan_on_cuda_returns_the_cpu_neighbours(metric):
    rng = np.random.default_rng(0)
    X, Q = rng.standard_normal((50_000, 64), dtype=np.float32), rng.standard_normal((300, 64), dtype=np.float32)
    answers = []
    for device in ("cpu", "cuda"):
        backend = make_backend("linear", metric=metric, device=device)
        backend.build(X)
        answers.append(backend.search(Q, 10))
    (ids, dists), (cuda_ids, cuda_dists) = answers
    np.testing.assert_allclose(cuda_dists, dists, rtol=1e-4, atol=1e-4)
    differ = cuda_ids != ids  # only neighbours whose distances tie to float rounding may swap
    assert differ.mean() < 0.001 and np.allclose(cuda_dists[differ], dists[differ], atol=1e-5)


def test_load_batch_on_cuda_is_the_cpu_batch_within_a_rounding(tmp_path):
    arrays = load_dataset("digits", limit=64).query
    photos = []
    for i, shape in enumerate([(40, 70, 3), (90, 50, 3), (33, 33, 3)]):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, shape, dtype=np.uint8)).save(tmp_path / f"{i}.png")
        photos.append(f"{i}.png")
    files = Split("f", FileSource(tmp_path, photos), np.arange(3))
    for split in (arrays, files):
        idx = np.arange(min(40, len(split)))
        for size in (8, 32, 64):
            on_cuda = load_batch(split, idx, size, device="cuda")
            assert on_cuda.is_cuda and on_cuda.dtype == torch.uint8
            on_cpu = device_batch(split.source, idx, size, "cpu")  # the same resizing, on the CPU
            assert (on_cuda.cpu().int() - on_cpu.int()).abs().max() <= 1


def test_adamw_is_fused_for_parameters_on_cuda():
    net = torch.nn.Linear(4, 2)
    assert not make_optimizer([(list(net.parameters()), 1e-3)], TrainConfig()).defaults["fused"]
    assert make_optimizer([(list(net.cuda().parameters()), 1e-3)], TrainConfig()).defaults["fused"]


# quick settings: one training step for the models that train, a small input for EfficientNet
QUICK = {"effnet": {"image_size": 64}, "smallcnn": {"train.epochs": 0.01}, "cgd": {"train.epochs": 0.01},
         "irt": {"train.epochs": 0.01}, "ftclip": {"train.epochs": 0.01}}


@pytest.mark.parametrize("name", feature_methods())
def test_bf16_features_on_cuda_match_fp32_on_the_cpu(name, tmp_path):
    model_cls, cfg_cls = feature_model_classes(name)
    model = model_cls(override(cfg_cls(), QUICK.get(name, {})))
    ds = load_dataset("digits", limit=128)
    model.fit(ds.train, RunContext(cache_dir=tmp_path, progress=False))
    model.eval_mode()
    x = model.normalise(load_batch(ds.query, np.arange(32), model.image_size), "cpu")
    with torch.no_grad():
        on_cpu = model.encode(x)
        for module in model.modules():
            module.to("cuda")
        with torch.autocast("cuda", dtype=torch.bfloat16):
            on_cuda = model.encode(x.cuda())
    assert cosine_rows(on_cuda.float(), on_cpu).min() >= 0.99
