"""The official code's files, read as they are (github yakt00/IRGen): a checkpoint written by
``train_ar.py`` (``{'net': IRGen.state_dict()}``, keys prefixed ``module.`` under DDP) into the
encoder-decoder of ``preset=official``, one written by ``train_tokenizer.py`` (``vitrqfc``:
the CLIP tower, ``fc`` and ``fc_rq``) into the tokenizer's network and classifiers, and the
codebooks ``rq.py`` pickles (``{'codebook': (M, L, d), 'mapping': codes, ...}``) or an ``.npy``
of them.

Their layout differs from this harness's only in names and in how two layers are split:
the official cross-attention computes q from the identifier and k, v from the memory with one
``qkv`` Linear (rows [0, w) are q's, [w, 3w) k's and v's: this decoder's ``q`` and ``kv``), and
its ``label_embed`` is a Linear over one-hot codes with a ``start_token`` beside it (this
decoder's ``tok_emb`` rows are the Linear's columns, its BOS row the start token, ``tok_bias``
the Linear's bias). The loaded model computes what the official one computes
(tests/irgen/test_official_files.py checks the logits against the official forward pass).
A checkpoint that does not fit is one line naming the keys missing and the keys left over.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..base import HarnessError
from ..runtime.files import digest
from ..runtime.weights import read_state_dict, weights_checksum

DECODER_NAMES = {"norm1": "ln_1", "norm2": "ln_2", "norm3": "ln_3", "slf_attn.qkv": "self_attn.qkv",
                 "slf_attn.proj": "self_attn.proj", "multihead_attn.proj": "cross_attn.proj",
                 "mlp.fc1": "mlp.fc", "mlp.fc2": "mlp.proj"}
# the CLIP tower's final LayerNorm and projection, which the official code comments out: a model
# that reads the raw class token and all tokens never uses them (encoder.feature / encoder.memory)
UNUSED_BY_RAW = ("backbone.visual.ln_post.weight", "backbone.visual.ln_post.bias", "backbone.visual.proj")


def read_official(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of an official checkpoint ({'net': ...}), ``module.`` prefixes dropped."""
    return {k.removeprefix("module."): v for k, v in read_state_dict(Path(path)).items()}


def decoder_state(official: dict[str, torch.Tensor], width: int) -> dict[str, torch.Tensor]:
    """The official ``decoder.*`` keys in this decoder's names (module doc); other keys are left out."""
    out = {}
    for key, value in official.items():
        if not key.startswith("decoder."):
            continue
        name = key.removeprefix("decoder.")
        if name.startswith("blocks."):
            layer, rest = name.removeprefix("blocks.").split(".", 1)
            if rest.startswith("multihead_attn.qkv."):  # q's rows, then k's and v's
                part = rest.rsplit(".", 1)[1]
                out[f"blocks.{layer}.cross_attn.q.{part}"] = value[:width]
                out[f"blocks.{layer}.cross_attn.kv.{part}"] = value[width:]
                continue
            for old, new in DECODER_NAMES.items():
                if rest.startswith(old + "."):
                    rest = new + rest[len(old):]
            out[f"blocks.{layer}.{rest}"] = value
        elif name == "label_embed.weight":  # (width, vocab): one column per code
            out["tok_emb.weight"] = torch.cat([value.T, official["decoder.start_token"].reshape(1, -1)])
        elif name == "label_embed.bias":
            out["tok_bias"] = value
        elif name == "pos_embed_dec":  # (1, T + 1, width): the last position is never read
            out["pos_emb.weight"] = value[0, :-1]
        elif name.startswith(("norm.", "label_prj.")):
            out[name.replace("norm.", "ln_f.", 1).replace("label_prj.", "head.", 1)] = value
        elif name != "start_token":
            out[name] = value  # an unknown key: reported as left over
    return out


def encoder_state(official: dict[str, torch.Tensor], encoder: nn.Module) -> dict[str, torch.Tensor]:
    """The official ``encoder.*`` keys (OpenAI's tower as CLIP names it) in this encoder's names; the
    parts the official tower comments out are kept as they are where this encoder does not read them."""
    out = {f"backbone.visual.{k.removeprefix('encoder.')}": v for k, v in official.items() if k.startswith("encoder.")}
    own = encoder.state_dict()
    if encoder.cfg.feature == "raw_cls" and encoder.cfg.memory == "all_tokens":
        out.update({k: own[k] for k in UNUSED_BY_RAW if k in own and k not in out})
    return out


def load_checked(module: nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """``state`` into ``module`` after checking every key and shape: a mismatch is one line naming
    the keys missing and the keys left over (no key is ever skipped in silence)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshapen = [f"{k} {tuple(state[k].shape)} for {tuple(own[k].shape)}" for k in sorted(set(own) & set(state))
                 if state[k].shape != own[k].shape]
    if missing or unexpected or misshapen:
        def few(keys):
            return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "") if keys else "none"
        raise HarnessError(f"{path} does not fit {what}: missing {few(missing)}; unexpected {few(unexpected)}; "
                           f"misshapen {few(misshapen)} (an official {what} checkpoint for this config: "
                           f"check --set decoder.depth / --seq-len / the preset)")
    module.load_state_dict(state)


def load_encoder_decoder(path: Path, encoder: nn.Module, decoder: nn.Module) -> None:
    """A ``train_ar.py`` checkpoint into ``encoder`` and ``decoder`` (preset=official's)."""
    official = read_official(path)
    load_checked(decoder, decoder_state(official, decoder.config.width), path, "IRGen decoder (train_ar.py)")
    load_checked(encoder, encoder_state(official, encoder), path, "IRGen encoder (train_ar.py)")


def load_tokenizer(path: Path, encoder: nn.Module, classifier: nn.Module) -> None:
    """A ``train_tokenizer.py`` checkpoint (vitrqfc) into the tokenizer's ``encoder`` and its
    ``classifier`` (tokenizer.Classifiers with a classifier of the reconstructions' own: fc_rq)."""
    official = read_official(path)
    names = {"fc.": "of_features.", "fc_rq.": "own."}
    heads = {names[k.split(".")[0] + "."] + k.split(".", 1)[1]: v for k, v in official.items()
             if k.split(".")[0] in ("fc", "fc_rq")}
    load_checked(classifier, heads, path, "IRGen tokenizer classifiers (train_tokenizer.py fc, fc_rq)")
    load_checked(encoder, encoder_state(official, encoder), path, "IRGen tokenizer encoder (train_tokenizer.py)")


class _CodebookUnpickler(pickle.Unpickler):
    """Reads rq.py's pickle: numpy arrays, and its prefix tree (model.DictTree) as an inert stand-in."""

    def find_class(self, module, name):
        if module.startswith("numpy") and name in ("ndarray", "dtype", "_reconstruct", "scalar"):
            return super().find_class(module, name)
        if module == "numpy.core.multiarray" or module == "numpy._core.multiarray":
            return super().find_class(module, name)
        if (module, name) == ("model.DictTree", "TreeNode"):
            return _Inert
        raise HarnessError(f"codebooks file: {module}.{name} is not part of rq.py's pickle; give rq.py's output or "
                           f"an .npy of shape (M, L, d)")


class _Inert:
    def __setstate__(self, state):
        pass


def read_codebooks(path: Path) -> np.ndarray:
    """(M, L, d) codebooks from rq.py's pickle (its ``codebook``) or an ``.npy``."""
    path = Path(path)
    if path.suffix == ".npy":
        books = np.load(path, allow_pickle=False)
    else:
        with open(path, "rb") as f:
            doc = _CodebookUnpickler(f).load()
        books = doc.get("codebook") if isinstance(doc, dict) else None
    if books is None or np.ndim(books) != 3:
        raise HarnessError(f"codebooks file {path}: no (M, L, d) codebook array in it; give rq.py's pickle or an .npy")
    return np.asarray(books, dtype=np.float32)


def load_codebooks(path: Path, quantizer: nn.Module) -> None:
    """Official codebooks into a tokenizer.ResidualQuantizer of the same M, L, d."""
    books = torch.from_numpy(read_codebooks(path))
    if books.shape != quantizer.codebooks.shape:
        raise HarnessError(f"codebooks file {path}: shape {tuple(books.shape)}, the tokenizer has "
                           f"{tuple(quantizer.codebooks.shape)} (M, L, d); --seq-len / tokenizer.L / encoder.dim")
    quantizer.codebooks.copy_(books)
    quantizer.fitted.fill_(True)


def files_key(*paths) -> str:
    """What identifies loaded official files (in place of a trained model's cache key)."""
    return digest("official-files", *[(Path(p).name, weights_checksum(Path(p))) for p in paths])


def tokenizer_from_files(cfg, encoder: nn.Module, n_classes: int, device):
    """The tokenizer (train.TokenizerModel) from ``tokenizer.checkpoint`` and ``tokenizer.codebooks``."""
    from .tokenizer import Classifiers, ResidualQuantizer
    from .trainer import TokenizerModel

    t = cfg.tokenizer
    classifier = Classifiers(cfg.encoder.dim, n_classes, separate=True)
    quantizer = ResidualQuantizer(t.M, t.L, cfg.encoder.dim)
    load_tokenizer(Path(t.checkpoint), encoder, classifier)
    load_codebooks(Path(t.codebooks), quantizer)
    modules = nn.ModuleList([encoder, quantizer.to(device), classifier.to(device)]).eval()
    return TokenizerModel(modules[0], quantizer, classifier, files_key(t.checkpoint, t.codebooks))
