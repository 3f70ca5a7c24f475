"""IRGen as a harness Method (paper 3): fit trains the semantic tokenizer and then the
encoder-decoder on the train split, index gives every database image its identifier and
builds the prefix tree, search writes identifiers by beam search and returns every
image of each beam's identifier, best beam first.

Variants (the paper's ablations) are method options: ``--identifier`` (rq, random,
hkm100/200/500, rqvae), ``--seq-len`` T, and ``--fresh`` f: a seeded share f of the
database is held out of the tokenizer's and the decoder's training and only added to
the tree at index time, coded by the frozen tokenizer (paper Table 6; methods/runtime/fresh.py,
shared with the feature methods). The results' variant names the preset too, so a small
model's row is never taken for the paper's.

``irgen-enc`` is the feature model beside it: f_cls of IRGen's tokenizer network (the
fine-tuned encoder whose features the identifiers quantize), searched by a backend, so
that the table shows IRGen next to a linear scan of its own encoder's features; with
``--fresh`` its tokenizer trains without the same held-out share as IRGen's.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from datasets import load_batch
from ..base import HarnessError, Measured, Method, Retrieval, RunContext, Stopwatch, parameter_bytes
from ..runtime.files import arrays_bytes
from ..runtime.compile import compile_module
from ..features.feature_search import FeatureSearch
from ..features.base import EMBED_BATCH, FeatureModel
from ..runtime.fresh import held_out_items, item_keys
from ..registry import DEFAULT_BEAMS
from ..runtime.timing import device_sync, timed
from .beam_search import beam_search, expand_with_scores
from .config import IRGenConfig, make_config, preset_min_steps
from .decoder import Decoder, DecoderConfig
from .diagnostics import beam_rows, beam_tallies, identifier_rows, own_found_rows, own_identifier_ranking
from .encoder import Encoder, StemInputs, ViTBackbone, build_encoder
from .identifiers import IdentifierSpec, Items, RQVAEIdentifiers, identifier_length, make_identifiers, parse_kind
from .official import files_key, load_encoder_decoder, tokenizer_from_files
from .prefix_tree import PrefixTree
from .tokenizer import all_features
from .trainer import data_key, fit_encoder_decoder, fit_tokenizer, stage_steps, tokenizer_steps

log = logging.getLogger(__name__)


def clip_files(cfg: IRGenConfig) -> list:
    """The CLIP weights file, for the paper's encoder (``encoder.kind=clip-vit-b16``)."""
    if cfg.encoder.kind != "clip-vit-b16":
        return []
    from .clip_weights import encoder_file

    return [encoder_file(cfg.encoder)]


class IRGen(Method):
    name = "irgen"

    def __init__(self, cfg: IRGenConfig, identifier: str = "rq", seq_len: int | None = None,
                 fresh: float = 0.0, beams: tuple[int, ...] = DEFAULT_BEAMS, untrained: bool = False):
        self.kind, self.clusters = parse_kind(identifier)
        self.identifier_name = identifier
        seq_len = identifier_length(self.kind, seq_len, self.clusters, cfg.identifiers, cfg.tokenizer.M)
        if seq_len < 1:
            raise HarnessError(f"--seq-len {seq_len}: give a positive identifier length")
        if self.kind == "rq":  # the tokenizer's M codebooks are the identifier
            cfg = dataclasses.replace(cfg, tokenizer=dataclasses.replace(cfg.tokenizer, M=seq_len))
        self.cfg, self.seq_len, self.fresh, self.beams = cfg, seq_len, fresh, tuple(beams)
        self.untrained = untrained
        self.trained_steps: dict[str, float] = {}
        self.own_found: list[tuple[str, int, float]] = []  # bound_ranking's id_own_found row
        super().__init__(irgen=dataclasses.asdict(cfg), identifier=identifier, seq_len=seq_len, fresh=fresh,
                         untrained=untrained)

    @property
    def features(self) -> str:
        return f"irgen-{self.cfg.encoder.kind}"

    @property
    def backend(self) -> str:
        return "beam-search"

    @property
    def variant(self) -> str:
        """The model's fields as ``key=value`` but the encoder, its input side and the step floor
        (the results' cell key, as it was before the model column: a cell keeps its id)."""
        said = {k: v for k, v in self.model_fields().items() if k not in ("encoder", "input_px", "min_steps")}
        return ",".join(f"{k}={'true' if v is True else f'{v:g}' if isinstance(v, float) else v}"
                        for k, v in said.items())

    def model_fields(self) -> dict:
        """The preset, the encoder and the side of its input images, the identifiers (with RQ-VAE's
        grid of latent cells) and their length, the tokenizer's loss weighting where it is not eq. 3,
        the share of the database held out of training, and a step floor given below the preset's."""
        cfg = self.cfg
        fields = {"preset": cfg.preset, "encoder": cfg.encoder.kind, "input_px": cfg.encoder.image_size,
                  "identifier": self.identifier_name, "T": self.seq_len}
        fields.update({"grid": cfg.identifiers.rqvae_grid} if self.kind == "rqvae" else {})
        fields.update({"tokenizer_loss": cfg.tokenizer.loss} if cfg.tokenizer.loss != "eq3" else {})
        fields.update({"fresh": self.fresh} if self.fresh else {})
        fields.update({"untrained": True} if self.untrained else {})
        fields.update({"min_steps": cfg.min_steps} if cfg.min_steps != preset_min_steps(cfg.preset) else {})
        return fields

    def settings(self, n_database: int) -> list[dict]:
        return [{"beam": b} for b in self.beams]

    def pretrained_files(self) -> list:
        return [] if self.untrained else clip_files(self.cfg)

    def _spec(self, ctx, quantizer=None) -> IdentifierSpec:
        kind = "random" if self.untrained else self.kind
        return IdentifierSpec(kind, self.seq_len, self.cfg.tokenizer.L, ctx.seed, self.clusters, self.cfg.identifiers,
                              quantizer, self.cfg.min_steps)

    def fit(self, dataset, ctx: RunContext) -> None:
        if self.untrained:
            self._random_model(ctx)
            return
        cfg = self.cfg
        train = dataset.train
        held_out, fit_items = held_out_items(dataset.database, train, self.fresh, ctx.data_seed)
        labels = train.labels[fit_items]
        data = data_key(train, fit_items)
        tok_encoder = build_encoder(cfg.encoder, ctx, seed=ctx.seed)
        inputs = StemInputs(tok_encoder, train, ctx).subset(fit_items)
        if cfg.tokenizer.checkpoint:
            self.tokenizer = tokenizer_from_files(cfg, tok_encoder, int(labels.max()) + 1, ctx.device)
        else:
            self.tokenizer = fit_tokenizer(cfg, tok_encoder, inputs, labels, ctx, data)
        items = self._items(inputs)
        self.identifiers = make_identifiers(self._spec(ctx, self.tokenizer.quantizer)).fit(items, ctx)
        codes = self.identifiers.assign(items)
        self.encoder = build_encoder(cfg.encoder, ctx, seed=ctx.seed)
        if cfg.encoder_init == "tokenizer":
            self.encoder.load_state_dict(self.tokenizer.encoder.state_dict())
            init = self.tokenizer.key
        else:
            init = str(self.encoder.init)
        torch.manual_seed(ctx.seed)
        self.decoder = Decoder(self._decoder_config()).to(ctx.device)
        # both encoders share the frozen stem (pretrained, never trained), so its outputs are shared too
        if cfg.checkpoint:
            load_encoder_decoder(Path(cfg.checkpoint), self.encoder, self.decoder)
            key, decoder_pace = files_key(cfg.checkpoint), None
            self.encoder.eval(), self.decoder.eval()
        else:
            key, decoder_pace = fit_encoder_decoder(cfg, self.encoder, self.decoder, inputs, labels, codes, ctx,
                                                    data, init)
        self.training_pace = {"train_images_per_s_tokenizer": self.tokenizer.images_per_s,
                              "train_images_per_s_encoder_decoder": decoder_pace}
        self.config.update(tokenizer_key=self.tokenizer.key, model_key=key, n_train=len(fit_items),
                           n_held_out=len(held_out))
        self.trained_steps = self._steps(len(fit_items))
        self._query_memory = None

    def _steps(self, n: int) -> dict[str, float]:
        """The optimisation steps each trained part took over n items, and the preset's floor
        (the report marks a model below it: its ablation would rank training budgets)."""
        cfg = self.cfg
        steps = {}  # a part loaded from the official code's files took no steps here, and has no row
        if not cfg.tokenizer.checkpoint:
            steps["train_steps_tokenizer"] = tokenizer_steps(cfg.tokenizer.train, n, cfg.min_steps)
        if not cfg.checkpoint:
            steps["train_steps_decoder"] = stage_steps(cfg.train, n, cfg.min_steps)
        if isinstance(self.identifiers, RQVAEIdentifiers):
            steps["train_steps_rqvae"] = self.identifiers.steps(n)
        return {**{k: float(v) for k, v in steps.items()}, "preset_min_steps": float(preset_min_steps(cfg.preset))}

    def _decoder_config(self) -> DecoderConfig:
        return dataclasses.replace(self.cfg.decoder, vocab_size=self.identifiers.vocab_size, seq_len=self.seq_len,
                                   memory_dim=self.cfg.encoder.memory_dim)

    def _random_model(self, ctx: RunContext) -> None:
        """``untrained``: a random encoder-decoder of the configured size (the paper's ViT-B/16 tower
        needs no CLIP file then) over random identifiers: timing does not depend on the weights."""
        if self.cfg.encoder.kind == "clip-vit-b16":
            import open_clip

            torch.manual_seed(ctx.seed)
            enc = self.cfg.encoder
            visual = open_clip.create_model("ViT-B-16", pretrained=None, force_quick_gelu=enc.quick_gelu).visual
            backbone = ViTBackbone(visual, enc.frozen_blocks, enc.feature == "raw_cls", enc.memory == "all_tokens")
            self.encoder = Encoder(self.cfg.encoder, backbone, {"random_seed": ctx.seed}).to(ctx.device)
        else:  # effnet (its packaged weights are always here) or the small ViT (random init)
            self.encoder = build_encoder(self.cfg.encoder, ctx, seed=ctx.seed)
        self.identifiers = make_identifiers(self._spec(ctx))
        self.training_pace = {}
        torch.manual_seed(ctx.seed)
        self.decoder = Decoder(self._decoder_config()).to(ctx.device)
        self.encoder.eval()
        self.decoder.eval()
        self._query_memory = None

    def _items(self, inputs: StemInputs) -> Items:
        """The identifier kinds' view of the images of ``inputs`` (f_cls from the tokenizer's network)."""
        encoder = self.tokenizer.encoder
        keys = item_keys(inputs.split)
        return Items.cached(len(inputs), lambda: all_features(encoder, inputs),
                            lambda: [keys[i] for i in inputs.items],
                            lambda idx: encoder.spatial_map(inputs(idx)))

    def _split_items(self, split, ctx: RunContext) -> Items:
        """What the identifiers read about the images of ``split``."""
        if self.untrained:  # random identifiers read the images' keys, nothing else
            return Items.of_keys(item_keys(split))
        return self._items(StemInputs(self.tokenizer.encoder, split, ctx))

    def index(self, database, ctx: RunContext) -> None:
        self.extraction = None
        items = self._split_items(database, ctx)
        if not self.untrained and self.kind in ("rq", "hkm"):  # f_cls of every image, read by the assignment
            self.extraction = Measured(timed(items.features, device_sync(ctx.device))[1])  # (RQ-VAE reads maps)
        codes, seconds = timed(lambda: self.identifiers.assign(items), device_sync(ctx.device))
        self._build_tree(codes, ctx, seconds)
        log.info("irgen: %d database images, %d distinct identifiers (%.1f images each)",
                 len(database), self.tree.n_leaves, len(database) / self.tree.n_leaves)

    def index_synthetic(self, n: int, ctx: RunContext) -> None:
        """n seeded random identifiers of the method's length and vocabulary."""
        codes = np.random.default_rng(ctx.seed).integers(0, self.identifiers.vocab_size, (n, self.seq_len))
        self.extraction = None
        self._build_tree(codes, ctx, 0.0)

    def _build_tree(self, codes: np.ndarray, ctx: RunContext, assign_seconds: float) -> None:
        self.db_codes = codes
        self.tree, seconds = timed(lambda: PrefixTree.build(codes, self.identifiers.vocab_size).to(ctx.device),
                                   device_sync(ctx.device))
        self.index_seconds = assign_seconds + seconds

    @torch.no_grad()
    def _encode_queries(self, query, ctx: RunContext) -> tuple[torch.Tensor, float]:
        """The decoder's memory for every query, from the images, and the seconds it took
        (computed once, reused by every beam setting, as feature methods reuse features)."""
        if self._query_memory is None or self._query_memory[0] != query.digest():
            watch = ctx.stopwatch()  # preprocess and encoder, the device synchronised at both ends of each
            memory = [self._memory(query, idx, ctx, watch)  # the encoder at its pace (EMBED_BATCH)
                      for idx in tqdm(list(_chunks(len(query), EMBED_BATCH)),
                                      desc="irgen encoder (queries)", disable=not ctx.progress, leave=False)]
            memory = torch.cat(memory)
            self._query_memory = (query.digest(), memory, sum(watch.seconds.values()))
        return self._query_memory[1], self._query_memory[2]

    def _memory(self, query, rows: np.ndarray, ctx: RunContext, stopwatch: Stopwatch) -> torch.Tensor:
        """The encoder's spatial tokens for the query images at ``rows``, from the pixels."""
        with stopwatch("preprocess"):
            x = self.encoder.normalise(load_batch(query, rows, self.encoder.load_px, ctx.device), ctx.device)
        with stopwatch("encoder"), ctx.autocast():
            return self._search_encoder(ctx)(x)[1]

    def _search_encoder(self, ctx: RunContext):
        """The encoder as search runs it: under torch.compile with ``ctx.compile`` (compiled once)."""
        if not ctx.compile:
            return self.encoder
        if getattr(self, "_compiled_encoder", None) is None:
            self._compiled_encoder = compile_module(self.encoder, ctx.device)
        return self._compiled_encoder

    def _beam_search(self, memory: torch.Tensor, k: int, beam: int, ctx: RunContext,
                     stopwatch: Stopwatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Beam search over the prefix tree, then every image of each beam's identifier: (B, k) ids,
        (B, k) their beams' log-probabilities, and the beams' codes (B, beam, T)."""
        codes, scores, leaves = beam_search(self.decoder, memory, self.tree, beam, stopwatch=stopwatch,
                                            bf16=ctx.dtype == "bf16", steps="compiled" if ctx.compile else "cached")
        with stopwatch("lookup"):
            ids, item_scores = expand_with_scores(leaves, scores, self.tree, k)
            return ids.cpu(), item_scores.cpu(), codes

    def search(self, query, k: int, setting: dict, ctx: RunContext) -> Retrieval:
        beam = int(setting["beam"])
        memory, encoder_seconds = self._encode_queries(query, ctx)
        sw = ctx.stopwatch()
        ids, scores, tallies = [], [], {}
        for idx in tqdm(list(_chunks(len(query), self.cfg.search_batch)), desc=f"irgen beam search (beam {beam})",
                        disable=not ctx.progress, leave=False):
            chunk_ids, chunk_scores, codes = self._beam_search(memory[idx], k, beam, ctx, sw)
            ids.append(chunk_ids)
            scores.append(chunk_scores)
            for name, count in beam_tallies(codes, self.tree).items():  # outside the stopwatch: no search stage
                tallies[name] = tallies.get(name, 0) + count
        return Retrieval(ids=torch.cat(ids).numpy().astype(np.int64),
                         timings={"encoder": encoder_seconds, **sw.seconds}, scores=torch.cat(scores).numpy(),
                         score_kind=SCORE_KIND, tallies=tallies)

    @torch.no_grad()
    def search_batch(self, query, rows: np.ndarray, k: int, setting: dict, ctx: RunContext,
                     stopwatch: Stopwatch) -> np.ndarray:
        memory = self._memory(query, rows, ctx, stopwatch)
        return self._beam_search(memory, k, int(setting["beam"]), ctx, stopwatch)[0].numpy().astype(np.int64)

    def diagnostics(self, result: Retrieval, ks: list[int]) -> list[tuple[str, int, float]]:
        """What the identifiers are worth (methods/irgen/diagnostics.py): images per identifier and the
        tree's fan-out, the same in every cell of an index; the share of this search's beams that end
        off the tree or repeat."""
        return identifier_rows(self.tree, ks) + self.own_found + beam_rows(result.tallies)

    @torch.no_grad()
    def bound_ranking(self, query, k: int, ctx: RunContext) -> np.ndarray:
        """The perfect-decoder bound: each query answered by the identifier the identifiers' own
        assignment (the tokenizer, for rq) gives the query image, no encoder-decoder; ``diagnostics``
        then says for how many queries the database has that identifier."""
        codes = self.identifiers.assign(self._split_items(query, ctx))
        self.own_found = own_found_rows(codes, self.tree)
        return own_identifier_ranking(codes, self.tree, k)

    def stats(self) -> dict[str, float | Measured]:
        """The index is the prefix tree with its identifier table (leaf -> images), measured as the
        bytes its arrays serialise to (as a backend's index by what ``save`` writes); the model is
        the encoder-decoder that answers queries."""
        pace = {name: float(v) for name, v in self.training_pace.items() if v is not None}  # trained in this run
        extraction = {"feature_extract_s": self.extraction} if self.extraction is not None else {}
        return {"db_items": float(self.tree.n_items), "n_identifiers": float(self.tree.n_leaves),
                "build_s": Measured(self.index_seconds), **extraction, "index_bytes": float(tree_bytes(self.tree)),
                "model_bytes": parameter_bytes(self.encoder, self.decoder), "input_px": float(self.encoder.image_size),
                **pace, **self.trained_steps}


SCORE_KIND = "log-probability of the identifier that returned the item (its beam's score), larger is better"


def tree_bytes(tree: PrefixTree) -> int:
    """The bytes the prefix tree's arrays (its identifier table included) serialise to."""
    arrays = {"child_ptr": tree.child_ptr, "edge_key": tree.edge_key, "leaf_ptr": tree.leaf_ptr,
              "leaf_items": tree.leaf_items}
    return arrays_bytes(**{name: a.cpu().numpy() for name, a in arrays.items()},
                        level_start=np.asarray(tree.level_start), max_children=np.asarray(tree.max_children))


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n))


class IRGenEncoderFeatures(FeatureModel):
    """f_cls of IRGen's tokenizer network (fine-tuned encoder), Euclidean distance."""

    name = "irgen-enc"
    metric = "l2"

    def __init__(self, cfg: IRGenConfig):
        super().__init__(cfg)
        # images load at the side the encoder reads them at (Encoder.load_px), which crops the centre
        self.image_size = cfg.encoder.resize_px if cfg.encoder.preprocess != "short_side" else cfg.encoder.image_size
        self.tokenizer = None

    def fit(self, train, ctx) -> None:
        items = np.arange(len(train))
        encoder = build_encoder(self.cfg.encoder, ctx, seed=ctx.seed)
        inputs = StemInputs(encoder, train, ctx)
        self.tokenizer = fit_tokenizer(self.cfg, encoder, inputs, train.labels, ctx, data_key(train, items))

    def embed(self, split, ctx, batch_size: int = EMBED_BATCH) -> np.ndarray:
        encoder = self.tokenizer.encoder
        return all_features(encoder, StemInputs(encoder, split, ctx)).cpu().numpy().astype(np.float32)

    @property
    def variant(self) -> str:
        """The preset, as IRGen's own rows name it."""
        return f"preset={self.cfg.preset}"

    def model_fields(self) -> dict:
        return {"preset": self.cfg.preset}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.encoder(x)[0]

    def modules(self):
        return [self.tokenizer.encoder]

    def pretrained_files(self) -> list:
        return clip_files(self.cfg)

    def identity(self) -> dict:
        return {"name": self.name, "encoder": dataclasses.asdict(self.cfg.encoder),
                "tokenizer": dataclasses.asdict(self.cfg.tokenizer),
                "weights": self.tokenizer.key if self.tokenizer else None}


def build(name: str, options) -> Method:
    cfg = make_config(options.overrides)
    if name == "irgen-enc":
        return FeatureSearch(IRGenEncoderFeatures(cfg), options.backend, options.backend_params, sweep=options.sweep,
                             fresh=options.fresh)
    return IRGen(cfg, identifier=options.identifier, seq_len=options.seq_len, fresh=options.fresh,
                 beams=options.beams, untrained=options.untrained)
