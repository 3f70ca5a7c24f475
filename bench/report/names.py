"""The one registry of how things are named and drawn in the reports: datasets, models
(keyed by the registry name in the results' ``method`` / ``features`` columns; each method's
label and colour come from its description in ``methods/registry.py``, a plugin's too), search
backends, IRGen's identifier kinds, timing stages, IRGen's parts in the scaling figure,
and the metrics' short names. A model has one colour and a backend one marker and line
style in every figure; where the backend takes the colour (sweeps, scaling) it has one
colour too. A name no table lists gets its own name and a colour of its own that is the
same in every figure and run."""
from __future__ import annotations

from dataclasses import dataclass

from methods import registry
from methods.backends import KINDS as BACKEND_KINDS  # a build parameter that makes another kind of index


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

MODELS = {spec.name: Look(spec.label, spec.color) for spec in registry.BUILT_IN}  # in the reports' order
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
    "beam": Look("beam search", "#d62728", "*", "-"),
}
EXACT_BACKENDS = ("linear", "faiss-flat")  # no build parameter changes their answers
IDENTIFIERS = {"random": "Random", "hkm100": "HKM_100", "hkm200": "HKM_200", "hkm500": "HKM_500",
               "rqvae": "RQ-VAE-style", "rq": "RQ (ours)"}
# IRGen's presets, as its rows name them: the authors' released code, the paper's text, the CPU preset
PRESETS = {"official": "official recipe", "paper": "paper text", "small": "small"}
AS_PAPER_PRESETS = ("official", "paper")  # IRGen's presets that run the paper's model (a paper column beside them)
# IRGen's encoders (the ``features`` column irgen-<kind>)
ENCODERS = {"effnet": "EfficientNet-Lite0", "vit": "ViT from scratch", "clip-vit-b16": "CLIP ViT-B/16"}
STAGES = {
    "preprocess": Look("image decode + preprocess", "#d9d9d9"),
    "encoder": Look("encoder", "#fdae6b"),
    "decoder": Look("decoder", "#e6550d"),
    "masks": Look("validity check (masks)", "#a63603"),
    "lookup": Look("identifier lookup", "#7f2704"),
    "feature": Look("feature extraction", "#6baed6"),
    "search": Look("ANN search", "#08519c"),
}
IRGEN_PARTS = {  # bench.scaling's IRGen components
    "identifiers": Look("IRGen identifier assignment (RQ, M=4, L=256)", "#d62728", "o", "-"),
    "prefix_tree": Look("IRGen prefix tree", "#ff7f0e", "s", "-"),
    "beam10": Look("IRGen beam search, beam 10", "#e377c2", "*", "-"),
    "beam30": Look("IRGen beam search, beam 30", "#8c564b", "*", "--"),
}
# P: hits / K; P_off: the official IRGen evaluation's rule as its code reads; P_rel: as the released code
# computed it (numpy <= 1.24), the paper's tables' rule (bench/metrics.py). MAP: AP over min(R, K);
# MAP_found: AP over the relevant results found in the top K; MAP_rel: the released trapezoid AP over min(R, 10).
SHORT = {"precision": "P", "precision_official": "P_off", "precision_released": "P_rel", "recall": "R",
         "mrr": "MRR", "map": "MAP", "map_found": "MAP_found", "map_released": "MAP_rel"}
MISSING = "–"  # a value we have not measured, in every table
SPARE_COLORS = ["#bcbd22", "#e377c2", "#393b79", "#637939", "#8c6d31", "#843c39", "#bdbdbd", "#636363"]


def spare_color(name: str) -> str:
    """A colour for a name no table lists, the same in every figure and run."""
    return SPARE_COLORS[sum(map(ord, name)) % len(SPARE_COLORS)]


def model(name: str) -> Look:
    """A method's label and colour from its description (a plugin's included), or a spare colour."""
    registry.load_plugins()
    spec = registry.METHODS.get(name)
    return Look(spec.label, spec.color or spare_color(name)) if spec else Look(name, spare_color(name))


def backend(name: str) -> Look:
    return BACKENDS.get(name) or Look(name, spare_color(name))


def series(backend: str, built_with: dict) -> str:
    """The name a backend's sweep rows are drawn and tabled under: the backend's, or its kind's."""
    for kind, (name, key, value) in BACKEND_KINDS.items():
        if backend == name and built_with.get(key) == value:
            return kind
    return backend


def stage(name: str) -> Look:
    return STAGES.get(name) or Look(name, spare_color(name))


def preset(name: str) -> str:
    return PRESETS.get(name, name)


def encoder(kind: str) -> str:
    return ENCODERS.get(kind, kind)


def dataset(name: str) -> str:
    return PAPER_DATASETS.get(name) or STAND_INS.get(name) or name


def ordered(names, table: dict) -> list[str]:
    """``names`` in the registry's order, the ones it does not list after them, sorted."""
    names = set(names)
    return [n for n in table if n in names] + sorted(names - set(table))
