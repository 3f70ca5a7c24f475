import numpy as np
import pytest
import torch

from datasets import load_batch
from datasets.base import ArraySource, Split
from methods.base import HarnessError, RunContext
from methods.irgen.config import EncoderConfig
from methods.irgen.encoder import StemInputs, build_encoder
from tests.weight_files import save_compact


@pytest.fixture
def ctx(tmp_path):
    return RunContext(cache_dir=tmp_path / "cache", progress=False)


def images(n=6, size=28):
    rng = np.random.default_rng(0)
    return Split("train", ArraySource(rng.integers(0, 255, (n, size, size), dtype=np.uint8)), np.arange(n) % 3)


def test_effnet_encoder_shapes_and_frozen_stem(ctx):
    cfg = EncoderConfig(kind="effnet", image_size=32, dim=16, memory_dim=24, frozen_blocks=11)
    enc = build_encoder(cfg, ctx)
    x = torch.randn(2, 3, 32, 32)
    f_cls, tokens = enc(x)
    assert f_cls.shape == (2, 16) and tokens.shape == (2, 1, 24)  # 32 px: a 1 x 1 last map
    enc.train()
    assert all(not m.training for m in enc.backbone.stem_modules())
    assert all(not p.requires_grad for m in enc.backbone.stem_modules() for p in m.parameters())
    trainable = {id(p) for p in enc.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in enc.pretrained_parameters() + enc.new_parameters()}


def test_effnet_last_stride_one_keeps_more_spatial_tokens(ctx):
    cfg = EncoderConfig(kind="effnet", image_size=64, dim=8, memory_dim=8, frozen_blocks=11, last_stride=1)
    _, tokens = build_encoder(cfg, ctx)(torch.randn(1, 3, 64, 64))
    assert tokens.shape == (1, 16, 8)


def test_effnet_with_nothing_frozen_trains_everything(ctx):
    enc = build_encoder(EncoderConfig(kind="effnet", image_size=32, frozen_blocks=0), ctx)
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(enc.stem(x), x)
    assert len(enc.pretrained_parameters()) == len(list(enc.backbone.parameters()))


def test_effnet_encoder_trains_in_channels_last_on_the_cpu_with_the_default_layouts_numbers(ctx):
    """EfficientNet's convolutions run in channels_last on the CPU (about 2x the training steps per
    second of IRGen's encoder); the outputs and gradients are the default layout's."""
    cfg = EncoderConfig(kind="effnet", image_size=64, dim=8, memory_dim=8, frozen_blocks=11)
    enc = build_encoder(cfg, ctx)
    assert enc.backbone.net._conv_head.weight.is_contiguous(memory_format=torch.channels_last)
    reference = build_encoder(cfg, ctx).to(memory_format=torch.contiguous_format)
    assert reference.backbone.net._conv_head.weight.is_contiguous()
    x = torch.randn(4, 3, 64, 64)
    h = enc.eval().stem(x)  # the frozen blocks' batch norm keeps its statistics
    grads = []
    for model in (enc, reference):
        model.train()
        torch.manual_seed(0)  # the same drop-connect draws
        f_cls, tokens = model.from_stem(h)
        (f_cls.sum() + tokens.sum()).backward()
        grads.append(model.backbone.net._conv_head.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(enc.eval()(x), reference.eval()(x), rtol=1e-4, atol=1e-4)
    vit = EncoderConfig(kind="vit", image_size=16, patch_size=4, vit_width=32, vit_layers=2, vit_heads=2, frozen_blocks=1)
    assert build_encoder(vit, ctx).backbone.visual.conv1.weight.is_contiguous()


def test_small_vit_encoder(ctx):
    cfg = EncoderConfig(kind="vit", image_size=16, patch_size=4, vit_width=32, vit_layers=2, vit_heads=2,
                        dim=12, memory_dim=20, frozen_blocks=1)
    enc = build_encoder(cfg, ctx)
    h = enc.stem(torch.randn(3, 3, 16, 16))
    assert h.shape == (3, 17, 32)  # class token + 4 x 4 patches after one frozen block
    f_cls, tokens = enc.from_stem(h)
    assert f_cls.shape == (3, 12) and tokens.shape == (3, 16, 20)
    assert enc.spatial_map(h).shape == (3, 32, 4, 4)
    f_cls.sum().backward()
    assert enc.backbone.visual.conv1.weight.grad is None  # frozen


def test_stem_outputs_are_cached_once_per_split(ctx):
    enc = build_encoder(EncoderConfig(kind="effnet", image_size=32, frozen_blocks=8), ctx)
    split = images()
    inputs = StemInputs(enc, split, ctx)
    files = list((ctx.cache_dir / "irgen").glob("stem-*.pt"))
    assert len(files) == 1
    again = StemInputs(enc, split, ctx)
    assert torch.equal(inputs.table, again.table)
    sub = inputs.subset([4, 1])
    assert torch.equal(sub([0, 1]), inputs([4, 1]))
    direct = enc.stem(enc.normalise(load_batch(split, [4], 32), "cpu"))
    assert torch.allclose(inputs([4]), direct, atol=1e-2)  # cached as float16


def test_images_read_without_a_cached_stem_flip_a_seeded_half(ctx):
    enc = build_encoder(EncoderConfig(kind="effnet", image_size=32, frozen_blocks=0), ctx)
    inputs = StemInputs(enc, images(n=16), ctx)
    assert inputs.table is None
    plain, a, b = inputs(range(16)), inputs(range(16), flip_seed=1), inputs(range(16), flip_seed=1)
    assert torch.equal(a, b)
    flipped = [not torch.equal(a[i], plain[i]) for i in range(16)]
    assert 0 < sum(flipped) < 16
    assert all(torch.equal(a[i], plain[i].flip(-1)) for i in range(16) if flipped[i])


# --- the paper's encoder: open_clip ViT-B-16 with CLIP weights from a local file ---


@pytest.fixture(scope="module")
def vit_b16_file(tmp_path_factory):
    """The state dict of a randomly initialised open_clip ViT-B-16, in the official format."""
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-16", pretrained=None)
    folder = tmp_path_factory.mktemp("weights")
    save_compact(model.state_dict(), folder / "open_clip_vit_b16.pt")
    return folder, torch.load(folder / "open_clip_vit_b16.pt", weights_only=True)["visual.conv1.weight"]


def clip_cfg():
    return EncoderConfig(kind="clip-vit-b16", image_size=224, dim=32, memory_dim=32, frozen_blocks=0)


@pytest.mark.slow  # a paper-size ViT-B/16
def test_clip_vit_b16_loads_an_open_clip_state_dict(vit_b16_file, tmp_path):
    folder, conv1 = vit_b16_file
    enc = build_encoder(clip_cfg(), RunContext(cache_dir=tmp_path, weights_dir=folder))
    assert torch.equal(enc.backbone.visual.conv1.weight, conv1)
    assert enc.init["file"] == "open_clip_vit_b16.pt" and len(enc.init["sha1"]) == 12
    f_cls, tokens = enc(torch.randn(1, 3, 224, 224))
    assert f_cls.shape == (1, 32) and tokens.shape == (1, 196, 32)


@pytest.mark.slow  # a paper-size ViT-B/16
def test_clip_vit_b16_refuses_a_file_that_does_not_fit(vit_b16_file, tmp_path):
    state = torch.load(vit_b16_file[0] / "open_clip_vit_b16.pt", weights_only=True)
    state["visual.positional_embedding"] = state["visual.positional_embedding"][:50]  # a ViT-B/32's
    torch.save(state, tmp_path / "open_clip_vit_b16.pt")
    with pytest.raises(HarnessError) as err:
        build_encoder(clip_cfg(), RunContext(cache_dir=tmp_path, weights_dir=tmp_path))
    message = str(err.value)
    assert "\n" not in message and "open_clip_vit_b16.pt" in message
    assert "visual.positional_embedding expected shape (197, 768), got (50, 768)" in message


@pytest.mark.slow  # a paper-size ViT-B/16
def test_clip_vit_b16_refuses_a_resnet_or_truncated_file(tmp_path):
    import torchvision

    save_compact(torchvision.models.resnet18().state_dict(), tmp_path / "open_clip_vit_b16.pt")
    with pytest.raises(HarnessError, match=r"open_clip_vit_b16\.pt does not fit .* key visual\.\S+ is missing"):
        build_encoder(clip_cfg(), RunContext(cache_dir=tmp_path, weights_dir=tmp_path))
    data = (tmp_path / "open_clip_vit_b16.pt").read_bytes()
    (tmp_path / "open_clip_vit_b16.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(HarnessError, match=r"open_clip_vit_b16\.pt cannot be read"):
        build_encoder(clip_cfg(), RunContext(cache_dir=tmp_path, weights_dir=tmp_path))


def test_clip_vit_b16_without_the_file_says_what_to_put_where(tmp_path):
    with pytest.raises(HarnessError) as err:
        build_encoder(clip_cfg(), RunContext(cache_dir=tmp_path, weights_dir=tmp_path))
    message = str(err.value)
    assert "open_clip_pytorch_model.bin" in message and "huggingface.co" in message
    assert "--weights" in message and str(tmp_path) in message and "\n" not in message
