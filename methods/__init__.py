"""How images are retrieved: feature models, search backends, and IRGen, each behind
one small interface (``methods.base``) and found by name (``methods.registry``)."""
