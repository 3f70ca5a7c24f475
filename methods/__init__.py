"""How images are retrieved: feature models, search backends, and IRGen, each behind
one small interface (``methods.base``) and found by name (``methods.registry``); those two
alone sit here. The methods live in ``features`` (with the feature + backend method),
``backends`` and ``irgen``; the machinery they run on in ``runtime``."""
