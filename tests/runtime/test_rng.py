"""The random-stream rule (methods/runtime/rng.py): draws come from CPU generators, whatever device
the data is on, so a seed gives the same draws on the CPU and on a GPU."""
import pytest
import torch

from methods.irgen.tokenizer import kmeans, kmeans_plus_plus
from methods.runtime.rng import cpu_generator, weighted_choice
from tests.fake_device import on_device


def points(seed=0, n=200, d=8):
    return torch.randn(n, d, generator=cpu_generator(seed))


def test_the_stand_in_refuses_a_generator_beside_a_device_tensor():
    with pytest.raises(RuntimeError, match="CPU generator"):
        torch.multinomial(on_device(torch.ones(4)), 1, generator=cpu_generator(0))
    assert type(on_device(torch.ones(4)).cpu()) is torch.Tensor


def test_weighted_choice_draws_on_the_cpu_for_weights_on_a_device():
    def draws(weights):
        gen = cpu_generator(5)
        return [weighted_choice(weights, gen) for _ in range(20)]

    weights = torch.tensor([0.0, 1.0, 0.0, 3.0])
    assert draws(weights) == draws(on_device(weights))
    assert set(draws(weights)) == {1, 3}


def test_kmeans_plus_plus_picks_the_same_points_on_any_device():
    x = points()
    picked_cpu = kmeans_plus_plus(x, 16, cpu_generator(3))
    picked_dev = kmeans_plus_plus(on_device(x), 16, cpu_generator(3))
    assert torch.equal(picked_cpu, picked_dev.cpu())


def test_kmeans_runs_on_a_device_with_its_seeded_start():
    x = points(1)
    assert torch.equal(kmeans(x, 8, 3, seed=2), kmeans(on_device(x), 8, 3, seed=2).cpu())
