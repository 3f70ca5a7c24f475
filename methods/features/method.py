"""Builds a FeatureSearch method (feature model + backend) for any registered feature model."""
from __future__ import annotations

from ..base import HarnessError
from ..config import override
from ..feature_search import FeatureSearch
from . import feature_model_classes


def build(name: str, options) -> FeatureSearch:
    if options.untrained:
        raise HarnessError(f"--untrained: {name} is timed as bench.run trains (or loads) it; "
                           f"--untrained is for IRGen (a random model of the configured size)")
    model_cls, cfg_cls = feature_model_classes(name)
    model = model_cls(override(cfg_cls(), options.overrides))
    return FeatureSearch(model, options.backend, options.backend_params, sweep=options.sweep, fresh=options.fresh)
