"""Builds a FeatureSearch method (feature model + backend) for any registered feature model."""
from __future__ import annotations

from ..runtime.overrides import dotted, override
from .feature_search import FeatureSearch
from . import feature_model_classes


def build(name: str, options) -> FeatureSearch:
    model_cls, cfg_cls = feature_model_classes(name)
    cfg = override(cfg_cls(), options.overrides)
    # a model with sizes fills in its paper preset at size=paper, around the keys the user gave
    model = model_cls(cfg, explicit=dotted(options.overrides)) if hasattr(cfg, "size") else model_cls(cfg)
    return FeatureSearch(model, options.backend, options.backend_params, sweep=options.sweep, fresh=options.fresh)
