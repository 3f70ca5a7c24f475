"""The embedded defaults: Fashion-MNIST (IDX files) and scikit-learn's digits."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from datasets import DatasetError, load_batch, load_dataset
from datasets.embedded import FASHION_MNIST_DIR, fashion_mnist_available


def write_idx(path, array: np.ndarray, gz: bool = True) -> None:
    data = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.fixture
def tiny_fashion(tmp_path):
    """Fashion-MNIST's four IDX files (gzipped, one not), 12 train and 6 test images of 28x28."""
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (12, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(12) % 10)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (6, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.array([9, 0, 1, 2, 3, 4]), gz=False)
    return folder


def test_tiny_fashion_mnist_loads(tiny_fashion):
    ds = load_dataset("fashion-mnist", root=tiny_fashion.parent)
    assert (len(ds.train), len(ds.database), len(ds.query)) == (12, 12, 6)
    assert ds.query.labels.tolist() == [9, 0, 1, 2, 3, 4] and ds.n_classes == 10
    assert load_batch(ds.query, [0, 1], 32).shape == (2, 3, 32, 32)
    img, label = ds.train[3]
    assert img.size == (28, 28) and img.mode == "RGB" and label == 3


@pytest.mark.parametrize("content", [
    pytest.param(b"not gzip at all", id="not-gzip"),
    pytest.param(gzip.compress(b"\x00\x00\x0d\x03" + struct.pack(">3I", 12, 28, 28), mtime=0), id="float-idx"),
    pytest.param(gzip.compress(b"\x00\x00\x08\x03" + struct.pack(">3I", 12, 28, 28) + b"\x00" * 100, mtime=0),
                 id="cut-short"),
    pytest.param(gzip.compress(b"\x00\x00", mtime=0), id="header-cut-short"),
])
def test_corrupted_idx_file(tiny_fashion, content):
    (tiny_fashion / "train-images-idx3-ubyte.gz").write_bytes(content)
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz") as e:
        load_dataset("fashion-mnist", root=tiny_fashion.parent)
    assert "\n" not in str(e.value)


def test_missing_idx_file(tiny_fashion):
    (tiny_fashion / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte"):
        load_dataset("fashion-mnist", root=tiny_fashion)


@pytest.mark.skipif(not fashion_mnist_available(), reason=f"Fashion-MNIST not installed at {FASHION_MNIST_DIR} "
                    "(apt-get install dataset-fashion-mnist)")
def test_installed_fashion_mnist(monkeypatch):
    monkeypatch.delenv("IRGEN_DATA_ROOT", raising=False)
    ds = load_dataset("fashion-mnist")  # no root: the Debian package's folder
    assert (len(ds.train), len(ds.database), len(ds.query)) == (60000, 60000, 10000)
    assert ds.n_classes == 10 and set(np.unique(ds.query.labels)) == set(range(10))
    assert ds.train.source.array.shape == (60000, 28, 28)
    dml = load_dataset("fashion-mnist", root=FASHION_MNIST_DIR, protocol="dml")
    assert len(dml.train) + len(dml.query) == 70000
    assert set(dml.train.labels) == set(range(5)) and set(dml.query.labels) == set(range(5, 10))


def test_digits():
    ds = load_dataset("digits")
    assert ds.n_classes == 10
    assert len(ds.train) + len(ds.query) == 1797 and ds.database is not ds.query
    assert set(ds.train.labels) == set(ds.query.labels) == set(range(10))
    assert ds.fingerprint == load_dataset("digits").fingerprint
    batch = load_batch(ds.query, np.arange(4), 24)
    assert batch.shape == (4, 3, 24, 24) and batch.dtype.is_floating_point is False


def test_digits_dml_and_limit():
    ds = load_dataset("digits", protocol="dml", limit=100, seed=3)
    assert ds.query_in_database and len(ds.train) == len(ds.query) == 100
    assert set(ds.train.labels) <= set(range(5)) and set(ds.query.labels) <= set(range(5, 10))
    assert ds.fingerprint == load_dataset("digits", protocol="dml", limit=100, seed=3).fingerprint
    assert ds.fingerprint != load_dataset("digits", protocol="dml", limit=100, seed=4).fingerprint
