"""A generative method that lives outside methods/ and bench/: an image's identifier is T tokens,
the mean brightness of the first T cells of a 4 x 4 grid quantised to ``bins`` levels; a query
"generates" its own identifier and the ``beam`` identifiers nearest to it are searched, their
images returned nearest first. Its description says it is generative and how the reports show
its fields (``bins`` with its unit, ``T`` whose headline is 2), so that the report names and
files its rows from that description alone (tests/bench/test_model_column.py). Registered when
this module is imported (``IRGEN_PLUGINS=tests.bench.toy_generative``)."""
import time

import numpy as np

from datasets import load_batch
from methods.base import Method, Retrieval
from methods.registry import MethodSpec, ModelField, register


class ToyGenerator(Method):
    def __init__(self, beams, T: int = 2, bins: int = 4):
        super().__init__(T=int(T), bins=int(bins))
        self.beams, self.T, self.bins = tuple(beams), int(T), int(bins)

    @property
    def backend(self) -> str:
        return "prefix-search"

    @property
    def variant(self) -> str:
        return f"T={self.T},bins={self.bins}"

    def model_fields(self) -> dict:
        return {"T": self.T, "bins": self.bins}

    def settings(self, n_database: int) -> list[dict]:
        return [{"beam": b} for b in self.beams]

    def codes(self, split) -> np.ndarray:
        x = load_batch(split, np.arange(len(split)), 4).float().mean(1).flatten(1).numpy() / 255.0
        return np.minimum((x[:, :self.T] * self.bins).astype(np.int64), self.bins - 1)

    def fit(self, dataset, ctx):
        pass

    def index(self, database, ctx):
        self.db = self.codes(database)

    def search(self, query, k, setting, ctx):
        start = time.perf_counter()
        q = self.codes(query)
        encoded = time.perf_counter()
        ids = np.full((len(q), k), -1, dtype=np.int64)
        for i, code in enumerate(q):
            distance = np.abs(self.db - code).sum(1)
            kept = np.isin(distance, np.unique(distance)[:setting["beam"]])
            found = np.flatnonzero(kept)[np.argsort(distance[kept], kind="stable")][:k]
            ids[i, :len(found)] = found
        done = time.perf_counter()
        return Retrieval(ids=ids, timings={"encoder": encoded - start, "decoder": done - encoded})


def build(name, options):
    return ToyGenerator(options.beams, **options.overrides)


SPEC = MethodSpec("toygen", build=__name__, label="Toy generator", color="#000080", flags=("beam",),
                  fields=(ModelField("bins", unit="levels"), ModelField("T", headline=2)), generative=True)
register(SPEC)
