"""The distributed helpers without a launch: one process is the identity, torchrun's process
joins a group even alone, the blocks of N ranks tile the range in order, and bench.train
refuses what it cannot train."""
import numpy as np
import pytest
import torch

import bench.train as train_mod
from methods.runtime import distributed


def test_one_process_is_the_identity():
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert (distributed.shard(10, align=4) == np.arange(10)).all()
    x = torch.randn(3, 2)
    assert distributed.gather_rows(x, 3) is x
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}


@pytest.mark.parametrize("env,launched", [({}, False), ({"WORLD_SIZE": "1"}, False), ({"WORLD_SIZE": "2"}, True),
                                          ({"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "1"}, True)])
def test_a_process_torchrun_started_joins_its_group_even_alone(monkeypatch, env, launched):
    for name in ("WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert distributed.launched() is launched


@pytest.mark.parametrize("n,align", [(10, 1), (10, 4), (1000, 256), (3, 4)])
def test_rank_blocks_tile_the_range_in_order(monkeypatch, n, align):
    blocks = []
    for r in range(3):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        monkeypatch.setattr(distributed, "world_size", lambda: 3)
        block = distributed.shard(n, align)
        assert len(block) == 0 or block[0] % align == 0  # a batch of ``align`` is never cut
        blocks.append(block)
        batch = distributed.local_part(7)
        assert len(batch) in (2, 3)
    assert (np.concatenate(blocks) == np.arange(n)).all()


def test_bench_train_refuses_what_it_cannot_train(capsys):
    assert train_mod.main(["--method", "effnet", "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert "effnet" in err and "irgen" in err and "cgd" in err and len(err.strip().splitlines()) == 1
    assert train_mod.main(["--method", "cgd", "--dataset", "digits", "--amp"]) == 2
    assert "CUDA" in capsys.readouterr().err
