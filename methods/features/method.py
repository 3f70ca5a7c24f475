"""Builds a FeatureSearch method (feature model + backend) for any registered feature model."""
from __future__ import annotations

from ..backends import BACKENDS, make_backend
from ..base import HarnessError
from ..config import override
from ..feature_search import FeatureSearch
from . import feature_model_classes


def build(name: str, options) -> FeatureSearch:
    if options.backend not in BACKENDS:
        raise HarnessError(f"unknown backend {options.backend!r}: choose one of {', '.join(BACKENDS)}")
    model_cls, cfg_cls = feature_model_classes(name)
    model = model_cls(override(cfg_cls(), options.overrides))
    settings = make_backend(options.backend).query_grid() if options.sweep else None
    return FeatureSearch(model, options.backend, query_settings=settings)
