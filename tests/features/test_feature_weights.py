"""Pretrained weight files: the official formats load, a wrong file or a missing one is
refused in one line naming the file; the models' presets and their labels."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
import torch.nn as nn

from methods.base import HarnessError, RunContext
from methods.features.cgd import CGD, CGDConfig, CGDNet
from methods.features.clip import CLIP_WEIGHTS, Clip, ClipConfig
from methods.features.ftclip import FTClip, FTClipConfig
from methods.features.irt import DEIT_WEIGHTS, IRT, IRTConfig, deit
from methods.features.res101 import RESNET101_WEIGHTS, Res101, Res101Config, resnet
from methods.runtime import weights as W
from methods.runtime.files import file_checksum
from tests.weight_files import save_compact


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def ctx_for(folder) -> RunContext:
    return RunContext(progress=False, weights_dir=folder)


# ---------------------------------------------------------------- the checked loader (fast)


class Tiny(nn.Module):
    def __init__(self, width: int = 3):
        super().__init__()
        self.fc = nn.Linear(width, 2)
        self.bn = nn.BatchNorm1d(2)


def test_loader_loads_plain_and_wrapped_state_dicts(tmp_path):
    src = Tiny()
    torch.save(src.state_dict(), tmp_path / "plain.pth")
    torch.save({"model": src.state_dict(), "epoch": 3}, tmp_path / "wrapped.pth")
    for name in ("plain.pth", "wrapped.pth"):
        dst = Tiny()
        W.load_state_dict_checked(dst, tmp_path / name, expected_from="Tiny")
        assert torch.equal(dst.fc.weight, src.fc.weight)


def test_loader_refuses_a_shape_mismatch_naming_file_key_and_shapes(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(Tiny(width=5).state_dict(), path)
    with pytest.raises(HarnessError) as e:
        W.load_state_dict_checked(Tiny(width=3), path, expected_from="Tiny (width 3)")
    msg = one_line(e)
    assert str(path) in msg and "fc.weight" in msg and "(2, 3)" in msg and "(2, 5)" in msg


def test_loader_refuses_missing_and_unexpected_keys(tmp_path):
    state = Tiny().state_dict()
    missing = {k: v for k, v in state.items() if not k.startswith("bn.weight")}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(HarnessError) as e:
        W.load_state_dict_checked(Tiny(), tmp_path / "missing.pth", expected_from="Tiny")
    assert "bn.weight" in one_line(e) and "missing" in str(e.value)
    torch.save({**state, "extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(HarnessError) as e:
        W.load_state_dict_checked(Tiny(), tmp_path / "extra.pth", expected_from="Tiny")
    assert "extra.weight" in one_line(e)


def test_loader_takes_a_prefixed_sub_model_and_tolerates_old_batchnorm_counters(tmp_path):
    src = Tiny()
    state = {f"visual.{k}": v for k, v in src.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["text.weight"] = torch.zeros(4)  # another tower: ignored
    torch.save(state, tmp_path / "two_towers.pth")
    dst = Tiny()
    W.load_state_dict_checked(dst, tmp_path / "two_towers.pth", expected_from="Tiny", prefix="visual.")
    assert torch.equal(dst.fc.bias, src.fc.bias)


def test_loader_refuses_a_file_that_is_no_checkpoint(tmp_path):
    path = tmp_path / "resnet101-cd907fe2.pth"
    path.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(HarnessError) as e:
        W.load_state_dict_checked(Tiny(), path, expected_from="Tiny")
    assert str(path) in one_line(e)


@pytest.mark.parametrize("model", [Res101(Res101Config(preset="paper")), Clip(ClipConfig(preset="paper")),
                                   FTClip(FTClipConfig(preset="paper")), CGD(CGDConfig(preset="paper")),
                                   IRT(IRTConfig(preset="paper"))], ids=lambda m: m.name)
def test_paper_preset_without_weights_names_the_file_and_where_it_is_published(model, tmp_path, monkeypatch):
    monkeypatch.delenv("IRGEN_WEIGHTS", raising=False)
    spec = {"res101": RESNET101_WEIGHTS, "cgd": RESNET101_WEIGHTS, "irt": DEIT_WEIGHTS}.get(model.name, CLIP_WEIGHTS)
    for folder in (None, tmp_path):
        with pytest.raises(HarnessError) as e:
            model.fit(None, ctx_for(folder))  # refused before it reads the train split
        msg = one_line(e)
        assert spec.names[0] in msg and spec.url in msg


def test_weights_folder_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / RESNET101_WEIGHTS.names[1]).write_bytes(b"x")
    monkeypatch.setenv("IRGEN_WEIGHTS", str(tmp_path))
    assert W.find_weights(RESNET101_WEIGHTS, ctx_for(None)) == tmp_path / RESNET101_WEIGHTS.names[1]


# ---------------------------------------------------------------- presets and labels


def test_small_is_the_default_and_says_so():
    for model in (Res101(), Clip(), FTClip(), CGD(), IRT()):
        assert model.cfg.preset == "small" and model.name.endswith("-small")
        assert model.identity()["cfg"]["preset"] == "small"


def test_paper_preset_fills_defaults_and_user_values_win():
    cgd = CGD(CGDConfig(preset="paper"))
    assert cgd.name == "cgd" and cgd.image_size == 224 and cgd.cfg.dim == 1536 and cgd.cfg.train.lr == 1e-4
    mine = CGD(CGDConfig(preset="paper", dim=512))
    assert mine.cfg.dim == 512 and mine.cfg.image_size == 224
    assert Res101(Res101Config(preset="paper")).image_size == 224
    assert Clip(ClipConfig(preset="paper")).image_size == 224 and IRT(IRTConfig(preset="paper")).image_size == 224


def test_an_explicit_set_wins_over_the_paper_preset_even_at_the_small_default():
    """With preset=paper, --set image_size=32 (CGD's small default) stays 32; what is not set takes the preset."""
    from methods.registry import MethodOptions, make_method

    cgd = make_method("cgd", MethodOptions(overrides={"preset": "paper", "image_size": 32, "train.lr": 2e-3})).model
    assert cgd.image_size == 32 and cgd.cfg.train.lr == 2e-3  # both equal to the small defaults, both given
    assert cgd.cfg.dim == 1536 and cgd.cfg.train.epochs == 30.0  # not given: the paper's
    section = make_method("cgd", MethodOptions(overrides={"preset": "paper", "train": {"batch_size": 64}})).model
    assert section.cfg.train.batch_size == 64 and section.cfg.train.lr == 1e-4  # a section's key, given
    res101 = make_method("res101", MethodOptions(overrides={"preset": "paper", "image_size": 32})).model
    assert res101.image_size == 32
    assert make_method("res101", MethodOptions(overrides={"preset": "paper"})).model.image_size == 224


def test_size_is_read_as_preset_with_one_deprecation_line(caplog):
    """``size=`` was the feature models' key for the paper's model; every method now takes ``preset=``."""
    from methods.registry import MethodOptions, make_method
    from methods.runtime.overrides import size_is_preset

    size_is_preset.cache_clear()
    with caplog.at_level("WARNING"):
        old = make_method("res101", MethodOptions(overrides={"size": "paper"}))
        make_method("res101", MethodOptions(overrides={"size": "paper"}))
    new = make_method("res101", MethodOptions(overrides={"preset": "paper"}))
    assert old.variant == new.variant == "preset=paper" and old.model.identity() == new.model.identity()
    notes = [r.getMessage() for r in caplog.records if "size=" in r.getMessage()]
    assert len(notes) == 1 and "`size=` is now `preset=`" in notes[0]
    assert make_method("irgen", MethodOptions(overrides={"size": "paper"})).cfg.preset == "paper"
    with pytest.raises(HarnessError) as both:
        make_method("res101", MethodOptions(overrides={"size": "paper", "preset": "small"}))
    assert "preset=" in one_line(both)


def test_unknown_preset_is_refused():
    with pytest.raises(HarnessError, match="preset=huge"):
        Res101(Res101Config(preset="huge"))


# ---------------------------------------------------------------- the official files (big: once per session)


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def resnet101_file(weights_dir):
    import torchvision

    path = weights_dir / RESNET101_WEIGHTS.names[0]
    save_compact(torchvision.models.resnet101().state_dict(), path)  # torchvision's keys and shapes
    return path


@pytest.fixture(scope="session")
def clip_file(weights_dir):
    import open_clip

    path = weights_dir / CLIP_WEIGHTS.names[0]
    save_compact(open_clip.create_model("ViT-B-16").state_dict(), path)  # the whole CLIP, as published
    return path


@pytest.fixture(scope="session")
def deit_file(weights_dir):
    import timm

    path = weights_dir / DEIT_WEIGHTS.names[0]
    net = timm.create_model("deit_base_patch16_224", pretrained=False)
    save_compact(net.state_dict(), path, wrap="model")  # the DeiT release wraps it under "model"
    return path


def images(n: int = 2, size: int = 224) -> torch.Tensor:
    return torch.randn(n, 3, size, size)


@pytest.mark.slow
def test_res101_and_cgd_backbone_load_torchvision_resnet101_file(resnet101_file):
    ctx = ctx_for(resnet101_file.parent)
    model = Res101(Res101Config(preset="paper"))
    model.fit(None, ctx)
    stored = torch.load(resnet101_file, weights_only=True)
    assert torch.equal(model.net.layer3[22].conv2.weight, stored["layer3.22.conv2.weight"])
    assert model.identity()["init"] == {"file": resnet101_file.name, "sha1": file_checksum(resnet101_file)}
    with torch.no_grad():
        assert model.encode(images()).shape == (2, 2048)
        backbone, init = resnet("paper", ctx)  # CGD's starting point
        net = CGDNet(backbone, CGD(CGDConfig(preset="paper")).cfg, n_classes=5).eval()
        combined, first = net(images(1))
    assert init["sha1"] == file_checksum(resnet101_file)
    assert combined.shape == (1, 1536) and first.shape == (1, 2048)
    assert float(combined.norm()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_clip_and_ftclip_load_the_open_clip_vit_b16_file(clip_file):
    ctx = ctx_for(clip_file.parent)
    stored = torch.load(clip_file, weights_only=True)
    for model in (Clip(ClipConfig(preset="paper")), FTClip(FTClipConfig(preset="paper"))):
        Clip.fit(model, None, ctx)  # for FT-CLIP: its starting point, before fine-tuning
        assert torch.equal(model.visual.conv1.weight, stored["visual.conv1.weight"])
        assert model.init["sha1"] == file_checksum(clip_file)
    model.eval_mode()
    with torch.no_grad():
        z = model.encode(images())
    assert z.shape == (2, 512) and torch.allclose(z.norm(dim=1), torch.ones(2), atol=1e-5)


@pytest.mark.slow
def test_irt_loads_the_deit_base_file(deit_file):
    ctx = ctx_for(deit_file.parent)
    net, init = deit("paper", 0.1, ctx)
    stored = torch.load(deit_file, weights_only=True)["model"]
    assert torch.equal(net.blocks[11].attn.qkv.weight, stored["blocks.11.attn.qkv.weight"])
    assert init["sha1"] == file_checksum(deit_file)
    model = IRT(IRTConfig(preset="paper"))
    model.net = net.eval()
    with torch.no_grad():
        z = model.encode(images())
    assert z.shape == (2, 768) and torch.allclose(z.norm(dim=1), torch.ones(2), atol=1e-5)


@pytest.mark.slow
def test_wrong_files_are_refused_naming_the_file_key_and_shapes(tmp_path):
    import open_clip
    import torchvision

    save_compact(torchvision.models.resnet18().state_dict(), tmp_path / RESNET101_WEIGHTS.names[0])
    with pytest.raises(HarnessError) as e:
        Res101(Res101Config(preset="paper")).fit(None, ctx_for(tmp_path))
    msg = one_line(e)
    assert str(tmp_path / RESNET101_WEIGHTS.names[0]) in msg
    assert "layer1.0.conv1.weight" in msg and "(64, 64, 1, 1)" in msg and "(64, 64, 3, 3)" in msg

    save_compact(open_clip.create_model("ViT-B-32").state_dict(), tmp_path / CLIP_WEIGHTS.names[0])
    with pytest.raises(HarnessError) as e:
        Clip(ClipConfig(preset="paper")).fit(None, ctx_for(tmp_path))
    msg = one_line(e)
    assert str(tmp_path / CLIP_WEIGHTS.names[0]) in msg and "visual." in msg and "expected shape" in msg


# ---------------------------------------------------------------- results know which file they came from


def test_starting_weights_name_each_file_and_its_checksum(tmp_path):
    (tmp_path / DEIT_WEIGHTS.names[0]).write_bytes(b"not really weights")
    assert W.starting_weights([DEIT_WEIGHTS], ctx_for(tmp_path)) == {
        DEIT_WEIGHTS.names[0]: file_checksum(tmp_path / DEIT_WEIGHTS.names[0])}
    assert W.starting_weights([], ctx_for(None)) == {}
    with pytest.raises(HarnessError) as e:
        W.starting_weights([RESNET101_WEIGHTS], ctx_for(tmp_path))
    assert RESNET101_WEIGHTS.names[0] in one_line(e)
    assert Res101(Res101Config(preset="paper")).pretrained_files() == [RESNET101_WEIGHTS]
    assert Res101().pretrained_files() == [] and IRT(IRTConfig(preset="paper")).pretrained_files() == [DEIT_WEIGHTS]


@pytest.mark.slow
def test_a_cell_computed_from_another_weights_file_is_computed_again(resnet101_file, tmp_path):
    import torchvision

    from bench.run import main

    other = tmp_path / "other"
    other.mkdir()
    save_compact(torchvision.models.resnet101().state_dict(), other / resnet101_file.name, seed=1)

    def run(folder) -> pd.DataFrame:
        argv = ["--method", "res101", "--set", "preset=paper", "--dataset", "digits", "--limit", "12", "--k", "1",
                "--weights", str(folder), "--results", str(tmp_path / "res"), "--cache", str(tmp_path / "cache"),
                "--no-progress"]
        assert main(argv) == 0
        return pd.read_csv(tmp_path / "res" / "results.csv")

    first = run(resnet101_file.parent)
    assert len(run(resnet101_file.parent)) == len(first)  # the same file: nothing computed again
    both = run(other)
    assert both["cell_id"].nunique() == 2 and len(both) == 2 * len(first)
