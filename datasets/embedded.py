"""The embedded defaults: Fashion-MNIST (Debian's ``dataset-fashion-mnist``) and
scikit-learn's bundled ``digits``; neither needs a download at run time."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from . import Layout, register
from .base import ArraySource, DatasetError, Split, array_origins

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    candidates = [path, path.with_name(path.name + ".gz")]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise DatasetError(
            f"fashion-mnist: {path}(.gz) not found; install it with `apt-get install dataset-fashion-mnist` "
            f"or pass --data-root pointing at the four IDX files"
        )
    opener = gzip.open if found.suffix == ".gz" else open
    try:
        with opener(found, "rb") as f:
            data = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, ValueError, struct.error, EOFError) as e:
        raise DatasetError(f"fashion-mnist: {found} is not a valid IDX file ({e}); reinstall dataset-fashion-mnist") from None


def read_fashion_mnist(folder: Path) -> dict[str, Split]:
    parts = {}
    for part, (images, labels) in FASHION_FILES.items():
        x, y = read_idx(folder / images), read_idx(folder / labels)
        parts[part] = Split(part, ArraySource(x, array_origins(part, len(x))), y.astype(np.int64))
    return parts


def read_digits(_folder: Path) -> dict[str, Split]:
    """sklearn's 1,797 8x8 digits, scaled to 0..255, split 50/50 per class with a fixed seed."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    is_test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        is_test[members[: len(members) // 2]] = True
    return {part: Split(part, ArraySource(x[mask], array_origins(part, int(mask.sum()))), y[mask])
            for part, mask in (("train", ~is_test), ("test", is_test))}


def fashion_mnist_available(folder: str | Path = FASHION_MNIST_DIR) -> bool:
    folder = Path(folder)
    return all(
        (folder / n).is_file() or (folder / f"{n}.gz").is_file() for pair in FASHION_FILES.values() for n in pair
    )


register(Layout(
    name="fashion-mnist",
    subdir="fashion-mnist",
    expected="train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz",
    source="Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
    read=read_fashion_mnist,
    train=("train",), database=("train",), query=("test",),
    default_root=FASHION_MNIST_DIR,
))

register(Layout(
    name="digits",
    subdir="digits",
    expected="nothing (bundled with scikit-learn)",
    source="scikit-learn (sklearn.datasets.load_digits)",
    read=read_digits,
    train=("train",), database=("train",), query=("test",),
    default_root=".",
))
