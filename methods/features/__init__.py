"""Feature models by name. Each module defines one model and its config dataclass."""
from __future__ import annotations

import importlib

FEATURE_MODELS = {
    "smallcnn": ("methods.features.smallcnn", "SmallCNN", "SmallCNNConfig"),
    "effnet": ("methods.features.effnet", "EffNet", "EffNetConfig"),
    "res101": ("methods.features.res101", "Res101", "Res101Config"),
    "clip": ("methods.features.clip", "Clip", "ClipConfig"),
    "cgd": ("methods.features.cgd", "CGD", "CGDConfig"),
    "irt": ("methods.features.irt", "IRT", "IRTConfig"),
    "ftclip": ("methods.features.ftclip", "FTClip", "FTClipConfig"),
}


def feature_model_classes(name: str):
    module, cls, cfg = FEATURE_MODELS[name]
    mod = importlib.import_module(module)
    return getattr(mod, cls), getattr(mod, cfg)
