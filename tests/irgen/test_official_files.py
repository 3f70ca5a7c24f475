"""The official code's files load as they are: a train_ar.py checkpoint gives the official model's
logits, a train_tokenizer.py checkpoint and rq.py's codebooks load into the tokenizer, OpenAI's
TorchScript CLIP file loads with QuickGELU, and a file that does not fit is one line naming keys."""
import pickle
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from methods.base import HarnessError, RunContext
from methods.features.clip import OPENAI_CLIP_WEIGHTS, SMALL_CLIP, load_clip_tower
from methods.irgen.config import make_config
from methods.irgen.decoder import Decoder
from methods.irgen.encoder import build_encoder
from methods.irgen.official import load_codebooks, load_encoder_decoder, load_tokenizer
from methods.irgen.tokenizer import Classifiers, ResidualQuantizer
from tests.weight_files import save_torchscript

W, HEADS, DEPTH, VOCAB, T = 32, 2, 2, 5, 3


def official_config():
    """preset=official at tiny shapes: the small ViT tower, raw class token and all tokens."""
    return make_config({"preset": "official", "encoder.kind": "vit", "encoder.image_size": 16,
                        "encoder.preprocess": "short_side", "encoder.vit_width": W, "encoder.vit_layers": 1,
                        "encoder.vit_heads": HEADS, "encoder.dim": W, "encoder.memory_dim": W,
                        "decoder.width": W, "decoder.heads": HEADS, "decoder.depth": DEPTH,
                        "decoder.memory_dim": W, "decoder.vocab_size": VOCAB, "decoder.seq_len": T})


def official_decoder_keys(g) -> dict:
    """model/model.py's Decoder keys and shapes (qkv without bias), random values."""
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.2  # noqa: E731
    sd = {"label_embed.weight": r(W, VOCAB), "label_embed.bias": r(W), "start_token": r(1, 1, W),
          "pos_embed_dec": r(1, T + 1, W), "norm.weight": 1 + r(W), "norm.bias": r(W),
          "label_prj.weight": r(VOCAB, W), "label_prj.bias": r(VOCAB)}
    for i in range(DEPTH):
        for n in ("norm1", "norm2", "norm3"):
            sd[f"blocks.{i}.{n}.weight"], sd[f"blocks.{i}.{n}.bias"] = 1 + r(W), r(W)
        for a in ("slf_attn", "multihead_attn"):
            sd[f"blocks.{i}.{a}.qkv.weight"] = r(3 * W, W)
            sd[f"blocks.{i}.{a}.proj.weight"], sd[f"blocks.{i}.{a}.proj.bias"] = r(W, W), r(W)
        sd[f"blocks.{i}.mlp.fc1.weight"], sd[f"blocks.{i}.mlp.fc1.bias"] = r(4 * W, W), r(4 * W)
        sd[f"blocks.{i}.mlp.fc2.weight"], sd[f"blocks.{i}.mlp.fc2.bias"] = r(W, 4 * W), r(W)
    return sd


def official_tower_keys(encoder, g) -> dict:
    """OpenAI's tower keys as the official modified CLIP has them (no ln_post, no proj), random values."""
    own = encoder.backbone.visual.state_dict()
    return {k: torch.randn(v.shape, generator=g) * 0.1 + (1 if k.endswith("ln_1.weight") else 0)
            for k, v in own.items() if not k.startswith(("ln_post", "proj"))}


def official_forward(sd: dict, memory: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """model/model.py's Decoder.forward, as read there, over the raw state dict: the logits of the
    T positions that predict the identifier (the last of its T + 1 outputs is dropped, as train_ar.py does)."""
    b = tokens.shape[0]
    x = F.one_hot(tokens, VOCAB).float() @ sd["label_embed.weight"].T + sd["label_embed.bias"]
    x = torch.cat([sd["start_token"].expand(b, 1, W), x], 1) + sd["pos_embed_dec"][:, : T + 1]

    def attn(prefix, q_in, kv_in, causal):
        w = sd[prefix + ".qkv.weight"]
        heads = lambda t: t.view(b, -1, HEADS, W // HEADS).transpose(1, 2)  # noqa: E731
        q, k, v = heads(q_in @ w[:W].T), heads(kv_in @ w[W:2 * W].T), heads(kv_in @ w[2 * W:].T)
        a = q @ k.transpose(-2, -1) * (W // HEADS) ** -0.5
        if causal:
            a = a.masked_fill(torch.ones(a.shape[-2:]).tril() == 0, -1e9)
        y = (a.softmax(-1) @ v).transpose(1, 2).reshape(b, -1, W)
        return y @ sd[prefix + ".proj.weight"].T + sd[prefix + ".proj.bias"]

    ln = lambda t, n: F.layer_norm(t, (W,), sd[n + ".weight"], sd[n + ".bias"])  # noqa: E731
    for i in range(DEPTH):
        p = f"blocks.{i}"
        x = ln(x, p + ".norm1")
        x = x + attn(p + ".slf_attn", x, x, True)
        x = ln(x, p + ".norm2")
        x = x + attn(p + ".multihead_attn", x, memory, False)
        x = ln(x, p + ".norm3")
        h = F.gelu(x @ sd[p + ".mlp.fc1.weight"].T + sd[p + ".mlp.fc1.bias"])
        x = x + h @ sd[p + ".mlp.fc2.weight"].T + sd[p + ".mlp.fc2.bias"]
    x = ln(x, "norm")
    return (x @ sd["label_prj.weight"].T + sd["label_prj.bias"])[:, :T]


@pytest.fixture
def official_model(tmp_path):
    cfg = official_config()
    encoder = build_encoder(cfg.encoder, RunContext(progress=False))
    decoder = Decoder(cfg.decoder)
    g = torch.Generator().manual_seed(0)
    dec, tower = official_decoder_keys(g), official_tower_keys(encoder, g)
    net = {f"module.decoder.{k}": v for k, v in dec.items()} | {f"module.encoder.{k}": v for k, v in tower.items()}
    path = tmp_path / "isc_rq_400.pkl"
    torch.save({"net": net, "epoch": 400}, path)  # train_ar.py's layout under DDP
    return cfg, encoder, decoder, dec, tower, path


def test_a_train_ar_checkpoint_gives_the_official_models_logits(official_model):
    cfg, encoder, decoder, dec, tower, path = official_model
    load_encoder_decoder(path, encoder, decoder)
    torch.testing.assert_close(encoder.backbone.visual.conv1.weight, tower["conv1.weight"])
    images, tokens = torch.randn(2, 3, 16, 16), torch.tensor([[1, 4, 2], [0, 3, 3]])
    encoder.eval(), decoder.eval()
    with torch.no_grad():
        f_cls, memory = encoder(images)
        assert f_cls.shape == (2, W) and memory.shape == (2, 1 + 16, W)  # raw class token, all 17 tokens
        torch.testing.assert_close(decoder(memory, tokens), official_forward(dec, memory, tokens), atol=1e-4, rtol=1e-4)
        state = decoder.start(memory)  # beam search's stepwise decoding computes the same
        logits, _ = decoder.step(state, torch.full((2,), decoder.bos))
        torch.testing.assert_close(logits, official_forward(dec, memory, tokens)[:, 0], atol=1e-4, rtol=1e-4)


def test_a_checkpoint_that_does_not_fit_names_its_missing_and_unexpected_keys(official_model, tmp_path):
    cfg, encoder, decoder, dec, tower, _ = official_model
    net = {f"decoder.{k}": v for k, v in dec.items() if k != "label_prj.bias"}
    net["decoder.extra.weight"] = torch.zeros(1)
    net |= {f"encoder.{k}": v for k, v in tower.items()}
    path = tmp_path / "bad.pkl"
    torch.save({"net": net}, path)
    with pytest.raises(HarnessError) as err:
        load_encoder_decoder(path, encoder, decoder)
    message = str(err.value)
    assert "\n" not in message and "missing head.bias" in message and "unexpected extra.weight" in message
    deeper = Decoder(make_config({"preset": "official", "decoder.width": W, "decoder.heads": HEADS,
                                  "decoder.depth": DEPTH + 1, "decoder.memory_dim": W,
                                  "decoder.vocab_size": VOCAB, "decoder.seq_len": T}).decoder)
    with pytest.raises(HarnessError, match=r"missing blocks\.2\."):
        load_encoder_decoder(official_model[5], encoder, deeper)


def fake_tree_module():
    """rq.py pickles a model.DictTree.TreeNode beside the codebooks: a stand-in class of that name."""
    module = types.ModuleType("model.DictTree")

    class TreeNode:
        def __init__(self):
            self.nodes = {}
    TreeNode.__module__, TreeNode.__qualname__ = "model.DictTree", "TreeNode"
    module.TreeNode = TreeNode
    return module


def test_a_train_tokenizer_checkpoint_and_rq_codebooks_load(tmp_path, monkeypatch):
    cfg = official_config()
    encoder = build_encoder(cfg.encoder, RunContext(progress=False))
    classifier = Classifiers(W, 7, separate=True)
    g = torch.Generator().manual_seed(1)
    net = {f"encoder.{k}": v for k, v in official_tower_keys(encoder, g).items()}
    net |= {"fc.weight": torch.randn(7, W), "fc.bias": torch.randn(7), "fc_rq.weight": torch.randn(7, W),
            "fc_rq.bias": torch.randn(7)}
    torch.save({"net": net, "optimizer": {}, "epoch": 200}, tmp_path / "isc_vitrqfc_200.pkl")
    load_tokenizer(tmp_path / "isc_vitrqfc_200.pkl", encoder, classifier)
    torch.testing.assert_close(classifier.own.weight, net["fc_rq.weight"])
    torch.testing.assert_close(classifier.of_features.bias, net["fc.bias"])
    books = np.random.default_rng(0).normal(size=(4, 8, W)).astype(np.float32)
    monkeypatch.setitem(sys.modules, "model", types.ModuleType("model"))
    monkeypatch.setitem(sys.modules, "model.DictTree", fake_tree_module())
    with open(tmp_path / "isc_256rq4_ids.pkl", "wb") as f:
        pickle.dump({"mapping": np.zeros((3, 4), np.int64), "codebook": books,
                     "dict_tree": sys.modules["model.DictTree"].TreeNode()}, f)
    monkeypatch.delitem(sys.modules, "model.DictTree")  # read without the official code
    quantizer = ResidualQuantizer(4, 8, W)
    load_codebooks(tmp_path / "isc_256rq4_ids.pkl", quantizer)
    assert torch.equal(quantizer.codebooks, torch.from_numpy(books)) and bool(quantizer.fitted)
    codes = quantizer.encode(encoder(torch.randn(2, 3, 16, 16))[0].detach())
    assert codes.shape == (2, 4)
    with pytest.raises(HarnessError, match=r"shape \(4, 8, 32\), the tokenizer has \(2, 8, 32\)"):
        load_codebooks(tmp_path / "isc_256rq4_ids.pkl", ResidualQuantizer(2, 8, W))


def test_openais_torchscript_file_loads_as_it_is_with_quick_gelu(tmp_path):
    """A TorchScript archive with OpenAI's key names (model/CLIP/clip/model.py: visual.conv1, visual.
    class_embedding, visual.transformer.resblocks.N.attn.in_proj_weight, ..., visual.proj, and the text
    tower's keys beside them) loads into the image tower; QuickGELU is set from the file."""
    import open_clip

    def build(quick):
        return open_clip.CLIP(**SMALL_CLIP, quick_gelu=quick).visual

    reference = open_clip.CLIP(**SMALL_CLIP, quick_gelu=True)
    state = {k: torch.randn(v.shape) for k, v in reference.state_dict().items()}
    assert "visual.transformer.resblocks.0.attn.in_proj_weight" in state and "visual.proj" in state
    save_torchscript(state, tmp_path / "ViT-B-16.pt")
    visual, init = load_clip_tower(build, OPENAI_CLIP_WEIGHTS, False, RunContext(progress=False, weights_dir=tmp_path))
    assert init["file"] == "ViT-B-16.pt"
    torch.testing.assert_close(visual.conv1.weight, state["visual.conv1.weight"])
    assert type(visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    assert visual(torch.randn(1, 3, 32, 32)).shape == (1, SMALL_CLIP["embed_dim"])


def test_the_tokenizer_comes_from_its_files_and_both_are_needed(tmp_path):
    cfg = official_config()
    encoder = build_encoder(cfg.encoder, RunContext(progress=False))
    g = torch.Generator().manual_seed(2)
    net = {f"encoder.{k}": v for k, v in official_tower_keys(encoder, g).items()}
    net |= {f"{h}.{p}": torch.randn((3, W) if p == "weight" else (3,)) for h in ("fc", "fc_rq") for p in ("weight", "bias")}
    torch.save({"net": net}, tmp_path / "tok.pkl")
    np.save(tmp_path / "books.npy", np.random.default_rng(0).normal(size=(4, 256, W)).astype(np.float32))
    cfg = make_config({**{"preset": "official"}, **{f"encoder.{k}": getattr(cfg.encoder, k) for k in (
        "kind", "image_size", "preprocess", "vit_width", "vit_layers", "vit_heads", "dim", "memory_dim")},
        "tokenizer.checkpoint": str(tmp_path / "tok.pkl"), "tokenizer.codebooks": str(tmp_path / "books.npy")})
    from methods.irgen.official import tokenizer_from_files

    tok = tokenizer_from_files(cfg, encoder, 3, "cpu")
    assert tok.quantizer.encode(tok.encoder(torch.randn(2, 3, 16, 16))[0].detach()).shape == (2, 4)
    assert tok.key and tok.images_per_s is None
    with pytest.raises(HarnessError, match="give both"):
        make_config({"preset": "official", "tokenizer.checkpoint": str(tmp_path / "tok.pkl")})


def test_clip_and_ftclip_name_openais_file_when_they_start_from_it():
    from methods.features.clip import Clip, ClipConfig
    from methods.features.ftclip import FTClip, FTClipConfig

    clip = Clip(ClipConfig(preset="paper", weights="openai"))
    assert clip.variant == "preset=paper,weights=openai" and clip.pretrained_files() == [OPENAI_CLIP_WEIGHTS]
    assert FTClip(FTClipConfig(preset="paper", weights="openai")).pretrained_files() == [OPENAI_CLIP_WEIGHTS]
    assert Clip(ClipConfig(preset="paper")).variant == "preset=paper"
    with pytest.raises(HarnessError, match="choose one of open_clip, openai"):
        Clip(ClipConfig(weights="laion"))
