"""The prefix tree of the identifiers present in the database, as a few flat arrays.

Nodes are numbered level by level: the root is 0, then come the distinct 1-token
prefixes in lexicographic order, then the distinct 2-token prefixes, and so on, so the
children of every node are a contiguous, token-sorted range of node ids:

- ``child_ptr`` (n_internal + 1,): the children of node i are nodes child_ptr[i] .. child_ptr[i+1]-1.
- ``edge_key`` (n_nodes,): parent * L + token for every node (-1 for the root). It is sorted,
  so the child of (node, token) is one ``searchsorted`` away, and a node's token is edge_key % L.
- ``leaf_ptr`` (n_leaves + 1,), ``leaf_items`` (n_items,): CSR of leaf -> database items
  (the images sharing that identifier), in ascending database order.

The leaves (level M) are the distinct identifiers. A *leaf id* is the rank of the
identifier in lexicographic order, i.e. its node id - ``first_leaf``. There is no per-node
table of L entries: 1e6 random 4-token identifiers with L = 256 take about 40 MB (int64),
where a dense (n_nodes, L) bool table would take 500 MB. Lookups index these arrays with
tensors, so they run on the tensors' device without a loop over rows.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def sort_prefixes(codes: np.ndarray):
    """codes (n, M) -> order (n,) sorting the rows lexicographically (stable, so rows that
    are equal keep their database order), the sorted codes, and new (n, M) bool: sorted
    row i starts a new prefix of length d + 1."""
    order = np.lexsort(codes.T[::-1])
    codes = codes[order]
    new = np.empty(codes.shape, dtype=bool)
    new[0] = True
    new[1:] = np.logical_or.accumulate(codes[1:] != codes[:-1], axis=1)
    return order, codes, new


class PrefixTree:

    def __init__(self, child_ptr: Tensor, edge_key: Tensor, leaf_ptr: Tensor, leaf_items: Tensor,
                 level_start: list[int], max_children: list[int], vocab_size: int):
        self.child_ptr = child_ptr
        self.edge_key = edge_key
        self.leaf_ptr = leaf_ptr
        self.leaf_items = leaf_items
        self.level_start = level_start  # level d holds nodes level_start[d] .. level_start[d+1]-1
        self.max_children = max_children  # most children of one node, per level 0 .. M-1
        self.vocab_size = vocab_size

    @classmethod
    def build(cls, codes, vocab_size: int) -> PrefixTree:
        """codes (n_items, M) ints in [0, vocab_size): one identifier per database image."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.size == 0 or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"codes must be a non-empty (n_items, M) integer array, got "
                             f"{codes.dtype} {codes.shape}")
        if codes.min() < 0 or codes.max() >= vocab_size:
            raise ValueError(f"codes must lie in [0, {vocab_size}), found {codes.min()} .. "
                             f"{codes.max()}: pass the tokenizer's codebook size as vocab_size")
        n, m = codes.shape
        codes = codes.astype(np.min_scalar_type(vocab_size - 1))  # small copy: 1 byte a code at L=256
        order, codes, new = sort_prefixes(codes)
        sizes = [1] + new.sum(axis=0).tolist()  # nodes per level
        level_start = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        child_ptr = np.empty(level_start[-2] + 1, dtype=np.int64)  # filled level by level
        child_ptr[-1] = level_start[-1]
        edge_key = np.empty(level_start[-1], dtype=np.int64)
        edge_key[0] = -1
        max_children = []
        prev_rows = np.zeros(1, dtype=np.int64)  # first sorted row of each node of the level above
        for d in range(m):
            rows = np.flatnonzero(new[:, d])  # first sorted row of each node of level d + 1
            parent = np.searchsorted(prev_rows, rows, side="right") - 1  # rank within level d
            first = np.searchsorted(parent, np.arange(sizes[d] + 1))  # rank of each node's first child
            child_ptr[level_start[d]:level_start[d + 1]] = level_start[d + 1] + first[:-1]
            max_children.append(int(np.diff(first).max()))
            key = edge_key[level_start[d + 1]:level_start[d + 2]]  # parent * L + token, in place
            np.add(parent, level_start[d], out=key)
            key *= vocab_size
            key += codes[rows, d]
            prev_rows = rows
        leaf_ptr = np.append(prev_rows, n)
        return cls(*map(torch.from_numpy, (child_ptr, edge_key, leaf_ptr, order)),
                   level_start, max_children, vocab_size)

    @property
    def seq_len(self) -> int:
        """M: tokens per identifier."""
        return len(self.level_start) - 2

    @property
    def first_leaf(self) -> int:
        return self.level_start[-2]

    @property
    def n_leaves(self) -> int:
        return len(self.leaf_ptr) - 1

    @property
    def n_items(self) -> int:
        return len(self.leaf_items)

    @property
    def device(self) -> torch.device:
        return self.edge_key.device

    def to(self, device) -> PrefixTree:
        return PrefixTree(self.child_ptr.to(device), self.edge_key.to(device), self.leaf_ptr.to(device),
                          self.leaf_items.to(device), self.level_start, self.max_children, self.vocab_size)

    def nbytes(self) -> int:
        arrays = (self.child_ptr, self.edge_key, self.leaf_ptr, self.leaf_items)
        return sum(a.numel() * a.element_size() for a in arrays)

    def valid_mask(self, node_ids: Tensor, level: int) -> Tensor:
        """node_ids (N,) of nodes at ``level`` (-1: none) -> (N, L) bool, True where a token
        leads to a child. Gathers each node's child range, at most max_children[level] wide."""
        n, vocab = node_ids.shape[0], self.vocab_size
        live = node_ids >= 0
        node = node_ids.clamp(min=0)
        first, end = self.child_ptr[node], self.child_ptr[node + 1]  # (N,) each
        child = first[:, None] + torch.arange(self.max_children[level], device=node.device)  # (N, F)
        is_child = (child < end[:, None]) & live[:, None]
        token = self.edge_key[child.clamp(max=len(self.edge_key) - 1)] % vocab
        token = token.masked_fill(~is_child, vocab)  # padding lands in a spare column, dropped below
        mask = torch.zeros(n, vocab + 1, dtype=torch.bool, device=node.device)
        return mask.scatter_(1, token, True)[:, :vocab]

    def child(self, node_ids: Tensor, tokens: Tensor) -> Tensor:
        """node_ids, tokens (N,) -> the child reached by each token, -1 where there is none."""
        key = node_ids * self.vocab_size + tokens
        pos = torch.searchsorted(self.edge_key, key).clamp(max=len(self.edge_key) - 1)
        found = (self.edge_key[pos] == key) & (node_ids >= 0) & (tokens >= 0) & (tokens < self.vocab_size)
        return torch.where(found, pos, -1)

    def items_of(self, leaf_ids: Tensor) -> tuple[Tensor, Tensor]:
        """leaf_ids (N,) (-1: none) -> CSR (ptr (N+1,), items): the database items of leaf_ids[i]
        are items[ptr[i]:ptr[i+1]]. Sizing the output reads the total back to the host."""
        leaf = leaf_ids.clamp(min=0)
        start = self.leaf_ptr[leaf]
        count = torch.where(leaf_ids >= 0, self.leaf_ptr[leaf + 1] - start, 0)
        ptr = F.pad(count.cumsum(0), (1, 0))
        owner = torch.repeat_interleave(count)  # (total,) input position of each output item
        offset = torch.arange(len(owner), device=leaf.device) - ptr[owner]
        return ptr, self.leaf_items[start[owner] + offset]

    def identifiers(self) -> Tensor:
        """(n_leaves, M) long: the identifier of every leaf, in leaf id order."""
        node = torch.arange(self.first_leaf, len(self.edge_key), device=self.device)
        codes = torch.empty(len(node), self.seq_len, dtype=torch.long, device=self.device)
        for d in reversed(range(self.seq_len)):
            key = self.edge_key[node]
            codes[:, d], node = key % self.vocab_size, key // self.vocab_size
        return codes
