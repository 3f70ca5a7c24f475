"""EfficientNet-Lite0 runs in channels_last on the CPU (faster there) and gives the features
the default layout gives; other devices and other models keep the default layout."""
from __future__ import annotations

import numpy as np
import torch

from datasets.base import ArraySource, Split
from methods.base import RunContext
from methods.features.effnet import EffNet
from methods.features.smallcnn import SmallCNN


def test_effnet_features_in_channels_last_match_the_default_layout():
    ctx = RunContext(progress=False)
    model = EffNet()
    model.fit(None, ctx)
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    split = Split("query", ArraySource(images), np.zeros(5))
    x = model.normalise(torch.from_numpy(images[:2, None]).expand(-1, 3, -1, -1), "cpu")
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert model.net._conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    fast = model.embed(split, ctx, batch_size=2)
    model.channels_last = False
    model.net.to(memory_format=torch.contiguous_format)
    reference = model.embed(split, ctx, batch_size=2)
    np.testing.assert_allclose(fast, reference, rtol=1e-4, atol=1e-4)


def test_other_devices_and_models_keep_the_default_layout():
    assert EffNet().memory_format("cuda") is torch.contiguous_format
    assert SmallCNN().memory_format("cpu") is torch.contiguous_format
    x = SmallCNN().normalise(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "cpu")
    assert x.is_contiguous()
