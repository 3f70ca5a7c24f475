"""What is searched: a dataset is three splits of labelled images plus a fingerprint.

A split holds its images either in memory (an array, e.g. Fashion-MNIST) or as
files on disk (every official layout); both give ``split[i] -> (PIL image, label)``
and ``load_batch(split, indices, size, device)`` gives a uint8 tensor batch for the models,
resized on the CPU or on the device; ``iter_batches`` streams a whole split, the next
batch loading in the background.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


class DatasetError(Exception):
    """A dataset is missing or malformed; the message names the thing and the fix."""


def unreadable_image(path: Path, error: OSError) -> DatasetError:
    """The one-line answer to an image file that is missing or cannot be read."""
    if isinstance(error, FileNotFoundError):
        return DatasetError(f"image file {path} is missing: restore it from the official dataset archive")
    return DatasetError(f"image file {path} cannot be read ({error.__class__.__name__}): "
                        f"replace it with the official file")


class ImageSource:
    """Where a split's pixels come from. Subclasses: ArraySource, FileSource."""

    def __len__(self) -> int:
        raise NotImplementedError

    def pil(self, i: int) -> Image.Image:
        raise NotImplementedError

    def subset(self, indices: np.ndarray) -> "ImageSource":
        raise NotImplementedError

    def digest(self) -> str:
        """A stable hash of what the source points at (pixel bytes, or file paths, sizes and times)."""
        raise NotImplementedError

    def origins(self) -> list[str]:
        """Where each image sits in the dataset's official files (``image_at`` opens it again):
        a file's path under the dataset folder, an array image's ``<part>[<index>]``."""
        raise NotImplementedError


@dataclass
class ArraySource(ImageSource):
    """Images held in memory: uint8 (n, H, W) grayscale or (n, H, W, 3) RGB. ``origin`` names
    each image's part and index in it (``array_origins``); without it, ``[i]``: row i of this array."""

    array: np.ndarray
    origin: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.array)

    def pil(self, i: int) -> Image.Image:
        return Image.fromarray(self.array[i]).convert("RGB")

    def subset(self, indices: np.ndarray) -> "ArraySource":
        return ArraySource(self.array[indices], None if self.origin is None else self.origin[indices])

    def origins(self) -> list[str]:
        return (self.origin if self.origin is not None else array_origins("", len(self))).tolist()

    def digest(self) -> str:
        return hashlib.sha1(np.ascontiguousarray(self.array).tobytes()).hexdigest()


@dataclass
class FileSource(ImageSource):
    """Images as files; ``paths`` are relative to ``root`` so the fingerprint is portable."""

    root: Path
    paths: list[str]
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.paths)

    def pil(self, i: int) -> Image.Image:
        path = Path(self.root) / self.paths[i]
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except OSError as e:  # FileNotFoundError and PIL's UnidentifiedImageError among them
            raise unreadable_image(path, e) from None

    def subset(self, indices: np.ndarray) -> "FileSource":
        return FileSource(self.root, [self.paths[i] for i in indices])

    def origins(self) -> list[str]:
        return list(self.paths)

    def digest(self) -> str:
        """A hash of every file's relative path, size in bytes and modification time (whole seconds).

        It sees an image replaced, truncated or rewritten in place for the cost of one ``stat``
        per file, no reads (0.5 s per 100,000 files with the folder in the page cache), and is
        taken once per source. It misses a rewrite that keeps both the size and the time (within
        the same second, or with the time set back). The data root is not part of it: a copy that
        keeps times (``cp -a``, ``rsync -a``) keeps the fingerprint, one that does not (plain
        ``cp``) changes it, and the cells are computed again.
        """
        if self._digest is None:
            self._digest = hashlib.sha1("\n".join(map(self._stamp, self.paths)).encode()).hexdigest()
        return self._digest

    def _stamp(self, rel: str) -> str:
        """``path<TAB>size<TAB>mtime`` of one image file."""
        path = os.path.join(self.root, rel)
        try:
            st = os.stat(path)
        except OSError as e:
            raise unreadable_image(Path(path), e) from None
        return f"{rel}\t{st.st_size}\t{st.st_mtime_ns // 1_000_000_000}"


def array_origins(part: str, n: int) -> np.ndarray:
    """``<part>[0]`` .. ``<part>[n-1]``: the origins of a part's n array images, in its file's order."""
    return np.array([f"{part}[{i}]" for i in range(n)])


def parse_array_origin(origin: str) -> tuple[str, int]:
    """``test[17]`` -> ("test", 17)."""
    part, _, index = origin.rstrip("]").rpartition("[")
    return part, int(index)


@dataclass
class Split:
    """One split (train, database or query): images and their integer class labels."""

    name: str
    source: ImageSource
    labels: np.ndarray

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) != len(self.source):
            raise DatasetError(f"split {self.name}: {len(self.source)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        return self.source.pil(int(i)), int(self.labels[i])

    def subset(self, indices: np.ndarray) -> "Split":
        indices = np.asarray(indices, dtype=np.int64)
        return Split(self.name, self.source.subset(indices), self.labels[indices])

    def digest(self) -> str:
        h = hashlib.sha1(self.source.digest().encode())
        h.update(self.labels.tobytes())
        return h.hexdigest()


@dataclass
class Dataset:
    """train / database / query splits under one protocol.

    ``query_in_database`` is True for the metric-learning protocol, where the query
    split *is* the database and each query's own item must be left out of its ranking.
    """

    name: str
    protocol: str
    train: Split
    database: Split
    query: Split
    query_in_database: bool = False
    info: dict = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha1(f"{self.name}|{self.protocol}|{self.query_in_database}".encode())
        for split in (self.train, self.database, self.query):
            h.update(split.digest().encode())
        return h.hexdigest()[:16]

    @property
    def n_classes(self) -> int:
        return int(max(self.train.labels.max(), self.database.labels.max(), self.query.labels.max())) + 1


def _resize_center(img: Image.Image, size: int) -> np.ndarray:
    """Shorter side to ``size``, then the central size x size crop, as uint8 (size, size, 3)."""
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def _resize_center_tensor(img: torch.Tensor, size: int) -> torch.Tensor:
    """``_resize_center`` in torch, on the image's device: uint8 (H, W, 3) -> uint8 (3, size, size).
    Bilinear with antialiasing, as PIL resizes; the pixels may differ from PIL's by a rounding."""
    h, w = img.shape[:2]
    scale = size / min(w, h)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(img.permute(2, 0, 1)[None].float(), size=(new_h, new_w), mode="bilinear",
                      align_corners=False, antialias=True)[0]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return x[:, top:top + size, left:left + size].round().clamp(0, 255).to(torch.uint8)


_POOL = ThreadPoolExecutor(max_workers=4)


def load_batch(split: Split, indices, size: int, device=None) -> torch.Tensor:
    """uint8 tensor (n, 3, size, size) of the images at ``indices``, on ``device`` (default: the CPU).

    On the CPU, in-memory arrays are resized in one interpolate call, and files are decoded
    and resized on a small thread pool (PIL releases the GIL while decoding). On another
    device the raw pixels go there and are resized there (``device_batch``).
    """
    indices = np.asarray(indices, dtype=np.int64)
    if device is not None and torch.device(device).type != "cpu":
        return device_batch(split.source, indices, size, device)
    src = split.source
    if isinstance(src, ArraySource):
        return _resize_arrays(torch.from_numpy(np.ascontiguousarray(src.array[indices])), size)
    arrays = list(_POOL.map(lambda i: _resize_center(src.pil(int(i)), size), indices))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def device_batch(src: ImageSource, indices: np.ndarray, size: int, device) -> torch.Tensor:
    """``load_batch`` with the resizing on ``device``. The raw pixels go there in one copy,
    from pinned memory without waiting on CUDA (a copy from pageable memory would wait for the
    work queued before it): an array batch, resized whole as on the CPU, or the files' images,
    decoded on the thread pool and each resized there (``_resize_center_tensor``)."""
    cuda = torch.device(device).type == "cuda"
    if isinstance(src, ArraySource):
        raw = torch.empty((len(indices), *src.array.shape[1:]), dtype=torch.uint8, pin_memory=cuda)
        np.take(src.array, indices, axis=0, out=raw.numpy())
        return _resize_arrays(raw.to(device, non_blocking=cuda), size)
    decoded = list(_POOL.map(lambda i: np.asarray(src.pil(int(i))), indices))
    raw = torch.empty(sum(img.size for img in decoded), dtype=torch.uint8, pin_memory=cuda)
    np.concatenate([img.ravel() for img in decoded], out=raw.numpy())
    pixels = raw.to(device, non_blocking=cuda).split([img.size for img in decoded])
    return torch.stack([_resize_center_tensor(p.view(img.shape), size) for p, img in zip(pixels, decoded)])


def _resize_arrays(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (n, H, W) grayscale or (n, H, W, 3) RGB -> uint8 (n, 3, size, size), on x's device."""
    x = x.unsqueeze(1).expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return x.contiguous()


def iter_batches(split: Split, size: int, batch_size: int = 256, device=None):
    """Yield (indices, uint8 batch on ``device``) over the whole split in order, each batch
    loaded in the background while the caller works on the one before."""
    def batches():
        for start in range(0, len(split), batch_size):
            idx = np.arange(start, min(start + batch_size, len(split)))
            yield idx, load_batch(split, idx, size, device)

    return prefetched(batches())


_END = object()


def prefetched(items: Iterable) -> Iterator:
    """The items of ``items`` in order, the next one computed on a background thread while
    the caller works on the current one. An error raised computing an item is raised here."""
    source = iter(items)
    worker = ThreadPoolExecutor(max_workers=1)
    try:
        pending = worker.submit(next, source, _END)
        while (item := pending.result()) is not _END:
            pending = worker.submit(next, source, _END)
            yield item
    finally:
        worker.shutdown(wait=True, cancel_futures=True)
