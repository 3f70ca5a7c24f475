"""Feature models by name. Each module defines one model and its config dataclass."""
from __future__ import annotations

import importlib

FEATURE_MODELS = {
    "smallcnn": ("methods.features.smallcnn", "SmallCNN", "SmallCNNConfig"),
}


def feature_model_classes(name: str):
    module, cls, cfg = FEATURE_MODELS[name]
    mod = importlib.import_module(module)
    return getattr(mod, cls), getattr(mod, cfg)
