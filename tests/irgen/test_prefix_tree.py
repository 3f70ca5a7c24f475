"""The flat prefix tree against a naive dict trie built from the same codes."""
import numpy as np
import pytest
import torch

from methods.irgen.prefix_tree import PrefixTree


class NaiveTrie:
    """Nodes numbered level by level, each level's prefixes in lexicographic order."""

    def __init__(self, codes):
        codes = [tuple(c) for c in codes.tolist()]
        m = len(codes[0])
        self.prefixes = [sorted({c[:d] for c in codes}) for d in range(m + 1)]
        self.node = {p: i for i, p in enumerate(p for level in self.prefixes for p in level)}
        self.children = {p: sorted({c[len(p)] for c in codes if c[:len(p)] == p})
                         for level in self.prefixes[:m] for p in level}
        self.leaves = self.prefixes[m]
        self.items = [[i for i, c in enumerate(codes) if c == leaf] for leaf in self.leaves]


def random_codes(seed, n=300, m=3, vocab=5, pool=60):
    """Codes drawn from a pool of identifiers, so that several items share one."""
    rng = np.random.default_rng(seed)
    identifiers = rng.integers(0, vocab, (pool, m))
    return identifiers[rng.integers(0, pool, n)]


@pytest.mark.parametrize("seed,m,vocab", [(0, 3, 5), (1, 1, 4), (2, 4, 3), (3, 2, 9)])
def test_matches_naive_trie(seed, m, vocab):
    codes = random_codes(seed, m=m, vocab=vocab)
    tree, naive = PrefixTree.build(codes, vocab), NaiveTrie(codes)
    assert tree.seq_len == m and tree.n_items == len(codes) and tree.n_leaves == len(naive.leaves)
    assert tree.identifiers().tolist() == [list(leaf) for leaf in naive.leaves]
    for level in range(m):
        nodes = [naive.node[p] for p in naive.prefixes[level]]
        ids = torch.tensor(nodes + [-1])  # -1: a dead beam, no valid token
        expected = torch.zeros(len(ids), vocab, dtype=torch.bool)
        for row, p in enumerate(naive.prefixes[level]):
            expected[row, naive.children[p]] = True
        assert torch.equal(tree.valid_mask(ids, level), expected)
        # every (node, token) pair, valid or not, plus out-of-range tokens
        node, token = torch.meshgrid(ids, torch.arange(-1, vocab + 1), indexing="ij")
        want = [naive.node.get(p + (t,), -1) if n >= 0 else -1
                for p, n in zip(naive.prefixes[level] + [None], ids.tolist())
                for t in range(-1, vocab + 1)]
        assert tree.child(node.flatten(), token.flatten()).tolist() == want


def test_items_of_returns_every_item_of_each_leaf():
    codes = random_codes(4)
    tree, naive = PrefixTree.build(codes, 5), NaiveTrie(codes)
    leaves = torch.tensor([3, -1, 0, tree.n_leaves - 1, 3])
    ptr, items = tree.items_of(leaves)
    expected = [naive.items[l] if l >= 0 else [] for l in leaves.tolist()]
    assert [items[ptr[i]:ptr[i + 1]].tolist() for i in range(len(leaves))] == expected
    assert sorted(tree.leaf_items.tolist()) == list(range(len(codes)))


def test_root_children_and_single_item():
    tree = PrefixTree.build(np.array([[2, 0, 1]]), 3)
    assert tree.level_start == [0, 1, 2, 3, 4] and tree.max_children == [1, 1, 1]
    assert tree.child(torch.tensor([0, 0]), torch.tensor([2, 1])).tolist() == [1, -1]
    assert tree.items_of(torch.tensor([0]))[1].tolist() == [0]


def test_memory_is_flat():
    rng = np.random.default_rng(0)
    tree = PrefixTree.build(rng.integers(0, 256, (20_000, 4)), 256)
    # child_ptr + edge_key + leaf CSR, int64: about 4 + 1 + 1 + 1 + 1 words an identifier
    assert tree.nbytes() < 8 * 8 * 20_000
    assert tree.to("cpu").nbytes() == tree.nbytes()


@pytest.mark.parametrize("codes,match", [
    (np.zeros((0, 4), dtype=int), "non-empty"),
    (np.zeros(4, dtype=int), "non-empty"),
    (np.zeros((2, 4)), "integer"),
    (np.array([[0, 5]]), r"\[0, 5\)"),
    (np.array([[-1, 0]]), r"\[0, 5\)"),
])
def test_bad_codes_are_named(codes, match):
    with pytest.raises(ValueError, match=match):
        PrefixTree.build(codes, 5)
