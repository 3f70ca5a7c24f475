"""The catalogue, files on disk: a damaged dataset folder, weights file or cache file is exit
code 2 and one line naming the file and what to do, and a replaced image is noticed."""
from __future__ import annotations

import pytest
import torch

from methods.features.res101 import RESNET101_WEIGHTS
from tests.backends.common import make_or_skip
from tests.datasets.conftest import build_cub200, rewrite
from tests.malicious import RunsCode

from .conftest import ONE_EPOCH, QUICK

CUB = ["--dataset", "cub200", "--k", "1,2", "--no-progress", *ONE_EPOCH]


@pytest.fixture
def cub(tmp_path):
    """A CUB-200-2011 miniature in the official layout: 7 train (= database) and 5 test images."""
    return build_cub200(tmp_path / "data")


def cub_args(cub) -> list[str]:
    return [*CUB, "--data-root", str(cub.root)]


@pytest.mark.parametrize("name", ["split", "labels", "images"])
def test_cub200_annotation_file_missing(runs, cub, name):
    cub.files[name].unlink()
    runs.fails(*cub_args(cub), naming=(str(cub.files[name]), "not found", "official dataset: CUB-200-2011"))


def test_cub200_image_missing(runs, cub):
    cub.image.unlink()
    runs.fails(*cub_args(cub), naming=(str(cub.image), "is missing", "images.txt"))


def test_cub200_malformed_label_line(runs, cub):
    rewrite(cub.files["labels"], lambda lines: lines[:-1] + ["12 2 7"])
    runs.fails(*cub_args(cub), naming=(str(cub.files["labels"]), "line 12 does not parse", "'12 2 7'",
                                       "expected lines '<image_id> <class_id 1..200>'"))


def test_cub200_truncated_jpeg(runs, cub):
    cub.image.write_bytes(cub.image.read_bytes()[:40])
    runs.fails(*cub_args(cub), naming=(str(cub.image), "cannot be read", "replace it with the official file"))


@pytest.mark.e2e
def test_an_image_replaced_after_a_run_is_not_taken_for_done(runs, cub):
    """The cell is keyed on the files' sizes and times: the next run reads the image again."""
    assert runs.code(*cub_args(cub)) == 0
    cub.image.write_bytes(cub.image.read_bytes()[:40])
    runs.fails(*cub_args(cub), naming=(str(cub.image), "cannot be read"))


@pytest.mark.e2e
def test_spann_on_a_database_too_small_for_sptag(runs, cub):
    make_or_skip("spann").close()
    runs.fails(*cub_args(cub), "--method", "smallcnn", "--backend", "spann",
               naming=("spann", "7 database vectors", "at least 13", "--limit", "--backend linear"))


def test_weights_file_missing(runs, tmp_path):
    runs.fails(*QUICK, "--method", "res101", "--set", "preset=paper", "--weights", str(tmp_path),
               naming=(str(tmp_path / RESNET101_WEIGHTS.names[0]), "not found", RESNET101_WEIGHTS.url,
                       "--weights DIR", "--set preset=small"))


def test_weights_file_corrupt(runs, tmp_path):
    (tmp_path / RESNET101_WEIGHTS.names[0]).write_bytes(b"<html>404 not found</html>")
    runs.fails(*QUICK, "--method", "res101", "--set", "preset=paper", "--weights", str(tmp_path),
               naming=(str(tmp_path / RESNET101_WEIGHTS.names[0]), "cannot be read", "replace it with the official file"))


@pytest.mark.e2e
def test_cache_file_that_would_run_code_is_refused_then_recomputed_once_deleted(runs, tmp_path):
    assert runs.code(*QUICK, *ONE_EPOCH) == 0
    (model,) = (runs.cache / "models").glob("smallcnn-*.pt")
    marker = tmp_path / "code-ran"
    torch.save({"conv.weight": torch.zeros(1), "x": RunsCode(marker)}, model)
    runs.results = tmp_path / "other-results"  # the cell is not done there: the model is loaded
    runs.fails(*QUICK, *ONE_EPOCH, naming=(f"cache file {model}", "cannot be read as tensors", "delete it"))
    assert not marker.exists()
    model.unlink()
    assert runs.code(*QUICK, *ONE_EPOCH) == 0
    assert model.exists()
