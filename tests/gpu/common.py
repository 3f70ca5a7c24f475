"""What every GPU test shares: the ``gpu`` marker and the skip where no CUDA device is visible."""
import pytest
import torch

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is false)")
GPU = [pytest.mark.gpu, CUDA]


def cosine_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each row of a with the same row of b, in float64 on the CPU."""
    a, b = a.double().cpu(), b.double().cpu()
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)
