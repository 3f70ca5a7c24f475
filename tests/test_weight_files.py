"""The compact weight files the loader tests use keep every key, shape and dtype of the real
ones in a small fraction of their size."""
import torch
import torchvision

from tests.weight_files import save_compact


def test_a_compact_file_has_every_key_and_shape_in_a_fraction_of_the_size(tmp_path):
    state = torchvision.models.resnet18().state_dict()
    full, small = tmp_path / "full.pth", tmp_path / "small.pth"
    torch.save(state, full)
    save_compact(state, small)
    loaded = torch.load(small, weights_only=True)
    assert {k: (v.shape, v.dtype) for k, v in loaded.items()} == {k: (v.shape, v.dtype) for k, v in state.items()}
    assert small.stat().st_size * 50 < full.stat().st_size
    conv = loaded["layer4.0.conv1.weight"]  # one random value per output channel
    assert conv[:, 0, 0, 0].unique().numel() == conv.shape[0] and torch.equal(conv[3], conv[3, 0, 0, 0].expand(conv[3].shape))
    model = torchvision.models.resnet18().eval()
    model.load_state_dict(loaded)
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 64, 64))).all()
