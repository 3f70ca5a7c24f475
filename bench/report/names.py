"""The one registry of how things are named and drawn in the reports: datasets, methods
(each method's label, colour and fields come from its description in ``methods/registry.py``, a
plugin's too), search backends, timing stages and the parts of the scaling figure. A model has
one colour and a backend one marker and line style in every figure; where the backend takes the
colour (sweeps, scaling) it has one colour too. A name no table lists gets its own name and a
colour of its own that is the same in every figure and run."""
from __future__ import annotations

from dataclasses import dataclass

from methods import registry


@dataclass(frozen=True)
class Look:
    """How one thing is named and drawn."""

    label: str
    color: str = "#7f7f7f"
    marker: str = "P"
    line: str = "-"


PAPER_DATASETS = {"inshop": "In-shop Clothes", "cub200": "CUB-200-2011", "cars196": "Cars196",
                  "imagenet": "ImageNet-1k", "places365": "Places365-Standard"}
STAND_INS = {"fashion-mnist": "Fashion-MNIST", "digits": "sklearn digits"}
LARGE_SETS = ("imagenet", "places365")

METHOD_ORDER = tuple(spec.name for spec in registry.BUILT_IN)  # the reports' order
BACKENDS = {
    "linear": Look("linear scan", "#7f7f7f", "o", "-"),
    "faiss-flat": Look("Faiss flat", "#17becf", "D", "-"),
    "ivfpq": Look("Faiss IVF-PQ", "#1f77b4", "s", "--"),
    "scann": Look("ScaNN", "#2ca02c", "^", "-."),
    "spann": Look("SPANN", "#9467bd", "v", ":"),
    # baselines beyond the paper (its four are above); the label says so wherever a row is named
    "hnsw": Look("Faiss HNSW (beyond the paper)", "#ff7f0e", "X", "-"),
    "diskann": Look("DiskANN in memory (beyond the paper)", "#8c564b", "p", "--"),
    "diskann-disk": Look("DiskANN on disk (beyond the paper)", "#bcbd22", "h", ":"),
    "beam-search": Look("beam search", "#d62728", "*", "-"),  # a generative method's own search (IRGen's)
}
EXACT_BACKENDS = ("linear", "faiss-flat")  # no build parameter changes their answers
STAGES = {
    "preprocess": Look("image decode + preprocess", "#d9d9d9"),
    "encoder": Look("encoder", "#fdae6b"),
    "decoder": Look("decoder", "#e6550d"),
    "masks": Look("validity check (masks)", "#a63603"),
    "lookup": Look("identifier lookup", "#7f2704"),
    "feature": Look("feature extraction", "#6baed6"),
    "search": Look("ANN search", "#08519c"),
}
SCALING_PARTS = {  # bench.scaling's components other than the backends: IRGen's parts
    "identifiers": Look("IRGen identifier assignment (RQ, M=4, L=256)", "#d62728", "o", "-"),
    "prefix_tree": Look("IRGen prefix tree", "#ff7f0e", "s", "-"),
    "beam10": Look("IRGen beam search, beam 10", "#e377c2", "*", "-"),
    "beam30": Look("IRGen beam search, beam 30", "#8c564b", "*", "--"),
}
MISSING = "–"  # a value we have not measured, in every table
SPARE_COLORS = ["#bcbd22", "#e377c2", "#393b79", "#637939", "#8c6d31", "#843c39", "#bdbdbd", "#636363"]


def spare_color(name: str) -> str:
    """A colour for a name no table lists, the same in every figure and run."""
    return SPARE_COLORS[sum(map(ord, name)) % len(SPARE_COLORS)]


def spec(name: str) -> registry.MethodSpec:
    """A method's description (a plugin's included); for a method no longer registered, one that
    names it by its registry name and shows its fields as ``name=value``."""
    registry.load_plugins()
    return registry.METHODS.get(name) or registry.MethodSpec(name, "", name)


def model(name: str) -> Look:
    """A method's label and colour from its description, or a spare colour."""
    found = spec(name)
    return Look(found.label, found.color or spare_color(name))


def backend(name: str) -> Look:
    return BACKENDS.get(name) or Look(name, spare_color(name))


def series(backend: str, built_with: dict) -> str:
    """The name a backend's sweep rows are drawn and tabled under: the backend's, or its kind's."""
    for kind, (name, key, value) in registry.BACKEND_KINDS.items():
        if backend == name and built_with.get(key) == value:
            return kind
    return backend


def stage(name: str) -> Look:
    return STAGES.get(name) or Look(name, spare_color(name))


def dataset(name: str) -> str:
    return PAPER_DATASETS.get(name) or STAND_INS.get(name) or name


def ordered(names, table: dict) -> list[str]:
    """``names`` in the registry's order, the ones it does not list after them, sorted."""
    names = set(names)
    return [n for n in table if n in names] + sorted(names - set(table))
