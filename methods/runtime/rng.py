"""The one rule for random streams, on every device.

Every random draw the harness makes (batch order, flips, same-class partners, k-means++
seeding, sampled subsets) comes from a generator on the CPU seeded from the run's seed
(numpy's ``default_rng`` or a torch CPU ``Generator`` from ``cpu_generator``), is drawn
on the CPU, and only its result moves to the device. What a draw depends on (the
weights of a weighted choice) is brought to the CPU first. So the same seed gives the
same draws with ``--device cpu`` and ``--device cuda``, and no op on a device is ever
handed a CPU generator (CUDA ops refuse one).

The one exception: randomness inside a network's forward pass (dropout, drop path,
EfficientNet's drop-connect) comes from the device's global generator, seeded by
``torch.manual_seed(seed)``: reproducible on one device, not across devices. Networks
are built on the CPU and then moved, so their starting weights are the seed's on every
device.
"""
from __future__ import annotations

import torch


def cpu_generator(seed: int) -> torch.Generator:
    """A torch generator on the CPU seeded with ``seed``: the source of every torch draw."""
    return torch.Generator(device="cpu").manual_seed(seed)


def weighted_choice(weights: torch.Tensor, generator: torch.Generator) -> int:
    """An index drawn with probability proportional to ``weights`` (on any device), on the CPU."""
    return int(torch.multinomial(weights.cpu(), 1, generator=generator))
