"""load_batch on the CPU gives exactly what it gave before the device path came; the device
path (run here on the CPU) agrees with it; iter_batches loads the next batch ahead."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from datasets import ArraySource, FileSource, Split, iter_batches, load_batch
from datasets.base import _resize_center, device_batch, prefetched


def reference_batch(split: Split, indices, size: int) -> torch.Tensor:
    """load_batch as it was before the device path (commit 81ff9b0), kept as the oracle."""
    indices = np.asarray(indices, dtype=np.int64)
    src = split.source
    if isinstance(src, ArraySource):
        x = torch.from_numpy(np.ascontiguousarray(src.array[indices]))
        x = x.unsqueeze(1).expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False)
            x = x.round().clamp(0, 255).to(torch.uint8)
        return x.contiguous()
    arrays = [_resize_center(src.pil(int(i)), size) for i in indices]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def array_split(rgb: bool) -> Split:
    shape = (12, 28, 28, 3) if rgb else (12, 28, 28)
    return Split("a", ArraySource(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)), np.arange(12))


@pytest.fixture
def file_split(tmp_path) -> Split:
    """Photos of several shapes (wide, tall, square, larger and smaller than the output)."""
    rng = np.random.default_rng(1)
    names = []
    for i, (h, w) in enumerate([(40, 70), (90, 50), (33, 33), (12, 20), (120, 160)]):
        smooth = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
        pixels = np.kron(smooth, np.ones((4, 4, 1), np.uint8))[:h, :w]  # blocks: a photo's smoothness
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png")
    return Split("f", FileSource(tmp_path, names), np.arange(len(names)))


@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize("size", [28, 32, 17])
def test_arrays_on_the_cpu_are_as_before_and_the_device_path_agrees(rgb, size):
    split, idx = array_split(rgb), [3, 0, 11, 3]
    expected = reference_batch(split, idx, size)
    assert torch.equal(load_batch(split, idx, size), expected)
    assert torch.equal(load_batch(split, idx, size, device="cpu"), expected)
    assert torch.equal(device_batch(split.source, np.asarray(idx), size, "cpu"), expected)


@pytest.mark.parametrize("size", [24, 64])
def test_files_on_the_cpu_are_as_before_and_resizing_in_torch_is_within_a_rounding(file_split, size):
    idx = np.arange(len(file_split))
    expected = reference_batch(file_split, idx, size)
    assert torch.equal(load_batch(file_split, idx, size), expected)
    in_torch = device_batch(file_split.source, idx, size, "cpu")
    assert in_torch.shape == expected.shape and in_torch.dtype == torch.uint8
    diff = (in_torch.int() - expected.int()).abs()
    assert diff.float().mean() < 0.2 and diff.max() <= 1  # measured: mean 0.01-0.17, max 1


def test_iter_batches_give_load_batch_in_order():
    split = array_split(rgb=True)
    got = list(iter_batches(split, 20, batch_size=5))
    assert [idx.tolist() for idx, _ in got] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    for idx, batch in got:
        assert torch.equal(batch, load_batch(split, idx, 20))


def test_prefetched_loads_the_next_item_while_the_caller_works():
    loaded, threads = [threading.Event() for _ in range(3)], set()

    def items():
        for i, event in enumerate(loaded):
            threads.add(threading.get_ident())
            event.set()
            yield i

    got = prefetched(items())
    assert next(got) == 0
    assert loaded[1].wait(timeout=10)  # item 1 loads while the caller holds item 0 ...
    assert not loaded[2].is_set()  # ... and no further
    assert list(got) == [1, 2]
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_prefetched_raises_an_error_at_its_item():
    def items():
        yield 0
        raise OSError("image 1 unreadable")

    got = prefetched(items())
    assert next(got) == 0
    with pytest.raises(OSError, match="image 1"):
        next(got)
