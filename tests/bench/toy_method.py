"""A method that lives outside methods/ and bench/: raw pixels, resized to 8 x 8, searched
exactly. Its description is registered when this module is imported, which
``IRGEN_PLUGINS=tests.bench.toy_method`` does in every command and grid cell: it trains nothing
and takes no method flag (a command refuses ``--beam`` or ``--backend ivfpq`` for it), and the
report names it by its label. ``--set fail=raise`` (or ``$TOY_FAIL=1``) makes it raise
in ``fit`` and ``--set fail=hang`` makes it hang there, for the grid's failure tests."""
import os
import time

import numpy as np

from datasets import load_batch
from methods.base import Method, Retrieval
from methods.registry import MethodSpec, register

SIDE = 8


class ToyPixels(Method):
    def __init__(self, fail: str = ""):
        super().__init__(fail=fail, side=SIDE)
        self.fail = fail

    def fit(self, dataset, ctx):
        if self.fail == "raise" or os.environ.get("TOY_FAIL") == "1":
            raise RuntimeError("toy method asked to fail")
        if self.fail == "hang":
            time.sleep(3600)

    def pixels(self, split) -> np.ndarray:
        x = load_batch(split, np.arange(len(split)), SIDE).float().flatten(1).numpy()
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)

    def index(self, database, ctx):
        self.X = self.pixels(database)

    def search(self, query, k, setting, ctx):
        start = time.perf_counter()
        scores = self.pixels(query) @ self.X.T
        ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return Retrieval(ids=ids, timings={"search": time.perf_counter() - start})


def build(name, options):
    return ToyPixels(**options.overrides)


SPEC = MethodSpec("toy", build=__name__, label="raw pixels 8x8", color="#000000")
register(SPEC)
