"""Stand-ins for the encoder and its inputs over plain vectors, for testing the training loops."""
import torch
import torch.nn as nn


class VectorEncoder(nn.Module):
    """The encoder interface the training loops use: from_stem -> (f_cls, tokens)."""

    def __init__(self, d_in: int, dim: int, memory_dim: int = 16):
        super().__init__()
        self.body = nn.Linear(d_in, dim)
        self.cls_proj = nn.Linear(dim, dim)
        self.token_proj = nn.Linear(dim, memory_dim)

    def from_stem(self, h):
        hidden = torch.relu(self.body(h))
        return self.cls_proj(hidden), self.token_proj(hidden)[:, None]

    def pretrained_parameters(self):
        return list(self.body.parameters())

    def new_parameters(self):
        return [*self.cls_proj.parameters(), *self.token_proj.parameters()]

    def crop_offsets(self, n, gen):  # vectors: nothing to crop
        return None


class Rows:
    """A StemInputs stand-in over a tensor; raises KeyboardInterrupt after ``fail_after`` reads."""

    def __init__(self, x, fail_after=None):
        self.x, self.calls, self.fail_after = x, 0, fail_after

    def __len__(self):
        return len(self.x)

    def __call__(self, idx, flip_seed=None, flips=None, crops=None):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt
        return self.x[torch.as_tensor(idx)]
