"""The RQ-VAE-style identifiers' network (identifiers.py, kind ``rqvae``): a small conv
auto-encoder over the encoder's spatial map, its latent map pooled to grid x grid cells,
each cell quantized by ``depth`` residual levels of one shared codebook."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .identifiers import IdentifierConfig
from .tokenizer import nearest


class SpatialRQVAE(nn.Module):
    """Conv encoder -> latent map pooled to grid x grid -> residual quantization (depth
    levels, one shared codebook) -> conv decoder back to the input map."""

    def __init__(self, channels: int, cfg: IdentifierConfig, depth: int):
        super().__init__()
        d = cfg.rqvae_dim
        self.grid, self.depth, self.K = cfg.rqvae_grid, depth, cfg.rqvae_codebook
        self.enc = nn.Sequential(nn.Conv2d(channels, d, 3, padding=1), nn.GELU(), nn.Conv2d(d, d, 3, padding=1))
        self.dec = nn.Sequential(nn.Conv2d(d, d, 3, padding=1), nn.GELU(), nn.Conv2d(d, channels, 3, padding=1))
        self.codebook = nn.Parameter(torch.zeros(self.K, d))
        self.register_buffer("mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("std", torch.ones(1, channels, 1, 1))

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """Input map (B, C, h, w) -> latent vectors (B, grid * grid, d)."""
        z = F.adaptive_avg_pool2d(self.enc((x - self.mean) / self.std), self.grid)
        return z.flatten(2).transpose(1, 2)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """z (N, d) -> codes (N, depth), the partial reconstructions and the chosen entries per level."""
        residual, recon = z, torch.zeros_like(z)
        codes, partial, chosen = [], [], []
        for _ in range(self.depth):
            code, _ = nearest(residual.detach(), self.codebook.detach())
            entry = self.codebook[code]
            codes.append(code)
            chosen.append((residual.detach(), entry))
            residual = residual - entry.detach()
            recon = recon + entry.detach()
            partial.append(recon)
        return torch.stack(codes, dim=1), partial, chosen

    def loss(self, x: torch.Tensor, beta: float = 0.25) -> torch.Tensor:
        z = self.latent(x)  # (B, S, d)
        flat = z.reshape(-1, z.shape[-1])
        _, partial, chosen = self.quantize(flat)
        zq = flat + (partial[-1] - flat).detach()  # straight-through
        cells = zq.view(len(x), self.grid, self.grid, -1).permute(0, 3, 1, 2)
        recon = self.dec(F.interpolate(cells, size=x.shape[-2:], mode="nearest"))
        commit = sum(((flat - p) ** 2).sum(-1).mean() for p in partial)
        codebook = sum(((r - e) ** 2).sum(-1).mean() for r, e in chosen)
        return F.mse_loss(recon, (x - self.mean) / self.std) + beta * commit + codebook

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, grid * grid * depth): each cell's depth codes, cell by cell."""
        z = self.latent(x)
        codes, _, _ = self.quantize(z.reshape(-1, z.shape[-1]))
        return codes.view(len(x), -1)
