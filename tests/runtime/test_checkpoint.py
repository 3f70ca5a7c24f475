"""A checkpoint carries the torch random state: loading it puts the draws back where they were
when it was saved, for every training loop that uses Resumable (feature models and IRGen)."""
import torch

from methods.runtime.checkpoint import Resumable


def test_loading_a_checkpoint_puts_back_the_random_state_it_was_saved_with(tmp_path):
    run = Resumable(tmp_path / "m.pt", "test")
    torch.manual_seed(3)
    run.save({"losses": [1.0]})
    expected = torch.rand(5)  # what the uninterrupted run draws next (drop path, dropout)
    torch.manual_seed(99)  # a new process starts from another state
    state = run.load()
    assert state["losses"] == [1.0] and len(state["rng"]) == 1
    assert torch.equal(torch.rand(5), expected)


def test_an_older_checkpoint_without_random_states_still_loads(tmp_path):
    run = Resumable(tmp_path / "m.pt", "test")
    torch.save({"losses": [2.0]}, run.checkpoint)
    torch.manual_seed(5)
    assert run.load()["losses"] == [2.0]
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(3))  # left as it was
