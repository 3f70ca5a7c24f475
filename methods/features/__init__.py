"""Feature models. Each model module (smallcnn, effnet, res101, clip, ftclip, cgd, irt) defines
one model and its config dataclass; a method's description (``methods/registry.py``,
``MethodSpec.model``) names them. Beside them: their interface (``base``), what several of them
share (``losses``, ``metric_training``, ``pretrained`` backbones, ``trained`` weights and the
``cache`` of features), and ``feature_search``, a feature model + a search backend as one Method."""
from __future__ import annotations

import importlib

from ..registry import METHODS, describe, load_plugins


def feature_model_classes(name: str):
    """(model class, config class) of feature method ``name``; KeyError if it has no feature model."""
    spec = describe(name)
    if spec.model is None:
        raise KeyError(f"method {name} is not a feature model searched by a backend")
    module, cls, cfg = spec.model
    mod = importlib.import_module(module)
    return getattr(mod, cls), getattr(mod, cfg)


def feature_methods() -> list[str]:
    """The methods that are a feature model searched by a backend."""
    load_plugins()
    return [name for name, spec in METHODS.items() if spec.model is not None]
