"""Image identifiers: what the decoder writes and the prefix tree holds (paper Table 3).

Every kind is an ``IdentifierKind``, which declares its name (what ``--identifier`` says) and
its label (how tables and figures name it) once: built from an ``IdentifierSpec``,
``fit(items, ctx)`` on the training items, then ``assign(items)`` gives (n, T) int64 codes in
[0, vocab_size) to any items, the database's included (and fresh items that training never
saw), deterministically for a seed. ``Items`` is what a kind may read about a set of images
(f_cls features, per-image keys, spatial maps), each computed only if a kind asks for it.
``KINDS`` maps a kind's name to its class, in the paper's Table 3 order:

- ``rq``: the semantic tokenizer's residual-quantization codes of f_cls (tokenizer.py).
- ``random``: random codes of the same length and range, drawn per image from a hash of
  the image (its file path, or its pixels) and the seed, so an image keeps its code.
- ``hkm<k>``: hierarchical k-means over f_cls (the paper clusters FT-CLIP features; here
  the features of the tokenizer's fine-tuned network): k clusters per level, a group is
  split again while it has more than ``leaf_size`` items and fewer than T levels are
  used; shorter paths are padded with 0 to length T. T defaults to the paper's length for
  k (``HKM_LENGTHS``: 100^4, 200^3 and 500^2 codes), else the tokenizer's M.
- ``rqvae``: an RQ-VAE-style tokenizer, not the paper's RQ-VAE: a small conv auto-encoder
  over the encoder's spatial map (its frozen stem's output, not the pixels), trained to
  reconstruct it, its latent map pooled to grid x grid cells (2 x 2 by default; the paper's
  is 8 x 8), each cell quantized by ``depth`` residual levels of one shared codebook; the
  codes of all cells, cell by cell, are the identifier (T = 16 by default; the paper's 256).

The kinds and their labels are read by the report, which never loads torch: this module
imports torch and the networks inside the methods that compute, not at its top.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np
from tqdm import tqdm

from ..base import HarnessError

if TYPE_CHECKING:
    import torch

    from .tokenizer import ResidualQuantizer

log = logging.getLogger(__name__)

HKM_LENGTHS = {100: 4, 200: 3, 500: 2}  # paper Table 3: HKM_100 / HKM_200 / HKM_500 at T = 4 / 3 / 2


@dataclass
class IdentifierConfig:
    """The ablation identifiers (paper Table 3)."""

    hkm_leaf_size: int = 1  # hierarchical k-means stops splitting a group this small
    rqvae_grid: int = 2  # the spatial map is pooled to grid x grid cells
    rqvae_depth: int = 4  # residual codes per cell: T = grid * grid * depth
    rqvae_codebook: int = 256  # one codebook shared by every depth (as RQ-VAE)
    rqvae_dim: int = 64
    rqvae_epochs: float = 3.0


@dataclass
class IdentifierSpec:
    """What any kind is built from: its name (``hkm`` with ``clusters`` k), the length T, the
    tokenizer's vocabulary L (random codes' range), the seed, the ablation config, the
    tokenizer's fitted quantizer (``rq``), and the floor on a trained kind's optimisation steps
    (IRGenConfig.min_steps)."""

    kind: str
    seq_len: int
    vocab: int
    seed: int = 0
    clusters: int | None = None
    cfg: IdentifierConfig = field(default_factory=IdentifierConfig)
    quantizer: ResidualQuantizer | None = None
    min_steps: int = 0


@dataclass
class Items:
    """What an identifier kind may read about n images; each part is computed when first asked for."""

    n: int
    features: Callable[[], torch.Tensor]  # f_cls (n, d)
    keys: Callable[[], list[str]]  # a stable name per image
    maps: Callable[[np.ndarray], torch.Tensor]  # spatial maps (b, C, h, w) of the images at some indices

    @classmethod
    def of_features(cls, f_cls: torch.Tensor) -> "Items":
        """Items known only by their features (synthetic databases)."""
        return cls(len(f_cls), lambda: f_cls, _only("features"), _only("features"))

    @classmethod
    def of_keys(cls, keys: list[str]) -> "Items":
        """Items known only by their keys (random identifiers read nothing else)."""
        return cls(len(keys), _only("keys"), lambda: keys, _only("keys"))

    @classmethod
    def cached(cls, n: int, features, keys, maps) -> "Items":
        return cls(n, functools.cache(features), functools.cache(keys), maps)


def _only(what: str):
    def unavailable(*_):
        raise ValueError(f"these items hold {what} only")

    return unavailable


def identifier_length(kind: str, seq_len: int | None, clusters: int | None, cfg: IdentifierConfig, M: int) -> int:
    """T: ``seq_len`` (--seq-len) where given, RQ-VAE's checked against its cells; else the kind's
    default: the paper's for HKM_k (``HKM_LENGTHS``), RQ-VAE's cells x depth, the tokenizer's M."""
    if kind == "rqvae":
        return RQVAEIdentifiers.length(cfg, seq_len)
    if seq_len:
        return seq_len
    return HKM_LENGTHS.get(clusters, M) if kind == "hkm" else M


def parse_kind(kind: str) -> tuple[str, int | None]:
    """``hkm200`` -> ("hkm", 200); ``rq`` -> ("rq", None)."""
    match = re.fullmatch(r"hkm(\d+)", kind)
    if match:
        return "hkm", int(match.group(1))
    if kind in KINDS and kind != "hkm":
        return kind, None
    raise HarnessError(f"--identifier {kind}: choose one of {', '.join(identifier_labels())} (hkm<k> for any k)")


class IdentifierKind(ABC):
    """One kind of identifier. ``name`` is its key in ``KINDS`` and ``label`` how the reports
    name it, each declared once, here on the class; ``spellings`` are the ``--identifier``
    values it answers to. An instance is built from an ``IdentifierSpec``, fitted on the
    training items, then assigns (n, seq_len) codes in [0, vocab_size) to any items."""

    name: ClassVar[str]
    label: ClassVar[str]
    seq_len: int
    vocab_size: int

    @classmethod
    def spellings(cls) -> dict[str, str]:
        """{``--identifier`` value: label} of the variants the paper reports."""
        return {cls.name: cls.label}

    def fit(self, items: Items, ctx) -> IdentifierKind:
        """Learn from the training items (a kind with nothing to learn returns itself)."""
        return self

    @abstractmethod
    def assign(self, items: Items) -> np.ndarray:
        """(n, seq_len) int64 codes of ``items``."""


class SemanticIdentifiers(IdentifierKind):
    """``rq``: the tokenizer's codes of f_cls (the tokenizer fitted them: nothing to fit here)."""

    name, label = "rq", "RQ (ours)"

    def __init__(self, spec: IdentifierSpec):
        if spec.quantizer is None:
            raise ValueError("rq identifiers need the tokenizer's fitted quantizer")
        self.quantizer = spec.quantizer

    @property
    def vocab_size(self) -> int:
        return self.quantizer.L

    @property
    def seq_len(self) -> int:
        return self.quantizer.M

    def assign(self, items: Items) -> np.ndarray:
        return self.quantizer.encode(items.features()).cpu().numpy().astype(np.int64)


class RandomIdentifiers(IdentifierKind):
    """``random``: T codes in [0, L) per image, from a hash of (seed, image key)."""

    name, label = "random", "Random"

    def __init__(self, spec: IdentifierSpec):
        self.seq_len, self.vocab_size, self.seed = spec.seq_len, spec.vocab, spec.seed

    def assign(self, items: Items) -> np.ndarray:
        keys = items.keys()
        codes = np.empty((len(keys), self.seq_len), dtype=np.int64)
        for i, key in enumerate(keys):
            word = hashlib.sha1(f"{self.seed}|{key}".encode()).digest()
            codes[i] = np.random.default_rng(list(word[:16])).integers(0, self.vocab_size, self.seq_len)
        return codes


class HierarchicalKMeans(IdentifierKind):
    """``hkm<k>``: k-means, then k-means again inside every cluster, up to T levels."""

    name, label = "hkm", "HKM"

    @classmethod
    def spellings(cls) -> dict[str, str]:
        return {f"{cls.name}{k}": f"{cls.label}_{k}" for k in HKM_LENGTHS}

    def __init__(self, spec: IdentifierSpec, iters: int = 10):
        k = spec.clusters or 0
        if k < 2:
            raise HarnessError(f"hierarchical k-means needs at least 2 clusters per level, got {k}")
        self.k, self.seq_len, self.seed, self.iters = k, spec.seq_len, spec.seed, iters
        self.leaf_size = spec.cfg.hkm_leaf_size
        self.centroids: dict[tuple[int, ...], torch.Tensor] = {}  # internal node path -> (k', d)

    @property
    def vocab_size(self) -> int:
        return self.k

    def fit(self, items: Items, ctx) -> "HierarchicalKMeans":
        from .tokenizer import kmeans, nearest

        x = items.features().float().cpu()
        todo = [((), np.arange(len(x)))]
        while todo:
            path, idx = todo.pop()
            if len(idx) <= self.leaf_size or len(path) == self.seq_len:
                continue
            seed = self.seed + int(hashlib.sha1(repr(path).encode()).hexdigest()[:6], 16)
            centroids = kmeans(x[idx], min(self.k, len(idx)), self.iters, seed)
            self.centroids[path] = centroids
            assign = nearest(x[idx], centroids)[0].numpy()
            todo += [(path + (j,), idx[assign == j]) for j in range(len(centroids)) if (assign == j).any()]
        return self

    def assign(self, items: Items) -> np.ndarray:
        from .tokenizer import nearest

        x = items.features().float().cpu()
        codes = np.zeros((len(x), self.seq_len), dtype=np.int64)
        groups = {(): np.arange(len(x))}
        for level in range(self.seq_len):
            next_groups: dict[tuple[int, ...], np.ndarray] = {}
            for path, idx in groups.items():
                if path not in self.centroids:
                    continue  # a leaf: the rest of the code stays 0
                choice = nearest(x[idx], self.centroids[path])[0].numpy()
                codes[idx, level] = choice
                for j in np.unique(choice):
                    next_groups[path + (int(j),)] = idx[choice == j]
            groups = next_groups
        return codes


class RQVAEIdentifiers(IdentifierKind):
    """``rqvae``: trains a SpatialRQVAE (rqvae.py) on the training items' maps, then codes any map."""

    name, label = "rqvae", "RQ-VAE-style"

    def __init__(self, spec: IdentifierSpec):
        self.cfg, self.seed, self.min_steps = spec.cfg, spec.seed, spec.min_steps
        self.seq_len = self.length(spec.cfg, spec.seq_len)
        self.depth = self.seq_len // spec.cfg.rqvae_grid ** 2
        self.model = None  # the SpatialRQVAE, once fitted

    @staticmethod
    def length(cfg: IdentifierConfig, seq_len: int | None) -> int:
        """T: ``seq_len`` if given (a multiple of the cells), else cells x depth from the config."""
        cells = cfg.rqvae_grid ** 2
        seq_len = seq_len or cells * cfg.rqvae_depth
        if seq_len % cells:
            raise HarnessError(f"rqvae identifiers have {cells} cells of codes each; T={seq_len} is not a multiple "
                               f"of {cells}: choose --seq-len {cells * cfg.rqvae_depth} or change "
                               f"identifiers.rqvae_grid")
        return seq_len

    @property
    def vocab_size(self) -> int:
        return self.cfg.rqvae_codebook

    def steps(self, n: int, batch_size: int = 256) -> int:
        """Optimisation steps over n items: ``rqvae_epochs`` epochs, at least the floor."""
        from ..runtime.training import epoch_steps

        return epoch_steps(self.cfg.rqvae_epochs, n, batch_size, self.min_steps)

    def fit(self, items: Items, ctx, batch_size: int = 256) -> "RQVAEIdentifiers":
        import torch

        from ..runtime.training import batches
        from .rqvae import SpatialRQVAE
        from .tokenizer import kmeans

        maps, n = items.maps, items.n
        torch.manual_seed(self.seed)
        sample = maps(np.random.default_rng(self.seed).permutation(n)[: min(n, 2048)]).float()
        model = SpatialRQVAE(sample.shape[1], self.cfg, self.depth).to(ctx.device)
        model.mean.copy_(sample.mean((0, 2, 3), keepdim=True))
        model.std.copy_(sample.std((0, 2, 3), keepdim=True).clamp(min=1e-3))
        with torch.no_grad():  # codebook initialised from latent vectors, as k-means would start
            z = model.latent(sample).reshape(-1, self.cfg.rqvae_dim)
            model.codebook.copy_(kmeans(z, self.cfg.rqvae_codebook, 5, self.seed))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        steps = self.steps(n, batch_size)
        model.train()
        for idx in tqdm(batches(n, min(batch_size, n), steps, self.seed), total=steps, desc="train rqvae identifiers",
                        disable=not ctx.progress, leave=False):
            loss = model.loss(maps(idx).float())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        self.model = model.eval()
        return self

    def assign(self, items: Items, batch_size: int = 512) -> np.ndarray:
        import torch

        n = items.n
        with torch.no_grad():
            out = [self.model.codes(items.maps(np.arange(s, min(s + batch_size, n))).float())
                   for s in range(0, n, batch_size)]
        return torch.cat(out).cpu().numpy().astype(np.int64)


KINDS: dict[str, type[IdentifierKind]] = {kind.name: kind for kind in (
    RandomIdentifiers, HierarchicalKMeans, RQVAEIdentifiers, SemanticIdentifiers)}


def identifier_labels() -> dict[str, str]:
    """{``--identifier`` value: label} of every kind as the paper reports it, in ``KINDS``' order."""
    return {spelling: label for kind in KINDS.values() for spelling, label in kind.spellings().items()}


def kind_class(name: str) -> type[IdentifierKind]:
    """The class of identifier kind ``name``, or a one-line error listing the kinds."""
    if name not in KINDS:
        raise HarnessError(f"unknown identifier kind {name!r}: choose one of {', '.join(KINDS)}")
    return KINDS[name]


def make_identifiers(spec: IdentifierSpec) -> IdentifierKind:
    """The identifier kind ``spec.kind``, ready to ``fit``."""
    return kind_class(spec.kind)(spec)

