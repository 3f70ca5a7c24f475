"""preset=official: what the released code runs, each difference a setting, on tiny shapes."""
import math

import pytest
import torch

from methods.base import HarnessError, RunContext
from methods.irgen.config import Restarts, make_config
from methods.irgen.decoder import Decoder, DecoderConfig
from methods.irgen.encoder import Encoder, build_encoder
from methods.irgen.tokenizer import ResidualQuantizer
from methods.irgen.trainer import restart_lr


def test_the_official_preset_holds_the_released_recipe():
    cfg = make_config({"preset": "official"})
    e, d, t = cfg.encoder, cfg.decoder, cfg.tokenizer
    assert (e.kind, e.feature, e.memory, e.weights, e.preprocess, e.quick_gelu) == (
        "clip-vit-b16", "raw_cls", "all_tokens", "openai", "resize256_crop224", True)
    assert (d.norm, d.qkv_bias, d.init, d.token_bias, d.head_bias, d.depth, d.width) == (
        "post", False, "xavier", True, True, 12, 768)
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.epochs, cfg.train.label_smoothing, cfg.train.flip) == (
        8e-5, 512, 400.0, 0.1, False)
    assert cfg.schedule == Restarts(cycles=4, cycle_epochs=100, warmup_epochs=20, lr_min=5e-7, warmup_lr_init=5e-8)
    assert (t.loss, t.kmeans, t.train.label_smoothing, t.train.flip, t.schedule.cycles, t.schedule.cycle_epochs) == (
        "official", "refit_each_epoch", 0.0, False, 1, 50)
    # each is a setting of its own, on any preset
    small = make_config({"decoder.norm": "post", "encoder.preprocess": "resize256_crop224"})
    assert small.preset == "small" and small.decoder.norm == "post" and small.decoder.qkv_bias


@pytest.mark.parametrize("key", ["encoder.feature", "encoder.memory", "encoder.weights", "encoder.preprocess",
                                 "tokenizer.kmeans", "decoder.norm", "decoder.init"])
def test_a_setting_outside_its_words_is_one_line(key):
    with pytest.raises(HarnessError, match=f"--set {key}=nope: choose one of"):
        make_config({key: "nope"})


def test_restart_lr_is_timms_cosine_with_warm_restarts():
    r = Restarts(cycles=4, cycle_epochs=100, warmup_epochs=20, lr_min=5e-7, warmup_lr_init=5e-8)
    base = 8e-5
    assert restart_lr(0, base, r) == pytest.approx(5e-8)
    assert restart_lr(10, base, r) == pytest.approx(5e-8 + 10 * (base - 5e-8) / 20)
    # the cosine's phase runs through the warm-up: at epoch 20 it is 20% into its first cycle
    assert restart_lr(20, base, r) == pytest.approx(5e-7 + 0.5 * (base - 5e-7) * (1 + math.cos(math.pi * 0.2)))
    assert restart_lr(100, base, r) == pytest.approx(base)  # a warm restart
    assert restart_lr(150, base, r) == pytest.approx(5e-7 + 0.5 * (base - 5e-7))
    assert restart_lr(400, base, r) == restart_lr(1000, base, r) == 5e-7  # after the 4 cycles, the floor
    # the encoder's group (1%: 8e-7) heads to the same floor
    assert restart_lr(199.999, 0.01 * base, r) == pytest.approx(5e-7, rel=1e-3)


def tiny(**kw) -> DecoderConfig:
    return DecoderConfig(vocab_size=5, seq_len=3, width=16, depth=2, heads=2, memory_dim=16, **kw)


OFFICIAL_DECODER = dict(norm="post", qkv_bias=False, init="xavier", token_bias=True, head_bias=True)


def test_the_official_decoder_block_is_post_norm():
    torch.manual_seed(0)
    dec = Decoder(tiny(**OFFICIAL_DECODER))
    with torch.no_grad():
        dec.tok_bias.normal_()
        dec.head.bias.normal_()
    block = dec.blocks[0]
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    kv = block.cross_attn.memory_kv(memory)
    y, _ = block(x, kv)
    h = block.ln_1(x)  # the stream is replaced by its LayerNorm before each sub-layer
    h = h + block.self_attn(h)[0]
    h = block.ln_2(h)
    h = h + block.cross_attn(h, *kv)
    h = block.ln_3(h)
    torch.testing.assert_close(y, h + block.mlp(h))
    assert block.self_attn.qkv.bias is None and block.cross_attn.q.bias is None and block.cross_attn.kv.bias is None
    assert dec.head.bias is not None


@pytest.mark.parametrize("settings", [{}, OFFICIAL_DECODER])
def test_stepwise_decoding_gives_the_teacher_forced_logits(settings):
    torch.manual_seed(0)
    dec = Decoder(tiny(**settings)).eval()
    if dec.tok_bias is not None:
        with torch.no_grad():
            dec.tok_bias.normal_()
    memory, tokens = torch.randn(2, 4, 16), torch.tensor([[1, 4, 2], [0, 3, 3]])
    with torch.no_grad():
        forced = dec(memory, tokens)
        state = dec.start(memory)
        prev = torch.full((2,), dec.bos)
        for t in range(3):
            logits, state = dec.step(state, prev)
            torch.testing.assert_close(logits, forced[:, t], atol=1e-5, rtol=1e-5)
            prev = tokens[:, t]


def test_token_bias_is_added_to_codes_not_to_bos():
    dec = Decoder(tiny(token_bias=True))
    with torch.no_grad():
        dec.tok_bias.fill_(1.0)
    tokens = torch.tensor([0, dec.bos])
    torch.testing.assert_close(dec.embed(tokens), dec.tok_emb(tokens) + torch.tensor([[1.0], [0.0]]))


def test_xavier_init_bounds_every_matrix():
    torch.manual_seed(0)
    dec = Decoder(tiny(init="xavier"))
    for name, p in dec.named_parameters():
        if p.dim() > 1:
            fan_out, fan_in = p.shape[0], p[0].numel()
            assert p.abs().max() <= math.sqrt(6 / (fan_in + fan_out)) + 1e-6, name
    gpt2 = Decoder(tiny())
    assert float(gpt2.blocks[0].mlp.fc.weight.std()) == pytest.approx(0.02, rel=0.2)


def vit_encoder(**kw) -> Encoder:
    cfg = make_config({"encoder.kind": "vit", "encoder.image_size": 16, "encoder.vit_width": 32,
                       "encoder.vit_layers": 1, "encoder.vit_heads": 2, "encoder.frozen_blocks": 0,
                       **{f"encoder.{k}": v for k, v in kw.items()}}).encoder
    return build_encoder(cfg, RunContext(progress=False))


def test_raw_cls_and_all_tokens_take_the_towers_tokens_with_no_new_layer():
    enc = vit_encoder(feature="raw_cls", memory="all_tokens", dim=32, memory_dim=32)
    assert isinstance(enc.cls_proj, torch.nn.Identity) and isinstance(enc.token_proj, torch.nn.Identity)
    f, tokens = enc(torch.randn(2, 3, 16, 16))
    assert f.shape == (2, 32) and tokens.shape == (2, 1 + 16, 32)  # the class token and the 4 x 4 patches
    torch.testing.assert_close(f, tokens[:, 0])  # the class token as it leaves the last block, no ln_post
    default = vit_encoder()
    f, tokens = default(torch.randn(2, 3, 16, 16))
    assert f.shape == (2, 128) and tokens.shape == (2, 16, 256)


def test_raw_settings_refuse_a_width_they_cannot_give_and_a_cnn():
    with pytest.raises(HarnessError, match="encoder.dim must be the tower's width 32"):
        vit_encoder(feature="raw_cls")
    with pytest.raises(HarnessError, match="is for ViT encoders"):
        build_encoder(make_config({"encoder.memory": "all_tokens"}).encoder, RunContext(progress=False))


def test_resize_then_crop_loads_larger_and_crops_the_centre_or_given_offsets():
    enc = vit_encoder(preprocess="resize256_crop224", resize_px=20)
    assert enc.load_px == 20 and enc.image_size == 16
    x = torch.arange(2 * 3 * 20 * 20, dtype=torch.float32).view(2, 3, 20, 20)
    torch.testing.assert_close(enc.crop(x), x[..., 2:18, 2:18])
    offsets = enc.crop_offsets(2, torch.Generator().manual_seed(0))
    assert offsets.shape == (2, 2) and 0 <= int(offsets.min()) and int(offsets.max()) <= 4
    cropped = enc.crop(x, torch.tensor([[0, 4], [3, 1]]))
    torch.testing.assert_close(cropped[1], x[1, :, 3:19, 1:17])
    assert enc(x)[0].shape == (2, 128)  # forward takes the loaded side and crops the centre


def test_refit_each_epoch_draws_new_codebooks_where_warm_refines_the_last():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(200, 4, generator=g)
    warm, fresh = ResidualQuantizer(2, 8, 4), ResidualQuantizer(2, 8, 4)
    for q in (warm, fresh):
        q.fit(f, 2, seed=0)
    shifted = f + 0.1
    warm.fit(shifted, 2, seed=5)
    fresh.fitted.fill_(False)  # what train_tokenizer does each round with tokenizer.kmeans=refit_each_epoch
    fresh.fit(shifted, 2, seed=5)
    scratch = ResidualQuantizer(2, 8, 4)
    scratch.fit(shifted, 2, seed=5)
    torch.testing.assert_close(fresh.codebooks, scratch.codebooks)
    assert not torch.allclose(warm.codebooks, scratch.codebooks)
